# %% [markdown]
# # 1. Derivatives and the `Value` graph
#
# This is the first of eight notebooks about **backpropagation**, the algorithm
# that computes the gradient of a loss with respect to every parameter of a
# model. You need calculus (what a derivative is, the chain rule); you do not
# need to know anything about automatic differentiation.
#
# The plan of this notebook:
#
# 1. compute a derivative the way a numerical analyst would, by **finite differences**;
# 2. compute the same derivative with dagrad's `Value` and `backward()`;
# 3. look at the **graph** that `Value` records, which is what makes step 2 possible.
#
# Every number this notebook claims is checked by an `assert`, and the test
# suite runs the notebook top to bottom, so if dagrad changes and a claim
# stops being true, the tests fail.

# %%
import math
import random

import engine
import viz
from engine import Value

random.seed(0)

# %% [markdown]
# ## A derivative by finite differences
#
# The derivative of $f$ at $x$ is the limit of the slope of a secant:
#
# $$f'(x) = \lim_{h \to 0} \frac{f(x + h) - f(x)}{h}.$$
#
# A computer cannot take the limit, but it can take a small $h$. Take the
# polynomial from micrograd's lecture, $f(x) = 3x^2 - 4x + 5$, whose derivative
# we know by hand: $f'(x) = 6x - 4$, so $f'(3) = 14$.

# %%
def f(x):
    return 3 * x**2 - 4 * x + 5


def f_prime(x):
    return 6 * x - 4


x = 3.0
print(f"f({x}) = {f(x)},  f'({x}) = {f_prime(x)} (by hand)")

# %% [markdown]
# The **forward difference** $\frac{f(x+h) - f(x)}{h}$ has an error
# proportional to $h$ (a Taylor expansion shows the error is $\frac{h}{2} f''(x)$);
# the **central difference** $\frac{f(x+h) - f(x-h)}{2h}$ has an error
# proportional to $h^2$. But $h$ cannot be made arbitrarily small: $f(x+h)$ and
# $f(x)$ agree in more and more leading digits, and their difference loses
# those digits to floating-point rounding. Watch the error go down, then up:

# %%
print(f"{'h':>8}  {'forward':>20}  {'error':>9}  {'central':>20}  {'error':>9}")
errors = {}
for k in range(1, 15, 2):
    h = 10.0**-k
    forward = (f(x + h) - f(x)) / h
    central = (f(x + h) - f(x - h)) / (2 * h)
    errors[k] = (abs(forward - 14), abs(central - 14))
    print(f"{h:8.0e}  {forward:20.15f}  {errors[k][0]:9.1e}  {central:20.15f}  {errors[k][1]:9.1e}")

# %% [markdown]
# Two lessons:
#
# * At a moderate step the forward difference's error is about $h \cdot f''/2 = 3h$
#   (for $h = 10^{-3}$, $3 \times 10^{-3}$), and the central difference is
#   exact up to rounding here, because the third derivative of a quadratic is 0.
# * At $h = 10^{-13}$ rounding dominates and both are worse than at $10^{-5}$.
#
# Finite differences are simple and useful as a **check** (dagrad's
# `engine.gradcheck` uses central differences), but they are approximate and
# cost one or two evaluations of $f$ **per input**. A network with a million
# weights would need a million evaluations for one gradient.

# %%
assert abs(errors[3][0] - 3e-3) < 1e-6             # forward error ~ 3h
assert errors[5][1] < 1e-8                          # central is near exact here
assert errors[13][0] > 10 * errors[5][0]           # too small an h: rounding wins
assert errors[13][1] > 1e6 * errors[5][1]

# %% [markdown]
# ## The same derivative with `Value`
#
# A `Value` wraps a float. Every arithmetic operation on `Value`s makes a new
# `Value` that remembers **which values it was made from** (its `parents`) and
# **the local derivative with respect to each of them** (its `local_grads`).
# Calling `backward()` on the result then walks back through those records
# and applies the chain rule, filling `.grad` of every value with
# $\partial\,\text{result} / \partial\,\text{value}$.
#
# NB: `Value` plays the role of a 0-dimensional `torch.tensor(3.0,
# requires_grad=True, dtype=torch.float64)`; `backward()` and `.grad` mean
# what they mean in PyTorch.

# %%
xv = Value(3.0, label="x")
y = f(xv)            # the very same Python function, now fed a Value
y.backward()
print(y)
print(xv)
assert y.data == f(3.0)
assert xv.grad == 14.0        # exact: no step size, no rounding error beyond the float ops

# %% [markdown]
# The engine's answer is **exact** (up to the rounding of each individual
# multiplication and addition) and needs no step size. It comes from the
# derivative rules of the operations, not from evaluating $f$ at nearby
# points.
#
# `engine.gradcheck` runs the comparison against central differences for us;
# it is how dagrad's tests check every derivative rule.

# %%
assert engine.gradcheck(lambda x: 3 * x**2 - 4 * x + 5, [3.0])
assert engine.gradcheck(lambda x, y: (x * y).sin() + x.exp() / y, [0.3, 1.7])
print("gradcheck passed")

