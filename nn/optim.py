"""Optimizers (``SGD``, ``Adam``, ``AdamW``) and learning-rate schedules.

An optimizer reads each parameter's ``grad`` and changes only its ``data``:
plain float arithmetic, never a graph node. Parameters whose ``grad`` is
``None`` (unused in the last backward) are skipped, as in PyTorch. The
update formulas, their order of floating-point operations and the defaults
are those of ``torch.optim`` (single-tensor path), so a run matches PyTorch
in float64 step by step.

Schedules are PyTorch-style objects with ``step()``, called once per epoch
(or per update: your choice, as in PyTorch), that set ``optimizer.lr`` from
a closed form in the step count ``k``:

* :class:`LinearLR`: ``base * (start + (end - start) * min(k, total) / total)``;
  micrograd's demo ``lr = 1.0 - 0.9 * k / 100`` is
  ``LinearLR(SGD(params, lr=1.0), start_factor=1.0, end_factor=0.1, total_iters=100)``,
  bit for bit;
* :class:`StepLR`: ``base * gamma ** (k // step_size)``;
* :class:`CosineAnnealingLR`: ``eta_min + (base - eta_min) * (1 + cos(pi k / T_max)) / 2``.

Each schedule is also a plain function of the step: ``schedule.lr_at(k)``,
computed in IEEE arithmetic (a growing ``StepLR`` reaches ``inf`` as PyTorch's
does, never an ``OverflowError``). Schedules save and restore their position
with ``state_dict()``/``load_state_dict()`` as PyTorch's do (every attribute
but the optimizer), so a resumed run continues bit for bit.

**Learning rates are checked wherever they arrive**: the constructor, ``opt.lr =
x`` (``lr`` is a property), ``load_state_dict`` and a schedule's ``step()`` all
raise ``ValueError`` for a negative, NaN or infinite rate. A parameter given
twice raises ``ValueError`` (PyTorch only warns; the second copy would be
updated twice). ``default_lr`` on each class is the rate ``fit`` and the
command lines use when none is given (tuned for the toy data sets); the
constructors' own defaults are PyTorch's.

NB: one parameter group (``optimizer.lr`` is a float); PyTorch's
``param_groups`` are left out.
"""

from __future__ import annotations

import functools
import math
import numbers
from collections.abc import Callable, Iterable
from typing import Any, ClassVar

from engine import Value, enable_grad
from engine.ops import f_div, f_max, f_pow, f_sqrt


def _param_list(params: Iterable[Value] | Any) -> list[Value]:
    if hasattr(params, "parameters") and callable(params.parameters):
        params = params.parameters()
    if isinstance(params, Value):
        raise TypeError("optimizer: params must be an iterable of Values (a list, or "
                        "model.parameters()), got a single Value")
    params = list(params)
    if not params:
        raise ValueError("optimizer got an empty parameter list")
    first: dict[int, int] = {}
    for i, p in enumerate(params):
        if not isinstance(p, Value):
            raise TypeError(f"optimizer: parameter {i} is a {type(p).__name__}, not a Value")
        j = first.setdefault(id(p), i)
        if j != i:
            raise ValueError(f"optimizer: parameter {i} appears twice (it is also parameter "
                             f"{j}); pass each parameter once (it would be updated twice)")
    return params


def check_lr(lr: Any, where: str = "learning rate", allow_inf: bool = False) -> float:
    """``lr`` as a float, checked to be a finite number >= 0.

    Args:
        lr: The rate to check.
        where: What the error message calls it.
        allow_inf: Accept ``inf`` too: what a schedule may reach past the
            float range (PyTorch's schedules give ``inf`` there, no error).

    Raises:
        ValueError: ``lr`` is negative, NaN, infinite (unless ``allow_inf``),
            a bool or not a number.

    >>> check_lr(0.1)
    0.1
    >>> check_lr(-1.0)
    Traceback (most recent call last):
    ...
    ValueError: invalid learning rate: -1.0 (expected a finite number >= 0)
    """
    if isinstance(lr, bool) or not isinstance(lr, numbers.Real) \
            or not (0.0 <= lr < math.inf or (allow_inf and lr == math.inf)):
        raise ValueError(f"invalid {where}: {lr!r} (expected a finite number >= 0)")
    return float(lr)


