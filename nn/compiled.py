"""The compiled training step: a model and a loss traced once to numpy code.

:class:`CompiledLoss` builds one sample's loss as a scalar graph (features and
target rows are placeholders), hands it to :func:`engine.compile.compile` with
the L2 penalty as a parameter-only term, and from then on runs forward and
backward for a whole batch as a few numpy calls per layer. The per-sample loss
is the registry's (:data:`nn.losses.REGISTRY`): the function the dynamic
losses are made of, so the two paths compute the same thing by construction.

:class:`CompiledStepper` is what ``fit`` runs (contract C5): it keeps the
parameters *and the optimizer's state* in numpy for the whole run, as one flat
vector, and updates them with the formulas of :mod:`nn.optim` vectorised
(``SGD`` with momentum, dampening, Nesterov and weight decay; ``Adam`` and
``AdamW``, with amsgrad), in the same order of floating-point operations, so a
compiled run equals a dynamic one step for step. It reads ``optimizer.lr`` at
every step (schedules work) and :meth:`CompiledStepper.sync` writes the
parameters, their gradients and the optimizer's state back into the ``Value``
objects and the optimizer, so a checkpoint, a resume or a switch back to the
dynamic engine continues exactly. ``fit`` hands it each data set once
(:meth:`CompiledStepper.dataset`: a :class:`Dataset`, features and target rows
as one array, converted and checked once) and then batches of it by row numbers
(:meth:`CompiledStepper.step_rows`); outputs come back as ``(B, k)`` arrays.

Who decides between this path and the dynamic one is ``nn.train`` (it imports
this module, never the other way round): :func:`compiled_stepper` returns None
when the compiled path cannot be used (numpy missing, a module that does not
compile, an optimizer it does not vectorise).

**Which layers compile.** Every layer of :mod:`nn` but ``BatchNorm``: ``Linear``/
``Layer``/``MLP``, ``Conv1d``/``Conv2d`` (stride, padding, dilation, groups), the max,
average and adaptive pools, ``LayerNorm``, ``RNN``/``GRU``/``LSTM`` and their cells,
``Dropout`` and ``Sequential``/``Flatten``/activations. Samples may be nested
(``[C][H][W]`` images, ``[T][features]`` sequences): a batch is a numpy array of
shape ``(B, *sample)``, flattened row-major into the traced placeholders.
:mod:`engine.compile_layers` turns a convolution into one gather of its windows and
one matrix product, a pooling into one gather and one reduction, and a recurrent
layer into a few products per time step. ``Dropout``'s masks are inputs of the
traced graph, drawn fresh for every batch from the layer's ``rng`` in the dynamic
engine's order (:func:`draw_masks`). ``BatchNorm`` normalises with the statistics of
the whole batch, which one sample's trace cannot express: such a model runs on the
dynamic engine (:func:`not_compilable_reason` says why; ``fit`` warns with it).

numpy is needed (``pip install 'dagrad[speed]'``).
"""

from __future__ import annotations

import contextlib
import numbers
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from engine import Value, no_grad, topological_order
from engine.compile import Compiled, TraceError, compile
from nn.containers import Dropout
from nn.losses import REGISTRY, LossSpec, l2_penalty
from nn.optim import Optimizer
from nn.utils import apply_elementwise, flatten_values, unflatten

#: Loss names the compiled path knows: every loss of the registry.
LOSS_NAMES = tuple(REGISTRY)


class FallbackWarning(UserWarning):
    """``fit(backend='auto')`` trains a model on the dynamic engine because the compiled
    path would compute something else (the message names the module and why, e.g.
    ``BatchNorm``: see :func:`not_compilable_reason`). Silence it with
    ``warnings.simplefilter``."""


def _spec(loss: str) -> LossSpec:
    if not isinstance(loss, str) or loss not in REGISTRY:
        raise ValueError(f"compiled loss: unknown loss {loss!r}; expected one of "
                         f"{', '.join(LOSS_NAMES)}")
    return REGISTRY[loss]


def _n_outputs(model: Any, x: Any) -> int:
    nout = getattr(model, "nout", None)
    if isinstance(nout, int) and not isinstance(nout, bool):
        return nout
    with no_grad():
        out = model(_sample(x))
    return 1 if isinstance(out, (Value, numbers.Real)) else len(flatten_values(out))


def _dropouts(model: Any) -> list[Dropout]:
    """The ``Dropout`` layers of ``model`` (one walk over its modules and parameters)."""
    modules = model.modules() if hasattr(model, "modules") else [model]
    return [m for m in modules if isinstance(m, Dropout)]


