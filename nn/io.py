"""Model files (JSON, written atomically) and conversion to and from PyTorch.

**The file format** (``model.save(path)`` / ``nn.load(path)``) is one JSON
object, never pickle, so loading a file cannot run code::

    {"format": "dagrad-model", "version": 1,
     "model": {"class": "MLP", "module": "nn.layers",
               "config": {"nin": 2, "sizes": [16, 16, 1], "activation": "relu", ...}},
     "state": {"layers.0.neurons.0.w.0": 0.23, ...},
     "meta": {...}}

``config`` is what the module's ``config()`` returns. ``state`` is
``state_dict()``: every parameter and buffer by dotted name (a tied weight
under each of its names, as PyTorch's). ``meta`` is :attr:`Module.meta`
(absent: ``{}``). Loading finds the class in :data:`nn.module.REGISTRY` (every
``Module`` subclass registers itself), rebuilds it with ``from_config`` and
loads the state strictly.

**Version 2** is written when a config holds modules (a ``Sequential``'s
layers, a user block's inner model). Every such submodule is listed once, in
a flat ``"modules"`` table, children before parents, and a config refers to
one as ``{"__module__": index}``; so a layer used twice is one entry and comes
back as one shared object, and nesting depth costs no recursion. Weights
shared by other means (``b.weight = a.weight``) are recorded in ``"ties"``
(``{"alias name": "first name"}``) and restored as one ``Value``. Version 1
files (nested ``{"__module__": {"class": ..., "config": ...}}``) still load.
The version written is the lowest that reads the file.

**Checks on load**, each a :class:`ModelFileError` naming the file and the
problem in a short message: not JSON, nested too deeply, not a model file,
a version other than 1 or 2, a missing or malformed entry, NaN or infinite
numbers (``NaN``, ``Infinity``, ``1e999``: ``save`` refuses them too),
integers beyond the float range, unknown classes, configs that do not
rebuild, weights that do not fit. For dagrad's own layers the weight count a
config declares is checked against the weights present *before* anything is
built, so a tiny file declaring a huge model fails at once.

**The write is atomic** (:func:`atomic_write`): the data goes to a temporary
file in the same folder, is flushed to disk (``fsync``), and replaces the
target with ``os.replace``; a crash or an error mid-save leaves an existing
file as it was. Temporary files are named ``.<target>.<pid>.<random>.tmp``;
one left by a killed process is removed by the next write of the same target
(on the same machine), as is an hour-old ``.<target>.<random>.tmp`` left by an
earlier dagrad.

**PyTorch**: :func:`to_torch` and :func:`from_torch` are re-exported from
:mod:`nn.interop`, which converts every layer of :mod:`nn` (torch is imported
only there, when they run).
"""

from __future__ import annotations

import errno
import importlib
import json
import math
import os
import re
import sys
import tempfile
import time
from typing import Any

from engine import Value
from nn.interop import from_torch as from_torch  # re-exported (see the PyTorch section)
from nn.interop import to_torch as to_torch
from nn.module import REGISTRY, Module, StateDictError, install_writer

FORMAT = "dagrad-model"
VERSION = 2
_READS = (1, 2)
_CHEAP = 100_000  # weights: below this a mismatched model is built to name the missing keys


class ModelFileError(ValueError):
    """A model file cannot be read: truncated, malformed, or not matching its model."""


def _short(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


# -- atomic writes ------------------------------------------------------------------------


def atomic_write(path: str | os.PathLike, data: str | bytes) -> None:
    """Write ``data`` to ``path`` atomically (temporary file, fsync, ``os.replace``).

    Either the whole new content is in ``path`` afterwards, or (on any error,
    ``KeyboardInterrupt`` included) the old file is untouched and no temporary
    file is left behind. A temporary file left by a process that was killed
    mid-write (``.<name>.<pid>.<random>.tmp``, its process gone) is removed by
    the next write of the same target. The new file keeps the permissions of
    the one it replaces (else those a plain ``open`` gives, from the umask).

    Args:
        path: The file to write; its folder must exist.
        data: The content: ``str`` (written as UTF-8) or bytes.

    Raises:
        ValueError: ``path`` is empty.
        TypeError: ``data`` is neither str nor bytes.
        FileNotFoundError: The folder does not exist (the message names ``path``).
        IsADirectoryError: ``path`` is a folder.
        PermissionError: The folder cannot be written (the message names ``path``).
        OSError: Another failure of the write (disk full...).
    """
    path = os.fspath(path)
    if not path:
        raise ValueError("atomic_write: the path is empty; give a file name")
    if isinstance(data, str):
        data = data.encode("utf-8")
    elif isinstance(data, (bytearray, memoryview)):
        data = bytes(data)
    elif not isinstance(data, bytes):
        raise TypeError(f"atomic_write: data must be str or bytes, got {type(data).__name__}")
    folder = os.path.dirname(os.path.abspath(path))
    name = os.path.basename(path)
    if os.path.isdir(path):
        raise IsADirectoryError(errno.EISDIR, "cannot write a file over a folder", path)
    if not os.path.isdir(folder):
        raise FileNotFoundError(errno.ENOENT, f"cannot write: the folder {folder!r} does not "
                                "exist", path)
    _remove_orphans(folder, name)
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}.{os.getpid()}.", suffix=".tmp")
    except OSError as e:
        raise OSError(e.errno, f"cannot write: {e.strerror} (folder {folder!r})", path) from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, _mode_for(path))
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_folder(folder)


