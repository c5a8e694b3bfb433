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
        if len(members) < 2:
            result.extend(members)
            continue
        nodes = [n for g in members for n in g]
        kind = item[0]
        if kind == "dot":
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
        if sides is not None:  # one window (the group's shared inputs) x C weight rows
            rows = tuple(tuple(map(id, builder._matmul_sides(n)[1])) for n in group)
            bias = tuple(id(builder._matmul_sides(n)[2]) for n in group)
            return ("dot", len(sides[0]), rows, bias)
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


def emit(builder: Any, nodes: list[Value], info: _Windows) -> Callable[[], None]:
    """Forward lines of a merged window group; returns what writes its backward."""
    import numpy as np

    from engine.compile import _Slab

    b = builder
    what = {"dot": "conv", "const": "pool", "max": "maxpool"}[info.kind]
    slab = _Slab(f"{what}{next(b.counter)}", nodes, True, any(n.requires_grad for n in nodes))
    for j, n in enumerate(nodes):
        b.loc[n] = (slab, j)
    b.slabs.append(slab)
    name = slab.name
    first: dict[Value, int] = {}
    for window in info.windows:
        for x in window:
            first.setdefault(x, len(first))
    slabs = {id(b.loc[x][0]) for x in first}
    if len(slabs) == 1:  # one slab's columns (X, a layer's output): index it directly
        whole = b.loc[next(iter(first))][0]
        first = {x: j for j, x in enumerate(whole.nodes)}
    unique = list(first)
    index = np.array([[first[x] for x in window] for window in info.windows])
    n_win, k = index.shape
    src = b.gather(unique, array=True)
    if src.parts or "[" in src.text:  # not a whole slab: name the gathered columns once
        b.fwd.append(f"{name}_src = {src.text}")
        src_text = f"{name}_src"
    else:
        src_text = src.text
    b.consts.append(index)
    c_idx = f"C[{len(b.consts) - 1}]"
    win = f"{name}_win"
    b.fwd.append(f"{win} = {src_text}[:, {c_idx}]  # {n_win} windows of {k}, gathered")
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
        b.fwd.append(f"{name} = {name}.reshape(B, {n_win * n_out})")
        b.products.add(name)
    columns_unique = all(len(set(col)) == len(col) for col in index.T.tolist())
    needs = any(b.loc[x][0].requires_grad for x in unique)

    def backward() -> None:
        g3 = f"{g}_3"
        b.bwd.append(f"{g3} = {g}.reshape(B, {n_win}, {n_out})")
        if info.kind == "dot":
            b.bwd.append(f"G[{weight[2:-1]}] += {g3}.reshape(-1, {n_out}).T @ "
                         f"{win}.reshape(-1, {k})")
            if bias is not None:
                b.accumulate(bias, f"{g3}.sum(1)", True, n_out)
        if not needs:
            return
        dwin = f"{g}_win"
        if info.kind == "max":
            b.bwd.append(f"{dwin} = np.where(np.arange({k}) == {name}_arg[..., None], {g3}, "
                         "0.0)  # masked slots get exactly 0")
        else:
            b.bwd.append(f"{dwin} = {g3} @ {weight}")
        dsrc = f"{g}_src"
        b.bwd.append(f"{dsrc} = np.zeros((B, {len(unique)}))")
        if columns_unique:
            b.bwd.append(f"for k_ in range({k}):  # scatter-add, one window tap at a time")
            b.bwd.append(f"    {dsrc}[:, {c_idx}[:, k_]] += {dwin}[:, :, k_]")
        else:
            b.bwd.append(f"np.add.at({dsrc}, (slice(None), {c_idx}), {dwin})")
        b.accumulate(src, dsrc, True, len(unique))
    return backward