@contextlib.contextmanager
def _masking(drops: list[Dropout], masks: Callable[[Dropout, Any], Any]) -> Iterator[None]:
    """Every layer of ``drops`` calls ``masks(layer, x)`` instead of drawing."""
    for m in drops:
        m.masks = masks
    try:
        yield
    finally:
        for m in drops:
            m.masks = None


def _unmasked(layer: Dropout, x: Any) -> Any:
    return x


def draw_masks(calls: Sequence[tuple[Dropout, int]], batch: int) -> Any:
    """The dropout masks of a batch, as the dynamic engine draws them: for each sample in
    order, for each ``Dropout`` call of the forward pass in order, one ``rng.random()``
    per element in row-major order (dropped: ``< p``). Returns a ``(batch, columns)``
    array of 0.0 (dropped) and ``1 / (1 - p)`` (kept): the factor each element is
    multiplied by.

    Args:
        calls: ``(layer, elements)`` for each ``Dropout`` call of one forward pass.
        batch: Samples.
    """
    import numpy as np

    rows = []
    for _ in range(batch):
        row: list[float] = []
        for layer, n in calls:
            draw, p, keep = layer._rng.random, layer.p, 1.0 / (1.0 - layer.p)
            row.extend([0.0 if draw() < p else keep for _ in range(n)])
        rows.append(row)
    return np.array(rows, dtype=float).reshape(batch, -1)


def _sample(x: Any) -> Any:
    """One sample as the model takes it: nested lists of floats (a numpy row of any
    shape, ``[C][H][W]`` images and ``[T][features]`` sequences included)."""
    import numpy as np

    return np.asarray(x, dtype=float).tolist()


def _outputs(out: Any) -> list[Value]:
    """A model's output for one sample as a flat list (row-major for nested outputs)."""
    return [out] if isinstance(out, (Value, numbers.Real)) else flatten_values(out)


class Dataset:
    """A data set held by the compiled path for a whole run (``fit``'s training, test
    and validation sets), made by :meth:`CompiledLoss.dataset`: its features and the
    loss's target rows side by side in one float array, converted and checked once,
    so that a batch is one gather by row numbers.

    Attributes:
        XY: ``(N, n_features + target columns)``; features flattened row-major.
        n_features: Feature columns.
        sample_shape: One sample's shape (``(d,)`` for vectors).
    """

    def __init__(self, XY: Any, n_features: int, sample_shape: tuple[int, ...]) -> None:
        self.XY, self.n_features, self.sample_shape = XY, n_features, sample_shape

    def __len__(self) -> int:
        return len(self.XY)


