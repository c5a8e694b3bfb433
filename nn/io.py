"""Model files (JSON, written atomically) and conversion to and from PyTorch.

**The file format** (``model.save(path)`` / ``nn.load(path)``) is one JSON
object, never pickle, so loading a file cannot run code::

    {"format": "dagrad-model", "version": 1,
     "model": {"class": "MLP", "module": "nn.layers",
               "config": {"nin": 2, "sizes": [16, 16, 1], "activation": "relu", ...}},
     "state": {"layers.0.neurons.0.w.0": 0.23, ...}}

``config`` is what the module's ``config()`` returns; a module inside a config
(e.g. the layers of a ``Sequential``) is nested as ``{"__module__": {"class":
..., "module": ..., "config": ...}}``. ``state`` is ``state_dict()``: every
parameter and buffer by dotted name. Loading finds the class in
:data:`nn.module.REGISTRY` (every ``Module`` subclass registers itself),
rebuilds it with ``from_config`` and loads the state strictly.

The write is atomic: the text goes to a temporary file in the same folder,
is flushed to disk, and replaces the target with ``os.replace``; a crash or an
error mid-save leaves an existing file as it was. A truncated, malformed or
mismatched file raises :class:`ModelFileError` naming the file and the problem.

**PyTorch**: :func:`to_torch` and :func:`from_torch` are re-exported from
:mod:`nn.interop`, which converts every layer of :mod:`nn` (torch is imported
only there, when they run).
"""

from __future__ import annotations

import importlib
import json
import math
import os
import sys
import tempfile
from typing import Any

from nn.interop import from_torch as from_torch  # re-exported (see the PyTorch section)
from nn.interop import to_torch as to_torch
from nn.module import REGISTRY, Module, StateDictError

FORMAT = "dagrad-model"
VERSION = 1


class ModelFileError(ValueError):
    """A model file cannot be read: truncated, malformed, or not matching its model."""


