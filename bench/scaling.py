"""Benchmark 4: time per node as the MLP grows, to show backward is O(V + E).

``MLP(2, [w, w, 1])`` on the 100 demo points for growing widths ``w``: one
forward plus backward with the dynamic engine. The graph has ``V`` nodes and
``E`` edges (operand slots); if backward is linear in ``V + E``, the time per
edge stays flat while the graph grows by 100x. The compiled path's time per
step is shown alongside (it grows with the matrix sizes, not the node count).

Run: ``python -m bench.scaling [--quick]``.
"""

from __future__ import annotations

from typing import Any

from bench import Result, fresh, ms, peer, repeat, run_script

FULL_WIDTHS = [4, 8, 16, 32, 64, 128]
QUICK_WIDTHS = [2, 4]


def run(quick: bool = False, widths: list[int] | None = None, n: int = 100) -> Result:
    """Forward + backward time per node and per edge for each width."""
    from bench.demo_step import data
    from engine import topological_order
    from nn import MLP
    from nn.losses import hinge_loss, l2_penalty

    widths = widths or (QUICK_WIDTHS if quick else FULL_WIDTHS)
    X, y = data()
    X, y = X[:n], y[:n]
    np = peer("numpy")
    rows: list[dict[str, Any]] = []
    for w in widths:
        fresh()
        model = MLP(2, [w, w, 1], rng=0)
        params = model.parameters()

        def step(model=model, params=params):
            loss = hinge_loss([model(x) for x in X], y) + l2_penalty(params, 1e-4)
            model.zero_grad()
            loss.backward()
            return loss

        stats, loss = repeat(step, 3 if quick else 5)
        order = topological_order(loss)
        V = len(order)
        E = sum(len(v.parents) for v in order)
        row = {"width": w, "params": len(params), "nodes V": V, "edges E": E,
               "step ms": ms(stats.median), "ns per node": stats.median / V * 1e9,
               "ns per edge": stats.median / E * 1e9, "loss": loss.data}
        del order, loss
        fresh()
        if np is not None:
            from nn.compiled import CompiledLoss

            compiled = CompiledLoss(model, "hinge", 1e-4)
            Xa, ya = np.array(X), np.array(y)
            compiled.backward(Xa, ya)  # trace once
            cstats, closs = repeat(lambda c=compiled, a=Xa, b=ya: c.backward(a, b), 20)
            row["compiled ms"] = ms(cstats.median)
            row["|loss difference|"] = abs(closs - row["loss"])
        rows.append(row)
    headers = ["width", "params", "nodes V", "edges E", "step ms", "ns per node", "ns per edge",
               "compiled ms", "loss", "|loss difference|"]
    notes = ["step: build the graph (forward), then backward; median of repeated runs.",
             "compiled: the same loss and gradient by the generated numpy code (writing p.grad)."]
    return Result("scaling", "Scaling: MLP(2, [w, w, 1]) on 100 points, forward + backward",
                  headers, rows, notes)


def main(argv: list[str] | None = None) -> Result:
    """Run this benchmark from the command line and print its table."""
    return run_script(run, argv)


if __name__ == "__main__":
    main()
