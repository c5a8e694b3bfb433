"""dagrad's neural-network library: modules, layers, losses, optimizers, data, training.

Built on :mod:`engine` (never on :mod:`viz`).
"""

from nn.layers import MLP, Layer, Neuron
from nn.module import REGISTRY, IncompatibleKeys, Module, StateDictError

__all__ = ["IncompatibleKeys", "Layer", "MLP", "Module", "Neuron", "REGISTRY", "StateDictError"]
