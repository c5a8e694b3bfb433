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

**Layering.** This module imports nothing of ``nn``: files are one layer
above (:mod:`nn.io` imports this module and installs the writer that
``Module.save`` calls, see :meth:`Module.save`). Walking the attributes is
iterative (any nesting depth); a weight reachable under two names (a layer
used twice, ``b.weight = a.weight``) is one parameter in ``parameters()`` and
two keys in ``state_dict()``, as in PyTorch. :func:`layer_of` is the one rule
mapping a parameter name to its layer. :attr:`Module.meta` holds facts about
a model that are not weights (saved with it).

NB: this is ``torch.nn.Module`` reduced to what a scalar engine needs;
``named_parameters``, ``state_dict``, ``train``/``eval`` and the nested
``repr`` keep PyTorch's names and meaning.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Iterable, Iterator
from typing import Any, NamedTuple

from engine import Value

__all__ = ["REGISTRY", "IncompatibleKeys", "Module", "StateDictError", "install_writer",
           "layer_of"]

#: Every ``Module`` subclass by class name, for rebuilding models from files.
REGISTRY: dict[str, type[Module]] = {}

#: The function ``Module.save`` calls, installed by :mod:`nn.io` (see :meth:`Module.save`).
_WRITER: Callable[[Module, Any], None] | None = None


def layer_of(name: str) -> str:
    """The layer a parameter (or buffer) belongs to, read from its dotted name.

    The one rule of dagrad (training histories, per-layer norms and pictures
    use it), from the name alone (the same name gives the same layer in
    every model):

    * a ``Sequential``'s layer: the leading index (``0.weight.3.0.1.2`` -> ``0``);
    * a layer in a list attribute or in a ``Sequential`` attribute: the
      attribute and its index (``layers.1.neurons.3.w.0`` -> ``layers.1``,
      ``head.0.weight.0.0`` -> ``head.0``);
    * a layer held by attribute: the attribute (``conv.weight.0.0.1.2`` ->
      ``conv``; ``encoder.attn.q`` -> ``encoder``);
    * a parameter held by the model itself: its attribute (``b``; ``w.0`` -> ``w``).

    >>> layer_of("0.weight.3.0.1.2"), layer_of("layers.1.neurons.3.w.0")
    ('0', 'layers.1')
    >>> layer_of("conv.weight.0.0.1.2"), layer_of("b"), layer_of("w.0")
    ('conv', 'b', 'w')
    """
    parts = name.split(".")
    if not parts[0].isdigit() and len(parts) >= 3 and parts[1].isdigit():
        return f"{parts[0]}.{parts[1]}"
    return parts[0]


