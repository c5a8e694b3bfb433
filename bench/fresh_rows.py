"""Benchmark: memory and step time stay bounded when every step brings new rows (issue 13).

``fit``'s compiled step on ``MLP(2, [16, 16, 1])`` (hinge, SGD), each step on
256 fresh random rows, as when training streams data. We record the process's
resident memory (RSS, from ``/proc/self/statm``) and the step time after 100 and
after 1,000 steps: nothing may grow with the number of rows seen. Two models:
one made of :mod:`nn`'s own modules (traced once: its structure is fixed by
construction) and the same layers inside a user's
``Module`` subclass (whose rows ``engine.compile`` checks, as it must for code
that could branch on the data).

Run: ``python -m bench.fresh_rows [--quick]``.
"""

from __future__ import annotations

import os
import resource
import time
from typing import Any

from bench import MISSING, Result, fresh, ms, peer, run_script

ROWS = 256
BUDGET = 60.0  # seconds per model; a model over it stops there (and is not bounded)


def _models() -> dict[str, Any]:
    from nn import MLP
    from nn.module import Module

    class Wrapped(Module):  # a user's class: engine.compile checks its rows
        def __init__(self) -> None:
            self.inner = MLP(2, [16, 16, 1], rng=0)

        def forward(self, x: Any) -> Any:
            return self.inner(x)

    return {"MLP (nn's own modules)": MLP(2, [16, 16, 1], rng=0), "user Module": Wrapped()}


def rss() -> int:
    """The process's resident memory in bytes (its peak where /proc is missing)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def measure(model: Any, steps: int) -> dict[str, Any]:
    np = peer("numpy")
    from nn.compiled import compiled_stepper
    from nn.optim import SGD

    rng = np.random.default_rng(0)
    stepper = compiled_stepper(model, "hinge", SGD(model.parameters(), lr=0.01), 1e-4,
                               [[0.0, 0.0]])
    first = max(1, steps // 10)
    marks: dict[int, tuple[int, float]] = {}
    fresh()
    start = time.perf_counter()
    for k in range(1, steps + 1):
        X = rng.normal(size=(ROWS, 2))
        y = np.where(X[:, 0] * X[:, 1] > 0, 1.0, -1.0)
        t = time.perf_counter()
        stepper.step(X, y)
        t = time.perf_counter() - t
        if k in (first, steps) or time.perf_counter() - start > BUDGET:
            marks[k] = (rss(), t)
            if k != first and k != steps:
                break  # over the time budget: report where it got to
    (k1, (m1, t1)), (k2, (m2, t2)) = sorted(marks.items())[0], sorted(marks.items())[-1]
    return {"after": f"{k1} / {k2} steps", "RSS MB": f"{m1 / 1e6:.1f} / {m2 / 1e6:.1f}",
            "growth KB": (m2 - m1) / 1e3, "step ms": f"{ms(t1):.2f} / {ms(t2):.2f}",
            "bounded": k2 == steps and m2 <= m1 + 1e6}


def run(quick: bool = False, steps: int | None = None) -> Result:
    """Memory and step time after a tenth of the steps and after all of them."""
    steps = steps or (100 if quick else 1000)
    headers = ["model", "after", "RSS MB", "growth KB", "step ms", "bounded"]
    rows: list[dict[str, Any]] = []
    if peer("numpy") is None:
        rows.append({"model": "compiled step", "after": MISSING})
    else:
        for name, model in _models().items():
            rows.append({"model": name, **measure(model, steps)})
    notes = [f"Each step: {ROWS} new random rows (never seen before), one SGD step.",
             "RSS: the process's resident memory right after the step; bounded: all the steps "
             f"ran within the time budget ({BUDGET:.0f} s) and the RSS grew by under 1 MB."]
    if quick:
        notes.insert(0, "--quick: 100 steps; this does not test the 1,000-step target.")
    return Result("fresh_rows", f"Fresh rows every step: memory after {steps // 10} and "
                  f"{steps} steps", headers, rows, notes)


def main(argv: list[str] | None = None) -> Result:
    """Run this benchmark from the command line and print its table."""
    return run_script(run, argv)


if __name__ == "__main__":
    main()