class CompiledLoss:
    """``loss(model(x), y)`` averaged over a batch, plus ``alpha * sum(p * p)``,
    compiled to numpy code at the first batch.

    Args:
        model: A callable ``Module`` (e.g. ``MLP``) with ``parameters()``.
        loss: A name of :data:`nn.losses.REGISTRY`.
        alpha: The L2 coefficient (0 for none).
        check: ``engine.compile``'s structure check. None: ``"static"`` (trace one
            sample) for a model of :mod:`nn`'s own modules (:func:`fixed_structure`),
            else ``engine.compile``'s default.
        l2_params: The parameters the L2 term covers (default: all of them).
        params: ``model.parameters()``, when the caller has them already.
        **options: The loss's options (``weight``, ``pos_weight``, ``margin``), as the
            batch function takes them; ``weight`` per class for ``cross_entropy``.

    Raises:
        ValueError: An unknown loss name, or an option the loss does not take.

    >>> from nn import MLP
    >>> model = MLP(2, [4, 1], rng=0)
    >>> c = CompiledLoss(model, "mse")
    >>> X, y = [[0.0, 1.0], [1.0, 0.0]], [0.5, -0.5]
    >>> from nn.losses import mse_loss
    >>> dynamic = mse_loss([model(x) for x in X], y)
    >>> abs(c.backward(X, y) - dynamic.data) < 1e-12
    True
    """

    def __init__(self, model: Any, loss: str = "hinge", alpha: float = 0.0,
                 check: str | None = None, l2_params: Sequence[Value] | None = None,
                 params: Sequence[Value] | None = None, **options: Any) -> None:
        self.spec = _spec(loss)
        unknown = [k for k in options if k not in self.spec.options]
        if unknown:
            raise ValueError(f"compiled loss: {loss} takes no option {unknown[0]!r} (it takes "
                             f"{', '.join(self.spec.options) or 'none'})")
        self.model, self.loss, self.alpha, self.check = model, loss, float(alpha), check
        self.options = options
        self.params = list(model.parameters() if params is None else params)
        self.l2_params = self.params if l2_params is None else list(l2_params)
        self.compiled: Compiled | None = None
        self.n_features = 0
        self.n_outputs = 0
        self.sample_shape: tuple[int, ...] = ()  # one sample's shape ((d,) for vectors)
        self.dropout_calls: list[tuple[Dropout, int]] = []  # (layer, elements) per call
        self._targets: tuple | None = None  # (targets, weight, rows array) of the last batch
        self._measured = 0  # the feature width n_outputs and dropout_calls were measured at
        self._drops: list[Dropout] | None = None  # the model's Dropout layers (measured)

    # -- batches as arrays -----------------------------------------------------------
    def features(self, X: Any) -> Any:
        """``X`` as a float array, one row per sample: a sample of any nesting
        (``[C][H][W]``, ``[T][features]``) is one row in row-major order, and its
        shape is kept in :attr:`sample_shape` for the model's placeholders.

        Raises:
            ValueError: The samples' shape differs from the first batch's.
        """
        import numpy as np

        X = np.asarray(X, dtype=float)
        if X.ndim == 1:
            X = X[:, None]
        self._set_sample_shape(X.shape[1:])
        return X.reshape(len(X), -1) if X.ndim > 2 else X

    def _set_sample_shape(self, shape: tuple[int, ...]) -> None:
        """Keep one sample's shape; a nested one must be the compiled model's."""
        if self.compiled is not None and len(self.sample_shape) > 1 and (
                shape != self.sample_shape):
            raise ValueError(f"compiled loss: samples of shape {list(shape)}, but the model "
                             f"was compiled for {list(self.sample_shape)}")
        self.sample_shape = shape

    def target_rows(self, y: Any, n_outputs: int, weight: Any = None) -> Any:
        """The loss's target rows for ``y`` (an array, one row per sample), checked.

        Built by the registry (``spec.rows``) after its checks; reused while the
        targets are equal in value to the last batch's.
        """
        import numpy as np

        last = self._targets
        if last is not None and last[1] is None and weight is None and _equal(last[0], y):
            return last[2]
        rows = self._scaled(self._rows(y, n_outputs, weight), weight is not None)
        snapshot = y.copy() if isinstance(y, np.ndarray) else [
            list(t) if isinstance(t, list) else t for t in y]
        self._targets = (snapshot, weight, rows)
        return rows

    def _rows(self, y: Any, n_outputs: int, weight: Any = None) -> Any:
        """``spec.rows`` of ``y`` as an array, after the loss's checks (not yet scaled)."""
        import numpy as np

        targets = y.tolist() if isinstance(y, np.ndarray) else list(y)
        self.spec.check(targets, n_outputs)
        options = self.options if weight is None else {**self.options, "weight": weight}
        return np.array(self.spec.rows(targets, n_outputs, **options), dtype=float)

    def _scaled(self, rows: Any, weighted: bool) -> Any:
        """A batch's target rows scaled so that their mean is the loss's weighted mean
        (``len(rows) / normalizer``: cross-entropy with class weights); in place."""
        if weighted or "weight" in self.options:
            norm = self.spec.normalizer(rows)
            if norm != len(rows):
                rows *= len(rows) / norm
        return rows

    def _measure(self, X: Any) -> None:
        """The model's output count and its active ``Dropout`` calls (in the model's
        current mode), from the first sample of the features ``X``; once per width."""
        if self._measured == X.shape[1]:
            return
        sample = X[0].reshape(self.sample_shape)
        if self._drops is None:
            self._drops = _dropouts(self.model)
        with _masking(self._drops, _unmasked):  # measuring draws no dropout mask
            self.n_outputs = _n_outputs(self.model, sample)
        self.dropout_calls = []
        if any(m.training and 0.0 < m.p < 1.0 for m in self._drops):
            calls = self.dropout_calls

            def count(layer: Dropout, x: Any) -> Any:
                calls.append((layer, len(flatten_values(x))))
                return x

            with no_grad(), _masking(self._drops, count):
                self.model(_sample(sample))
        self._measured = X.shape[1]

    def _masked(self, X: Any, rows: Any) -> Any:
        """Features, fresh dropout masks (when the model has active ``Dropout``s) and
        target rows side by side: the batch array the compiled code takes."""
        import numpy as np

        if self.dropout_calls:  # fresh masks for this batch, in the dynamic engine's order
            return np.concatenate([X, draw_masks(self.dropout_calls, len(X)), rows], axis=1)
        return np.concatenate([X, rows], axis=1)

    def batch(self, X: Any, y: Any, weight: Any = None) -> Any:
        """Features and target rows side by side, one row per sample (a numpy array).

        Targets are as the loss's batch function takes them: numbers, lists of
        numbers (several outputs), or class indices for ``cross_entropy``.

        Raises:
            ValueError: The loss's checks fail, or the counts differ.
        """
        X = self.features(X)
        self._measure(X)
        rows = self.target_rows(y, self.n_outputs, weight)
        if len(X) != len(rows):
            raise ValueError(f"compiled loss: {len(X)} samples but {len(rows)} targets")
        return self._masked(X, rows)

    # -- a data set held for a run ----------------------------------------------------------
    def dataset(self, X: Any, y: Any) -> Dataset:
        """``(X, y)`` held for a whole run: features and target rows in one array,
        checked once (:class:`Dataset`); :meth:`rows_batch` gathers a batch of it.

        Raises:
            ValueError: The loss's checks fail on ``y``, or the counts differ.
        """
        import numpy as np

        X = self.features(X)
        self._measure(X)
        rows = self._rows(y, self.n_outputs)
        if len(X) != len(rows):
            raise ValueError(f"compiled loss: {len(X)} samples but {len(rows)} targets")
        return Dataset(np.concatenate([X, rows], axis=1), X.shape[1], self.sample_shape)

    def rows_batch(self, data: Dataset, index: Sequence[int] | None = None) -> Any:
        """The batch array of the rows ``index`` of ``data`` (None: all, in order): what
        :meth:`batch` gives for those samples, dropout masks drawn fresh.

        Raises:
            ValueError: ``data``'s samples have another shape than the compiled model's.
        """
        self._set_sample_shape(data.sample_shape)
        d = data.n_features
        if self._measured != d:
            self._measure(data.XY[:1, :d])
        XY = data.XY if index is None else data.XY.take(index, axis=0)
        if "weight" in self.options:  # each batch's own weighted mean
            XY = XY.copy() if index is None else XY
            self._scaled(XY[:, d:], True)
        if self.dropout_calls:
            return self._masked(XY[:, :d], XY[:, d:])
        return XY

    def _compile(self, XY: Any, n_features: int) -> Compiled:
        if self.compiled is None or self.n_features != n_features:
            per_sample, model, d, drops = self.spec.per_sample, self.model, n_features, self._drops
            nested = self.sample_shape if len(self.sample_shape) > 1 else None
            m = sum(n for _, n in self.dropout_calls)

            def fn(inputs: list[Value]) -> tuple[Value, list[Value]]:
                x = inputs[:d] if nested is None else unflatten(inputs[:d], nested)
                factors = iter(inputs[d:d + m])  # one mask column per dropped-or-kept element

                def masked(layer: Dropout, x: Any) -> Any:
                    return apply_elementwise(lambda v: v * next(factors), x)

                with _masking(drops, masked):
                    outs = _outputs(model(x))
                return per_sample(outs, inputs[d + m:]), outs

            decayed, alpha = self.l2_params, self.alpha
            penalty = (lambda: l2_penalty(decayed, alpha)) if alpha else None
            params = self.params
            check = self.check or ("static" if fixed_structure(model) else None)
            kwargs = {} if check is None else {"check": check}
            self.compiled = compile(fn, params, XY.shape[1], penalty=penalty, **kwargs)
            self.n_features = n_features
        return self.compiled

    def _run(self, X: Any, y: Any, weight: Any = None) -> tuple[Compiled, Any]:
        XY = self.batch(X, y, weight)
        masks = sum(n for _, n in self.dropout_calls)
        return self._compile(XY, XY.shape[1] - self._targets[2].shape[1] - masks), XY

    def _run_rows(self, data: Dataset, index: Sequence[int] | None) -> tuple[Compiled, Any]:
        XY = self.rows_batch(data, index)
        return self._compile(XY, data.n_features), XY

    def check_outputs(self) -> None:
        """Raise the loss's error for outputs it cannot take (``bce`` outside [0, 1])."""
        import numpy as np

        bounds, out = self.spec.output_range, self.outputs
        if bounds is None or out is None:
            return
        bad = ~((out >= bounds[0]) & (out <= bounds[1]))
        if bad.any():
            i = int(np.flatnonzero(bad.any(axis=1))[0])
            self.spec.check_outputs([out[i].tolist()])  # raises, naming the value

    # -- the two ways to train ----------------------------------------------------------
    def backward(self, X: Any, y: Any, weight: Any = None) -> float:
        """The batch loss; accumulates its gradient into each parameter's ``grad``
        (reads the parameters' current ``data`` first), as ``loss.backward()``.

        Raises:
            ValueError: The loss's checks fail on the targets or the outputs.
        """
        compiled, XY = self._run(X, y, weight)
        value = compiled.backward(XY)
        self.check_outputs()
        return value

    def sgd_step(self, X: Any, y: Any, lr: float) -> float:
        """One plain SGD step on the numpy copy of the parameters; returns the loss.

        Call :meth:`load` before the first step (if the parameters changed since
        this object was made) and :meth:`store` to write the result into the model.

        Raises:
            ValueError: The loss's checks fail on the targets or the outputs (a
                ``bce`` output outside [0, 1]); the parameters are not updated then.
        """
        compiled, XY = self._run(X, y)
        return compiled.sgd_step(XY, lr, check=self.check_outputs)

    def load(self) -> None:
        """Copy the model's parameters into the compiled step's array."""
        if self.compiled is not None:
            self.compiled.load()

    def store(self) -> None:
        """Write the compiled step's parameters back into the model."""
        if self.compiled is not None:
            self.compiled.store()

    @property
    def outputs(self) -> Any:
        """The model's outputs for the last batch: a ``(B, n_outputs)`` array."""
        return self.compiled.aux if self.compiled is not None else None

    @property
    def source(self) -> str:
        """The generated numpy code (empty before the first batch)."""
        return self.compiled.source if self.compiled is not None else ""


