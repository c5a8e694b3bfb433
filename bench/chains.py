"""Benchmark 2: deep chains, depth 1,000 to 1,000,000 ops.

Each chain alternates ``v = v * c`` and ``v = v + c`` (one op per step of
depth) from one leaf. We time the forward pass (building the chain) and the
backward pass separately, then measure the peak memory of both with
``tracemalloc`` in a second run (tracing slows Python down, so times come from
the first run). micrograd's backward sorts the graph recursively, so it fails
with ``RecursionError`` once the depth nears Python's recursion limit (1,000);
it is reported as failing there, not as an error of the suite.

Run: ``python -m bench.chains [--quick]``.
"""

from __future__ import annotations

import gc
import sys
import tracemalloc
from collections.abc import Callable
from typing import Any

from bench import MISSING, Result, fresh, peer, run_script, timed

C_MUL, C_ADD = 0.999999, 1e-6
FULL_DEPTHS = [1_000, 10_000, 100_000, 1_000_000]
QUICK_DEPTHS = [1_000, 5_000]
MICROGRAD_MAX = 100_000  # beyond this its forward alone takes minutes of memory churn


def chain(Value: Callable, depth: int) -> tuple[Any, Any]:
    """(leaf, root) of a chain of ``depth`` ops."""
    x = Value(0.5)
    v = x
    for i in range(depth):
        v = v * C_MUL if i % 2 == 0 else v + C_ADD
    return x, v


def expected(depth: int) -> tuple[float, float]:
    """The chain's value and d root / d leaf, in plain floats (the same roundings)."""
    v, g = 0.5, 1.0
    for i in range(depth):
        if i % 2 == 0:
            v, g = v * C_MUL, g * C_MUL
        else:
            v = v + C_ADD
    return v, g


def measure(Value: Callable, depth: int, memory: bool) -> dict[str, Any]:
    """Time (or peak memory of) forward and backward of one chain."""
    fresh()
    if memory:
        tracemalloc.start()
    t_fwd, (x, root) = timed(lambda: chain(Value, depth))
    fwd_peak = tracemalloc.get_traced_memory()[1] if memory else 0
    try:
        t_bwd, _ = timed(root.backward)
        grad, error = x.grad, ""
    except RecursionError:
        t_bwd, grad, error = None, None, "RecursionError"
    peak = tracemalloc.get_traced_memory()[1] if memory else 0
    if memory:
        tracemalloc.stop()
    out = {"forward s": t_fwd, "backward s": t_bwd if t_bwd is not None else error,
           "value": root.data, "grad": grad, "fwd peak": fwd_peak, "peak": peak}
    del x, root
    gc.collect()
    return out


def run(quick: bool = False, depths: list[int] | None = None) -> Result:
    """Chains of each depth with dagrad and micrograd: time, peak memory, the gradient.

    Args:
        quick: Small depths only.
        depths: Override the depths.
    """
    from engine import Value

    depths = depths or (QUICK_DEPTHS if quick else FULL_DEPTHS)
    engines: list[tuple[str, Any]] = [("dagrad", Value)]
    mg = peer("micrograd.engine")
    engines.append(("micrograd 0.1.0", mg.Value if mg else None))
    rows = []
    for depth in depths:
        value, grad = expected(depth)
        for name, V in engines:
            row: dict[str, Any] = {"depth": depth, "engine": name}
            if V is None:
                row["forward s"] = MISSING
            elif name.startswith("micrograd") and depth > MICROGRAD_MAX:
                row["forward s"] = "skipped"
                row["backward s"] = f"RecursionError (fails from depth ~{sys.getrecursionlimit()})"
            else:
                timing = measure(V, depth, memory=False)
                mem = measure(V, depth, memory=True)
                row.update({k: timing[k] for k in ("forward s", "backward s")})
                row["peak MB"] = mem["peak"] / 1e6
                row["bytes per op"] = mem["peak"] / depth
                row["grad ok"] = (timing["grad"] is not None
                                  and abs(timing["grad"] - grad) <= 1e-12 * abs(grad)
                                  and abs(timing["value"] - value) <= 1e-12 * abs(value))
                if timing["grad"] is None:
                    row["grad ok"] = "no gradient"
            rows.append(row)
    headers = ["depth", "engine", "forward s", "backward s", "peak MB", "bytes per op",
               "grad ok"]
    notes = ["peak MB: tracemalloc's peak over forward + backward, in a separate run.",
             "grad ok: value and d root/d leaf equal the same recurrence in plain floats "
             "(to 1e-12)."]
    return Result("chains", "Deep chains: v = v * c, v = v + c, alternating", headers, rows,
                  notes)


def main(argv: list[str] | None = None) -> Result:
    """Run this benchmark from the command line and print its table."""
    return run_script(run, argv)


if __name__ == "__main__":
    main()
