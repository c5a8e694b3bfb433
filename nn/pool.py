"""Pooling layers: ``MaxPool1d``, ``MaxPool2d``, ``AvgPool1d``, ``AvgPool2d``.

Each output element is ONE engine node over its window:

* max pooling is an ``engine.max`` node. Its gradient goes to the **first**
  maximal input of the window in row-major order (top row first, left to
  right), and only to it; a NaN wins and propagates. This is PyTorch's rule:
  its CPU ``max_pool`` kernels keep the index of the first maximum
  (``if val > maxval or isnan(val)``), so on ties the whole gradient lands
  on the same input as in PyTorch (the tests check it against
  ``torch.nn.MaxPool2d``). The subgradient is not split between tied inputs.
* average pooling is an ``engine.dot`` node with the constant weights
  ``1 / divisor``: ``sum(x) / divisor`` as one fused node. The divisor follows
  PyTorch: the window's size clipped to the padded input
  (``count_include_pad=True``, the default), or the number of real inputs
  (``count_include_pad=False``), or ``divisor_override``.

The adaptive layers (``AdaptiveAvgPool2d(1)`` is global average pooling)
choose the windows from the requested output size as PyTorch does: output
``i`` of ``n_out`` pools inputs ``floor(i * n / n_out)`` to
``ceil((i + 1) * n / n_out) - 1``.

Layout as in :mod:`nn.conv`: ``[C][H][W]`` or ``[N][C][H][W]`` for the 2-D
layers, ``[C][L]`` or ``[N][C][L]`` for the 1-D ones; the channels are pooled
independently. ``stride`` defaults to ``kernel_size``; padding is implicit
(``-inf`` for max, zeros for average) and never materialised.

>>> from nn.utils import to_values
>>> x = to_values([[[1.0, 3.0, 2.0, 0.0], [3.0, 0.0, 1.0, 5.0]]])
>>> out = MaxPool2d(2)(x)
>>> [v.data for v in out[0][0]]
[3.0, 5.0]
>>> out[0][0][0].backward()
>>> [[v.grad for v in row[:2]] for row in x[0]]  # the tie 3 = 3: the first one wins
[[0.0, 1.0], [0.0, 0.0]]
"""

from __future__ import annotations

from typing import Any

import engine
from engine import Value
from nn.conv import Geometry, check_input
from nn.module import Module
from nn.utils import expand_ints, lift

__all__ = ["AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AdaptiveMaxPool1d", "AdaptiveMaxPool2d",
           "AvgPool1d", "AvgPool2d", "MaxPool1d", "MaxPool2d", "adaptive_avg_pool1d",
           "adaptive_avg_pool2d", "adaptive_max_pool1d", "adaptive_max_pool2d", "avg_pool1d",
           "avg_pool2d", "max_pool1d", "max_pool2d"]


def _geometry(spatial: int, kernel_size: Any, stride: Any, padding: Any, dilation: Any,
              ceil_mode: bool, where: str) -> Geometry:
    kernel = expand_ints(kernel_size, spatial, "kernel_size", where, minimum=1)
    stride = kernel if stride is None else expand_ints(stride, spatial, "stride", where, 1)
    pad = expand_ints(padding, spatial, "padding", where)
    dilation = expand_ints(dilation, spatial, "dilation", where, minimum=1)
    for k, p in zip(kernel, pad, strict=True):
        if 2 * p > k:
            raise ValueError(f"{where}: padding should be at most half of the kernel size, got "
                             f"padding={padding!r} for kernel_size={kernel_size!r}")
    return Geometry(kernel, stride, tuple((p, p) for p in pad), dilation, bool(ceil_mode))


def _as_2d(geometry: Geometry) -> Geometry:
    """A 1-D geometry run as 2-D over one row."""
    g = geometry
    return Geometry((1, *g.kernel), (1, *g.stride), ((0, 0), *g.padding), (1, *g.dilation),
                    g.ceil_mode)


def _max_one(x: list, rows: list, cols: list) -> list:
    """``[C][H][W]`` -> one ``max`` node per window (row-major window order)."""
    return [[[engine.max(*[xc[r][s] for _, r in rt for _, s in ct]) for ct in cols]
             for rt in rows] for xc in x]