def _equal(a: Any, b: Any) -> bool:
    """Whether two target batches are equal in value (arrays or lists)."""
    import numpy as np

    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a, b = np.asarray(a), np.asarray(b)
        return a.shape == b.shape and a.dtype == b.dtype and bool((a == b).all())
    return type(a) is type(b) and a == b and all(type(x) is type(z) for x, z in zip(
        a, b, strict=True))


def compiled_loss(model: Any, loss: str, alpha: float = 0.0,
                  **options: Any) -> CompiledLoss | None:
    """A :class:`CompiledLoss`, or None when numpy is missing (use the dynamic path)."""
    try:
        import numpy  # noqa: F401
    except ImportError:
        return None
    return CompiledLoss(model, loss, alpha, **options)


def compiled_step(loss: Any, fallback: Callable[..., tuple[float, list[Any]]]
                  ) -> Callable | None:
    """A drop-in for a dynamic step function that runs the compiled code.

    Same signature and result as ``fallback`` (``nn.train.dynamic_step``):
    ``step(model, params, X, y, loss_fn, l2) -> (loss, outputs)``, leaving each
    parameter's ``grad`` set for the optimizer. ``loss`` is the loss *name*
    (the ``loss_fn`` passed at each call is ignored: it must be the registry's).
    A model that does not compile runs ``fallback``. Returns None when numpy is
    missing or ``loss`` is not a registry name.
    """
    if not isinstance(loss, str) or loss not in REGISTRY:
        return None
    try:
        import numpy  # noqa: F401
    except ImportError:
        return None
    cache: dict[tuple, CompiledLoss | None] = {}

    def step(model: Any, params: list[Value], X: Sequence[Any], y: Sequence[Any],
             loss_fn: Callable[..., Value], l2: float) -> tuple[float, list[Any]]:
        key = (id(model), float(l2), len(params))
        if key not in cache:
            cache[key] = CompiledLoss(model, loss, l2) if compilable(model, X) else None
        compiled = cache[key]
        if compiled is not None:
            for p in params:
                p.grad = None
            try:
                value = compiled.backward(X, y)
            except TraceError:  # Python control flow on the data: stay dynamic
                cache[key] = None
            else:
                return value, _rows_out(compiled.outputs)
        return fallback(model, params, X, y, loss_fn, l2)

    return step