# -- atomic writes ------------------------------------------------------------------------


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` atomically (temporary file, fsync, ``os.replace``).

    Either the whole new text is in ``path`` afterwards, or (on any error)
    the old file is untouched and no temporary file is left behind.

    Args:
        path: The file to write; its folder must exist.
        text: The content (written as UTF-8).
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
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


def _mode_for(path: str) -> int:
    """The permissions of the file being replaced, else those a new file gets."""
    try:
        return os.stat(path).st_mode & 0o7777
    except OSError:
        umask = os.umask(0)  # reading the umask means setting it; restore at once
        os.umask(umask)
        return 0o666 & ~umask


# -- save -------------------------------------------------------------------------------------


def _describe_module(module: Module) -> dict[str, Any]:
    cls = type(module)
    if REGISTRY.get(cls.__name__) is not cls and getattr(
            sys.modules.get(cls.__module__), cls.__name__, None) is not cls:
        raise ValueError(f"save: {cls.__name__} is not a registered module class (defined with "
                         "register=False, or shadowed by another class of the same name)")
    return {"class": cls.__name__, "module": cls.__module__,
            "config": _encode_config(module.config(), cls.__name__)}


def _encode_config(x: Any, where: str) -> Any:
    if isinstance(x, Module):
        return {"__module__": _describe_module(x)}
    if isinstance(x, dict):
        for k in x:
            if not isinstance(k, str):
                raise ValueError(f"save: {where}.config() has a non-string key {k!r}")
        return {k: _encode_config(v, where) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_encode_config(v, where) for v in x]
    if x is None or isinstance(x, (bool, int, str)):
        return x
    if isinstance(x, float):
        if not math.isfinite(x):
            raise ValueError(f"save: {where}.config() holds the non-finite number {x!r}")
        return x
    raise ValueError(f"save: {where}.config() holds a {type(x).__name__} ({x!r:.40}), which "
                     "is not JSON-able; config() must return numbers, strings, lists, dicts "
                     "or modules")


def to_json(model: Module) -> str:
    """The model file's text for ``model`` (see the module docstring).

    Raises:
        ValueError: A weight is NaN or infinite (JSON cannot hold it), or the
            config is not JSON-able.
    """
    state = model.state_dict()
    for name, value in state.items():
        values = value if isinstance(value, list) else [value]
        if not all(math.isfinite(v) for v in values):
            raise ValueError(f"save: {name} is {value!r}; a model with non-finite weights "
                             "cannot be saved as JSON")
    doc = {"format": FORMAT, "version": VERSION, "model": _describe_module(model),
           "state": state}
    return json.dumps(doc, indent=1, allow_nan=False) + "\n"


def save(model: Module, path: str | os.PathLike) -> None:
    """Write ``model`` to ``path`` as JSON, atomically.

    Args:
        model: Any registered module with ``config()``.
        path: The file (its folder must exist).

    Raises:
        ValueError: The model cannot be represented (see :func:`to_json`).
        NotImplementedError: The module class has no ``config()``.
    """
    atomic_write_text(path, to_json(model))


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
    raise ModelFileError(f"{where}: unknown module class {name!r} (from {module!r}); import "
                         "the code that defines it before loading")


def _build(spec: Any, where: str) -> Module:
    if not isinstance(spec, dict) or "config" not in spec:
        raise ModelFileError(f"{where}: a model entry needs 'class', 'module' and 'config'")
    cls = _find_class(spec, where)
    config = _decode_config(spec["config"], where)
    if not isinstance(config, dict):
        raise ModelFileError(f"{where}: the config of {cls.__name__} is not an object")
    try:
        return cls.from_config(config)
    except (TypeError, ValueError) as e:
        raise ModelFileError(f"{where}: cannot rebuild {cls.__name__} from its config "
                             f"{json.dumps(spec['config'])[:200]}: {e}") from e


def _decode_config(x: Any, where: str) -> Any:
    if isinstance(x, dict):
        if set(x) == {"__module__"}:
            return _build(x["__module__"], where)
        return {k: _decode_config(v, where) for k, v in x.items()}
    if isinstance(x, list):
        return [_decode_config(v, where) for v in x]
    return x


def from_json(text: str, where: str = "<string>") -> Module:
    """Rebuild a model from a model file's text.

    Args:
        text: The JSON text.
        where: The file name used in error messages.

    Returns:
        The model, with its weights.

    Raises:
        ModelFileError: The text is not a valid, complete, matching model file.
    """
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        hint = " (the file looks truncated)" if e.pos >= len(text.rstrip()) else ""
        raise ModelFileError(f"{where}: not valid JSON{hint}: {e.msg} at line {e.lineno} "
                             f"column {e.colno}") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ModelFileError(f"{where}: not a dagrad model file (expected a JSON object with "
                             f"\"format\": \"{FORMAT}\")")
    version = doc.get("version")
    if isinstance(version, bool) or not isinstance(version, int):
        raise ModelFileError(f"{where}: the format version is missing or not an integer "
                             f"({version!r})")
    if version > VERSION:
        raise ModelFileError(f"{where}: format version {version} is newer than this dagrad "
                             f"reads ({VERSION}); upgrade dagrad")
    for key in ("model", "state"):
        if key not in doc:
            raise ModelFileError(f"{where}: the file has no {key!r} entry")
    if not isinstance(doc["state"], dict):
        raise ModelFileError(f"{where}: 'state' is not an object of weights")
    model = _build(doc["model"], where)
    try:
        model.load_state_dict(doc["state"])
    except (StateDictError, TypeError) as e:
        raise ModelFileError(f"{where}: the weights do not match the {type(model).__name__}: "
                             f"{e}") from e
    return model


def load(path: str | os.PathLike) -> Module:
    """Read a model written by ``model.save(path)``.

    Args:
        path: The file.

    Returns:
        The model with its architecture, activations and weights.

    Raises:
        FileNotFoundError: There is no such file.
        ModelFileError: The file is truncated, malformed, of a newer format
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
