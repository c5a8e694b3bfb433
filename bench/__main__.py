"""Run the benchmark suite: ``python -m bench [--quick] [--only a,b] [--write]``.

``--quick`` runs tiny sizes (seconds); ``--only`` picks benchmarks by name
(demo, chains, memory, scaling, hessian, engine); ``--write`` also writes the
tables, with the machine they ran on, to ``bench/RESULTS.md`` (atomically).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import tempfile
import time

from bench import Result, header, machine, print_result

#: Benchmark name -> module, in the order they run.
BENCHMARKS = {
    "demo": "bench.demo_step",
    "chains": "bench.chains",
    "memory": "bench.memory",
    "scaling": "bench.scaling",
    "hessian": "bench.hessian",
    "engine": "bench.engine",
}

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "RESULTS.md")


def run_all(names: list[str], quick: bool) -> list[Result]:
    results = []
    for name in names:
        print(header(name), flush=True)
        t = time.perf_counter()
        result = importlib.import_module(BENCHMARKS[name]).run(quick=quick)
        result.notes.append(f"This benchmark took {time.perf_counter() - t:.1f} s.")
        print_result(result)
        results.append(result)
    return results


def markdown(results: list[Result], info: dict[str, str], command: str) -> str:
    lines = ["# dagrad benchmark results", "",
             f"Produced by `{command}` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.",
             "Every table ran all its engines in the same process run.", "",
             "| machine | |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in info.items()]
    lines.append("")
    for r in results:
        lines.append(r.markdown())
    return "\n".join(lines)


def write_atomic(path: str, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes (seconds)")
    parser.add_argument("--only", default="", help="comma-separated: " + ", ".join(BENCHMARKS))
    parser.add_argument("--write", action="store_true", help="write bench/RESULTS.md")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.only.split(",") if n.strip()] or list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; choose from "
                     f"{', '.join(BENCHMARKS)}")
    info = machine()
    print("machine: " + "; ".join(f"{k}: {v}" for k, v in info.items()), flush=True)
    results = run_all(names, args.quick)
    if args.write:
        info["load average after"] = ", ".join(f"{x:.2f}" for x in os.getloadavg())
        command = "python -m bench " + " ".join(argv if argv is not None else sys.argv[1:])
        write_atomic(RESULTS, markdown(results, info, command.strip()))
        print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