def _rows_out(out: Any) -> list[Any]:
    """A ``(B, k)`` array of outputs as fit keeps them: floats for k = 1, else lists."""
    return out[:, 0].tolist() if out.shape[1] == 1 else out.tolist()


def _as_slice(index: list[int]) -> slice | list[int]:
    """``index`` as a slice when it is a run of consecutive numbers (a layer's
    parameters are), else itself."""
    if index == list(range(index[0], index[0] + len(index))):
        return slice(index[0], index[0] + len(index))
    return index


def compilable(model: Any, X: Sequence[Any]) -> bool:
    """Whether ``model`` on inputs like ``X`` can run compiled: samples that are
    numbers or rectangular nestings of them (vectors, ``[C][H][W]`` images,
    ``[T][features]`` sequences) and no module that declares itself not compilable
    (``Module.compilable``: False for ``Dropout`` and ``BatchNorm``; see
    :func:`not_compilable_reason`)."""
    return not_compilable_reason(model, X) is None


def not_compilable_reason(model: Any, X: Sequence[Any]) -> str | None:
    """Why ``model`` on inputs like ``X`` cannot run compiled, or None when it can.

    The reasons name the module: ``BatchNorm`` normalises with the statistics of the
    whole batch (one sample's traced graph cannot express them, and its running
    buffers change at every step), which would give a different number, so the model
    runs on the dynamic engine. ``fit`` says so (``backend='auto'``) or raises with
    this text (``backend='compiled'``). ``Dropout`` compiles: its masks are inputs of
    the traced graph, drawn fresh for every batch (:func:`draw_masks`).
    """
    import numpy as np

    modules = model.modules() if hasattr(model, "modules") else [model]
    for m in modules:
        if not getattr(m, "compilable", True):
            why = _why_not(m) or "declares itself not compilable (Module.compilable = False)"
            return f"{type(m).__name__} {why}"
    try:
        if len(X) == 0:
            return "no samples to trace"
        np.asarray(X[0], dtype=float)
    except (TypeError, ValueError) as e:
        return f"the first sample is not a rectangular array of numbers ({e})"
    return None