def _divisors(n: int, n_out: int, kernel: int, stride: int, pad: int,
              include_pad: bool) -> list[int]:
    """Per output position along one dimension: PyTorch's divisor factor."""
    out = []
    for o in range(n_out):
        start = o * stride - pad
        end = min(start + kernel, n + pad)
        out.append(end - start if include_pad else min(end, n) - max(start, 0))
    return out


def _avg_one(x: list, rows: list, cols: list, row_div: list[int], col_div: list[int],
             divisor: int | None) -> list:
    """``[C][H][W]`` -> one ``dot`` node with weights ``1 / divisor`` per window."""
    weights: dict[int, Value] = {}  # one constant per distinct divisor
    out = []
    for xc in x:
        plane = []
        for rt, dr in zip(rows, row_div, strict=True):
            line = []
            for ct, dc in zip(cols, col_div, strict=True):
                d = divisor or dr * dc
                w = weights.get(d)
                if w is None:
                    w = weights[d] = Value(1.0 / d, requires_grad=False)
                xs = [xc[r][s] for _, r in rt for _, s in ct]
                line.append(engine.dot([w] * len(xs), xs))
            plane.append(line)
        out.append(plane)
    return out


def _fixed_plan(geometry: Geometry, include_pad: bool = True) -> Any:
    """Windows and divisors of a kernel/stride/padding pooling, for an input size."""
    (kh, kw), (sh, sw) = geometry.kernel, geometry.stride
    (ph, _), (pw, _) = geometry.padding

    def plan(height: int, width: int) -> tuple:
        rows, cols = geometry.windows((height, width))
        return (rows, cols, _divisors(height, len(rows), kh, sh, ph, include_pad),
                _divisors(width, len(cols), kw, sw, pw, include_pad))

    return plan