# %% [markdown]
# ## Several inputs, one pass
#
# With several inputs, one call to `backward()` gives the derivative with
# respect to **all** of them. Here is micrograd's small example,
# $L = (a b + c) \cdot f$:

# %%
a = Value(2.0, label="a")
b = Value(-3.0, label="b")
c = Value(10.0, label="c")
e = a * b
e.label = "e"
d = e + c
d.label = "d"
f_ = Value(-2.0, label="f")
L = d * f_
L.label = "L"
L.backward()
for v in (a, b, c, e, d, f_, L):
    print(f"{v.label}: data = {v.data:5.1f}   dL/d{v.label} = {v.grad:5.1f}")

# %% [markdown]
# Check each by the chain rule: $L = d f$, so $\partial L/\partial d = f = -2$
# and $\partial L/\partial f = d = 4$. Then $d = e + c$ passes $-2$ through to
# both $e$ and $c$ (the local derivative of a sum is 1), and $e = ab$ gives
# $\partial L/\partial a = -2 \cdot b = 6$ and $\partial L/\partial b = -2 \cdot a = -4$.
# Finite differences agree:

# %%
def L_of(a, b, c, f):
    return (a * b + c) * f


numeric = engine.numerical_grad(L_of, [2.0, -3.0, 10.0, -2.0])
analytic = [a.grad, b.grad, c.grad, f_.grad]
print("engine:            ", analytic)
print("finite differences:", [round(g, 6) for g in numeric])
assert analytic == [6.0, -4.0, -2.0, 4.0]
assert all(abs(g - n) < 1e-6 for g, n in zip(analytic, numeric, strict=True))

# %% [markdown]
# ## The graph
#
# What did `Value` record? Each node knows its `op` (an entry of the rule table
# in `engine/ops.py`), its `parents` in operand order, and the float local
# derivatives `local_grads`, one per parent:

# %%
for node in engine.topological_order(L):
    name = node.label or "?"
    if node.is_leaf:
        print(f"{name}: leaf, data = {node.data}")
    else:
        parents = ", ".join(p.label for p in node.parents)
        print(f"{name} = {node.op.name}({parents}),  local grads = {node.local_grads}")

# %% [markdown]
# `engine.topological_order` lists every node **after** its parents (leaves first,
# the output last). Backpropagation walks this list backwards. Notebook 2 is
# about why that order, and why that walk is **dynamic programming**.
#
# Here is the same graph as a picture: value nodes (boxes, with data and grad)
# and op nodes (circles) between them.

# %%
viz.draw(L)

# %% [markdown]
# ## A neuron
#
# A neuron computes $\tanh(w_1 x_1 + w_2 x_2 + b)$. With micrograd's numbers
# ($b$ chosen so that the output is $1/\sqrt{2}$), the derivative of the
# output with respect to the pre-activation $n$ is $1 - \tanh^2 n = 1/2$:

# %%
x1, x2 = Value(2.0, label="x1"), Value(0.0, label="x2")
w1, w2 = Value(-3.0, label="w1"), Value(1.0, label="w2")
bias = Value(6.8813735870195432, label="b")
n = x1 * w1 + x2 * w2 + bias
n.label = "n"
o = n.tanh()
o.label = "o"
o.backward()
print(f"o = {o.data:.4f}, do/dn = {n.grad:.4f}, do/dw1 = {w1.grad:.4f}, do/dx1 = {x1.grad:.4f}")
assert abs(o.data - 1 / math.sqrt(2)) < 1e-12
assert abs(n.grad - 0.5) < 1e-12
assert abs(w1.grad - 0.5 * 2.0) < 1e-12 and abs(x1.grad - 0.5 * -3.0) < 1e-12

# %%
viz.draw(o)

# %% [markdown]
# dagrad's `nn` package builds a neuron as **one** fused `dot` node
# ($\sum_i w_i x_i + b$, with $2n+1$ parents) followed by the activation, which
# makes the graph smaller and backpropagation faster (notebook 8):

# %%
fused = engine.dot([w1, w2], [x1, x2], bias).tanh()
(gw1, gw2, gb) = engine.grad(fused, [w1, w2, bias])
assert abs(fused.data - o.data) < 1e-15
assert (gw1, gw2, gb) == (w1.grad, w2.grad, bias.grad)
viz.draw(fused, grads="adjoints")

# %% [markdown]
# ## Summary
#
# * Finite differences approximate a derivative with one or two evaluations
#   per input and a step size to tune; good as a check, bad for training.
# * `Value` records a graph of operations with their local derivatives;
#   `backward()` combines them with the chain rule into exact derivatives for
#   all inputs at once.
#
# NB: in PyTorch, `node.op` and `node.parents` are `tensor.grad_fn` and
# `grad_fn.next_functions`; `engine.grad(y, xs)` is `torch.autograd.grad(y, xs)`.
# The pictures are `viz.draw`, as torchviz's `make_dot`; from a shell,
# `python -m viz "tanh(x*w + b)" --set x=0.5 w=-3 b=2 -o graph.svg` draws an
# expression with backward already run.
#
# Next: [2. Backpropagation is dynamic programming](02_backprop_is_dynamic_programming.ipynb).