def install_writer(writer: Callable[[Module, Any], None]) -> None:
    """Make ``Module.save(path)`` call ``writer(module, path)`` (:mod:`nn.io` does this)."""
    global _WRITER
    _WRITER = writer


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
        # Array-likes (numpy, torch: anything with ``tolist`` and ``ndim``) become nested
        # lists here, once, so every layer takes them wherever it takes nested lists. The
        # usual arguments (numbers, Values, lists of those or of lists) are told by their type.
        for a in args:
            if type(a) is list:
                if a and type(a[0]) not in _PLAIN and _is_array(a[0]):
                    break
            elif type(a) not in _PLAIN and _is_array(a):
                break
        else:
            if not kwargs:
                return self.forward(*args)
        args = tuple(map(_as_nested, args))
        kwargs = {k: _as_nested(v) for k, v in kwargs.items()}
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
            An iterator of pairs; a parameter shared by two attributes (tied
            weights) is reported once, under its first name (as PyTorch does).
        """
        return self._parameters(prefix, named=True)

    def _parameters(self, prefix: str, named: bool) -> Iterator[tuple[str | None, Value]]:
        """:meth:`named_parameters`, or with every name ``None`` when not ``named``."""
        seen: set[int] = set()
        for kind, name, value in _walk(self, prefix, named=named):
            if kind is _VALUE and value.requires_grad and id(value) not in seen:
                seen.add(id(value))
                yield name, value

    def _named_values(self) -> Iterator[tuple[str, Value]]:
        """Every ``Value`` attribute, trainable or frozen (``requires_grad=False``),
        under every name it has (a tied weight appears once per name, as in
        PyTorch's ``state_dict``)."""
        for kind, name, value in _walk(self, ""):
            if kind is _VALUE:
                yield name, value

    def parameters(self) -> list[Value]:
        """The parameters in :meth:`named_parameters` order (micrograd's order for MLPs)."""
        return [p for _, p in self._parameters("", named=False)]  # no names: ~3x faster

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        """``(dotted name, module)`` for this module (named ``prefix``) and every
        submodule, depth first, each once (a shared module under its first name)."""
        seen: set[int] = set()
        for kind, name, value in _walk(self, prefix):
            if kind is _MODULE and id(value) not in seen:
                seen.add(id(value))
                yield name, value

    def named_children(self) -> Iterator[tuple[str, Module]]:
        """``(dotted name, module)`` for the direct submodules (lists give ``name.i``)."""
        for kind, name, value in _walk(self, "", depth=1):
            if kind is _MODULE and value is not self:
                yield name, value

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
    def _buffer_slots(self) -> Iterator[tuple[str, Module, str]]:
        """``(dotted name, owner, attribute)`` for every buffer under every path."""
        for kind, mod_name, m in _walk(self, ""):
            if kind is _MODULE:
                for name in m._buffer_names:
                    yield _join(mod_name, name), m, name

    def state_dict(self) -> dict[str, float | list[float]]:
        """A copy of the state: ``{dotted name: float}`` for every ``Value``
        attribute (parameters, and frozen ones with ``requires_grad=False``, as
        PyTorch keeps frozen parameters), then ``{dotted name: float |
        list[float]}`` for buffers. JSON-able.

        A tied weight (one ``Value`` reachable under two names, e.g. a layer
        used twice) has one key per name, as in PyTorch; :func:`tied_names`
        says which keys share a ``Value``.
        """
        state: dict[str, float | list[float]] = {n: p.data for n, p in self._named_values()}
        for name, m, attr in self._buffer_slots():
            value = getattr(m, attr)
            state[name] = list(value) if isinstance(value, list) else value
        return state

    def load_state_dict(self, state: dict[str, Any], strict: bool = True) -> IncompatibleKeys:
        """Copy ``state`` into the parameters' ``data`` and the buffers.

        Nothing is changed unless every entry fits, so a failed load leaves
        the module as it was. Keys of a tied weight are copied in order (the
        last one wins, as in PyTorch).

        Args:
            state: A dict as made by :meth:`state_dict`.
            strict: Require exactly the module's keys (as PyTorch). With
                ``strict=False`` missing and unexpected keys are skipped and
                returned; wrong shapes or types still raise.

        Returns:
            ``IncompatibleKeys(missing_keys, unexpected_keys)``.

        Raises:
            StateDictError: Keys are missing or unexpected (when strict), or
                an entry has the wrong shape or type. The message names the
                first few of each kind and counts the rest.
            TypeError: ``state`` is not a dict.
        """
        if not isinstance(state, dict):
            raise TypeError(f"load_state_dict: expected a dict, got {type(state).__name__}")
        params = dict(self._named_values())
        buffers = {key: (m, name) for key, m, name in self._buffer_slots()}
        missing = [k for k in (*params, *buffers) if k not in state]
        unexpected = [k for k in state if k not in params and k not in buffers]
        problems = []
        if strict and missing:
            problems.append(f"missing key(s): {_first_few(missing)}")
        if strict and unexpected:
            problems.append(f"unexpected key(s): {_first_few(list(map(str, unexpected)))}")
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
                    updates.append((p, _to_float(value, key, problems)))
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
            shown = problems if len(problems) <= 6 else [*problems[:5],
                                                         f"and {len(problems) - 5} more"]
            raise StateDictError(
                f"error(s) loading state dict for {type(self).__name__}: " + "; ".join(shown)
            )
        for target, value in updates:
            if isinstance(target, Value):
                target.data = value
            else:
                m, name = target
                m.__dict__[name] = value
        return IncompatibleKeys(missing, unexpected)

    # -- metadata and files ------------------------------------------------------------
    @property
    def meta(self) -> dict[str, Any]:
        """Facts about the model that are not weights (task, class labels, scaling...).

        A plain dict, empty by default, JSON-serialisable (checked when
        saving); not a parameter and not in the state dict. :func:`nn.io.save`
        writes it under the file's top-level ``"meta"`` key and :func:`nn.load`
        restores it (``{}`` for files without one).
        """
        meta = self.__dict__.get("_meta")
        if meta is None:
            meta = self.__dict__["_meta"] = {}
        return meta

    @meta.setter
    def meta(self, value: dict[str, Any]) -> None:
        if not isinstance(value, dict):
            raise TypeError(f"meta must be a dict, got {type(value).__name__}")
        self.__dict__["_meta"] = value

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
        """Write the module to a JSON file atomically; see :func:`nn.io.save`.

        Saving is one layer above the modules it saves: this module does not
        import :mod:`nn.io` (no import circle). ``nn.io`` installs its writer
        here when it is imported, which ``import nn`` (and so any import of
        ``nn.module``, a submodule of the ``nn`` package) always does first.
        This keeps PyTorch-style ``model.save(path)`` working with the
        dependency pointing one way (``nn.io`` -> ``nn.module``).

        Raises:
            RuntimeError: No writer is installed (``nn.io`` failed to import).
        """
        if _WRITER is None:
            raise RuntimeError("Module.save: no model-file writer is installed; import nn.io")
        _WRITER(self, path)

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

    # -- predictions (scikit-learn's names) ------------------------------------------
    #: ``(predict, predict_proba)`` of :mod:`nn.predict`, which installs them when it is
    #: imported (``import nn`` does): this module knows no layer above it.
    _prediction_functions: tuple[Callable[..., Any], Callable[..., Any]] | None = None

    def predict(self, X: Any) -> list:
        """Predictions for the samples ``X``: the user's own labels for a classifier
        trained by :func:`nn.fit`, else the outputs; in eval mode, without a graph.

        Args:
            X: Samples (a list, numpy array or DataFrame; see :mod:`nn.arrays`).

        Returns:
            One label, float or list of floats per sample; see :func:`nn.predict.predict`.
        """
        return self._predictions()[0](self, X)

    def predict_proba(self, X: Any) -> list[list[float]]:
        """Class probabilities per sample, columns in ``self.meta["classes"]`` order.

        Raises:
            ValueError: Not a classifier, or its loss defines no probabilities.
        """
        return self._predictions()[1](self, X)

    def _predictions(self) -> tuple[Callable[..., Any], Callable[..., Any]]:
        if Module._prediction_functions is None:
            raise RuntimeError("Module.predict: nn.predict is not imported; import nn")
        return Module._prediction_functions


# -- helpers ---------------------------------------------------------------------------


_PLAIN = frozenset({float, int, bool, Value, list, tuple, str, type(None)})  # never arrays


def _is_array(x: Any) -> bool:
    """True for numpy/torch arrays (duck-typed: ``tolist`` and ``ndim``), never for lists."""
    return type(x) is not list and hasattr(x, "tolist") and hasattr(x, "ndim")


def _as_nested(x: Any) -> Any:
    """An array as nested lists of Python numbers; a list of arrays as a list of those."""
    if _is_array(x):
        return x.tolist()
    if type(x) is list and x and _is_array(x[0]):
        return [_as_nested(v) for v in x]
    return x


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


_VALUE, _MODULE = "value", "module"


def _walk(root: Module, prefix: str, depth: int | None = None,
          named: bool = True) -> Iterator[tuple[str, str | None, Any]]:
    """Every ``Value`` and ``Module`` reachable from ``root``'s public attributes,
    as ``(kind, dotted name, object)``, depth first in attribute order.

    Nothing is deduplicated (a shared module or weight comes once per path,
    as PyTorch's ``state_dict`` walks); a module is not entered again inside
    itself (a cycle). Iterative (a stack of iterators): no recursion limit on
    nesting depth. ``depth=1`` stops below ``root``'s direct submodules.
    ``named=False`` gives every name below ``root`` as ``None`` and builds none
    (what ``parameters()`` and ``zero_grad()`` walk, once per training step).
    """
    yield _MODULE, prefix, root
    on_path = {id(root)}
    stack: list[tuple[Iterator[tuple[str | None, Any]], Module | None, int]] = [
        (_items(root, prefix, named), root, 0)]
    while stack:
        items, owner, level = stack[-1]
        for name, value in items:
            if type(value) is Value:
                yield _VALUE, name, value
            elif isinstance(value, Module):
                if id(value) in on_path:
                    continue
                yield _MODULE, name, value
                if depth is not None and level + 1 >= depth:
                    continue
                on_path.add(id(value))
                stack.append((_items(value, name, named), value, level + 1))
                break
            elif isinstance(value, (list, tuple)):
                if all(type(v) is Value for v in value):  # the common leaf list
                    for i, v in enumerate(value):
                        yield _VALUE, f"{name}.{i}" if named else None, v
                else:
                    stack.append((_indexed(name, enumerate(value), named), None, level))
                    break
            elif isinstance(value, dict):
                keyed = [(k, v) for k, v in value.items() if isinstance(k, str)]
                stack.append((_indexed(name, keyed, named), None, level))
                break
        else:
            stack.pop()
            if owner is not None:
                on_path.discard(id(owner))


def _items(module: Module, prefix: str | None,
           named: bool = True) -> Iterator[tuple[str | None, Any]]:
    if not named:
        return ((None, v) for _, v in module._public_items())
    return ((_join(prefix, n), v) for n, v in module._public_items())


def _indexed(prefix: str | None, pairs: Iterable[tuple[Any, Any]],
             named: bool = True) -> Iterator[tuple[str | None, Any]]:
    """``(prefix.key, item)`` for each ``(list index or dict key, item)``."""
    if not named:
        return ((None, v) for _, v in pairs)
    return ((f"{prefix}.{k}", v) for k, v in pairs)


def _same_list(first: str, other: str, offset: int) -> bool:
    """Whether ``other`` is ``first`` ``offset`` items further in the same list."""
    a, _, i = first.rpartition(".")
    b, _, j = other.rpartition(".")
    return a == b and i.isdigit() and j.isdigit() and int(j) == int(i) + offset


def _first_few(names: list[str], n: int = 5) -> str:
    """``a, b, c, d, e ... and 995 more``: keeps messages short for big models."""
    shown = ", ".join(names[:n])
    return shown if len(names) <= n else f"{shown} ... and {len(names) - n} more"


def _to_float(value: Any, key: str, problems: list[str]) -> float:
    try:
        return float(value)
    except OverflowError:  # an int beyond the float range (e.g. 10**400)
        problems.append(f"{key}: the integer {str(value)[:12]}... is beyond the float range")
        return 0.0


def _is_real(x: Any) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, bool)


def _check_buffer(value: Any, name: str) -> float | list[float]:
    try:
        if _is_real(value):
            return float(value)
        if isinstance(value, (list, tuple)) and all(_is_real(v) for v in value):
            return [float(v) for v in value]
    except OverflowError:
        raise TypeError(f"{name}: a buffer entry is an integer beyond the float range") from None
    raise TypeError(f"{name}: a buffer must be a float or a list of floats, got "
                    f"{_describe(value)}")


def _describe(x: Any) -> str:
    if isinstance(x, (list, tuple)):
        return f"a list of length {len(x)}"
    if _is_real(x):
        return "a number"
    return f"{type(x).__name__} {x!r:.40}"