#: Backwards-compatible name (text only).
atomic_write_text = atomic_write


_STALE = 3600.0  # seconds: a temporary file without a pid this old is an orphan


def _remove_orphans(folder: str, name: str) -> None:
    """Delete ``.<name>.<pid>.*.tmp`` files whose writing process no longer exists,
    and ``.<name>.*.tmp`` files of earlier dagrad versions (no pid) older than an hour."""
    pattern = re.compile(re.escape(f".{name}.") + r"(?:(\d+)\.)?[^.]+\.tmp")
    try:
        entries = os.listdir(folder)
    except OSError:
        return
    for entry in entries:
        m = pattern.fullmatch(entry)
        if m is None:
            continue
        path = os.path.join(folder, entry)
        try:
            orphan = (not _alive(int(m.group(1))) if m.group(1) is not None
                      else time.time() - os.stat(path).st_mtime > _STALE)
            if orphan:
                os.unlink(path)
        except OSError:
            pass


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError, OSError):
        return True  # exists (another user's), or cannot tell: keep the file
    return True


def _fsync_folder(folder: str) -> None:
    """Make the rename durable (POSIX); silently skipped where folders cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _mode_for(path: str) -> int:
    """The permissions of the file being replaced, else those a new file gets."""
    try:
        return os.stat(path).st_mode & 0o7777
    except OSError:
        umask = os.umask(0)  # reading the umask means setting it; restore at once
        os.umask(umask)
        return 0o666 & ~umask


# -- save -------------------------------------------------------------------------------------


def _class_spec(module: Module) -> dict[str, str]:
    cls = type(module)
    if REGISTRY.get(cls.__name__) is not cls and getattr(
            sys.modules.get(cls.__module__), cls.__name__, None) is not cls:
        raise ValueError(f"save: {cls.__name__} is not a registered module class (defined with "
                         "register=False, or shadowed by another class of the same name)")
    return {"class": cls.__name__, "module": cls.__module__}


def _modules_in(x: Any) -> list[Module]:
    """The modules inside one config value (lists and dicts walked, modules not entered)."""
    found, stack = [], [x]
    while stack:
        v = stack.pop()
        if isinstance(v, Module):
            found.append(v)
        elif isinstance(v, dict):
            stack.extend(reversed(list(v.values())))
        elif isinstance(v, (list, tuple)):
            stack.extend(reversed(v))
    return found


def _encode_config(x: Any, where: str, index: dict[int, int], depth: int = 0) -> Any:
    if depth > 100:
        raise ValueError(f"save: {where}.config() is nested more than 100 levels deep")
    if isinstance(x, Module):
        return {"__module__": index[id(x)]}
    if isinstance(x, dict):
        for k in x:
            if not isinstance(k, str):
                raise ValueError(f"save: {where}.config() has a non-string key {k!r:.40}")
        return {k: _encode_config(v, where, index, depth + 1) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_encode_config(v, where, index, depth + 1) for v in x]
    if x is None or isinstance(x, (bool, int, str)):
        return x
    if isinstance(x, float):
        if not math.isfinite(x):
            raise ValueError(f"save: {where}.config() holds the non-finite number {x!r}")
        return x
    raise ValueError(f"save: {where}.config() holds a {type(x).__name__} ({x!r:.40}), which "
                     "is not JSON-able; config() must return numbers, strings, lists, dicts "
                     "or modules")


def _describe_model(model: Module) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The root's spec and the table of submodules (children first, each module once).

    Iterative post-order over the modules that configs refer to.
    """
    configs: dict[int, dict[str, Any]] = {}
    index: dict[int, int] = {}
    table: list[dict[str, Any]] = []
    stack: list[Module] = [model]
    while stack:
        m = stack[-1]
        if id(m) in index:
            stack.pop()
            continue
        if id(m) not in configs:
            config = m.config()
            if not isinstance(config, dict):
                raise ValueError(f"save: {type(m).__name__}.config() must return a dict, got "
                                 f"{type(config).__name__}")
            configs[id(m)] = config
            pending = [c for c in _modules_in(config) if id(c) not in index]
            for c in pending:
                if c is model or (id(c) in configs and id(c) not in index):
                    raise ValueError(f"save: {type(m).__name__}'s config refers back to a "
                                     "module that contains it (a cycle)")
            stack.extend(reversed(pending))
            if pending:
                continue
        stack.pop()
        spec = {**_class_spec(m),
                "config": _encode_config(configs[id(m)], type(m).__name__, index)}
        if m is model:
            return spec, table
        index[id(m)] = len(table)
        table.append(spec)
    raise AssertionError("unreachable")  # pragma: no cover


