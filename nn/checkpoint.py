"""Checkpoints: everything a training run needs to go on bit for bit, in one JSON file.

A checkpoint holds the model's state dict and ``meta``, the optimizer's state,
the schedule's position (``state_dict()``), the random streams (the shuffling
generator and every ``random.Random`` a module holds, such as ``Dropout``'s),
the epoch, the history and the early-stopping state. It is written atomically
(``nn.io.atomic_write``), so a crash mid-write leaves the previous one.
"""

from __future__ import annotations

import json
import os
import random
from typing import Any

from nn.module import Module
from nn.optim import LRScheduler, Optimizer

__all__ = ["CHECKPOINT_FORMAT", "load_checkpoint", "read_checkpoint", "write_checkpoint"]

CHECKPOINT_FORMAT = "dagrad-checkpoint"


def _module_rngs(model: Module) -> dict[str, random.Random]:
    """Every ``random.Random`` a module holds (Dropout's masks), by module and attribute."""
    out = {}
    for mod_name, m in model.named_modules():
        for attr, value in vars(m).items():
            if isinstance(value, random.Random):
                out[f"{mod_name}:{attr}"] = value
    return out


def _rng_state(r: random.Random) -> list:
    version, internal, gauss = r.getstate()
    return [version, list(internal), gauss]


def _set_rng_state(r: random.Random, state: list) -> None:
    r.setstate((state[0], tuple(state[1]), state[2]))


def _schedule_state(schedule: Any) -> dict[str, Any] | None:
    if not isinstance(schedule, LRScheduler):
        return None
    if hasattr(schedule, "state_dict"):
        return schedule.state_dict()
    return {"base_lr": schedule.base_lr, "last_epoch": schedule.last_epoch}


def _load_schedule_state(schedule: Any, state: dict[str, Any] | None) -> None:
    if not isinstance(schedule, LRScheduler) or state is None:
        return
    if hasattr(schedule, "load_state_dict"):
        schedule.load_state_dict(state)
    else:
        schedule.base_lr, schedule.last_epoch = state["base_lr"], state["last_epoch"]


def write_checkpoint(path: str, *, model: Module, optimizer: Optimizer, schedule: Any,
                     shuffle_rng: random.Random, history: dict[str, Any], epoch: int,
                     early: dict[str, Any] | None) -> None:
    """Write a checkpoint atomically (see the module docstring)."""
    from nn.io import atomic_write

    state = {
        "format": CHECKPOINT_FORMAT, "version": 1, "epoch": epoch,
        "model_class": type(model).__name__, "model": model.state_dict(),
        "meta": getattr(model, "meta", None) or {},
        "optimizer": optimizer.state_dict(), "schedule": _schedule_state(schedule),
        "rng": {"shuffle": _rng_state(shuffle_rng),
                "modules": {k: _rng_state(r) for k, r in _module_rngs(model).items()}},
        "history": history, "early_stopping": early,
    }
    atomic_write(path, json.dumps(state) + "\n")


def read_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """The JSON dict of a checkpoint file written by ``fit(checkpoint=...)``.

    Raises:
        ValueError: The file is missing, not JSON, or not a dagrad checkpoint.
    """
    try:
        with open(path, encoding="utf-8") as f:
            state = json.load(f)
    except OSError as e:
        raise ValueError(f"fit: cannot read checkpoint {os.fspath(path)!r}: {e.strerror}") \
            from None
    except json.JSONDecodeError as e:
        raise ValueError(f"fit: checkpoint {os.fspath(path)!r} is not valid JSON ({e})") \
            from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"fit: {os.fspath(path)!r} is not a dagrad checkpoint (no "
                         f"'format': {CHECKPOINT_FORMAT!r})")
    return state


def load_checkpoint(path: str | os.PathLike, model: Module, opt: Optimizer, schedule: Any,
                    shuffle_rng: random.Random, early: dict[str, Any] | None
                    ) -> tuple[int, dict[str, Any], dict[str, Any] | None]:
    """Load a checkpoint into the model, optimizer, schedule and random streams.

    Returns:
        ``(epoch, history as a dict, early-stopping state)``.

    Raises:
        ValueError: The file is not a checkpoint, or not of this model/optimizer.
    """
    state = read_checkpoint(path)
    where = os.fspath(path)
    if state.get("model_class") != type(model).__name__:
        raise ValueError(f"fit: checkpoint {where!r} is for a {state.get('model_class')}, not "
                         f"a {type(model).__name__}")
    try:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
    except ValueError as e:
        raise ValueError(f"fit: checkpoint {where!r} does not fit this model/optimizer: {e}") \
            from None
    _load_schedule_state(schedule, state.get("schedule"))
    if isinstance(schedule, LRScheduler):
        opt.lr = schedule.lr_at(schedule.last_epoch)
    _set_rng_state(shuffle_rng, state["rng"]["shuffle"])
    rngs = _module_rngs(model)
    for key, s in state["rng"]["modules"].items():
        if key in rngs:
            _set_rng_state(rngs[key], s)
    saved_early = state.get("early_stopping")
    if early is not None and saved_early is not None:
        early = saved_early
    return int(state["epoch"]), state["history"], early