def _adaptive_taps(n: int, n_out: int) -> list[list[tuple[int, int]]]:
    """PyTorch's adaptive windows: ``[floor(i n / n_out), ceil((i + 1) n / n_out))``."""
    return [[(t - i * n // n_out, t) for t in range(i * n // n_out, -(-(i + 1) * n // n_out))]
            for i in range(n_out)]


def _adaptive_plan(output_size: tuple[int | None, int | None]) -> Any:
    def plan(height: int, width: int) -> tuple:
        rows = _adaptive_taps(height, output_size[0] or height)
        cols = _adaptive_taps(width, output_size[1] or width)
        return rows, cols, [len(t) for t in rows], [len(t) for t in cols]

    return plan


def _pool(x: Any, plan: Any, geometry: Geometry, spatial: int, where: str, kind: str,
          divisor: int | None = None) -> list:
    """Check ``x`` (against ``geometry``'s smallest size) and pool every sample."""
    batched, _ = check_input(x, where, None, geometry, spatial)
    out = []
    for sample in (x if batched else [x]):
        sample = lift(sample)
        if spatial == 1:
            sample = [[row] for row in sample]
        rows, cols, row_div, col_div = plan(len(sample[0]), len(sample[0][0]))
        y = _max_one(sample, rows, cols) if kind == "max" else \
            _avg_one(sample, rows, cols, row_div, col_div, divisor)
        out.append([yc[0] for yc in y] if spatial == 1 else y)
    return out if batched else out[0]


def _fixed(x: Any, geometry: Geometry, spatial: int, where: str, kind: str,
           include_pad: bool = True, divisor: int | None = None) -> list:
    g2 = _as_2d(geometry) if spatial == 1 else geometry
    return _pool(x, _fixed_plan(g2, include_pad), geometry, spatial, where, kind, divisor)


def max_pool2d(x: Any, kernel_size: Any, stride: Any = None, padding: Any = 0,
               dilation: Any = 1, ceil_mode: bool = False) -> list:
    """2-D max pooling, as ``torch.nn.functional.max_pool2d`` (first maximum takes the gradient).

    Args:
        x: ``[C][H][W]`` or ``[N][C][H][W]``.
        kernel_size: An int or ``(kH, kW)``.
        stride: Defaults to ``kernel_size``.
        padding: Implicit ``-inf`` padding, at most half the kernel.
        dilation: Spacing between window taps.
        ceil_mode: Round the output size up.

    Returns:
        The pooled tensor, one ``max`` node per entry.

    Raises:
        ValueError: A bad argument or input shape.

    >>> [[v.data for v in row] for row in max_pool2d([[[1, 2], [4, 3]]], 2)[0]]
    [[4.0]]
    """
    g = _geometry(2, kernel_size, stride, padding, dilation, ceil_mode, "max_pool2d")
    return _fixed(x, g, 2, "max_pool2d", "max")


def max_pool1d(x: Any, kernel_size: int, stride: int | None = None, padding: int = 0,
               dilation: int = 1, ceil_mode: bool = False) -> list:
    """1-D max pooling over ``[C][L]`` or ``[N][C][L]``, as ``torch.nn.functional.max_pool1d``.

    >>> [v.data for v in max_pool1d([[1, 5, 2, 0, 3]], 2, ceil_mode=True)[0]]
    [5.0, 2.0, 3.0]
    """
    g = _geometry(1, kernel_size, stride, padding, dilation, ceil_mode, "max_pool1d")
    return _fixed(x, g, 1, "max_pool1d", "max")


def avg_pool2d(x: Any, kernel_size: Any, stride: Any = None, padding: Any = 0,
               ceil_mode: bool = False, count_include_pad: bool = True,
               divisor_override: int | None = None) -> list:
    """2-D average pooling, as ``torch.nn.functional.avg_pool2d``.

    Args:
        x: ``[C][H][W]`` or ``[N][C][H][W]``.
        kernel_size: An int or ``(kH, kW)``.
        stride: Defaults to ``kernel_size``.
        padding: Implicit zero padding, at most half the kernel.
        ceil_mode: Round the output size up.
        count_include_pad: Count the padding in the divisor.
        divisor_override: Divide by this instead.

    Returns:
        The pooled tensor, one ``dot`` node (weights ``1/divisor``) per entry.

    Raises:
        ValueError: A bad argument or input shape.

    >>> [[v.data for v in row] for row in avg_pool2d([[[1, 2], [4, 3]]], 2)[0]]
    [[2.5]]
    """
    g = _geometry(2, kernel_size, stride, padding, 1, ceil_mode, "avg_pool2d")
    return _fixed(x, g, 2, "avg_pool2d", "avg", count_include_pad,
                 _check_divisor(divisor_override, "avg_pool2d"))


def avg_pool1d(x: Any, kernel_size: int, stride: int | None = None, padding: int = 0,
               ceil_mode: bool = False, count_include_pad: bool = True) -> list:
    """1-D average pooling over ``[C][L]`` or ``[N][C][L]``, as ``torch.nn.functional.avg_pool1d``.

    >>> [v.data for v in avg_pool1d([[1, 5, 2, 0]], 2)[0]]
    [3.0, 1.0]
    """
    g = _geometry(1, kernel_size, stride, padding, 1, ceil_mode, "avg_pool1d")
    return _fixed(x, g, 1, "avg_pool1d", "avg", count_include_pad)


def _check_divisor(divisor: Any, where: str) -> int | None:
    if divisor is None:
        return None
    return expand_ints(divisor, 1, "divisor_override", where, minimum=1)[0]


class _Pool(Module, register=False):
    """What the pooling layers share: a geometry and a repr; no parameters."""

    _spatial = 2
    _kind = "max"

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0,
                 dilation: Any = 1, ceil_mode: bool = False, count_include_pad: bool = True,
                 divisor_override: int | None = None) -> None:
        super().__init__()
        n, name = self._spatial, type(self).__name__
        self._geometry = _geometry(n, kernel_size, stride, padding, dilation, ceil_mode, name)
        self.kernel_size = self._geometry.kernel
        self.stride = self._geometry.stride
        self.padding = tuple(p for p, _ in self._geometry.padding)
        self.dilation = self._geometry.dilation
        self.ceil_mode = bool(ceil_mode)
        self.count_include_pad = bool(count_include_pad)
        self.divisor_override = _check_divisor(divisor_override, name)

    def forward(self, x: Any) -> list:
        """Pool ``x`` (one sample or a batch)."""
        return _fixed(x, self._geometry, self._spatial, f"{type(self).__name__}("
                     f"{self.extra_repr()})", self._kind, self.count_include_pad,
                     self.divisor_override)

    def _show(self, t: tuple[int, ...]) -> int | tuple[int, ...]:
        return t[0] if self._spatial == 1 else t

    def config(self) -> dict[str, Any]:
        """Constructor arguments."""
        cfg: dict[str, Any] = {"kernel_size": list(self.kernel_size),
                               "stride": list(self.stride), "padding": list(self.padding),
                               "ceil_mode": self.ceil_mode}
        if self._kind == "max":
            cfg["dilation"] = list(self.dilation)
        else:
            cfg["count_include_pad"] = self.count_include_pad
            if self._spatial == 2:
                cfg["divisor_override"] = self.divisor_override
        return cfg

    def extra_repr(self) -> str:
        text = (f"kernel_size={self._show(self.kernel_size)}, "
                f"stride={self._show(self.stride)}, padding={self._show(self.padding)}")
        if self._kind == "max":
            text += f", dilation={self._show(self.dilation)}"
        if self.ceil_mode:
            text += ", ceil_mode=True"
        if not self.count_include_pad:
            text += ", count_include_pad=False"
        if self.divisor_override is not None:
            text += f", divisor_override={self.divisor_override}"
        return text


class MaxPool2d(_Pool):
    """2-D max pooling, as ``torch.nn.MaxPool2d``.

    Args:
        kernel_size: An int or ``(kH, kW)``.
        stride: Defaults to ``kernel_size``.
        padding: Implicit ``-inf`` padding, at most half the kernel.
        dilation: Spacing between window taps.
        ceil_mode: Round the output size up.

    Each output is one ``engine.max`` node; on ties the first maximum in
    row-major window order gets the whole gradient (PyTorch's rule).

    >>> MaxPool2d(2)
    MaxPool2d(kernel_size=(2, 2), stride=(2, 2), padding=(0, 0), dilation=(1, 1))
    """

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0,
                 dilation: Any = 1, ceil_mode: bool = False) -> None:
        super().__init__(kernel_size, stride, padding, dilation, ceil_mode)