def tied_names(model: Module) -> dict[str, str]:
    """``{alias: first name}`` for every state-dict key whose ``Value`` is also
    reachable under an earlier name (tied weights).

    >>> from nn.layers import Linear
    >>> from nn.containers import Sequential, Tanh
    >>> lin = Linear(1, 1)
    >>> tied_names(Sequential(lin, Tanh(), lin))
    {'2.weight.0.0': '0.weight.0.0', '2.bias.0': '0.bias.0'}
    """
    first: dict[int, str] = {}
    ties: dict[str, str] = {}
    for name, v in model._named_values():
        owner = first.setdefault(id(v), name)
        if owner != name:
            ties[name] = owner
    return ties


def to_json(model: Module) -> str:
    """The model file's text for ``model`` (see the module docstring).

    Raises:
        ValueError: A weight is NaN or infinite (JSON cannot hold it), the
            config is not JSON-able, ``model.meta`` is not JSON-serialisable,
            or a tied weight sits where loading could not restore the tie.
        NotImplementedError: A module class has no ``config()``.
    """
    if not isinstance(model, Module):
        raise TypeError(f"save: expected a Module, got {type(model).__name__}")
    state = model.state_dict()
    for name, value in state.items():
        values = value if isinstance(value, list) else [value]
        if not all(math.isfinite(v) for v in values):
            raise ValueError(f"save: {name} is {_short(repr(value), 60)}; a model with "
                             "non-finite weights cannot be saved as JSON")
    try:
        meta = json.loads(json.dumps(model.meta, allow_nan=False))
    except (TypeError, ValueError, RecursionError) as e:
        raise ValueError(f"save: model.meta must be JSON-serialisable (dicts with string keys, "
                         f"lists, strings, finite numbers, booleans, None): {_short(str(e))}"
                         ) from None
    root, table = _describe_model(model)
    ties = tied_names(model)
    for alias, target in ties.items():
        _check_settable(model, alias, target)
    doc: dict[str, Any] = {"format": FORMAT, "version": 2 if table else 1, "model": root}
    if table:
        doc["modules"] = table
    doc["state"] = state
    if ties:
        doc["ties"] = ties
    if meta:
        doc["meta"] = meta
    return json.dumps(doc, indent=1, allow_nan=False) + "\n"


def save(model: Module, path: str | os.PathLike) -> None:
    """Write ``model`` to ``path`` as JSON, atomically (see :func:`atomic_write`).

    Args:
        model: Any registered module with ``config()``.
        path: The file (its folder must exist).

    Raises:
        ValueError: The path is empty, or the model cannot be represented
            (see :func:`to_json`); nothing is written then.
        NotImplementedError: The module class has no ``config()``.
        OSError: The file cannot be written (the message names ``path``).
    """
    if not os.fspath(path):
        raise ValueError("save: the path is empty; give a file name such as 'model.json'")
    atomic_write(path, to_json(model))


install_writer(save)


# -- load -------------------------------------------------------------------------------------


