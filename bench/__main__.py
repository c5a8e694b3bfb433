"""Run the benchmark suite: ``python -m bench [--quick] [--only a,b] [--write]``.

``--quick`` runs tiny sizes (seconds; they do not test the targets); ``--only``
picks benchmarks by name (demo, sizes, digits, layers, fresh_rows, chains, memory,
scaling, hessian, engine); ``--write`` also writes the tables, with the machine
they ran on, to ``bench/RESULTS.md`` (atomically). Each benchmark runs in a
fresh interpreter, all its engines in that one run, with numpy's BLAS on one
thread (``OPENBLAS_NUM_THREADS=1``; threadpoolctl too where installed).
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
    "sizes": "bench.sizes",
    "digits": "bench.digits",
    "layers": "bench.layers",
    "fresh_rows": "bench.fresh_rows",
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
            env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}  # numpy's BLAS (not torch's MKL)
            done = subprocess.run(command + (["--quick"] if quick else []), check=False,
                                  cwd=ROOT, env=env)
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


def markdown(results: list[Result], info: dict[str, str], command: str,
             quick: bool = False) -> str:
    lines = ["# dagrad benchmark results", "",
             f"Produced by `{command}` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.",
             "Every table ran all its engines in the same run (the engine table forks one "
             "child per measurement).", "",
             "| machine | |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in info.items()]
    lines.append("")
    lines += targets(results, quick)
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


PASS, FAIL = "pass", "FAIL"


def _verdict(ok: bool | None) -> str:
    return "not measured" if ok is None else PASS if ok else FAIL


def _med(row: dict[str, Any]) -> float | None:
    m = row.get("median ms")
    return m if isinstance(m, float) else None


def _size_targets(results: list[Result]) -> list[tuple[str, str, str]]:
    """Issue 13's targets for fit's compiled step at sizes A-D, digits and fresh rows."""
    out = []
    for size in "ABCD":
        comp = _med(_row(results, "sizes", size=size, engine="fit's compiled step"))
        if comp is None:
            continue
        torch1 = _med(_row(results, "sizes", size=size, engine="PyTorch float64, 1 thread"))
        floor = _med(_row(results, "sizes", size=size, engine="numpy by hand"))
        jax = _row(results, "sizes", size=size, engine="JAX jit")
        want = 3.0 if size in "AD" else 1.0
        than = (f">= {want:g}x faster than" if want > 1 else "not slower than") + (
            " PyTorch float64 (1 thread)")
        if torch1 is None:
            out.append((f"{size}: compiled step {than}", "PyTorch not installed",
                        "not installed"))
        else:
            out.append((f"{size}: compiled step {than}",
                        f"{torch1 / comp:.2f}x ({comp:.3g} vs {torch1:.3g} ms)",
                        _verdict(torch1 / comp >= want)))
        if floor is not None:
            out.append((f"{size}: compiled step within 1.2x of hand-written numpy",
                        f"{comp / floor:.2f}x the hand-written step", _verdict(comp / floor
                                                                               <= 1.2)))
        jm = _med(jax)
        out.append((f"{size}: compiled step at least as fast as JAX jit",
                    "JAX not installed" if jm is None else f"{jm / comp:.2f}x",
                    "not installed" if jm is None else _verdict(jm >= comp)))
        first = _row(results, "sizes", size=size, engine="fit's compiled step").get(
            "first call ms")
        dyn = _row(results, "sizes", size=size, engine="dagrad dynamic")
        epoch = _med(dyn) or (dyn.get("estimated step s", 0.0) * 1e3 or None)
        if isinstance(first, float) and epoch:
            out.append((f"{size}: first call <= one dynamic epoch (full batch: one step)",
                        f"{first / 1e3:.2f} s vs {epoch / 1e3:.2f} s"
                        + ("" if _med(dyn) else " (estimated)"), _verdict(first <= epoch)))
        if size == "C" and isinstance(first, float):
            out.append(("C: first call <= 2 s", f"{first / 1e3:.2f} s",
                        _verdict(first <= 2000.0)))
    fit_row = _row(results, "digits", engine="dagrad fit, backend='compiled'")
    sk_row = _row(results, "digits", engine="scikit-learn MLPClassifier")
    if fit_row:
        if isinstance(sk_row.get("seconds"), float):
            out.append(("digits: fit no slower than scikit-learn's MLPClassifier, same accuracy",
                        f"{fit_row['seconds']:.2f} s vs {sk_row['seconds']:.2f} s; accuracy "
                        f"{fit_row['test accuracy']:.3f} vs {sk_row['test accuracy']:.3f}",
                        _verdict(fit_row["seconds"] <= sk_row["seconds"]
                                 and fit_row["test accuracy"] >= sk_row["test accuracy"] - 0.02)))
        else:
            out.append(("digits: fit no slower than scikit-learn's MLPClassifier",
                        "scikit-learn not installed", "not installed"))
    for r in next((x.rows for x in results if x.name == "fresh_rows"), []):
        if "growth KB" in r:
            out.append((f"fresh rows ({r['model']}): 1,000 steps no larger than 100",
                        f"RSS {r['RSS MB']} MB after {r['after']}; {r['step ms']} ms a step",
                        _verdict(bool(r["bounded"]))))
    return out


def targets(results: list[Result], quick: bool = False) -> list[str]:
    """The issues' targets against this run's figures (for the tables that ran), with a
    pass/fail column; a missing peer is "not installed"."""
    dyn = _row(results, "demo", engine="dagrad dynamic")
    gc_off = _row(results, "demo", engine="dagrad dynamic, GC paused")
    comp = _row(results, "demo", engine="dagrad compiled")
    floor = _row(results, "demo", engine="numpy by hand (floor)")
    jax = _row(results, "demo", engine="JAX jit")
    chain = _row(results, "chains", depth=1_000_000, engine="dagrad")
    mem = _row(results, "memory", engine="dagrad / micrograd")
    per_node = [r for r in next((x.rows for x in results if x.name == "engine"), [])
                if r.get("engine") == "dagrad / micrograd"]  # where both engines finish
    rows: list[tuple[str, str, str]] = []
    if dyn:
        x = dyn.get("x micrograd")
        rows.append(("dynamic engine >= 40x micrograd per demo step",
                     f"{_fmt(x, '.1f')}x ({_fmt(gc_off.get('x micrograd'), '.1f')}x with the "
                     "GC paused in the step)",
                     _verdict(x >= 40 if isinstance(x, float) else None)))
    if comp:
        ratio = (comp["median ms"] / floor["median ms"]
                 if isinstance(floor.get("median ms"), float) else None)
        xm, xp = comp.get("x micrograd"), comp.get("x PyTorch")
        jm = _med(jax)
        rows += [("compiled >= 4,000x micrograd", f"{_fmt(xm, ',.0f')}x",
                  _verdict(xm >= 4000 if isinstance(xm, float) else None)),
                 ("compiled faster than PyTorch (1 thread)",
                  f"{xp:.1f}x faster" if isinstance(xp, float) else "PyTorch not installed",
                  _verdict(xp > 1) if isinstance(xp, float) else "not installed"),
                 ("compiled within 1.5x of the numpy floor", f"{_fmt(ratio, '.2f')}x the floor",
                  _verdict(ratio <= 1.5 if ratio is not None else None)),
                 ("compiled at least as fast as JAX jit",
                  "JAX not installed" if jm is None else
                  f"{jm / comp['median ms']:.2f}x", "not installed" if jm is None
                  else _verdict(jm >= comp["median ms"])),
                 ("compiled loss = dynamic loss after 100 steps (1e-12)",
                  f"{_fmt(comp.get('max |loss - dynamic|'), '.1e')}",
                  _verdict(comp.get("max |loss - dynamic|", 1.0) <= 1e-12))]
    rows += _size_targets(results)
    if chain:
        total = chain["forward s"] + chain["backward s"]
        rows.append(("1,000,000-deep chain, forward + backward in a few seconds",
                     f"{total:.1f} s, {chain['bytes per op']:.0f} bytes per op at every depth",
                     _verdict(total <= 10.0)))
    if mem:
        x = mem.get("bytes per node")
        rows.append(("memory per node <= 1/3 of micrograd's", f"{_fmt(x, '.3f')} of micrograd's",
                     _verdict(x <= 1 / 3 if isinstance(x, float) else None)))
    for r in per_node:
        x = r.get("us per node")
        rows.append((f"cost per node <= 1/4 of micrograd's ({r['graph']})",
                     f"{_fmt(x, '.2f')} of micrograd's",
                     _verdict(x <= 0.25 if isinstance(x, float) else None)))
    if not rows:
        return []
    out = ["## Targets against this run", ""]
    if quick:
        out += ["--quick: the sizes of this run do not test the targets (figures for the "
                "small sizes only, no verdicts).", ""]
    out += ["| target | measured | verdict |", "|---|---|---|"]
    if quick:  # a verdict on sizes that do not test a target would read as one
        rows = [(t, m, "not tested (--quick)" if v in (PASS, FAIL) else v) for t, m, v in rows]
    out += [f"| {t} | {m} | {v} |" for t, m, v in rows]
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
    summary = targets(results, args.quick)
    if summary:
        print("\n".join(summary), flush=True)
    if args.write:
        info["load average after"] = ", ".join(f"{x:.2f}" for x in os.getloadavg())
        command = "python -m bench " + " ".join(argv if argv is not None else sys.argv[1:])
        atomic_write_text(RESULTS, markdown(results, info, command.strip(), args.quick))
        print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
