"""Grouping rules of the compiled path for layers whose nodes read *windows*.

:mod:`engine.compile` groups the ``dot`` nodes of one depth that read the same
inputs into one matrix product (a fully connected layer). A convolution is the
other way round: its ``dot`` nodes share their **weights** (one row per output
channel) but each reads its own window of the input, and a pooling layer's
``max`` (or constant-weight ``dot``) nodes each reduce one window. Grouped
node by node they would cost one numpy call per window; grouped here they are:

* **windows x shared weights** (convolution, and any ``dot`` nodes of one depth
  whose weight rows repeat from window to window): one gather of the windows
  (``src[:, idx]`` with an integer ``(P, K)`` index, im2col), one matrix product
  ``(B, P, K) @ (K, C)``; backward one product for the weights, one for the
  windows, and one scatter-add of the windows' gradient into their source
  (``K`` column additions when no column of ``idx`` repeats an entry, else
  ``np.add.at``). A padded convolution's border windows have fewer taps (and
  the matching subset of weights): each pattern is a group of its own.
* **max over windows** (max pooling): one gather, one ``max`` over the last axis;
  the gradient goes to the first maximum of each window (``argmax``), the tie rule
  of :data:`engine.ops` and the dynamic engine, through ``np.where`` so that a
  masked slot receives exactly 0 (``engine.ops.STOP``).
* **constant-weight windows** (average pooling, a ``LayerNorm``'s mean): the
  same as the first rule with the weights a constant array, no weight gradient.
* **shared inputs with constants** (a recurrent cell's fused bias ``1.0``, its zero
  initial state): the ``dot`` nodes that share one input list become one matrix
  product, the constants broadcast as columns of the input (no gradient to them).
* **batched times batched** (a GRU's ``(1 - z) n + z h``, one ``dot`` per unit): both
  sides gathered as windows, one elementwise product and one sum.

Each rule computes per node exactly the sum the node-by-node code computes,
term for term, except that numpy's matrix product may add a dot's terms in
another order (the last bits of a float; tests compare to 1e-12 relative).
The rules are hooks of :class:`engine.compile._Builder`: :func:`merge` rewrites
one depth's groups, :func:`emit` writes a merged group's lines.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from engine import ops
from engine.value import Value


class _Windows:
    """A merged group: ``windows[p]`` the inputs of window ``p`` (K nodes each),
    ``rows`` the weight rows (C of them, K each), ``bias`` one per row or None,
    ``kind`` 'dot' (weights are parameters), 'const' (constants) or 'max'."""

    def __init__(self, kind: str, windows: list, rows: list | None, bias: list | None) -> None:
        self.kind, self.windows, self.rows, self.bias = kind, windows, rows, bias


def merge(builder: Any, groups: list[list[Value]]) -> list[list[Value]]:
    """``groups`` of one depth with window groups merged (recorded in
    ``builder.windows``, keyed by the merged group's first node)."""
    if not hasattr(builder, "windows"):
        builder.windows = {}
    keyed: dict[tuple, list] = {}
    out: list = []
    for group in groups:
        key = _window_key(builder, group)
        if key is None:
            out.append(group)
        elif key in keyed:
            keyed[key].append(group)
        else:
            keyed[key] = [group]
            out.append(key)
    result = []
    for item in out:
        if not isinstance(item, tuple):
            result.append(item)
            continue
        members = keyed[item]
        if item[0] == "bias":
            for g in members:
                builder.windows[g[0]] = _Windows("bias", [], None, None)
            result.extend(members)
            continue
        if len(members) < 2:
            result.extend(members)
            continue
        nodes = [n for g in members for n in g]
        kind = item[0]
        if kind == "affine":
            builder.windows[nodes[0]] = _Windows("affine", [], None, None)
            result.append(nodes)
            continue
        if kind == "pair":
            half = len(members[0][0].parents) >> 1
            info = _Windows("pair", [list(g[0].parents[:half]) for g in members],
                            [list(g[0].parents[half:]) for g in members], None)
            builder.windows[nodes[0]] = info
            result.append(nodes)
            continue
        if kind == "dot":  # channel-major, as the layer lays out its output ([C][H][W])
            nodes = [g[c] for c in range(len(members[0])) for g in members]
            sides = [builder._matmul_sides(g[0]) for g in members]
            rows = [builder._matmul_sides(n)[1] for n in members[0]]
            bias = ([builder._matmul_sides(n)[2] for n in members[0]]
                    if sides[0][2] is not None else None)
            info = _Windows("dot", [list(s[0]) for s in sides], rows, bias)
        elif kind == "const":
            n = len(members[0][0].parents) >> 1
            info = _Windows("const", [list(g[0].parents[n:2 * n]) for g in members],
                            [list(members[0][0].parents[:n])], None)
        else:
            info = _Windows("max", [list(g[0].parents) for g in members], None, None)
        builder.windows[nodes[0]] = info
        result.append(nodes)
    return result


def _window_key(builder: Any, group: list[Value]) -> tuple | None:
    """What a group must share with others to be merged with them, or None."""
    v = group[0]
    if v.op is ops.DOT:
        sides = builder._matmul_sides(v)
        if sides is not None and not sides[0]:  # no terms, a bias only (a window over padding)
            return ("bias", builder.level[v])
        if sides is not None:  # one window (the group's shared inputs) x C weight rows
            rows = tuple(tuple(map(id, builder._matmul_sides(n)[1])) for n in group)
            bias = tuple(id(builder._matmul_sides(n)[2]) for n in group)
            return ("dot", len(sides[0]), rows, bias)
        affine = _affine_sides(builder, v) if len(group) == 1 else None
        if affine is not None:  # shared inputs, some constant (a fused bias's 1.0, h0 = 0)
            return ("affine", builder.level[v], tuple(map(id, affine[0])),
                    affine[2] is not None)
        if len(group) == 1 and not len(v.parents) & 1 and all(
                builder.batched.get(p, False) for p in v.parents):  # batched . batched
            return ("pair", builder.level[v], len(v.parents) >> 1)
        if len(group) == 1 and not len(v.parents) & 1:
            n = len(v.parents) >> 1
            w, x = v.parents[:n], v.parents[n:]
            if all(p in builder.const for p in w) and all(builder.batched.get(p, False)
                                                          for p in x):
                return ("const", n, tuple(builder.const[p] for p in w))
        return None
    if v.op is ops.MAX and len(group) == 1 and len(v.parents) > 1 and all(
            builder.batched.get(p, False) for p in v.parents):
        return ("max", len(v.parents))
    return None


def _affine_sides(builder: Any, v: Value) -> tuple | None:
    """(inputs, parameter weights, parameter bias) of a ``dot`` node whose inputs mix
    batched nodes and constants (``engine.compile`` groups only all-batched ones), or None."""
    n = len(v.parents) >> 1
    w, x = v.parents[:n], v.parents[n:2 * n]
    bias = v.parents[2 * n] if len(v.parents) & 1 else None
    theta = builder.theta

    def params(side: Any) -> bool:
        return all(builder.loc.get(p, (None,))[0] is theta for p in side)

    if params(x):
        w, x = x, w
    if not params(w) or (bias is not None and not params((bias,))):
        return None
    if not any(builder.batched.get(p, False) for p in x) or not all(
            builder.batched.get(p, False) or p in builder.const for p in x):
        return None
    return x, w, bias


def _emit_affine(builder: Any, nodes: list[Value]) -> Callable[[], None]:
    """One matrix product for ``dot`` nodes sharing inputs that mix batched nodes and
    constants (the constants broadcast as columns; no gradient flows to them)."""
    import numpy as np

    from engine.compile import _Slab

    b = builder
    sides = [_affine_sides(b, n) for n in nodes]
    slab = _Slab(f"linear{next(b.counter)}", nodes, True, any(n.requires_grad for n in nodes))
    for j, n in enumerate(nodes):
        b.loc[n] = (slab, j)
    b.slabs.append(slab)
    name = slab.name
    a = b.gather(sides[0][0])
    b.fwd.append(f"{name}_in = {a.text}  # inputs and constants side by side")
    w = b._view(np.array([[b.loc[p][1] for p in s[1]] for s in sides]))
    biases = None if sides[0][2] is None else [s[2] for s in sides]
    return b.product(name, a, f"{name}_in", w, biases, len(nodes))


def emit(builder: Any, nodes: list[Value], info: _Windows) -> Callable[[], None]:
    """Forward lines of a merged window group; returns what writes its backward."""
    import numpy as np

    from engine.compile import _Slab

    if info.kind == "affine":
        return _emit_affine(builder, nodes)
    if info.kind == "pair":
        return _emit_pairs(builder, nodes, info)
    if info.kind == "bias":
        return _emit_bias_only(builder, nodes)
    b = builder
    what = {"dot": "conv", "const": "pool", "max": "maxpool"}[info.kind]
    slab = _Slab(f"{what}{next(b.counter)}", nodes, True, any(n.requires_grad for n in nodes))
    for j, n in enumerate(nodes):
        b.loc[n] = (slab, j)
    b.slabs.append(slab)
    name = slab.name
    win, scatter = _gather_windows(b, info.windows, f"{name}_win", f"{name}_src")
    n_win, k = len(info.windows), len(info.windows[0])
    g = f"g_{name}"
    weight = bias = None
    if info.kind == "max":
        b.fwd.append(f"{name}_arg = {win}.argmax(-1)  # the first maximum of each window")
        b.fwd.append(f"{name} = {win}.max(-1)  # {n_win} x max")
        n_out = 1
    else:
        if info.kind == "dot":
            weight = f"P[{b._view(np.array([[b.loc[p][1] for p in row] for row in info.rows]))}]"
        else:
            b.consts.append(np.array([[b.const[p] for p in row] for row in info.rows]))
            weight = f"C[{len(b.consts) - 1}]"
        n_out = len(info.rows)
        b.fwd.append(f"{name} = {win} @ {weight}.T  # {n_win} windows x {n_out} weight rows")
        if info.bias is not None:
            bias = b.gather(info.bias)
            b.fwd.append(f"{name} += {bias.text}  # their biases")
        if n_out > 1:  # (B, P, C) -> channel-major columns, one copy
            b.fwd.append(f"{name} = {name}.transpose(0, 2, 1).reshape(B, {n_win * n_out})")
        else:
            b.fwd.append(f"{name} = {name}.reshape(B, {n_win})")
        b.products.add(name)

    def backward() -> None:
        g3 = f"{g}_3"
        if n_out > 1:
            b.bwd.append(f"{g3} = {g}.reshape(B, {n_out}, {n_win}).transpose(0, 2, 1)")
        else:
            b.bwd.append(f"{g3} = {g}.reshape(B, {n_win}, 1)")
        if info.kind == "dot":
            b.add_to_theta(int(weight[2:-1]), f"{g3}.reshape(-1, {n_out}).T @ "
                           f"{win}.reshape(-1, {k})")
            if bias is not None:
                b.accumulate(bias, f"{g3}.sum(1)", True, n_out)
        dwin = f"{g}_win"
        if info.kind == "max" and scatter.needed:
            b.bwd.append(f"{dwin} = np.where(np.arange({k}) == {name}_arg[..., None], {g3}, "
                         "0.0)  # masked slots get exactly 0")
            scatter(dwin)
        elif scatter.needed:
            b.bwd.append(f"{dwin} = {g3} @ {weight}")
            scatter(dwin)
    return backward


def _emit_bias_only(b: Any, nodes: list[Value]) -> Callable[[], None]:
    """``dot`` nodes of no terms and a bias (a padded window that reads only padding):
    their value is the bias."""
    from engine.compile import _Slab

    slab = _Slab(f"bias{next(b.counter)}_shared", nodes, False,
                 any(n.requires_grad for n in nodes))
    for j, n in enumerate(nodes):
        b.loc[n] = (slab, j)
    b.slabs.append(slab)
    bias = b.gather([b._matmul_sides(n)[2] for n in nodes], array=True)
    b.fwd.append(f"{slab.name} = {bias.text} + 0.0  # {len(nodes)} x dot of no terms")

    def backward() -> None:
        b.accumulate(bias, f"g_{slab.name}", False, len(nodes), fresh=False)
    return backward


def _emit_pairs(b: Any, nodes: list[Value], info: _Windows) -> Callable[[], None]:
    """``dot`` nodes whose two sides are both batched (a GRU's ``(1 - z) n + z h``):
    both sides gathered as ``(B, N, n)`` windows, one product and one sum."""
    from engine.compile import _Slab

    slab = _Slab(f"dots{next(b.counter)}", nodes, True, any(n.requires_grad for n in nodes))
    for j, n in enumerate(nodes):
        b.loc[n] = (slab, j)
    b.slabs.append(slab)
    name, g = slab.name, f"g_{slab.name}"
    w, w_scatter = _gather_windows(b, info.windows, f"{name}_w", f"{name}_wsrc")
    x, x_scatter = _gather_windows(b, info.rows, f"{name}_x", f"{name}_xsrc")
    b.fwd.append(f"{name} = ({w} * {x}).sum(-1)  # {len(nodes)} x dot")

    def backward() -> None:
        if w_scatter.needed:
            b.bwd.append(f"{g}_w = {g}[..., None] * {x}")
            w_scatter(f"{g}_w")
        if x_scatter.needed:
            b.bwd.append(f"{g}_x = {g}[..., None] * {w}")
            x_scatter(f"{g}_x")
    return backward


def _gather_windows(b: Any, windows: list[list[Value]], win: str, src_name: str) -> Any:
    """Emit ``win = src[:, idx]`` (``(B, P, K)``) for the nodes of ``windows`` (P lists of
    K batched nodes); return ``win``'s name and a function that emits the scatter-add of a
    ``(B, P, K)`` gradient into the windows' sources (its ``needed``: whether any
    source wants a gradient)."""
    import numpy as np

    first: dict[Value, int] = {}
    for window in windows:
        for x in window:
            first.setdefault(x, len(first))
    if len({id(b.loc[x][0]) for x in first}) == 1:  # one slab's columns: index it directly
        whole = b.loc[next(iter(first))][0]
        first = {x: j for j, x in enumerate(whole.nodes)}
    unique = list(first)
    index = np.array([[first[x] for x in window] for window in windows])
    n_win, k = index.shape
    src = b.gather(unique, array=True)
    if src.parts or "[" in src.text:  # not a whole slab: name the gathered columns once
        b.fwd.append(f"{src_name} = {src.text}")
        src_text = src_name
    else:
        src_text = src.text
    b.consts.append(index)
    c_idx = f"C[{len(b.consts) - 1}]"
    b.fwd.append(f"{win} = {src_text}[:, {c_idx}]  # {n_win} windows of {k}, gathered")
    columns_unique = all(len(set(col)) == len(col) for col in index.T.tolist())

    def scatter(dwin: str) -> None:
        if not scatter.needed:
            return
        dsrc = f"g_{src_name}"
        b.bwd.append(f"{dsrc} = np.zeros((B, {len(unique)}))")
        if columns_unique:
            b.bwd.append(f"for k_ in range({k}):  # scatter-add, one window tap at a time")
            b.bwd.append(f"    {dsrc}[:, {c_idx}[:, k_]] += {dwin}[:, :, k_]")
        else:
            b.bwd.append(f"np.add.at({dsrc}, (slice(None), {c_idx}), {dwin})")
        b.accumulate(src, dsrc, True, len(unique))

    scatter.needed = any(b.loc[x][0].requires_grad for x in unique)  # type: ignore[attr-defined]
    return win, scatter