def _check(name: str, value: float, low: float = 0.0, high: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or value != value \
            or value < low or (high is not None and value >= high):
        bound = f"in [{low}, {high})" if high is not None else f">= {low}"
        raise ValueError(f"invalid {name}: {value!r} (expected a number {bound})")
    return float(value)


class Optimizer:
    """Base class: holds the parameters, ``lr`` and per-parameter ``state``.

    Attributes:
        params: The parameters, in order (each once).
        lr: The learning rate (schedules change it, and may set ``inf``);
            setting it checks it (a finite number >= 0, else ``ValueError``).
        state: ``{parameter index: {name: float}}`` (momentum buffers, moments);
            after :meth:`set_flat_state`, made at its first read.
        default_lr: (class attribute) the rate ``fit`` and the command lines
            use for this optimizer when none is given.
    """

    default_lr: ClassVar[float] = 0.01

    def __init__(self, params: Iterable[Value] | Any, lr: float) -> None:
        self.params = _param_list(params)
        self.lr = lr
        self.state: dict[int, dict[str, float]] = {}

    @functools.cached_property
    def state(self) -> dict[int, dict[str, float]]:  # type: ignore[no-redef]
        """A plain attribute (in the instance's ``__dict__``), but after
        :meth:`set_flat_state` made from the pending arrays at its first read."""
        flat = self.__dict__.pop("_flat", None)
        return {} if flat is None else self.state_from_flat(flat)

    @property
    def lr(self) -> float:
        """The learning rate; assigning checks it (finite, >= 0)."""
        return self._lr

    @lr.setter
    def lr(self, value: float) -> None:
        self._lr = check_lr(value)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset every parameter's ``grad`` to ``None`` (PyTorch's default) or 0.0."""
        g = None if set_to_none else 0.0
        for p in self.params:
            p.grad = g

    def step(self, closure: Callable[[], Value] | None = None) -> Value | None:
        """One update of every parameter with a gradient.

        Args:
            closure: Optional; re-evaluates the model and returns the loss
                (called with grad enabled before the update, as in PyTorch).

        Returns:
            The closure's loss, or None.
        """
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        for i, p in enumerate(self.params):
            g = p.grad
            if g is None:
                continue
            self._update(i, p, g if type(g) is float else float(g))
        return loss

    def _update(self, i: int, p: Value, g: float) -> None:
        raise NotImplementedError

    # The vectorised update nn.compiled runs, all parameters at once as one float64 array.
    # A class declares it by defining flat_step in its own body (a subclass that inherits
    # it is not trusted: it may change the update); it is _update's arithmetic, operation
    # for operation, so both paths agree to rounding.

    def flat_state(self, n: int, np: Any) -> dict[str, Any]:
        """:attr:`state` of the ``n`` parameters as numpy arrays, for :meth:`flat_step`.

        Raises:
            ValueError: The state cannot be one array per name (parameters at
                different steps); nn.compiled then runs the dynamic engine.
        """
        raise NotImplementedError(f"{type(self).__name__} has no vectorised update")

    def flat_step(self, theta: Any, grad: Any, flat: dict[str, Any], np: Any) -> None:
        """One :meth:`step` of every parameter: ``theta`` (the parameters) and ``flat``
        (from :meth:`flat_state`) are updated in place from ``grad`` (same shape as
        ``theta``)."""
        raise NotImplementedError(f"{type(self).__name__} has no vectorised update")

    def state_from_flat(self, flat: dict[str, Any]) -> dict[int, dict[str, float]]:
        """:meth:`flat_state`'s arrays back as :attr:`state` (floats per parameter)."""
        raise NotImplementedError(f"{type(self).__name__} has no vectorised update")

    def set_flat_state(self, flat: dict[str, Any]) -> None:
        """Make :attr:`state` :meth:`flat_state`'s arrays ``flat`` (kept, not copied),
        converted by :meth:`state_from_flat` only when :attr:`state` is first read:
        nn.compiled hands its state over after every epoch, and a run that never
        reads it (no checkpoint, no callback that looks) pays a dict per parameter
        once, at the end, not every epoch."""
        self.__dict__.pop("state", None)  # the next read of state converts flat
        self._flat = flat

    def hyperparameters(self) -> dict[str, Any]:
        """The constructor's settings (without the parameters)."""
        return {"lr": self.lr}

    def state_dict(self) -> dict[str, Any]:
        """``{"type", "hyperparameters", "state"}``, JSON-able (state keys are indices)."""
        return {
            "type": type(self).__name__,
            "hyperparameters": self.hyperparameters(),
            "state": {i: dict(s) for i, s in self.state.items()},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned.

        Raises:
            ValueError: The dict is for another optimizer type or other parameters.
        """
        if not isinstance(state, dict) or state.get("type") != type(self).__name__:
            got = state.get("type") if isinstance(state, dict) else type(state).__name__
            raise ValueError(f"load_state_dict: state is for {got!r}, not {type(self).__name__}")
        for key in ("hyperparameters", "state"):
            if not isinstance(state.get(key), dict):
                raise ValueError(f"load_state_dict: the state has no {key!r} dict")
        known = self.hyperparameters()
        unknown = [k for k in state["hyperparameters"] if k not in known]
        if unknown:
            raise ValueError(f"load_state_dict: unknown hyperparameter(s) {', '.join(unknown)} "
                             f"for {type(self).__name__}")
        try:
            inner = {int(k): dict(v) for k, v in state["state"].items()}
        except (TypeError, ValueError):
            raise ValueError("load_state_dict: 'state' must map parameter indices to "
                             "dicts") from None
        bad = [k for k in inner if not 0 <= k < len(self.params)]
        if bad:
            raise ValueError(f"load_state_dict: state for parameter index {bad[0]} but the "
                             f"optimizer has {len(self.params)} parameters")
        hyper = dict(state["hyperparameters"])
        lr = self._lr
        if "lr" in hyper:  # a schedule may have set inf
            lr = check_lr(hyper.pop("lr"), "learning rate in the state", allow_inf=True)
        for name, value in hyper.items():
            setattr(self, name, tuple(value) if isinstance(value, list) else value)
        self._lr = lr
        self.state = inner

    def __repr__(self) -> str:
        settings = ", ".join(f"{k}={v!r}" for k, v in self.hyperparameters().items())
        return f"{type(self).__name__}({len(self.params)} parameters, {settings})"


class SGD(Optimizer):
    """Stochastic gradient descent with momentum, Nesterov and weight decay.

    As ``torch.optim.SGD``: ``g = grad + weight_decay * p``; with momentum,
    ``buf = g`` on the first step, then ``buf = momentum * buf + (1 - dampening) * g``;
    ``g = g + momentum * buf`` (Nesterov) or ``g = buf``; ``p = p - lr * g``.

    Args:
        params: Parameters (a list of Values, or a Module).
        lr: Learning rate.
        momentum: Momentum factor (0: plain SGD).
        nesterov: Use Nesterov momentum (needs momentum > 0 and dampening 0).
        weight_decay: L2 penalty coefficient added to the gradient.
        dampening: Dampening for momentum.
        maximize: Ascend instead of descend.

    Raises:
        ValueError: A setting is out of range.

    >>> w = Value(1.0); w.grad = 0.5
    >>> SGD([w], lr=0.1).step(); w.data
    0.95
    """

    default_lr = 0.1

    def __init__(self, params: Iterable[Value] | Any, lr: float = 1e-3, momentum: float = 0.0,
                 nesterov: bool = False, weight_decay: float = 0.0, dampening: float = 0.0,
                 maximize: bool = False) -> None:
        super().__init__(params, lr)
        self.momentum = _check("momentum", momentum)
        self.weight_decay = _check("weight_decay", weight_decay)
        self.dampening = _check("dampening", dampening)
        if nesterov and (self.momentum <= 0 or self.dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        self.nesterov = bool(nesterov)
        self.maximize = bool(maximize)

    def hyperparameters(self) -> dict[str, Any]:
        return {"lr": self.lr, "momentum": self.momentum, "nesterov": self.nesterov,
                "weight_decay": self.weight_decay, "dampening": self.dampening,
                "maximize": self.maximize}

    def _update(self, i: int, p: Value, g: float) -> None:
        if self.maximize:
            g = -g
        if self.weight_decay != 0:
            g = g + self.weight_decay * p.data
        if self.momentum != 0:
            s = self.state.get(i)
            if s is None:
                buf = g
                self.state[i] = s = {}
            else:
                buf = s["momentum_buffer"] * self.momentum + (1 - self.dampening) * g
            s["momentum_buffer"] = buf
            g = g + self.momentum * buf if self.nesterov else buf
        p.data = p.data + -self._lr * g

    def flat_state(self, n: int, np: Any) -> dict[str, Any]:
        bufs = [self.state.get(i, {}).get("momentum_buffer") for i in range(n)]
        if any(b is None for b in bufs) and any(b is not None for b in bufs):
            raise ValueError("some parameters have a momentum buffer and some do not")
        return {"momentum_buffer": None if bufs[0] is None else np.array(bufs, dtype=float)}

    def flat_step(self, theta: Any, grad: Any, flat: dict[str, Any], np: Any) -> None:
        g = -grad if self.maximize else grad
        if self.weight_decay != 0:
            g = g + self.weight_decay * theta
        if self.momentum != 0:
            buf = flat["momentum_buffer"]
            if buf is None:
                flat["momentum_buffer"] = buf = g.copy()
            else:
                buf *= self.momentum
                buf += (1 - self.dampening) * g
            g = g + self.momentum * buf if self.nesterov else buf
        theta += -self._lr * g

    def state_from_flat(self, flat: dict[str, Any]) -> dict[int, dict[str, float]]:
        buf = flat["momentum_buffer"]
        return {} if buf is None else {i: {"momentum_buffer": b}
                                       for i, b in enumerate(buf.tolist())}


class Adam(Optimizer):
    """Adam (Kingma and Ba), with ``torch.optim.Adam``'s defaults and formulas.

    Per parameter, at step ``t``: ``g = grad (+ weight_decay * p)``;
    ``m = m + (1 - b1) (g - m)``; ``v = b2 v + (1 - b2) g^2``;
    ``p = p - (lr / (1 - b1^t)) m / (sqrt(v) / sqrt(1 - b2^t) + eps)``;
    with ``amsgrad`` the running maximum of ``v`` replaces ``v`` in the denominator.

    Args:
        params: Parameters (a list of Values, or a Module).
        lr: Learning rate (1e-3).
        betas: Moment decay rates (0.9, 0.999).
        eps: Denominator term (1e-8).
        weight_decay: L2 penalty added to the gradient (0; see :class:`AdamW`).
        amsgrad: Use the AMSGrad variant.
        maximize: Ascend instead of descend.

    Raises:
        ValueError: A setting is out of range.

    >>> w = Value(1.0); w.grad = 2.0
    >>> Adam([w], lr=0.1).step(); round(w.data, 6)  # the first step moves by lr
    0.9
    """

    decoupled = False
    default_lr = 0.01

    def __init__(self, params: Iterable[Value] | Any, lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, amsgrad: bool = False,
                 maximize: bool = False) -> None:
        super().__init__(params, lr)
        b1, b2 = betas
        self.betas = (_check("beta1", b1, 0.0, 1.0), _check("beta2", b2, 0.0, 1.0))
        self.eps = _check("eps", eps)
        self.weight_decay = _check("weight_decay", weight_decay)
        self.amsgrad = bool(amsgrad)
        self.maximize = bool(maximize)

    def hyperparameters(self) -> dict[str, Any]:
        return {"lr": self.lr, "betas": self.betas, "eps": self.eps,
                "weight_decay": self.weight_decay, "amsgrad": self.amsgrad,
                "maximize": self.maximize}

    def _update(self, i: int, p: Value, g: float) -> None:
        beta1, beta2 = self.betas
        lr = self._lr
        if self.maximize:
            g = -g
        s = self.state.get(i)
        if s is None:
            self.state[i] = s = {"step": 0, "exp_avg": 0.0, "exp_avg_sq": 0.0}
            if self.amsgrad:
                s["max_exp_avg_sq"] = 0.0
        step = s["step"] = s["step"] + 1
        if self.weight_decay != 0:
            if self.decoupled:
                p.data = p.data * (1 - lr * self.weight_decay)
            else:
                g = g + self.weight_decay * p.data
        m = s["exp_avg"]
        m = s["exp_avg"] = m + (1 - beta1) * (g - m)  # torch's lerp for a weight < 0.5
        v = s["exp_avg_sq"] = s["exp_avg_sq"] * beta2 + (1 - beta2) * g * g
        bias_correction1 = 1 - beta1**step  # beta in [0, 1): no exception
        bias_correction2 = 1 - beta2**step
        step_size = lr / bias_correction1  # beta1 < 1: never 0
        if self.amsgrad:  # torch.maximum: a NaN anywhere wins
            v = s["max_exp_avg_sq"] = f_max(s["max_exp_avg_sq"], v)
        denom = f_sqrt(v) / bias_correction2**0.5 + self.eps  # in (0, 1]: no exception
        p.data = p.data + f_div(-step_size * m, denom)  # eps=0, g=0: 0/0 = NaN, as torch

    def flat_state(self, n: int, np: Any) -> dict[str, Any]:
        states = [self.state.get(i) for i in range(n)]
        if all(s is None for s in states):
            return {"step": 0, "exp_avg": np.zeros(n), "exp_avg_sq": np.zeros(n),
                    "max_exp_avg_sq": np.zeros(n) if self.amsgrad else None}
        if any(s is None for s in states) or len({s["step"] for s in states}) != 1:
            raise ValueError("the parameters' Adam step counts differ")
        arrays = {key: np.array([s.get(key, 0.0) for s in states], dtype=float)
                  for key in ("exp_avg", "exp_avg_sq", "max_exp_avg_sq")}
        if not self.amsgrad:
            arrays["max_exp_avg_sq"] = None
        return {"step": int(states[0]["step"]), **arrays}

    def flat_step(self, theta: Any, grad: Any, flat: dict[str, Any], np: Any) -> None:
        beta1, beta2 = self.betas
        lr = self._lr
        g = -grad if self.maximize else grad
        step = flat["step"] = flat["step"] + 1
        if self.weight_decay != 0:
            if self.decoupled:
                theta *= 1 - lr * self.weight_decay
            else:
                g = g + self.weight_decay * theta
        m, v = flat["exp_avg"], flat["exp_avg_sq"]
        m += (1 - beta1) * (g - m)
        v *= beta2
        v += (1 - beta2) * g * g
        bias_correction1 = 1 - beta1**step
        bias_correction2 = 1 - beta2**step
        step_size = lr / bias_correction1
        if self.amsgrad:
            if flat["max_exp_avg_sq"] is None:
                flat["max_exp_avg_sq"] = np.zeros_like(v)
            v = np.maximum(flat["max_exp_avg_sq"], v, out=flat["max_exp_avg_sq"])
        denom = np.sqrt(v) / bias_correction2**0.5 + self.eps
        theta += -step_size * m / denom

    def state_from_flat(self, flat: dict[str, Any]) -> dict[int, dict[str, float]]:
        if flat["step"] == 0:
            return {}
        names = [k for k in ("exp_avg", "exp_avg_sq", "max_exp_avg_sq") if flat[k] is not None]
        columns = zip(*(flat[k].tolist() for k in names), strict=True)
        return {i: {"step": flat["step"], **dict(zip(names, row, strict=True))}
                for i, row in enumerate(columns)}


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov and Hutter), as ``torch.optim.AdamW``.

    Before the Adam step ``p = p * (1 - lr * weight_decay)``; the gradient is
    not changed. Defaults: ``lr=1e-3, betas=(0.9, 0.999), eps=1e-8,
    weight_decay=1e-2``.

    >>> w = Value(1.0); w.grad = 2.0
    >>> AdamW([w], lr=0.1, weight_decay=0.5).step(); round(w.data, 6)  # 1 * 0.95 - 0.1
    0.85
    """

    decoupled = True

    def __init__(self, params: Iterable[Value] | Any, lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False,
                 maximize: bool = False) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize)

    flat_step = Adam.flat_step  # Adam's vectorised update, with decoupled = True


