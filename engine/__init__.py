"""dagrad's engine: scalar reverse-mode automatic differentiation.

Standard library only. A :class:`Value` records each operation (its parents
and local partial derivatives, from the rule table in :mod:`engine.ops`);
:mod:`engine.backprop` fills the adjoint table by dynamic programming.

>>> from engine import Value
>>> x = Value(2.0)
>>> y = x ** 3
>>> y.backward()
>>> x.grad
12.0

``sum``, ``max``, ``abs`` and ``pow`` are available as ``engine.sum`` etc. but
are left out of ``__all__`` so ``from engine import *`` keeps the builtins.
"""

from engine import value as _value
from engine.autograd import grad
from engine.backprop import DPStep, adjoints, backward, dp_steps, topological_order, zero_grad
from engine.check import GradcheckError, gradcheck, gradgradcheck, numerical_grad
from engine.modes import AnomalyError, detect_anomaly, enable_grad, is_grad_enabled, no_grad
from engine.ops import TABLE, Op
from engine.primitive import primitive, unregister
from engine.value import Value, apply, cos, div, dot, exp, log, relu, sigmoid, sin, sqrt, tanh

# Exported but kept out of __all__, so that a star import keeps the builtins.
abs, max, pow, sum = _value.abs, _value.max, _value.pow, _value.sum

__all__ = [
    "AnomalyError", "DPStep", "GradcheckError", "Op", "TABLE", "Value", "adjoints", "apply",
    "backward", "cos", "detect_anomaly", "div", "dot", "dp_steps", "enable_grad", "exp", "grad",
    "gradcheck", "gradgradcheck", "is_grad_enabled", "log", "no_grad", "numerical_grad",
    "primitive", "relu", "sigmoid", "sin", "sqrt", "tanh", "topological_order", "unregister",
    "zero_grad",
]