def _find_class(spec: dict[str, Any], where: str) -> type[Module]:
    name, module = spec.get("class"), spec.get("module")
    if not isinstance(name, str):
        raise ModelFileError(f"{where}: the model has no class name")
    candidate = getattr(sys.modules.get(module), name, None) if isinstance(module, str) else None
    if isinstance(candidate, type) and issubclass(candidate, Module):
        return candidate
    if name in REGISTRY:
        return REGISTRY[name]
    if isinstance(module, str) and (module == "nn" or module.startswith("nn.")):
        try:
            importlib.import_module(module)  # dagrad's own layer modules only
        except ImportError:
            pass
        if name in REGISTRY:
            return REGISTRY[name]
    raise ModelFileError(_short(f"{where}: unknown module class {name!r} (from {module!r}); "
                                "import the code that defines it before loading", 300))


def _check_spec(spec: Any, where: str) -> dict[str, Any]:
    if not isinstance(spec, dict) or "config" not in spec:
        raise ModelFileError(f"{where}: a model entry needs 'class', 'module' and 'config'")
    if not isinstance(spec["config"], dict):
        raise ModelFileError(f"{where}: the config of {str(spec.get('class'))[:40]!r} is not "
                             "an object")
    return spec


def _rebuild(cls: type[Module], config: dict[str, Any], raw: Any, where: str) -> Module:
    try:
        return cls.from_config(config)
    except (TypeError, ValueError, KeyError, IndexError, AttributeError, OverflowError) as e:
        what = f"no {e}" if isinstance(e, KeyError) else str(e)
        raise ModelFileError(_short(
            f"{where}: cannot rebuild {cls.__name__} from its config "
            f"{_short(json.dumps(raw), 120)}: {_short(what, 160)}", 400)) from e


def _build_nested(spec: Any, where: str) -> Module:
    """Version 1: modules nested inside configs as ``{"__module__": {spec}}``."""
    spec = _check_spec(spec, where)
    cls = _find_class(spec, where)
    config = _decode_nested(spec["config"], where)
    return _rebuild(cls, config, spec["config"], where)


def _decode_nested(x: Any, where: str) -> Any:
    if isinstance(x, dict):
        if set(x) == {"__module__"}:
            return _build_nested(x["__module__"], where)
        return {k: _decode_nested(v, where) for k, v in x.items()}
    if isinstance(x, list):
        return [_decode_nested(v, where) for v in x]
    return x


def _decode_refs(x: Any, built: list[Module], where: str) -> Any:
    """Version 2: ``{"__module__": i}`` is the ``i``-th module of the table (already built)."""
    if isinstance(x, dict):
        if set(x) == {"__module__"}:
            i = x["__module__"]
            if isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < len(built):
                raise ModelFileError(f"{where}: a config refers to module {_short(repr(i), 30)}"
                                     f", which is not an earlier entry of 'modules'")
            return built[i]
        return {k: _decode_refs(v, built, where) for k, v in x.items()}
    if isinstance(x, list):
        return [_decode_refs(v, built, where) for v in x]
    return x


def _build_table(doc: dict[str, Any], where: str) -> Module:
    table = doc.get("modules", [])
    if not isinstance(table, list):
        raise ModelFileError(f"{where}: 'modules' is not a list")
    built: list[Module] = []
    for i, spec in enumerate([*table, doc["model"]]):
        here = where if i == len(table) else f"{where}: modules[{i}]"
        spec = _check_spec(spec, here)
        cls = _find_class(spec, here)
        config = _decode_refs(spec["config"], built, here)
        built.append(_rebuild(cls, config, spec["config"], here))
    return built[-1]


def _specs(doc: dict[str, Any]) -> list[Any]:
    """Every module spec of the file (nested ones too, found iteratively)."""
    found, stack = [], [doc["model"], *(doc.get("modules") or [])]
    while stack:
        v = stack.pop()
        if isinstance(v, dict):
            if isinstance(v.get("config"), dict) and "class" in v:
                found.append(v)
            stack.extend(v.values())
        elif isinstance(v, list):
            stack.extend(v)
    return found