class MaxPool1d(MaxPool2d):
    """1-D max pooling over ``[C][L]`` or ``[N][C][L]``, as ``torch.nn.MaxPool1d``.

    >>> [v.data for v in MaxPool1d(3, stride=1)([[0.0, 2.0, 1.0, -1.0]])[0]]
    [2.0, 2.0]
    """

    _spatial = 1


class AvgPool2d(_Pool):
    """2-D average pooling, as ``torch.nn.AvgPool2d``.

    Args:
        kernel_size: An int or ``(kH, kW)``.
        stride: Defaults to ``kernel_size``.
        padding: Implicit zero padding, at most half the kernel.
        ceil_mode: Round the output size up.
        count_include_pad: Count the zero padding in the divisor (PyTorch's default).
        divisor_override: Divide every window by this instead.

    Each output is one ``dot`` node with constant weights ``1 / divisor``.

    >>> AvgPool2d(2, padding=1, count_include_pad=False)
    AvgPool2d(kernel_size=(2, 2), stride=(2, 2), padding=(1, 1), count_include_pad=False)
    """

    _kind = "avg"

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0,
                 ceil_mode: bool = False, count_include_pad: bool = True,
                 divisor_override: int | None = None) -> None:
        super().__init__(kernel_size, stride, padding, 1, ceil_mode, count_include_pad,
                         divisor_override)


class AvgPool1d(_Pool):
    """1-D average pooling over ``[C][L]`` or ``[N][C][L]``, as ``torch.nn.AvgPool1d``.

    >>> [v.data for v in AvgPool1d(2, stride=1)([[0.0, 2.0, 1.0]])[0]]
    [1.0, 1.5]
    """

    _spatial = 1
    _kind = "avg"

    def __init__(self, kernel_size: int, stride: int | None = None, padding: int = 0,
                 ceil_mode: bool = False, count_include_pad: bool = True) -> None:
        super().__init__(kernel_size, stride, padding, 1, ceil_mode, count_include_pad)


# -- adaptive pooling ------------------------------------------------------------------------


def _output_size(output_size: Any, spatial: int, where: str) -> tuple[int | None, int | None]:
    """``output_size`` as (rows, columns); None keeps the input's size (2-D only)."""
    if spatial == 1:
        return (1, expand_ints(output_size, 1, "output_size", where, minimum=1)[0])
    if isinstance(output_size, (list, tuple)) and len(output_size) == 2 and None in output_size:
        sizes = [None if v is None else expand_ints(v, 1, "output_size", where, minimum=1)[0]
                 for v in output_size]
        return sizes[0], sizes[1]
    rows, cols = expand_ints(output_size, 2, "output_size", where, minimum=1)
    return rows, cols


