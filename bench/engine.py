"""The engine benchmark of issue 3: cost per node of dagrad and micrograd.

Two graphs, built and backpropagated by each engine in the same run:

* a **1,000,000-op chain** (``v = v * c`` and ``v = v + c`` alternating), where
  micrograd's recursive topological sort fails with ``RecursionError``;
* a **wide random DAG**: ``width`` leaves, then ``depth`` layers of ``width``
  nodes, each ``a * b``, ``(a + b) * 0.5`` or ``relu(a)`` of random nodes of
  the layer below, summed pairwise into one root (shallow enough for
  micrograd's recursion).

Cost per node is (forward + backward seconds) / nodes created, with Python's
garbage collector on, as users run both engines. Both engines must give the
same root value and the same gradients. Each (graph, engine) pair is measured
in a forked child process (:func:`bench.isolated`), so no engine runs in the
heap another one's 2,000,000-node chain has just left behind.

Run: ``python -m bench.engine [--quick]``.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from bench import MISSING, Result, fresh, isolated, peer, run_script, timed
from bench.chains import chain, expected


def wide_dag(Value: Callable, width: int, depth: int, seed: int = 0) -> tuple[list, Any, int]:
    """(leaves, root, number of nodes made) of the random layered DAG."""
    rng = random.Random(seed)
    layer = [Value(rng.uniform(-1.0, 1.0)) for _ in range(width)]
    leaves, made = list(layer), width
    for d in range(depth):
        new = []
        for i in range(width):
            a, b = layer[rng.randrange(width)], layer[rng.randrange(width)]
            kind = (d + i) % 3
            if kind == 0:
                new.append(a * b)
                made += 1
            elif kind == 1:
                new.append((a + b) * 0.5)
                made += 3  # the sum, the lifted constant, the product
            else:
                new.append(a.relu())
                made += 1
        layer = new
    while len(layer) > 1:  # a pairwise sum keeps the depth small
        layer = [layer[i] + layer[i + 1] if i + 1 < len(layer) else layer[i]
                 for i in range(0, len(layer), 2)]
        made += len(layer)
    return leaves, layer[0], made


def _cost(build: Callable[[], tuple]) -> dict[str, Any]:
    fresh()
    t_fwd, (leaves, root, nodes) = timed(build)
    try:
        t_bwd, _ = timed(root.backward)
    except RecursionError:
        return {"forward s": t_fwd, "backward s": "RecursionError", "nodes": nodes,
                "us per node": "fails", "root": root.data}
    return {"forward s": t_fwd, "backward s": t_bwd, "nodes": nodes,
            "us per node": (t_fwd + t_bwd) / nodes * 1e6, "root": root.data,
            "grads": [v.grad or 0.0 for v in leaves]}


def run(quick: bool = False, depth: int | None = None, width: int | None = None,
        layers: int | None = None) -> Result:
    """Cost per node of both engines on the chain and the wide DAG."""
    from engine import Value

    depth = depth or (2_000 if quick else 1_000_000)
    width = width or (50 if quick else 2_000)
    layers = layers or (6 if quick else 100)
    mg = peer("micrograd.engine")
    engines = [("dagrad", Value), ("micrograd 0.1.0", mg.Value if mg else None)]
    rows: list[dict[str, Any]] = []
    value, grad = expected(depth)
    graphs = {
        f"chain, {depth:,} ops": lambda V: _chain(V, depth),
        f"wide DAG, {width:,} x {layers}": lambda V: wide_dag(V, width, layers),
    }
    for gname, build in graphs.items():
        costs = {}
        for name, V in engines:
            if V is None:
                rows.append({"graph": gname, "engine": name, "us per node": MISSING})
                continue
            c = isolated(lambda V=V, build=build: _cost(lambda: build(V)))
            costs[name] = c
            rows.append({"graph": gname, "engine": name, **{k: c[k] for k in (
                "nodes", "forward s", "backward s", "us per node", "root")}})
        d, m = costs.get("dagrad"), costs.get("micrograd 0.1.0")
        if d and m and isinstance(m["us per node"], float):
            rows.append({"graph": gname, "engine": "dagrad / micrograd",
                         "us per node": d["us per node"] / m["us per node"],
                         "root": "agree" if d["root"] == m["root"] else "DIFFER",
                         "backward s": "grads agree" if max(
                             abs(a - b) for a, b in zip(d["grads"], m["grads"], strict=True))
                         <= 1e-12 else "grads DIFFER"})
        if gname.startswith("chain") and d:
            d["chain ok"] = abs(d["root"] - value) <= 1e-12 * abs(value) and abs(
                d["grads"][0] - grad) <= 1e-12 * abs(grad)
            rows[-2 if m else -1]["root"] = d["root"]
        if d and m and not isinstance(m["us per node"], float):  # micrograd's backward failed
            rows.append({"graph": gname, "engine": "dagrad / micrograd, forward only",
                         "forward s": d["forward s"] / m["forward s"],
                         "root": "agree" if d["root"] == m["root"] else "DIFFER"})
    headers = ["graph", "engine", "nodes", "forward s", "backward s", "us per node", "root"]
    notes = ["us per node: (forward + backward) / nodes made (lifted constants count as nodes "
             "in both engines); garbage collector on, as users run them; each measured in a "
             "fresh forked process.",
             "micrograd sorts the graph recursively: RecursionError on the chain, so the "
             "chain's ratio row compares the two forward passes only."]
    return Result("engine", "Cost per node (issue 3): a deep chain and a wide random DAG",
                  headers, rows, notes)


def _chain(V: Callable, depth: int) -> tuple[list, Any, int]:
    x, root = chain(V, depth)
    return [x], root, 2 * depth  # each op lifts one constant


def main(argv: list[str] | None = None) -> Result:
    """Run this benchmark from the command line and print its table."""
    return run_script(run, argv)


if __name__ == "__main__":
    main()
