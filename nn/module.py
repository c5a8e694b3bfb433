"""``Module``: the base class of every layer and model, as micrograd's and PyTorch's.

A module's parameters are found by walking its public instance attributes in
the order they were assigned: a ``Value`` with ``requires_grad`` is a
parameter, a ``Module`` is a submodule, and lists, tuples and dicts (with
string keys) of those are walked item by item. The path to a parameter gives
its stable dotted name (``layers.0.neurons.3.w.1``), the key of
:meth:`Module.state_dict` and of the JSON file format. A ``Value`` with
``requires_grad=False`` (a frozen parameter) is left out of ``parameters()``
but kept in the state dict, as PyTorch keeps frozen parameters. Attributes
whose name starts with ``_`` are private and never walked.

Non-trainable state (BatchNorm's running mean, say) is registered with
:meth:`Module.register_buffer`: a float or a list of floats kept as an
ordinary attribute, saved by ``state_dict()`` and restored by
``load_state_dict()``.

**Rebuilding a module from a file.** Every subclass of ``Module`` is
registered by its class name when it is defined (``Module.__init_subclass__``
fills :data:`REGISTRY`), so a new layer needs nothing more than a
:meth:`Module.config` method returning its constructor keyword arguments as
JSON-able values (numbers, strings, booleans, ``None``, lists, dicts, or other
modules, which the file format nests). :func:`nn.load` calls
``cls.from_config(config)`` (``cls(**config)`` by default; override the
classmethod when the constructor takes ``*args``, as ``Sequential`` does) and
then ``load_state_dict``. The file also records the class's Python module, so
when two classes share a name the loader imports the right one; pass
``register=False`` in the class statement (``class Scratch(Module,
register=False)``) to keep a class out of the registry.

NB: this is ``torch.nn.Module`` reduced to what a scalar engine needs;
``named_parameters``, ``state_dict``, ``train``/``eval`` and the nested
``repr`` keep PyTorch's names and meaning.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterator
from typing import Any, NamedTuple

from engine import Value

#: Every ``Module`` subclass by class name, for rebuilding models from files.
REGISTRY: dict[str, type[Module]] = {}


class StateDictError(ValueError):
    """``load_state_dict`` got a dict that does not fit the module.

    The message lists every missing key, unexpected key and wrong shape/type.
    """


class IncompatibleKeys(NamedTuple):
    """What ``load_state_dict(strict=False)`` skipped, as PyTorch returns it."""

    missing_keys: list[str]
    unexpected_keys: list[str]


class Module:
    """Base class: parameters, submodules, buffers, train/eval mode, state dicts.

    Subclasses assign parameters (``Value``s) and submodules as attributes in
    ``__init__`` and define :meth:`forward`; calling the module calls
    ``forward``. Calling ``super().__init__()`` is optional (micrograd's
    modules have no ``__init__``): every default lives on the class.

    Attributes:
        training: True in training mode (the default), False after ``eval()``.
        compilable: Whether ``nn.compiled`` may trace the module once and reuse the
            trace (False for a module whose forward is random or updates state,
            such as ``Dropout`` and ``BatchNorm``: models holding one train on the
            dynamic engine).

    >>> from engine import Value
    >>> class Affine(Module):
    ...     def __init__(self):
    ...         self.w = [Value(2.0), Value(-1.0)]
    ...         self.b = Value(0.5)
    ...     def forward(self, x):
    ...         return self.w[0] * x[0] + self.w[1] * x[1] + self.b
    >>> m = Affine()
    >>> [name for name, _ in m.named_parameters()]
    ['w.0', 'w.1', 'b']
    >>> m([1.0, 3.0]).data
    -0.5
    >>> m.num_parameters()
    3
    """

    training: bool = True
    compilable: bool = True
    _buffer_names: tuple[str, ...] = ()

    def __init_subclass__(cls, register: bool = True, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not register:
            return
        REGISTRY[cls.__name__] = cls  # the latest definition wins (e.g. a reloaded module)

    def __init__(self) -> None:
        self.training = True

    # -- calling -----------------------------------------------------------------
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """The computation; subclasses define it."""
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)

    # -- walking the attributes ----------------------------------------------------
    def _public_items(self) -> Iterator[tuple[str, Any]]:
        for name, value in vars(self).items():
            if not name.startswith("_") and name not in self._buffer_names:
                yield name, value

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Value]]:
        """``(dotted name, parameter)`` pairs in attribute order, each parameter once.

        Args:
            prefix: Prepended (with a dot) to every name.

        Returns:
            An iterator of pairs; a parameter shared by two attributes is
            reported once, under its first name (as PyTorch does).
        """
        seen: set[int] = set()
        for name, value in self._public_items():
            yield from _walk_parameters(value, _join(prefix, name), seen, True)

    def _named_values(self) -> Iterator[tuple[str, Value]]:
        """Every ``Value`` attribute, trainable or frozen (``requires_grad=False``)."""
        seen: set[int] = set()
        for name, value in self._public_items():
            yield from _walk_parameters(value, name, seen, False)

    def parameters(self) -> list[Value]:
        """The parameters in :meth:`named_parameters` order (micrograd's order for MLPs)."""
        return [p for _, p in self.named_parameters()]

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        """``(dotted name, module)`` for this module (named ``prefix``) and every
        submodule, depth first, each once."""
        seen: set[int] = set()
        yield from _walk_modules(self, prefix, seen)

    def named_children(self) -> Iterator[tuple[str, Module]]:
        """``(dotted name, module)`` for the direct submodules (lists give ``name.i``)."""
        for name, value in self._public_items():
            yield from _direct_modules(value, name)

    def children(self) -> list[Module]:
        """The direct submodules."""
        return [m for _, m in self.named_children()]

    def modules(self) -> list[Module]:
        """This module and every submodule."""
        return [m for _, m in self.named_modules()]

    def num_parameters(self) -> int:
        """How many scalar parameters the module has."""
        return sum(1 for _ in self.named_parameters())

    # -- gradients and modes -------------------------------------------------------------
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset every parameter's ``grad`` to ``None`` (PyTorch's default) or 0.0."""
        g = None if set_to_none else 0.0
        for p in self.parameters():
            p.grad = g

    def train(self, mode: bool = True) -> Module:
        """Set training mode on this module and every submodule; returns self."""
        for m in self.modules():
            m.training = bool(mode)
        return self

    def eval(self) -> Module:
        """Set evaluation mode (``train(False)``); returns self."""
        return self.train(False)

    # -- buffers -------------------------------------------------------------------------
    def register_buffer(self, name: str, value: float | list[float]) -> None:
        """Add non-trainable state, saved in the state dict (e.g. a running mean).

        The buffer is an ordinary attribute: read it as ``self.name`` and
        replace it by assignment. It is never a parameter.

        Args:
            name: A public attribute name.
            value: A float, or a list of floats.

        Raises:
            ValueError: The name is private, or already an attribute that is not a buffer.
            TypeError: The value is not a float or a list of floats.
        """
        if not name.isidentifier() or name.startswith("_") or name == "training":
            raise ValueError(f"register_buffer: {name!r} is not a usable public attribute name")
        if name in vars(self) and name not in self._buffer_names:
            raise ValueError(f"register_buffer: {name!r} is already an attribute")
        self.__dict__[name] = _check_buffer(value, name)
        if name not in self._buffer_names:
            self._buffer_names = (*self._buffer_names, name)

    def named_buffers(self, prefix: str = "") -> Iterator[tuple[str, float | list[float]]]:
        """``(dotted name, value)`` for the buffers of this module and its submodules."""
        for mod_name, m in self.named_modules(prefix):
            for name in m._buffer_names:
                yield _join(mod_name, name), getattr(m, name)

    # -- state dicts ----------------------------------------------------------------------
    def state_dict(self) -> dict[str, float | list[float]]:
        """A copy of the state: ``{dotted name: float}`` for every ``Value``
        attribute (parameters, and frozen ones with ``requires_grad=False``, as
        PyTorch keeps frozen parameters), then ``{dotted name: float |
        list[float]}`` for buffers. JSON-able."""
        state: dict[str, float | list[float]] = {n: p.data for n, p in self._named_values()}
        for name, value in self.named_buffers():
            state[name] = list(value) if isinstance(value, list) else value
        return state

    def load_state_dict(self, state: dict[str, Any], strict: bool = True) -> IncompatibleKeys:
        """Copy ``state`` into the parameters' ``data`` and the buffers.

        Nothing is changed unless every entry fits, so a failed load leaves
        the module as it was.

        Args:
            state: A dict as made by :meth:`state_dict`.
            strict: Require exactly the module's keys (as PyTorch). With
                ``strict=False`` missing and unexpected keys are skipped and
                returned; wrong shapes or types still raise.

        Returns:
            ``IncompatibleKeys(missing_keys, unexpected_keys)``.

        Raises:
            StateDictError: Keys are missing or unexpected (when strict), or
                an entry has the wrong shape or type. The message names them all.
            TypeError: ``state`` is not a dict.
        """
        if not isinstance(state, dict):
            raise TypeError(f"load_state_dict: expected a dict, got {type(state).__name__}")
        params = dict(self._named_values())
        buffers = {}
        for mod_name, m in self.named_modules():
            for name in m._buffer_names:
                buffers[_join(mod_name, name)] = (m, name)
        missing = [k for k in (*params, *buffers) if k not in state]
        unexpected = [k for k in state if k not in params and k not in buffers]
        problems = []
        if strict and missing:
            problems.append(f"missing key(s): {', '.join(missing)}")
        if strict and unexpected:
            problems.append(f"unexpected key(s): {', '.join(map(str, unexpected))}")
        updates: list[tuple[Any, Any]] = []
        for key, p in params.items():
            if key in state:
                value = state[key]
                if not _is_real(value):
                    problems.append(
                        f"{key}: expected a number (a scalar parameter), got "
                        f"{_describe(value)}"
                    )
                else:
                    updates.append((p, float(value)))
        for key, (m, name) in buffers.items():
            if key in state:
                value, current = state[key], getattr(m, name)
                try:
                    value = _check_buffer(value, key)
                except TypeError as e:
                    problems.append(str(e))
                    continue
                if isinstance(current, list) != isinstance(value, list) or (
                        isinstance(value, list) and len(value) != len(current)):
                    problems.append(
                        f"{key}: expected {_describe(current)}, got {_describe(value)}"
                    )
                else:
                    updates.append(((m, name), value))
        if problems:
            raise StateDictError(
                f"error(s) loading state dict for {type(self).__name__}: " + "; ".join(problems)
            )
        for target, value in updates:
            if isinstance(target, Value):
                target.data = value
            else:
                m, name = target
                m.__dict__[name] = value
        return IncompatibleKeys(missing, unexpected)

    # -- files ---------------------------------------------------------------------------
    def config(self) -> dict[str, Any]:
        """The constructor keyword arguments that rebuild this module (JSON-able).

        Raises:
            NotImplementedError: The subclass does not define it (then it cannot be saved).
        """
        raise NotImplementedError(
            f"{type(self).__name__} does not define config(), so it cannot be saved to a "
            "file; return its constructor keyword arguments from config()"
        )

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Module:
        """Build a module from :meth:`config`'s output (``cls(**config)``)."""
        return cls(**config)

    def save(self, path: str) -> None:
        """Write the module to a JSON file atomically; see :func:`nn.io.save`."""
        from nn.io import save

        save(self, path)

    # -- printing ------------------------------------------------------------------------
    def extra_repr(self) -> str:
        """The text inside this module's parentheses (subclasses override)."""
        return ""

    def __repr__(self) -> str:
        lines = []
        for name, child in self.named_children():
            lines.append((name, repr(child).replace("\n", "\n  ")))
        head = f"{type(self).__name__}({self.extra_repr()}"
        if not lines:
            return head + ")"
        body = []
        i = 0
        while i < len(lines):  # runs of identical children print once, as PyTorch's
            j = i
            while j + 1 < len(lines) and lines[j + 1][1] == lines[i][1] \
                    and _same_list(lines[i][0], lines[j + 1][0], j + 1 - i):
                j += 1
            if j > i + 1:
                stem, first = lines[i][0].rsplit(".", 1)
                last = lines[j][0].rsplit(".", 1)[1]
                body.append(f"  ({stem}.{first}-{last}): {j - i + 1} x {lines[i][1]}")
            else:
                body.extend(f"  ({n}): {r}" for n, r in lines[i:j + 1])
            i = j + 1
        return head + "\n" + "\n".join(body) + "\n)"

    # -- predictions (scikit-learn's names; see nn.predict) ---------------------------
    def predict(self, X: Any) -> list:
        """Predictions for the samples ``X``: the user's own labels for a classifier
        trained by :func:`nn.fit`, else the outputs; in eval mode, without a graph.

        Args:
            X: Samples (a list, numpy array or DataFrame; see :mod:`nn.arrays`).

        Returns:
            One label, float or list of floats per sample; see :func:`nn.predict.predict`.
        """
        from nn.predict import predict

        return predict(self, X)

    def predict_proba(self, X: Any) -> list[list[float]]:
        """Class probabilities per sample, columns in ``self.meta["classes"]`` order.

        Raises:
            ValueError: Not a classifier, or its loss defines no probabilities.
        """
        from nn.predict import predict_proba

        return predict_proba(self, X)


