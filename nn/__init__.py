"""dagrad's neural-network library: modules, layers, losses, optimizers, data, training.

Built on :mod:`engine` (never on :mod:`viz`). The pieces, one module each:

* :mod:`nn.module`: ``Module`` (parameters, state dicts, train/eval, buffers);
* :mod:`nn.layers`: ``Neuron``, ``Layer``, ``MLP``, and PyTorch's ``Linear``;
* :mod:`nn.conv`, :mod:`nn.pool`, :mod:`nn.norm`, :mod:`nn.rnn`: PyTorch's
  convolution, pooling, normalization and recurrent layers over nested lists;
* :mod:`nn.containers`: ``Sequential``, ``Dropout``, ``Flatten``, activations;
* :mod:`nn.utils`: gradient clipping; :mod:`nn.tasks`: the worked conv/RNN tasks;
* :mod:`nn.losses`: loss functions, ``softmax``, ``log_softmax``;
* :mod:`nn.optim`: ``SGD``, ``Adam``, ``AdamW`` and learning-rate schedules;
* :mod:`nn.data`: toy data sets from a seed, splitting, batching, reading
  files and scikit-learn's real data sets;
* :mod:`nn.arrays`: lists, numpy arrays and DataFrames in, checked;
* :mod:`nn.train`: ``fit``, its ``History``, steppers and checkpoints (imported
  on first use of ``nn.fit``, so ``python -m nn.train`` runs it only once);
* :mod:`nn.predict`, :mod:`nn.metrics`: ``model.predict``, ``predict_proba``,
  ``evaluate`` and scikit-learn's metrics;
* :mod:`nn.cli`: the ``dagrad-train`` and ``dagrad-predict`` command lines;
* :mod:`nn.io`: JSON model files and PyTorch conversion.

>>> from nn import MLP
>>> model = MLP(2, [4, 1], rng=0)
>>> type(model([1.0, -1.0])).__name__, model.num_parameters()
('Value', 17)
"""

from nn.containers import Dropout, Flatten, Identity, ReLU, Sequential, Sigmoid, Tanh
from nn.conv import Conv1d, Conv2d
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
from nn.layers import MLP, Layer, Linear, Neuron
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
from nn.metrics import evaluate
from nn.module import REGISTRY, IncompatibleKeys, Module, StateDictError
from nn.norm import BatchNorm1d, BatchNorm2d, LayerNorm
from nn.optim import SGD, Adam, AdamW, CosineAnnealingLR, LinearLR, StepLR
from nn.pool import (
    AdaptiveAvgPool1d,
    AdaptiveAvgPool2d,
    AdaptiveMaxPool1d,
    AdaptiveMaxPool2d,
    AvgPool1d,
    AvgPool2d,
    MaxPool1d,
    MaxPool2d,
)
from nn.rnn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell
from nn.utils import clip_grad_norm, clip_grad_norm_, clip_grad_value_

__all__ = [
    "Adam", "AdamW", "AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AdaptiveMaxPool1d",
    "AdaptiveMaxPool2d", "AvgPool1d", "AvgPool2d", "BatchNorm1d", "BatchNorm2d", "Conv1d",
    "Conv2d", "CosineAnnealingLR", "Dropout", "Flatten", "GRU", "GRUCell", "History", "Identity",
    "IncompatibleKeys", "LSTM", "LSTMCell", "Layer", "Linear", "LayerNorm", "LinearLR", "MLP",
    "MaxPool1d", "MaxPool2d", "ModelFileError", "Module", "Neuron", "REGISTRY", "RNN", "RNNCell",
    "ReLU", "SGD", "Sequential", "Sigmoid", "StateDictError", "StepLR", "Tanh", "batches",
    "bce_loss", "bce_with_logits_loss", "clip_grad_norm", "clip_grad_norm_", "clip_grad_value_",
    "cross_entropy", "evaluate", "fit", "from_torch", "hinge_loss", "l2_penalty", "load",
    "log_softmax", "make_blobs", "make_circles", "make_moons", "make_spirals", "make_xor",
    "micrograd_moons", "mse_loss", "save", "softmax", "to_torch", "train_test_split",
]


_LAZY = {"History", "fit"}


def __getattr__(name: str):
    if name in _LAZY:
        from nn import train

        return getattr(train, name)
    raise AttributeError(f"module 'nn' has no attribute {name!r}")