def _adaptive(x: Any, output_size: Any, spatial: int, where: str, kind: str) -> list:
    plan = _adaptive_plan(_output_size(output_size, spatial, where))
    ones = (1,) * spatial  # any input of at least one element per dimension
    return _pool(x, plan, Geometry(ones, ones, ((0, 0),) * spatial, ones), spatial, where, kind)


def adaptive_avg_pool2d(x: Any, output_size: Any) -> list:
    """Average pooling to a given output size, as ``torch.nn.functional.adaptive_avg_pool2d``.

    >>> [[v.data for v in row] for row in adaptive_avg_pool2d([[[1, 2, 3], [4, 5, 6]]], 1)[0]]
    [[3.5]]
    """
    return _adaptive(x, output_size, 2, "adaptive_avg_pool2d", "avg")


def adaptive_max_pool2d(x: Any, output_size: Any) -> list:
    """Max pooling to a given output size, as ``torch.nn.functional.adaptive_max_pool2d``.

    >>> [[v.data for v in row] for row in adaptive_max_pool2d([[[1, 2, 3], [4, 5, 6]]], (1, 2))[0]]
    [[5.0, 6.0]]
    """
    return _adaptive(x, output_size, 2, "adaptive_max_pool2d", "max")


def adaptive_avg_pool1d(x: Any, output_size: int) -> list:
    """1-D adaptive average pooling, as ``torch.nn.functional.adaptive_avg_pool1d``."""
    return _adaptive(x, output_size, 1, "adaptive_avg_pool1d", "avg")


def adaptive_max_pool1d(x: Any, output_size: int) -> list:
    """1-D adaptive max pooling, as ``torch.nn.functional.adaptive_max_pool1d``."""
    return _adaptive(x, output_size, 1, "adaptive_max_pool1d", "max")


class _AdaptivePool(Module, register=False):
    """What the adaptive pooling layers share."""

    _spatial = 2
    _kind = "avg"

    def __init__(self, output_size: Any) -> None:
        super().__init__()
        sizes = _output_size(output_size, self._spatial, type(self).__name__)
        self.output_size = sizes[1] if self._spatial == 1 else sizes

    def forward(self, x: Any) -> list:
        """Pool ``x`` (one sample or a batch) to ``output_size``."""
        return _adaptive(x, self.output_size, self._spatial,
                         f"{type(self).__name__}({self.extra_repr()})", self._kind)

    def config(self) -> dict[str, Any]:
        """Constructor arguments."""
        size = self.output_size
        return {"output_size": list(size) if isinstance(size, tuple) else size}

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class AdaptiveAvgPool2d(_AdaptivePool):
    """Average pooling to ``output_size``, as ``torch.nn.AdaptiveAvgPool2d``.

    Args:
        output_size: An int, ``(rows, columns)``, or a tuple with None to keep that size.

    ``AdaptiveAvgPool2d(1)`` is global average pooling: ``[C][H][W] -> [C][1][1]``.

    >>> AdaptiveAvgPool2d((2, None))
    AdaptiveAvgPool2d(output_size=(2, None))
    """


class AdaptiveMaxPool2d(_AdaptivePool):
    """Max pooling to ``output_size``, as ``torch.nn.AdaptiveMaxPool2d`` (first maximum wins ties).

    >>> [[v.data for v in row] for row in AdaptiveMaxPool2d(1)([[[1.0, 7.0], [3.0, 2.0]]])[0]]
    [[7.0]]
    """

    _kind = "max"


class AdaptiveAvgPool1d(_AdaptivePool):
    """1-D average pooling to ``output_size``, as ``torch.nn.AdaptiveAvgPool1d``.

    >>> [v.data for v in AdaptiveAvgPool1d(2)([[1.0, 2.0, 3.0]])[0]]
    [1.5, 2.5]
    """

    _spatial = 1


class AdaptiveMaxPool1d(_AdaptivePool):
    """1-D max pooling to ``output_size``, as ``torch.nn.AdaptiveMaxPool1d``."""

    _spatial = 1
    _kind = "max"
