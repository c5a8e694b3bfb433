"""Run the benchmark suite: ``python -m bench [--quick] [--only a,b] [--write]``.

``--quick`` runs tiny sizes (seconds); ``--only`` picks benchmarks by name
(demo, chains, memory, scaling, hessian, engine); ``--write`` also writes the
tables, with the machine they ran on, to ``bench/RESULTS.md`` (atomically).
Each benchmark runs in a fresh interpreter, all its engines in that one run.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import os
import subprocess
import sys
import tempfile
import time
from typing import Any

from bench import Result, header, machine, print_result
from nn.io import atomic_write_text

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
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # the repository


def run_all(names: list[str], quick: bool) -> list[Result]:
    """Run each benchmark in a fresh interpreter (what one benchmark imports or
    leaves behind, e.g. torch's objects for the garbage collector to scan, must
    not change the next one's figures) and collect the results."""
    results = []
    for name in names:
        print(header(name), flush=True)
        t = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "result.json")
            command = [sys.executable, "-m", "bench", "--child", name, "--json", out]
            done = subprocess.run(command + (["--quick"] if quick else []), check=False,
                                  cwd=ROOT)
            if done.returncode != 0:
                raise SystemExit(f"bench: benchmark {name!r} failed (exit {done.returncode})")
            with open(out) as f:
                result = Result(**json.load(f))
        result.notes.append(f"This benchmark took {time.perf_counter() - t:.1f} s "
                            "(in its own interpreter).")
        print_result(result)
        results.append(result)
    return results


def child(name: str, quick: bool, out: str) -> int:
    """Run one benchmark here and write its result as JSON (for :func:`run_all`)."""
    result = importlib.import_module(BENCHMARKS[name]).run(quick=quick)
    atomic_write_text(out, json.dumps(dataclasses.asdict(result)))
    return 0


def markdown(results: list[Result], info: dict[str, str], command: str) -> str:
    lines = ["# dagrad benchmark results", "",
             f"Produced by `{command}` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.",
             "Every table ran all its engines in the same run (the engine table forks one "
             "child per measurement).", "",
             "| machine | |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in info.items()]
    lines.append("")
    lines += targets(results)
    for r in results:
        lines.append(r.markdown())
    return "\n".join(lines)


def _row(results: list[Result], bench: str, **match: Any) -> dict[str, Any]:
    for r in results:
        if r.name == bench:
            for row in r.rows:
                if all(row.get(k) == v for k, v in match.items()):
                    return row
    return {}


def _fmt(x: Any, spec: str) -> str:
    return format(x, spec) if isinstance(x, float) else str(x or "not measured")


def _versus_jax(comp: dict, jax: dict) -> str:
    """The compiled step's speed against JAX's, or why it was not measured."""
    if not isinstance(jax.get("median ms"), float):
        return "JAX not installed"
    speedup = jax["median ms"] / comp["median ms"]
    return f"{speedup:.2f}x {'faster' if speedup >= 1 else 'slower'} than JAX jit"


def targets(results: list[Result]) -> list[str]:
    """The issue's targets against this run's figures (for the tables that ran)."""
    dyn = _row(results, "demo", engine="dagrad dynamic")
    gc_off = _row(results, "demo", engine="dagrad dynamic, GC paused")
    comp = _row(results, "demo", engine="dagrad compiled")
    floor = _row(results, "demo", engine="numpy by hand (floor)")
    jax = _row(results, "demo", engine="JAX jit")
    chain = _row(results, "chains", depth=1_000_000, engine="dagrad")
    mem = _row(results, "memory", engine="dagrad / micrograd")
    per_node = [r for r in next((x.rows for x in results if x.name == "engine"), [])
                if r.get("engine") == "dagrad / micrograd"]  # where both engines finish
    if not any((dyn, comp, chain, mem, per_node)):
        return []
    out = ["## Targets against this run", "", "| target | measured |", "|---|---|"]
    if dyn:
        out.append(f"| dynamic engine >= 40x micrograd per demo step | "
                   f"{_fmt(dyn.get('x micrograd'), '.1f')}x "
                   f"({_fmt(gc_off.get('x micrograd'), '.1f')}x with the GC paused in the step) |")
    if comp:
        ratio = (comp["median ms"] / floor["median ms"]
                 if isinstance(floor.get("median ms"), float) else "not measured")
        out += [f"| compiled >= 4,000x micrograd | {_fmt(comp.get('x micrograd'), ',.0f')}x |",
                f"| compiled faster than PyTorch | {_fmt(comp.get('x PyTorch'), '.1f')}x "
                "faster |",
                f"| compiled within 1.5x of the numpy floor | {_fmt(ratio, '.2f')}x the floor |",
                f"| compiled at least as fast as JAX jit | {_versus_jax(comp, jax)} |",
                f"| compiled loss = dynamic loss after 100 steps (1e-12) | "
                f"{_fmt(comp.get('max |loss - dynamic|'), '.1e')} |"]
    if chain:
        total = chain["forward s"] + chain["backward s"]
        out.append(f"| 1,000,000-deep chain, forward + backward in a few seconds | "
                   f"{total:.1f} s, {chain['bytes per op']:.0f} bytes per op at every depth |")
    if mem:
        out.append(f"| memory per node <= 1/3 of micrograd's | "
                   f"{_fmt(mem.get('bytes per node'), '.3f')} of micrograd's |")
    for r in per_node:
        out.append(f"| cost per node <= 1/4 of micrograd's ({r['graph']}) | "
                   f"{_fmt(r.get('us per node'), '.2f')} of micrograd's |")
    out.append("")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes (seconds)")
    parser.add_argument("--only", default="", help="comma-separated: " + ", ".join(BENCHMARKS))
    parser.add_argument("--write", action="store_true", help="write bench/RESULTS.md")
    parser.add_argument("--child", default="", help=argparse.SUPPRESS)
    parser.add_argument("--json", default="", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(args.child, args.quick, args.json)
    names = [n.strip() for n in args.only.split(",") if n.strip()] or list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; choose from "
                     f"{', '.join(BENCHMARKS)}")
    info = machine()
    print("machine: " + "; ".join(f"{k}: {v}" for k, v in info.items()), flush=True)
    results = run_all(names, args.quick)
    summary = targets(results)
    if summary:
        print("\n".join(summary), flush=True)
    if args.write:
        info["load average after"] = ", ".join(f"{x:.2f}" for x in os.getloadavg())
        command = "python -m bench " + " ".join(argv if argv is not None else sys.argv[1:])
        atomic_write_text(RESULTS, markdown(results, info, command.strip()))
        print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
