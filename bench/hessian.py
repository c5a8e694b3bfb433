"""Benchmark 5: a Hessian of a small function, against PyTorch.

``f(x) = sum_i x_i^2 x_{i+1} + sum_i sin(x_i) exp(x_{i+1} / 4) + (sum_i x_i)^3 / n``
for ``n`` inputs (10 by default): every second derivative is non-trivial and
the Hessian is dense. dagrad builds the gradient as a graph
(``create_graph``) and differentiates it again (``engine.func.hessian``,
reverse over reverse); PyTorch runs ``torch.autograd.functional.hessian`` in
float64. The two Hessians must agree to rounding.

Run: ``python -m bench.hessian [--quick]``.
"""

from __future__ import annotations

import math
from typing import Any

from bench import MISSING, Result, fresh, ms, peer, ratio, repeat, run_script


def f_generic(x, sin, exp) -> Any:
    """The test function over any scalar type with ``sin``/``exp`` given."""
    n = len(x)
    s = x[0] * 0.0
    for i in range(n - 1):
        s = s + x[i] * x[i] * x[i + 1] + sin(x[i]) * exp(x[i + 1] * 0.25)
    total = x[0]
    for xi in x[1:]:
        total = total + xi
    return s + total ** 3 * (1.0 / n)


def point(n: int) -> list[float]:
    return [math.sin(1.0 + i) * 0.8 for i in range(n)]


def run(quick: bool = False, n: int | None = None) -> Result:
    """Time dagrad's and PyTorch's Hessian of the same function; their difference."""
    import engine
    from engine.func import hessian

    n = n or (4 if quick else 10)
    x0 = point(n)
    reps = 3 if quick else 20
    rows: list[dict[str, Any]] = []
    fresh()
    dagrad_h = hessian(lambda *xs: f_generic(xs, engine.sin, engine.exp), argnums=tuple(range(n)))
    stats, H = repeat(lambda: dagrad_h(*x0), reps)
    H = [[float(v) for v in row] for row in H]
    rows.append({"engine": "dagrad (engine.func.hessian)", "n": n, "median ms": ms(stats.median),
                 "min ms": ms(stats.min), "max ms": ms(stats.max)})
    torch = peer("torch")
    diff = MISSING
    if torch is None:
        rows.append({"engine": "PyTorch float64", "median ms": MISSING})
    else:
        xt = torch.tensor(x0, dtype=torch.float64)
        tf = lambda x: f_generic(x, torch.sin, torch.exp)  # noqa: E731
        tstats, Ht = repeat(lambda: torch.autograd.functional.hessian(tf, xt), reps)
        rows.append({"engine": "PyTorch float64 (autograd.functional.hessian)", "n": n,
                     "median ms": ms(tstats.median), "min ms": ms(tstats.min),
                     "max ms": ms(tstats.max)})
        diff = max(abs(H[i][j] - float(Ht[i, j])) for i in range(n) for j in range(n))
        rows[0]["x PyTorch"] = ratio(tstats.median, stats.median)
        rows[1]["x PyTorch"] = 1.0
    for r in rows:
        r["max |H - H_torch|"] = diff if r.get("median ms") != MISSING else ""
    symmetric = max(abs(H[i][j] - H[j][i]) for i in range(n) for j in range(n))
    notes = [f"dagrad's Hessian is symmetric to {symmetric:.1e}; x PyTorch is PyTorch's median "
             "time over this engine's (above 1: faster than PyTorch)."]
    headers = ["engine", "n", "median ms", "min ms", "max ms", "x PyTorch", "max |H - H_torch|"]
    return Result("hessian", f"Hessian of a {n}-input function", headers, rows, notes)


def main(argv: list[str] | None = None) -> Result:
    """Run this benchmark from the command line and print its table."""
    return run_script(run, argv)


if __name__ == "__main__":
    main()
