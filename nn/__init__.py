"""dagrad's neural-network library: modules, layers, losses, optimizers, data, training.

Built on :mod:`engine` (never on :mod:`viz`).
"""

from nn.module import REGISTRY, IncompatibleKeys, Module, StateDictError

__all__ = ["IncompatibleKeys", "Module", "REGISTRY", "StateDictError"]