# -- helpers ---------------------------------------------------------------------------


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _walk_parameters(value: Any, name: str, seen: set[int],
                     trainable: bool) -> Iterator[tuple[str, Value]]:
    if type(value) is Value:
        if (value.requires_grad or not trainable) and id(value) not in seen:
            seen.add(id(value))
            yield name, value
    elif isinstance(value, Module):
        for child_name, child in value._public_items():
            yield from _walk_parameters(child, _join(name, child_name), seen, trainable)
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            yield from _walk_parameters(item, f"{name}.{i}", seen, trainable)
    elif isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str):
                yield from _walk_parameters(item, f"{name}.{key}", seen, trainable)


def _direct_modules(value: Any, name: str) -> Iterator[tuple[str, Module]]:
    if isinstance(value, Module):
        yield name, value
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            yield from _direct_modules(item, f"{name}.{i}")
    elif isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str):
                yield from _direct_modules(item, f"{name}.{key}")


def _walk_modules(module: Module, prefix: str, seen: set[int]) -> Iterator[tuple[str, Module]]:
    if id(module) in seen:
        return
    seen.add(id(module))
    yield prefix, module
    for name, child in module.named_children():
        yield from _walk_modules(child, _join(prefix, name), seen)


def _same_list(first: str, other: str, offset: int) -> bool:
    """Whether ``other`` is ``first`` ``offset`` items further in the same list."""
    a, _, i = first.rpartition(".")
    b, _, j = other.rpartition(".")
    return a == b and i.isdigit() and j.isdigit() and int(j) == int(i) + offset


def _is_real(x: Any) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, bool)


def _check_buffer(value: Any, name: str) -> float | list[float]:
    if _is_real(value):
        return float(value)
    if isinstance(value, (list, tuple)) and all(_is_real(v) for v in value):
        return [float(v) for v in value]
    raise TypeError(f"{name}: a buffer must be a float or a list of floats, got "
                    f"{_describe(value)}")


def _describe(x: Any) -> str:
    if isinstance(x, (list, tuple)):
        return f"a list of length {len(x)}"
    if _is_real(x):
        return "a number"
    return f"{type(x).__name__} {x!r:.40}"
