"""dagrad's neural-network library: modules, layers, losses, optimizers, data, training.

Built on :mod:`engine` (never on :mod:`viz`). The pieces, one module each:

* :mod:`nn.module`: ``Module`` (parameters, state dicts, train/eval, buffers);
* :mod:`nn.layers`: ``Neuron``, ``Layer``, ``MLP``;
* :mod:`nn.losses`: loss functions, ``softmax``, ``log_softmax``;
* :mod:`nn.optim`: ``SGD``, ``Adam``, ``AdamW`` and learning-rate schedules;
* :mod:`nn.data`: toy data sets from a seed, splitting, batching;
* :mod:`nn.train`: ``fit`` and the ``dagrad-train`` command line (imported on
  first use of ``nn.fit``, so ``python -m nn.train`` runs it only once);
* :mod:`nn.io`: JSON model files and PyTorch conversion.

>>> from nn import MLP
>>> model = MLP(2, [4, 1], rng=0)
>>> type(model([1.0, -1.0])).__name__, model.num_parameters()
('Value', 17)
"""

from nn.data import (
    batches,
    make_blobs,
    make_circles,
    make_moons,
    make_spirals,
    make_xor,
    micrograd_moons,
    train_test_split,
)
from nn.io import ModelFileError, from_torch, load, save, to_torch
from nn.layers import MLP, Layer, Neuron
from nn.losses import (
    bce_loss,
    bce_with_logits_loss,
    cross_entropy,
    hinge_loss,
    l2_penalty,
    log_softmax,
    mse_loss,
    softmax,
)
from nn.module import REGISTRY, IncompatibleKeys, Module, StateDictError
from nn.optim import SGD, Adam, AdamW, CosineAnnealingLR, LinearLR, StepLR

__all__ = [
    "Adam", "AdamW", "CosineAnnealingLR", "History", "IncompatibleKeys", "Layer", "LinearLR",
    "MLP", "ModelFileError", "Module", "Neuron", "REGISTRY", "SGD", "StateDictError", "StepLR",
    "batches", "bce_loss", "bce_with_logits_loss", "cross_entropy", "evaluate", "fit",
    "from_torch", "hinge_loss", "l2_penalty", "load", "log_softmax", "make_blobs",
    "make_circles", "make_moons", "make_spirals", "make_xor", "micrograd_moons", "mse_loss",
    "save", "softmax", "to_torch", "train_test_split",
]


_LAZY = {"History", "evaluate", "fit"}


def __getattr__(name: str):
    if name in _LAZY:
        from nn import train

        return getattr(train, name)
    raise AttributeError(f"module 'nn' has no attribute {name!r}")