def _declared_size(spec: dict[str, Any]) -> int:
    """How many state entries (at least) a spec of one of dagrad's layers declares; 0 if unknown."""
    c = spec.get("config")
    name = spec.get("class")
    if not isinstance(c, dict) or not str(spec.get("module", "")).startswith("nn"):
        return 0

    def n(key: str, default: Any = None) -> int:
        v = c.get(key, default)
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise LookupError(key)
        return v

    try:
        if name == "MLP":
            sizes = c.get("sizes")
            if not isinstance(sizes, list):
                return 0
            total, fan_in = 0, n("nin")
            for s in sizes:
                if isinstance(s, bool) or not isinstance(s, int) or s < 0:
                    return 0
                total, fan_in = total + (fan_in + 1) * s, s
            return total
        if name == "Layer":
            return (n("nin") + 1) * n("nout")
        if name == "Neuron":
            return n("nin") + 1
        if name == "Linear":
            return (n("in_features") + bool(c.get("bias", True))) * n("out_features")
        if name in ("Conv1d", "Conv2d"):
            k = c.get("kernel_size")
            kernel = math.prod(k) if isinstance(k, list) and all(
                isinstance(v, int) and v >= 0 for v in k) else 1
            return n("out_channels") * (n("in_channels") // max(n("groups", 1), 1) * kernel + 1)
        if name in ("RNNCell", "GRUCell", "LSTMCell", "RNN", "GRU", "LSTM"):
            return n("hidden_size") * (n("input_size") + n("hidden_size"))
        if name == "LayerNorm":
            dims = c.get("normalized_shape")
            dims = [dims] if isinstance(dims, int) else dims
            if not c.get("elementwise_affine", True) or not isinstance(dims, list) or not all(
                    isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in dims):
                return 0
            return math.prod(dims)
        if name in ("BatchNorm1d", "BatchNorm2d"):
            return 2 * n("num_features") if c.get("affine", True) else 0
    except LookupError:
        return 0
    return 0


def _check_numbers(doc: dict[str, Any], where: str) -> None:
    """Weights and buffers: finite numbers (or lists of them) within the float range."""
    bad: list[str] = []
    for key, value in doc["state"].items():
        values = value if isinstance(value, list) else [value]
        for v in values:
            if isinstance(v, bool) or not isinstance(v, int | float):
                break  # load_state_dict names wrong types
            try:
                finite = math.isfinite(v)
            except OverflowError:
                finite = False
            if not finite:
                bad.append(f"{key} is {_short(str(v), 16)}")
                break
        if len(bad) > 3:
            break
    stack: list[Any] = [doc["model"], doc.get("modules")]
    while stack and not bad:  # configs: save refuses non-finite numbers there too
        v = stack.pop()
        if isinstance(v, dict):
            stack.extend(v.values())
        elif isinstance(v, list):
            stack.extend(v)
        elif isinstance(v, float) and not math.isfinite(v):
            raise ModelFileError(f"{where}: a config holds the non-finite number {v!r} (save "
                                 "refuses it; the file is damaged or was not written by dagrad)")
    if bad:
        raise ModelFileError(f"{where}: non-finite or out-of-range weight(s): "
                             f"{', '.join(bad[:3])}{' ...' if len(bad) > 3 else ''} (save "
                             "refuses such weights; the file is damaged or was not written "
                             "by dagrad)")


def _reject_constant(name: str) -> float:
    raise ValueError(f"the non-finite number {name} (JSON has no NaN or Infinity)")


def from_json(text: str, where: str = "<string>") -> Module:
    """Rebuild a model from a model file's text.

    Args:
        text: The JSON text.
        where: The file name used in error messages.

    Returns:
        The model, with its weights, tied weights and ``meta``.

    Raises:
        ModelFileError: The text is not a valid, complete, matching model file
            (see the module docstring for the checks).
    """
    try:
        doc = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as e:
        hint = " (the file looks truncated)" if e.pos >= len(text.rstrip()) else ""
        raise ModelFileError(f"{where}: not valid JSON{hint}: {e.msg} at line {e.lineno} "
                             f"column {e.colno}") from None
    except RecursionError:
        raise ModelFileError(f"{where}: the JSON is nested too deeply to be a model file") \
            from None
    except ValueError as e:  # a non-finite constant, an integer of too many digits
        raise ModelFileError(_short(f"{where}: not a valid model file: {e}")) from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ModelFileError(f"{where}: not a dagrad model file (expected a JSON object with "
                             f"\"format\": \"{FORMAT}\")")
    version = doc.get("version")
    if isinstance(version, bool) or not isinstance(version, int):
        raise ModelFileError(f"{where}: the format version is missing or not an integer "
                             f"({_short(repr(version), 40)})")
    if version > VERSION:
        raise ModelFileError(f"{where}: format version {version} is newer than this dagrad "
                             f"reads ({VERSION}); upgrade dagrad")
    if version not in _READS:
        raise ModelFileError(f"{where}: format version {version} does not exist (versions "
                             f"are {', '.join(map(str, _READS))})")
    for key in ("model", "state"):
        if key not in doc:
            raise ModelFileError(f"{where}: the file has no {key!r} entry")
    if not isinstance(doc["state"], dict):
        raise ModelFileError(f"{where}: 'state' is not an object of weights")
    meta = doc.get("meta", {})
    if not isinstance(meta, dict):
        raise ModelFileError(f"{where}: 'meta' is not an object")
    ties = doc.get("ties", {})
    if not isinstance(ties, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in ties.items()):
        raise ModelFileError(f"{where}: 'ties' is not an object of names")
    _check_numbers(doc, where)
    declared = sum(_declared_size(s) for s in _specs(doc))
    present = sum(1 for v in doc["state"].values() if not isinstance(v, list))
    if declared > present and declared > _CHEAP:
        raise ModelFileError(f"{where}: the weights do not match the model: its config "
                             f"declares {declared} weights but the file holds {present}")
    try:
        model = _build_table(doc, where) if version >= 2 else _build_nested(doc["model"], where)
    except RecursionError:
        raise ModelFileError(f"{where}: the modules or configs are nested too deeply") from None
    _restore_ties(model, ties, doc["state"], where)
    try:
        model.load_state_dict(doc["state"])
    except (StateDictError, TypeError) as e:
        raise ModelFileError(_short(f"{where}: the weights do not match the "
                                    f"{type(model).__name__}: {e}", 1000)) from e
    model.meta = meta
    return model


def _container(model: Module, name: str) -> tuple[Any, Any]:
    """The list, dict or module holding the ``Value`` named ``name``, and its key."""
    parts = name.split(".")
    obj: Any = model
    for part in parts[:-1]:
        obj = _child(obj, part)
    return obj, _key(obj, parts[-1])


def _child(obj: Any, part: str) -> Any:
    key = _key(obj, part)
    return vars(obj)[key] if isinstance(obj, Module) else obj[key]


def _key(obj: Any, part: str) -> Any:
    if isinstance(obj, Module):
        if part.startswith("_") or part not in vars(obj):
            raise LookupError(part)
        return part
    if isinstance(obj, (list, tuple)):
        if not part.isdigit() or int(part) >= len(obj):
            raise LookupError(part)
        return int(part)
    if isinstance(obj, dict) and part in obj:
        return part
    raise LookupError(part)


def _check_settable(model: Module, alias: str, target: str) -> None:
    """Refuse at save time a tie that loading could not restore (never write an unreadable
    file): one held in a tuple (unless the tuple itself is shared) or under a dotted key."""
    try:
        obj, key = _container(model, alias)
        tobj, tkey = _container(model, target)
    except LookupError:
        obj = tobj = key = tkey = None
    if obj is tobj and obj is not None and key == tkey:
        return  # a shared module: its attribute comes back shared with it
    if not isinstance(obj, (Module, list, dict)):
        raise ValueError(f"save: the tied weight {alias} cannot be restored on load (it sits "
                         "in a tuple or under a name with dots); tie it through a module "
                         "attribute or a list")


def _restore_ties(model: Module, ties: dict[str, str], state: dict[str, Any],
                  where: str) -> None:
    for alias, target in ties.items():
        if state.get(alias) != state.get(target):
            raise ModelFileError(_short(f"{where}: the tied weights {alias} and {target} "
                                        "hold different values"))
        try:
            obj, key = _container(model, alias)
            tobj, tkey = _container(model, target)
            value = vars(tobj)[tkey] if isinstance(tobj, Module) else tobj[tkey]
        except LookupError:
            raise ModelFileError(_short(f"{where}: 'ties' names {alias} -> {target}, which the "
                                        "model does not have")) from None
        if type(value) is not Value:
            continue
        if isinstance(obj, Module):
            obj.__dict__[key] = value
        elif isinstance(obj, (list, dict)):
            obj[key] = value
        else:
            raise ModelFileError(_short(f"{where}: the tie {alias} -> {target} cannot be "
                                        "restored"))


def load(path: str | os.PathLike) -> Module:
    """Read a model written by ``model.save(path)``.

    Args:
        path: The file.

    Returns:
        The model with its architecture, activations, weights (ties
        restored) and ``meta``.

    Raises:
        FileNotFoundError: There is no such file.
        ModelFileError: The file is truncated, malformed, of another format
            version, or its weights do not fit its architecture; the message
            names the file and the problem.
    """
    path = os.fspath(path)
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except UnicodeDecodeError:
        raise ModelFileError(f"{path}: not a text (UTF-8 JSON) file") from None
    return from_json(text, path)


# -- PyTorch ------------------------------------------------------------------------------------
# to_torch and from_torch live in nn.interop (every layer of nn); imported above so that
# ``from nn.io import to_torch, from_torch`` keeps working.
