"""Benchmark 3: memory per node of a large graph, dagrad against micrograd.

The same random expression graph (``*``, ``+`` and ``relu`` over earlier
nodes, 100,000 ops by default) is built with each engine under
``tracemalloc``; we report the bytes held per node after the forward pass
(the graph itself) and after backward (plus the gradients, and for dagrad
nothing else: backward's table is freed). micrograd's node carries a
``__dict__``, a ``set`` of children and a closure; dagrad's is one
``__slots__`` object holding its one or two parents and their float partials
(tuples only for n-ary ops such as ``dot``).

Run: ``python -m bench.memory [--quick]``.
"""

from __future__ import annotations

import random
import sys
import tracemalloc
from collections.abc import Callable
from typing import Any

from bench import MISSING, Result, fresh, peer, run_script

LEAVES = 100


def build(Value: Callable, n: int, seed: int = 0) -> list:
    """``LEAVES`` leaves then ``n`` ops, each on random earlier nodes."""
    rng = random.Random(seed)
    nodes = [Value(rng.uniform(-1.0, 1.0)) for _ in range(LEAVES)]
    for i in range(n):
        a, b = nodes[rng.randrange(len(nodes))], nodes[rng.randrange(len(nodes))]
        kind = i % 3
        nodes.append(a * b if kind == 0 else a + b if kind == 1 else a.relu())
    return nodes


def measure(Value: Callable, n: int) -> dict[str, float]:
    fresh()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    nodes = build(Value, n)
    graph = tracemalloc.get_traced_memory()[0] - base - sys.getsizeof(nodes)
    nodes[-1].backward()
    after = tracemalloc.get_traced_memory()[0] - base - sys.getsizeof(nodes)
    tracemalloc.stop()
    total = n + LEAVES
    grads = sum(v.grad or 0.0 for v in nodes[:LEAVES])
    return {"graph": graph / total, "after": after / total, "root": nodes[-1].data,
            "grad": grads}


def run(quick: bool = False, n: int | None = None) -> Result:
    """Bytes per node of the same graph in each engine.

    Args:
        quick: A small graph (2,000 ops).
        n: The number of ops (100,000 by default).
    """
    from engine import Value

    n = n or (2_000 if quick else 100_000)
    rows: list[dict[str, Any]] = []
    mg = peer("micrograd.engine")
    results = {}
    for name, V in (("dagrad", Value), ("micrograd 0.1.0", mg.Value if mg else None)):
        if V is None:
            rows.append({"engine": name, "bytes per node": MISSING})
            continue
        try:
            m = measure(V, n)
        except RecursionError:
            rows.append({"engine": name, "bytes per node": "RecursionError"})
            continue
        results[name] = m
        rows.append({"engine": name, "nodes": n + LEAVES, "bytes per node": m["graph"],
                     "bytes per node after backward": m["after"], "root": m["root"],
                     "sum of leaf grads": m["grad"]})
    if len(results) == 2:
        d, mgr = results["dagrad"], results["micrograd 0.1.0"]
        rows.append({"engine": "dagrad / micrograd", "bytes per node": d["graph"] / mgr["graph"],
                     "bytes per node after backward": d["after"] / mgr["after"]})
    headers = ["engine", "nodes", "bytes per node", "bytes per node after backward", "root",
               "sum of leaf grads"]
    notes = ["The same random graph (seeded) in both engines: roots and gradients must agree.",
             "micrograd's backward recurses once per level; this graph is shallow enough."]
    return Result("memory", f"Memory per node (tracemalloc), {n:,} random ops", headers, rows,
                  notes)


def main(argv: list[str] | None = None) -> Result:
    """Run this benchmark from the command line and print its table."""
    return run_script(run, argv)


if __name__ == "__main__":
    main()