def _why_not(module: Any) -> str | None:
    """What keeps a module that declares ``compilable = False`` off the compiled path,
    when dagrad knows (its BatchNorm), else None."""
    if "BatchNorm" in type(module).__name__:
        return ("normalises with the statistics of the whole batch and updates its running "
                "buffers, which one traced sample cannot express")
    return None


def fixed_structure(model: Any) -> bool:
    """Whether ``model``'s graph has the same structure for every input: every module
    in it is one of :mod:`nn`'s own compilable classes (their forward never branches on
    the data), so one traced sample stands for all and no row needs checking. A class
    of the user's (``Module`` subclassed outside ``nn``) may branch: its rows are checked.
    """
    modules = model.modules() if hasattr(model, "modules") else [model]
    return all(getattr(m, "compilable", False) and type(m).__module__.startswith("nn.")
               for m in modules)


# -- optimizers over the flat parameter vector ---------------------------------------------


class _Unsupported(Exception):
    """The optimizer or its state cannot be vectorised (compiled_stepper returns None)."""


def vectorised(optimizer: Optimizer) -> bool:
    """Whether ``optimizer``'s own class declares a vectorised update
    (``flat_step`` in its body, see :class:`nn.optim.Optimizer`; a subclass that
    only inherits one may change the update, so it runs on the dynamic engine)."""
    return "flat_step" in vars(type(optimizer))


def _flat_state(optimizer: Optimizer, n: int) -> dict[str, Any]:
    import numpy as np

    try:
        return optimizer.flat_state(n, np)
    except ValueError as e:
        raise _Unsupported(str(e)) from None


# -- the stepper (contract C5) ----------------------------------------------------------------