#: Optimizers by the names ``fit`` and the command line accept.
OPTIMIZERS: dict[str, type[Optimizer]] = {"sgd": SGD, "adam": Adam, "adamw": AdamW}


# -- learning-rate schedules -----------------------------------------------------------


class LRScheduler:
    """Base class: sets ``optimizer.lr = lr_at(k)``; ``step()`` advances ``k``.

    Creating a schedule sets the learning rate for ``k = 0``.

    Attributes:
        optimizer: The optimizer whose ``lr`` is set.
        base_lr: The optimizer's learning rate when the schedule was made.
        last_epoch: ``k``, the number of ``step()`` calls so far.

    A rate past the float range is set as ``inf``, as PyTorch's schedules do
    (a ``StepLR`` with ``gamma > 1`` after enough steps); only the user's own
    rates (constructor, ``optimizer.lr = x``, ``fit(lr=...)``) must be finite.

    Raises:
        ValueError: (``step()`` and creation) the schedule's rate is negative
            or NaN; the optimizer keeps its last valid rate.
    """

    def __init__(self, optimizer: Optimizer) -> None:
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(self).__name__}: expected an Optimizer, got "
                            f"{type(optimizer).__name__}")
        self.optimizer = optimizer
        self.base_lr = optimizer.lr
        self.last_epoch = 0
        self._set_lr()

    def lr_at(self, k: int) -> float:
        """The learning rate after ``k`` steps (IEEE arithmetic: may be ``inf``)."""
        raise NotImplementedError

    def _set_lr(self) -> None:
        self.optimizer._lr = check_lr(self.lr_at(self.last_epoch),
                                      f"learning rate from {type(self).__name__} at step "
                                      f"{self.last_epoch}", allow_inf=True)

    def step(self) -> None:
        """Advance one step and set the optimizer's learning rate.

        Raises:
            ValueError: The new rate is negative or NaN (nothing changes).
        """
        self.last_epoch += 1
        try:
            self._set_lr()
        except ValueError:
            self.last_epoch -= 1
            raise

    def get_last_lr(self) -> list[float]:
        """The current learning rate, in a list as PyTorch returns it."""
        return [self.optimizer.lr]

    def state_dict(self) -> dict[str, Any]:
        """Every attribute but the optimizer, as ``torch.optim.lr_scheduler``'s (JSON-able).

        Together with the optimizer's own state dict (which holds the current
        ``lr``) this is what a resumed run needs to continue bit for bit.

        >>> s = StepLR(SGD([Value(0.0)], lr=1.0), step_size=2, gamma=0.5)
        >>> s.step(); s.state_dict()
        {'step_size': 2, 'gamma': 0.5, 'base_lr': 1.0, 'last_epoch': 1}
        """
        return {k: v for k, v in vars(self).items() if k != "optimizer"}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`'s output (PyTorch's ``__dict__.update``).

        As in PyTorch the optimizer's ``lr`` is not touched: load the
        optimizer's state dict too.

        A state dict of the same PyTorch schedule (one parameter group) is
        accepted too: ``base_lrs[0]`` becomes ``base_lr`` and PyTorch's private
        bookkeeping (``_step_count``, ``_last_lr``, ...) is dropped.

        Raises:
            ValueError: ``state`` is not a dict of this schedule's attributes,
                or a value has the wrong type (nothing is changed then).
        """
        name = type(self).__name__
        if not isinstance(state, dict):
            raise ValueError(f"{name}.load_state_dict: expected a dict, got "
                             f"{type(state).__name__}")
        if "base_lrs" in state:  # a torch.optim.lr_scheduler state dict
            state = _from_torch_state(state, name)
        own = self.state_dict()
        unknown = [k for k in state if k not in own]
        missing = [k for k in own if k not in state]
        if unknown or missing:
            raise ValueError(f"{name}.load_state_dict: the state does not fit this schedule "
                             f"(unknown: {', '.join(map(str, unknown)) or 'none'}; missing: "
                             f"{', '.join(missing) or 'none'})")
        for key, value in state.items():
            current = own[key]
            kinds = (int,) if isinstance(current, int) else (int, float)
            if current is not None and (isinstance(value, bool) or not isinstance(value, kinds)):
                kind = "an int" if kinds == (int,) else "a number"
                raise ValueError(f"{name}.load_state_dict: {key} must be {kind}, got "
                                 f"{value!r:.40}")
        check_lr(state["base_lr"], f"base_lr in the state of {name}")
        self.__dict__.update(state)


def _from_torch_state(state: dict[str, Any], name: str) -> dict[str, Any]:
    base = state["base_lrs"]
    if not isinstance(base, list) or len(base) != 1:
        raise ValueError(f"{name}.load_state_dict: a PyTorch state with "
                         f"{len(base) if isinstance(base, list) else '?'} parameter groups; "
                         "dagrad's optimizers have one")
    kept = {k: v for k, v in state.items()
            if not k.startswith("_") and k not in ("base_lrs", "verbose")}
    return {**kept, "base_lr": base[0]}


def _check_factor(value: Any, name: str, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) \
            or not 0.0 <= value < math.inf:
        raise ValueError(f"{where}: {name} must be a finite number >= 0, got {value!r}")
    return float(value)


def _check_count(value: Any, name: str, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{where}: {name} must be an int >= 1, got {value!r}")
    return int(value)


class LinearLR(LRScheduler):
    """Scale the learning rate linearly from ``start_factor`` to ``end_factor``
    over ``total_iters`` steps, then keep it (PyTorch's defaults).

    Raises:
        ValueError: A factor is negative or not finite, or ``total_iters < 1``.

    >>> w = Value(0.0)
    >>> s = LinearLR(SGD([w], lr=1.0), start_factor=1.0, end_factor=0.1, total_iters=100)
    >>> [s.lr_at(k) == 1.0 - 0.9 * k / 100 for k in (0, 37, 99)]  # micrograd's demo
    [True, True, True]
    """

    def __init__(self, optimizer: Optimizer, start_factor: float = 1.0 / 3,
                 end_factor: float = 1.0, total_iters: int = 5) -> None:
        self.start_factor = _check_factor(start_factor, "start_factor", "LinearLR")
        self.end_factor = _check_factor(end_factor, "end_factor", "LinearLR")
        self.total_iters = _check_count(total_iters, "total_iters", "LinearLR")
        super().__init__(optimizer)

    def lr_at(self, k: int) -> float:
        f = self.start_factor + (self.end_factor - self.start_factor) * min(k, self.total_iters) \
            / self.total_iters
        return self.base_lr * f


class StepLR(LRScheduler):
    """Multiply the learning rate by ``gamma`` every ``step_size`` steps.

    ``gamma > 1`` grows the rate; past the float range it is ``inf``, as
    PyTorch's ``get_last_lr()`` (no error).

    Raises:
        ValueError: ``gamma`` is negative or not finite, or ``step_size < 1``.

    >>> s = StepLR(SGD([Value(0.0)], lr=1.0), step_size=10, gamma=0.5)
    >>> s.lr_at(9), s.lr_at(10), s.lr_at(25)
    (1.0, 0.5, 0.25)
    >>> StepLR(SGD([Value(0.0)], lr=1.0), step_size=1, gamma=10.0).lr_at(400)
    inf
    """

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1) -> None:
        self.step_size = _check_count(step_size, "step_size", "StepLR")
        self.gamma = _check_factor(gamma, "gamma", "StepLR")
        super().__init__(optimizer)

    def lr_at(self, k: int) -> float:
        if self.base_lr == 0.0:  # 0 * inf: PyTorch's product of rates stays 0
            return 0.0
        return self.base_lr * f_pow(self.gamma, k // self.step_size)


class CosineAnnealingLR(LRScheduler):
    """Cosine decay from the base learning rate to ``eta_min`` over ``T_max`` steps.

    Raises:
        ValueError: ``eta_min`` is negative or not finite, or ``T_max < 1``.

    >>> s = CosineAnnealingLR(SGD([Value(0.0)], lr=1.0), T_max=10)
    >>> s.lr_at(0), round(s.lr_at(5), 12), s.lr_at(10)
    (1.0, 0.5, 0.0)
    """

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0) -> None:
        self.T_max = _check_count(T_max, "T_max", "CosineAnnealingLR")
        self.eta_min = _check_factor(eta_min, "eta_min", "CosineAnnealingLR")
        super().__init__(optimizer)

    def lr_at(self, k: int) -> float:
        return self.eta_min + (self.base_lr - self.eta_min) * \
            (1 + math.cos(math.pi * k / self.T_max)) / 2