class CompiledStepper:
    """Training steps of ``fit`` on the compiled path, parameters and optimizer
    state kept in numpy between steps (made by :func:`compiled_stepper`).

    Attributes:
        loss: The :class:`CompiledLoss` (training objective: data loss plus L2).
        optimizer: The optimizer whose settings (``lr`` and the rest) are read at
            every step and whose ``state`` :meth:`sync` writes.
        grad: The last step's gradient, a flat array in ``model.parameters()`` order.
        write_grads: Write each step's gradient into the parameters' ``grad`` (for
            callers that read them every batch; costs a pass over the parameters).
    """

    def __init__(self, model: Any, spec: LossSpec, optimizer: Optimizer, l2: float,
                 options: dict[str, Any], l2_params: Sequence[Value] | None = None,
                 write_grads: bool = False) -> None:
        self.model, self.spec, self.optimizer = model, spec, optimizer
        self.params = list(optimizer.params)  # model.parameters(), in order (why_not_compiled)
        self.write_grads = write_grads
        self._static = fixed_structure(model)  # one trace stands for every sample
        check = "static" if self._static else None
        self.loss = CompiledLoss(model, spec.name, l2, check, l2_params, self.params, **options)
        self.evaluation = CompiledLoss(model, spec.name, 0.0, check, None, self.params,
                                       **options)
        self.flat = _flat_state(optimizer, len(self.params))
        self.grad = None
        self.steps = 0
        self._groups: tuple | None = None  # (groups, their indices) for grad_means
        import numpy

        self._np = numpy

    @property
    def theta(self) -> Any:
        """The parameters as one flat array (None before the first step)."""
        return self.loss.compiled.theta if self.loss.compiled is not None else None

    def dataset(self, X: Any, targets: Any) -> Dataset:
        """``(X, targets)`` held for the run as arrays, checked once (:class:`Dataset`):
        :meth:`step_rows` and :meth:`forward_rows` take batches of it by row numbers."""
        return self.loss.dataset(X, targets)

    def step(self, X: Any, targets: Any, weight: Any = None) -> tuple[float, Any]:
        """Forward, backward and the optimizer's update on one batch.

        Args:
            X: The batch's inputs (a ``(B, d)`` array or lists).
            targets: Targets as the loss's batch function takes them.
            weight: Optional per-sample weights (the loss's ``weight`` option for
                elementwise losses).

        Returns:
            ``(loss, outputs)``: the objective before the update (data loss plus
            L2, the batch's mean) and the outputs, a ``(B, n_outputs)`` float array
            (fresh: the caller may keep it).

        Raises:
            ValueError: The loss's checks fail (targets, or outputs such as a
                probability outside [0, 1]); nothing is updated then.
        """
        return self._step(*self.loss._run(X, targets, weight))

    def step_rows(self, data: Dataset, rows: Sequence[int] | None = None) -> tuple[float, Any]:
        """:meth:`step` on the rows ``rows`` of ``data`` (row numbers; None or
        ``range(len(data))``: the whole set in order), as ``fit`` runs its batches."""
        if isinstance(rows, range) and rows == range(len(data)):
            rows = None
        return self._step(*self.loss._run_rows(data, rows))

    def _step(self, compiled: Compiled, XY: Any) -> tuple[float, Any]:
        if self.steps == 0:
            compiled.load()
        value, grad = compiled.loss_and_grad(XY)
        self.loss.check_outputs()
        self.optimizer.flat_step(compiled.theta, grad, self.flat, self._np)
        self.grad, self.steps = grad, self.steps + 1
        if self.write_grads:
            for p, g in zip(self.params, grad.tolist(), strict=True):
                p.grad = g
        return value, compiled.aux

    def grad_means(self, groups: list[tuple[str, list[Value]]]) -> list[float]:
        """The last step's mean ``|grad|`` in each group of parameters, from the flat
        gradient: the dynamic stepper's sum over the same floats in the same order (so
        the same numbers), without writing every ``p.grad`` at every step."""
        if self._groups is None or self._groups[0] is not groups:
            where = {id(p): i for i, p in enumerate(self.params)}
            self._groups = (groups, [_as_slice([where[id(p)] for p in ps]) for _, ps in groups])
        g = self.grad.tolist()
        return [sum(map(abs, g[index] if isinstance(index, slice) else [g[i] for i in index]))
                / len(ps) for (_, ps), index in zip(groups, self._groups[1], strict=True)]

    def forward(self, X: Any, targets: Any) -> tuple[float, Any]:
        """The data loss (no L2) and the outputs (a ``(B, n_outputs)`` array) on
        ``(X, targets)``; no update.

        The model is put in evaluation mode for the pass and back after.
        """
        return self._evaluate(lambda: self.evaluation._run(X, targets))

    def forward_rows(self, data: Dataset) -> tuple[float, Any]:
        """:meth:`forward` on the whole of ``data``.

        Once the evaluation code of a model of :mod:`nn`'s own modules is traced for
        such samples, it runs without switching the model's mode (a walk over every
        module and parameter, each epoch): nothing left to run depends on the mode.
        """
        ev = self.evaluation
        traced = self._static and ev.compiled is not None and (
            ev.n_features == ev._measured == data.n_features)
        return self._evaluate(lambda: ev._run_rows(data, None), switch=not traced)

    def _evaluate(self, run: Callable[[], tuple[Compiled, Any]], switch: bool = True
                  ) -> tuple[float, Any]:
        was_training = getattr(self.model, "training", False)
        if switch and hasattr(self.model, "eval"):
            self.model.eval()
        try:
            compiled, XY = run()
            source = self.loss.compiled
            if source is not None:
                compiled.theta[:] = source.theta
            else:
                compiled.load()
            value, outputs = compiled.loss_and_outputs(XY)  # forward only
            self.evaluation.check_outputs()
        finally:
            if switch and hasattr(self.model, "train"):
                self.model.train(was_training)
        return value, outputs

    def sync(self) -> None:
        """Write the parameters and their last gradients back into the model's
        ``Value``s and the optimizer's state into the optimizer (a checkpoint, a
        resume or the dynamic engine then continue exactly).

        The state goes over as a copy of its arrays (``Optimizer.set_flat_state``),
        made into a dict per parameter only when something reads it.
        """
        compiled = self.loss.compiled
        if compiled is None:
            return
        compiled.store()
        if self.grad is not None:
            for p, g in zip(self.params, self.grad.tolist(), strict=True):
                p.grad = g
        self.optimizer.set_flat_state({k: v.copy() if hasattr(v, "copy") else v
                                       for k, v in self.flat.items()})

    def load(self) -> None:
        """Read the parameters and the optimizer's state again (after they were
        changed outside the stepper, e.g. a checkpoint loaded mid-run)."""
        if self.loss.compiled is not None:
            self.loss.compiled.load()
        self.flat = _flat_state(self.optimizer, len(self.params))


def compiled_stepper(model: Any, loss_name: str, optimizer: Optimizer, l2: float,
                     X_example: Sequence[Any], *, l2_params: Sequence[Value] | None = None,
                     write_grads: bool = False, strict: bool = False,
                     **loss_options: Any) -> CompiledStepper | None:
    """A :class:`CompiledStepper` for ``fit``, or None when the compiled path
    cannot be used: numpy missing, a loss not in the registry, a module that
    declares itself not compilable (``Dropout``, ``BatchNorm``), inputs that are
    not flat vectors, a parameter the model does not use, or an optimizer whose
    class does not declare a vectorised update (``flat_step``; SGD, Adam, AdamW
    do) or that is not over ``model.parameters()`` (:func:`why_not_compiled`
    says which).

    Args:
        model: The model.
        loss_name: A name of :data:`nn.losses.REGISTRY`.
        optimizer: The optimizer ``fit`` built (its settings are read every step).
        l2: The L2 coefficient of the objective.
        X_example: Some inputs (the first is traced to check the model).
        l2_params: The parameters the L2 term covers (default: all).
        write_grads: See :attr:`CompiledStepper.write_grads`.
        strict: Raise instead of returning None.
        **loss_options: The loss's options (``weight``, ``pos_weight``, ``margin``).

    Returns:
        The stepper, or None. A model with Python control flow on the data is
        caught at its first step: :class:`engine.compile.TraceError` (a
        ``ValueError``), which the caller turns into the dynamic engine.

    Raises:
        ValueError: With ``strict``, when the compiled path cannot be used, naming
            the condition that failed ("fit: backend='compiled' cannot run: ...").
    """
    reason = why_not_compiled(model, loss_name, optimizer, X_example)
    if reason is None:
        try:
            return CompiledStepper(model, REGISTRY[loss_name], optimizer, l2, loss_options,
                                   l2_params, write_grads)
        except _Unsupported as e:
            reason = f"the optimizer's state cannot be vectorised: {e}"
    if strict:
        raise ValueError(f"fit: backend='compiled' cannot run: {reason}")
    return None


def why_not_compiled(model: Any, loss_name: Any, optimizer: Optimizer,
                     X_example: Sequence[Any]) -> str | None:
    """Why :func:`compiled_stepper` cannot be used with these arguments (the first
    condition that fails, as one phrase), or None when it can.

    >>> from nn import MLP, SGD, BatchNorm1d, Sequential
    >>> m = Sequential(MLP(2, [2]), BatchNorm1d(2))
    >>> print(why_not_compiled(m, "mse", SGD(m.parameters(), lr=0.1), [[0.0, 1.0]]))
    module '1' (BatchNorm1d) declares compilable = False: it normalises with the statistics
    of the whole batch and updates its running buffers, which one traced sample cannot express
    """
    try:
        import numpy  # noqa: F401
    except ImportError:
        return "numpy is not installed (pip install 'dagrad[speed]')"
    if not isinstance(loss_name, str) or loss_name not in REGISTRY:
        return f"loss {loss_name!r} has no compiled form (one of {sorted(REGISTRY)})"
    named = model.named_modules() if hasattr(model, "named_modules") else [("", model)]
    for path, module in named:
        if not getattr(module, "compilable", True):
            where = f"module {path!r}" if path else "the model"
            why = _why_not(module)
            return (f"{where} ({type(module).__name__}) declares compilable = False"
                    + (f": it {why}" if why else " (it runs on the dynamic engine)"))
    reason = not_compilable_reason(model, X_example)  # the samples, the modules being fine
    if reason is not None:
        return reason
    if not vectorised(optimizer):
        return (f"optimizer {type(optimizer).__name__} declares no vectorised update "
                "(flat_step; SGD, Adam and AdamW do)")
    params = list(model.parameters())
    if len(optimizer.params) != len(params) or any(
            a is not b for a, b in zip(optimizer.params, params, strict=True)):
        return "the optimizer's parameters are not exactly model.parameters(), in order"
    try:
        with _masking(_dropouts(model), _unmasked):
            if not _uses_every_parameter(model, X_example[0], params):
                return "the model's output does not use every parameter"
    except (TypeError, ValueError) as e:  # the dynamic engine names the layer (fit falls
        return f"the model does not take such samples ({e})"  # back to it unless strict)
    return None


def _uses_every_parameter(model: Any, x: Any, params: list[Value]) -> bool:
    outs = _outputs(model(_sample(x)))
    reached = set(map(id, topological_order(outs)))
    return all(id(p) in reached for p in params)


__all__ = ["LOSS_NAMES", "CompiledLoss", "CompiledStepper", "Dataset", "FallbackWarning",
           "compilable",
           "compiled_loss", "compiled_step", "compiled_stepper", "draw_masks",
           "not_compilable_reason", "vectorised", "why_not_compiled"]
