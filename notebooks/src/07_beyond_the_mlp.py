# %% [markdown]
# # 7. Beyond the MLP: convolution, pooling, normalization, recurrence
#
# Every layer in a modern network is, at the scalar level, just more nodes in
# the graph, so backpropagation needs **nothing new**: the same DP visits
# the same kind of nodes. What changes is the *shape* of the graph, and each
# shape has a matrix-level gradient formula in the style of notebook 3's
# delta rule. For each layer this notebook
#
# 1. draws a small instance as a graph,
# 2. writes the layer's gradient formula by hand with numpy, in terms of the
#    output delta $\delta = \partial L / \partial \text{output}$, and
# 3. checks it equals what the engine computes node by node.
#
# The layers come from `nn` (`Conv2d`, `MaxPool2d`, `AvgPool2d`, `LayerNorm`,
# `BatchNorm1d`, `RNNCell`, `GRUCell`, `LSTMCell`), with PyTorch's shapes and
# parameter names. This is the exercise that closes source text 003 (how do
# convolution, pooling, normalization and recurrent layers go backward?),
# done with the engine as the answer key; the notebook ends by writing a new
# layer with `@engine.primitive`, answering that text's three questions.

# %%
import copy
import math
import random
import time

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import engine
import viz
from engine.ops import value_of
from nn import Flatten, Linear, Module, ReLU, Sequential
from nn.compiled import CompiledLoss
from nn.conv import Conv2d
from nn.data import make_moons
from nn.losses import softmax
from nn.norm import BatchNorm1d, LayerNorm
from nn.pool import AvgPool2d, MaxPool2d
from nn.rnn import GRUCell, LSTMCell, RNNCell
from nn.train import fit
from nn.utils import to_data, to_values

random.seed(0)
rng = np.random.default_rng(0)
np.set_printoptions(precision=4, suppress=True)


def weighted_sum(outputs, c):
    """L = sum(c * outputs) over a nested list: its delta on each output is exactly c."""
    flat = list(np.ravel(np.array(outputs, dtype=object)))
    c = np.ravel(c)
    if np.all(c == 1.0):
        return engine.sum(flat)                # one sum node: a tidier picture
    return engine.dot(flat, c.tolist())

# %% [markdown]
# To isolate one layer, each example ends with $L = \sum_k c_k\, y_k$ over the
# layer's outputs $y$ with random constants $c$, so the output delta is
# known exactly: $\delta = c$.
#
# ## Convolution
#
# A 2-D convolution (strictly, a cross-correlation, as in every framework)
# slides a kernel $w$ over the image:
#
# $$y_{ij} = \sum_{a,b} w_{ab}\, x_{i+a,\, j+b} + b.$$
#
# Each $y_{ij}$ is a neuron whose weights are **shared** with every other
# output position. In the graph that is fan-out: each weight has one consumer
# per output position, so the DP sums one contribution per position. Written
# out, the delta rule becomes
#
# $$\frac{\partial L}{\partial w_{ab}} = \sum_{i,j} \delta_{ij}\, x_{i+a,\, j+b}, \qquad
# \frac{\partial L}{\partial b} = \sum_{i,j} \delta_{ij}, \qquad
# \frac{\partial L}{\partial x_{pq}} = \sum_{i,j} \delta_{ij}\, w_{p-i,\, q-j},$$
#
# the "$\delta a^\top$" of notebook 3 summed over positions, and the
# "$W^\top \delta$" as a full convolution of $\delta$ with the kernel.

# %%
conv = Conv2d(1, 1, kernel_size=2, rng=0)
image = to_values(rng.normal(size=(1, 3, 3)).round(2).tolist())
for i, row in enumerate(image[0]):
    for j, v in enumerate(row):
        v.label = f"x{i}{j}"
out = conv(image)                          # [1][2][2]
L = weighted_sum(out, np.ones((1, 2, 2)))  # c = 1 for the picture
L.backward()
viz.draw(L, params=dict(conv.named_parameters()), precision=3)

# %% [markdown]
# Each of the four `dot` nodes has nine parents (four weights, four pixels,
# the bias); each weight feeds all four. Now a larger check, a 5x6 image, a
# 3x3 kernel and random $c$:

# %%
conv = Conv2d(1, 1, kernel_size=3, rng=1)
x = rng.normal(size=(5, 6))
c = rng.normal(size=(3, 4))
image = to_values([x.tolist()])
L = weighted_sum(conv(image), c[None])
L.backward()

w = np.array(to_data(conv.weight))[0, 0]
delta = c
dw = np.array([[np.sum(delta * x[a:a + 3, b:b + 4]) for b in range(3)] for a in range(3)])
db = delta.sum()
dx = np.zeros_like(x)
for i in range(3):
    for j in range(4):
        dx[i:i + 3, j:j + 3] += delta[i, j] * w          # scatter W^T delta
engine_dw = np.array([[v.grad for v in row] for row in conv.weight[0][0]])
engine_dx = np.array([[v.grad for v in row] for row in image[0]])
print("dL/dw by hand:\n", dw, "\nby the engine:\n", engine_dw)
assert np.allclose(dw, engine_dw, rtol=1e-12, atol=1e-14)
assert np.isclose(db, conv.bias[0].grad, rtol=1e-12)
assert np.allclose(dx, engine_dx, rtol=1e-12, atol=1e-14)
print("weights, bias and input gradients agree")

# %% [markdown]
# ## Max pooling
#
# Max pooling outputs the largest value in each window. Its local derivative
# is 1 for the maximal input and 0 for the others, so backward **routes**
# each output's delta to the position of the maximum (the first one on a
# tie, as PyTorch):
#
# $$\frac{\partial L}{\partial x_{pq}} = \sum_{\text{windows } k} \delta_k\,
# [\,x_{pq} \text{ is the first maximum of window } k\,].$$

# %%
pool = MaxPool2d(2)
x = rng.normal(size=(2, 4)).round(2)
pixels = to_values([x.tolist()])
for i, row in enumerate(pixels[0]):
    for j, v in enumerate(row):
        v.label = f"x{i}{j}"
L = weighted_sum(pool(pixels), np.array([[[2.0, -1.0]]]))
L.backward()
viz.draw(L, precision=3)

# %%
x = rng.normal(size=(6, 6))
c = rng.normal(size=(3, 3))
pixels = to_values([x.tolist()])
L = weighted_sum(pool(pixels), c[None])
L.backward()
dx = np.zeros_like(x)
for i in range(3):
    for j in range(3):
        window = x[2 * i:2 * i + 2, 2 * j:2 * j + 2]
        a, b = np.unravel_index(np.argmax(window), window.shape)   # first maximum
        dx[2 * i + a, 2 * j + b] += c[i, j]
engine_dx = np.array([[v.grad for v in row] for row in pixels[0]])
print(engine_dx + 0.0)                 # + 0.0 prints -0.0 as 0.0
assert np.array_equal(dx, engine_dx)
assert np.count_nonzero(engine_dx) == 9           # one input per window gets the gradient

# %% [markdown]
# ## Finite differences: an oracle for every layer
#
# For the layers below we also check the engine against the definition of
# a derivative, with no formula at all: nudge one number by $\pm\epsilon$,
# rerun the forward pass and take $(L(x + \epsilon) - L(x - \epsilon)) /
# 2\epsilon$ (notebook 1). `fd_check` does that for every parameter and
# input of a layer and returns the worst relative disagreement with `.grad`:

# %%
def fd_check(loss_fn, values, eps=1e-6):
    """max |central difference - .grad| / max(1, |central difference|) over `values`.

    `loss_fn()` rebuilds the graph from the current `.data` of the Values.
    """
    for v in values:
        v.grad = None
    loss_fn().backward()
    worst = 0.0
    with engine.no_grad():
        for v in values:
            saved = v.data
            v.data = saved + eps
            hi = loss_fn().data
            v.data = saved - eps
            lo = loss_fn().data
            v.data = saved
            fd = (hi - lo) / (2 * eps)
            worst = max(worst, abs(fd - (v.grad or 0.0)) / max(1.0, abs(fd)))
    return worst

# %% [markdown]
# ### Stride, padding and several channels
#
# A real convolution has $C_\text{in}$ input channels, $C_\text{out}$
# kernels (one per output channel, each spanning all input channels), a
# **stride** $s$ (the kernel jumps $s$ pixels) and zero **padding** $p$
# around the image. With $\tilde x$ the padded input:
#
# $$y_{o,i,j} = b_o + \sum_{c,a,b} w_{o,c,a,b}\; \tilde x_{c,\, s i + a,\, s j + b},$$
#
# and the same DP gives
#
# $$\frac{\partial L}{\partial w_{o,c,a,b}} = \sum_{i,j} \delta_{o,i,j}\,
# \tilde x_{c,\, s i + a,\, s j + b}, \qquad
# \frac{\partial L}{\partial \tilde x_{c,\, s i + a,\, s j + b}} \mathrel{+}=
# \sum_o \delta_{o,i,j}\, w_{o,c,a,b},$$
#
# after which the padding's gradient is simply dropped (the zeros are
# constants). A stride only changes *which* pixels each output reads; the
# input's gradient then has gaps where no window lands.

# %%
conv = Conv2d(2, 3, kernel_size=3, stride=2, padding=1, rng=4)
x = rng.normal(size=(2, 5, 5))
c = rng.normal(size=(3, 3, 3))                        # output: 3 channels of 3 x 3
image = to_values(x.tolist())
params = conv.parameters()
L = weighted_sum(conv(image), c)
L.backward()

W = np.array(to_data(conv.weight))                    # [out][in][3][3]
xp = np.pad(x, ((0, 0), (1, 1), (1, 1)))              # the padded input
dW = np.zeros_like(W)
dxp = np.zeros_like(xp)
for o in range(3):
    for i in range(3):
        for j in range(3):
            window = xp[:, 2 * i:2 * i + 3, 2 * j:2 * j + 3]
            dW[o] += c[o, i, j] * window
            dxp[:, 2 * i:2 * i + 3, 2 * j:2 * j + 3] += c[o, i, j] * W[o]
dx = dxp[:, 1:-1, 1:-1]                               # drop the padding's gradient
engine_dW = np.array([[[[v.grad for v in row] for row in k] for k in o] for o in conv.weight])
engine_dx = np.array([[[v.grad for v in row] for row in ch] for ch in image])
assert np.allclose(dW, engine_dW, rtol=1e-12, atol=1e-14)
assert np.allclose(c.sum(axis=(1, 2)), [b.grad for b in conv.bias], rtol=1e-12)
assert np.allclose(dx, engine_dx, rtol=1e-12, atol=1e-14)
worst = fd_check(lambda: weighted_sum(conv(image), c),
                 params + [v for ch in image for row in ch for v in row])
print(f"hand formulas == engine; finite differences agree to {worst:.1e} over "
      f"{len(params) + x.size} numbers")
assert worst < 1e-8

# %% [markdown]
# ### Average pooling
#
# Average pooling is a convolution with fixed weights $1/k^2$, one channel at
# a time. Backward spreads each output's delta **evenly** over its window
# (max pooling routed all of it to one input). With a 3x3 window, stride 2
# and padding 1 (PyTorch's default counts the padded zeros in the divisor,
# so every window divides by 9):

# %%
pool = AvgPool2d(3, stride=2, padding=1)
x = rng.normal(size=(1, 5, 5))
c = rng.normal(size=(1, 3, 3))
pixels = to_values(x.tolist())
L = weighted_sum(pool(pixels), c)
L.backward()
dxp = np.zeros((7, 7))
for i in range(3):
    for j in range(3):
        dxp[2 * i:2 * i + 3, 2 * j:2 * j + 3] += c[0, i, j] / 9
engine_dx = np.array([[v.grad for v in row] for row in pixels[0]])
assert np.allclose(dxp[1:-1, 1:-1], engine_dx, rtol=1e-12, atol=1e-15)
worst = fd_check(lambda: weighted_sum(pool(pixels), c), [v for row in pixels[0] for v in row])
print(f"average pooling: delta / 9 spread over each window; finite differences agree to "
      f"{worst:.1e}")
assert worst < 1e-8

# %% [markdown]
# ## Normalization
#
# Layer normalization rescales each sample's $n$ features to mean 0 and
# variance 1, then applies a learned scale $\gamma$ and shift $\beta$:
#
# $$\mu = \frac{1}{n}\sum_i x_i, \quad \sigma = \sqrt{\tfrac{1}{n}\sum_i (x_i - \mu)^2 + \epsilon},
# \quad \hat x_i = \frac{x_i - \mu}{\sigma}, \quad y_i = \gamma_i \hat x_i + \beta_i.$$
#
# Every output depends on every input (through $\mu$ and $\sigma$), which is
# what makes the backward formula fiddly to derive by hand. With
# $g_i = \gamma_i \delta_i$:
#
# $$\frac{\partial L}{\partial x_i} = \frac{1}{\sigma}\left(g_i - \overline{g}
# - \hat x_i\, \overline{g \hat x}\right), \qquad
# \frac{\partial L}{\partial \gamma_i} = \delta_i \hat x_i, \qquad
# \frac{\partial L}{\partial \beta_i} = \delta_i,$$
#
# where the bars are means over the $n$ features. The engine derives none of
# this: it follows the graph below, where the mean and the variance are
# nodes with many consumers.

# %%
ln = LayerNorm(3)
features = to_values(rng.normal(size=3).round(2).tolist())
for i, v in enumerate(features):
    v.label = f"x{i}"
L = weighted_sum(ln(features), np.array([1.0, -2.0, 0.5]))
L.backward()
viz.draw(L, params=dict(ln.named_parameters()), precision=3)

# %%
def layer_norm_backward(x, gamma, delta, eps):
    """The hand-derived gradients of layer normalization over the last axis."""
    mu = x.mean(axis=-1, keepdims=True)
    sigma = np.sqrt(((x - mu) ** 2).mean(axis=-1, keepdims=True) + eps)
    xhat = (x - mu) / sigma
    g = gamma * delta
    dx = (g - g.mean(axis=-1, keepdims=True)
          - xhat * (g * xhat).mean(axis=-1, keepdims=True)) / sigma
    return dx, delta * xhat, delta


ln = LayerNorm(6)
for p, v in zip(ln.weight, rng.normal(1.0, 0.3, size=6), strict=True):
    p.data = float(v)                          # a non-trivial scale
x = rng.normal(2.0, 3.0, size=6)
delta = rng.normal(size=6)
features = to_values(x.tolist())
L = weighted_sum(ln(features), delta)
L.backward()
dx, dgamma, dbeta = layer_norm_backward(x, np.array(to_data(ln.weight)), delta, ln.eps)
assert np.allclose(dx, [v.grad for v in features], rtol=1e-9, atol=1e-12)
assert np.allclose(dgamma, [p.grad for p in ln.weight], rtol=1e-12, atol=1e-14)
assert np.allclose(dbeta, [p.grad for p in ln.bias], rtol=1e-12, atol=1e-14)
print("LayerNorm: dx =", dx)

# %% [markdown]
# Batch normalization is the same computation along the other axis: each
# feature is normalized over the **batch**. So the same formula, applied to
# the columns, must give `BatchNorm1d`'s gradients (in training mode, where
# it uses the batch's statistics):

# %%
bn = BatchNorm1d(3)
for p, v in zip(bn.weight, [1.5, 0.7, -0.4], strict=True):
    p.data = v
X = rng.normal(size=(5, 3)) * [1.0, 4.0, 0.1] + [0.0, 10.0, -1.0]
delta = rng.normal(size=(5, 3))
batch = to_values(X.tolist())
L = weighted_sum(bn(batch), delta)
L.backward()
dX, dgamma, _ = layer_norm_backward(X.T, np.array(to_data(bn.weight))[:, None], delta.T, bn.eps)
assert np.allclose(dX.T, [[v.grad for v in row] for row in batch], rtol=1e-9, atol=1e-12)
assert np.allclose(dgamma.sum(axis=1), [p.grad for p in bn.weight], rtol=1e-12)
print("BatchNorm1d gradients = the LayerNorm formula along the batch axis")

# %% [markdown]
# ### BatchNorm in evaluation mode
#
# After training, `model.eval()` switches batch normalization to the
# **running** mean and variance it averaged during training (floats, not
# graph nodes). Each output is then an affine function of its own input
# only, $y = \gamma (x - \mu_\text{run}) / \sqrt{\sigma^2_\text{run} + \epsilon} + \beta$,
# and the fiddly coupling terms of training mode disappear:
#
# $$\frac{\partial L}{\partial x_{n,c}} = \frac{\gamma_c\, \delta_{n,c}}
# {\sqrt{\sigma^2_{\text{run},c} + \epsilon}}, \qquad
# \frac{\partial L}{\partial \gamma_c} = \sum_n \delta_{n,c}\, \hat x_{n,c}, \qquad
# \frac{\partial L}{\partial \beta_c} = \sum_n \delta_{n,c}.$$

# %%
bn = BatchNorm1d(3)
for p, v in zip(bn.weight, [1.5, 0.7, -0.4], strict=True):
    p.data = v
for _ in range(5):                                    # training mode: running statistics
    bn(to_values((rng.normal(size=(8, 3)) * [1.0, 4.0, 0.1] + [0.0, 10.0, -1.0]).tolist()))
bn.eval()
X = rng.normal(size=(4, 3)) * [1.0, 4.0, 0.1] + [0.0, 10.0, -1.0]
delta = rng.normal(size=(4, 3))
batch = to_values(X.tolist())
L = weighted_sum(bn(batch), delta)
L.backward()
gamma = np.array(to_data(bn.weight))
inv_std = 1 / np.sqrt(np.array(bn.running_var) + bn.eps)
xhat = (X - np.array(bn.running_mean)) * inv_std
assert np.allclose([[v.grad for v in row] for row in batch], gamma * delta * inv_std,
                   rtol=1e-12, atol=1e-15)
assert np.allclose([p.grad for p in bn.weight], (delta * xhat).sum(axis=0), rtol=1e-12)
assert np.allclose([p.grad for p in bn.bias], delta.sum(axis=0), rtol=1e-12)
worst = fd_check(lambda: weighted_sum(bn(batch), delta),
                 bn.parameters() + [v for row in batch for v in row])
print(f"running mean {np.round(bn.running_mean, 3)}, running var {np.round(bn.running_var, 3)}")
print(f"evaluation mode: dx = gamma delta / sqrt(running var + eps); finite differences "
      f"agree to {worst:.1e}")
assert worst < 1e-8
first_sample = [v.grad for v in batch[0]]
batch[1][0].data += 5.0                               # change another sample ...
for v in bn.parameters() + [v for row in batch for v in row]:
    v.grad = None
weighted_sum(bn(batch), delta).backward()
assert [v.grad for v in batch[0]] == first_sample     # ... and sample 0's gradient stays

# %% [markdown]
# In evaluation mode the samples no longer interact: changing one sample
# leaves the gradient of another unchanged (in training mode it would not,
# since the batch statistics depend on every sample).

# %% [markdown]
# NB: these are `torch.nn.LayerNorm` and `torch.nn.BatchNorm1d` (biased
# variance, `eps` inside the square root); dagrad's tests compare them with
# PyTorch directly.
#
# ## A recurrent cell, and backpropagation through time
#
# An Elman cell updates a hidden state from the previous one and an input:
#
# $$h_t = \tanh(z_t), \qquad z_t = W_{ih} x_t + b_{ih} + W_{hh} h_{t-1} + b_{hh}.$$
#
# Applied to a sequence, the cell is **unrolled**: one copy of the graph per
# time step, all sharing the same weights. Backpropagation through time
# (BPTT) is not a new algorithm: it is the DP of notebook 2 over the unrolled
# graph. The recurrence runs backwards in time, with deltas
# $\delta_t = \partial L/\partial z_t$,
#
# $$\delta_t = (1 - h_t^2) \odot \left(\frac{\partial \ell}{\partial h_t}
# + W_{hh}^\top \delta_{t+1}\right), \qquad
# \frac{\partial L}{\partial W_{hh}} = \sum_t \delta_t\, h_{t-1}^\top, \qquad
# \frac{\partial L}{\partial W_{ih}} = \sum_t \delta_t\, x_t^\top,$$
#
# the delta rule with layers replaced by time steps, and a sum over steps for
# the shared weights (fan-out again). Three steps of a cell with one input
# and one hidden unit, $L = h_3$, with the backward order numbered: it walks
# from the last step back to the first, and each of the four parameters
# (left) has one consumer per step.

# %%
cell = RNNCell(1, 1, rng=0)
h = None
for x_t in ([0.5], [-1.0], [0.8]):
    h = cell(x_t, h)
L = h[0]
viz.draw(L, params=dict(cell.named_parameters()), grads="adjoints", order=True, precision=3,
         legend=False)

# %% [markdown]
# Now BPTT by hand over 12 steps of a 3-input, 4-unit cell, with a loss on
# every step's state ($\ell_t = c_t \cdot h_t$), against the engine:

# %%
T, n_in, n_hidden = 12, 3, 4
cell = RNNCell(n_in, n_hidden, rng=3)
xs = rng.normal(size=(T, n_in))
cs = rng.normal(size=(T, n_hidden))
h, states = None, []
for x_t in xs:
    h = cell(x_t.tolist(), h)
    states.append(h)
L = weighted_sum(states, cs)
L.backward()

W_ih, W_hh = np.array(to_data(cell.weight_ih)), np.array(to_data(cell.weight_hh))
H = np.array([[v.data for v in s] for s in states])
H_prev = np.vstack([np.zeros(n_hidden), H[:-1]])
deltas = np.zeros((T, n_hidden))
carry = np.zeros(n_hidden)                     # W_hh^T delta_{t+1}
for t in reversed(range(T)):                   # reverse time order: the DP's order
    deltas[t] = (1 - H[t] ** 2) * (cs[t] + carry)
    carry = W_hh.T @ deltas[t]
dW_hh = sum(np.outer(deltas[t], H_prev[t]) for t in range(T))
dW_ih = sum(np.outer(deltas[t], xs[t]) for t in range(T))
db = deltas.sum(axis=0)

assert np.allclose(dW_hh, np.array([[w.grad for w in row] for row in cell.weight_hh]),
                   rtol=1e-10, atol=1e-14)
assert np.allclose(dW_ih, np.array([[w.grad for w in row] for row in cell.weight_ih]),
                   rtol=1e-10, atol=1e-14)
assert np.allclose(db, [b.grad for b in cell.bias_ih], rtol=1e-10, atol=1e-14)
assert np.allclose(db, [b.grad for b in cell.bias_hh], rtol=1e-10, atol=1e-14)
print("BPTT by hand == the engine's DP over the unrolled graph")
print("|delta_t| from the last step back to the first:",
      " ".join(f"{np.linalg.norm(d):.2f}" for d in deltas[::-1]))

# %% [markdown]
# The weight $W_{hh}$'s gradient is a sum of $T$ contributions, one per time
# step, exactly as a convolution weight's gradient is a sum over positions.
# The per-step terms, for one entry, add up to the engine's `.grad`:

# %%
per_step = [deltas[t][0] * H_prev[t][1] for t in range(T)]
print("contributions to dL/dW_hh[0][1] by time step:", np.round(per_step, 4))
print("sum:", sum(per_step), "  engine:", cell.weight_hh[0][1].grad)
assert np.isclose(sum(per_step), cell.weight_hh[0][1].grad, rtol=1e-10)

# %% [markdown]
# ### Gated cells: GRU and LSTM
#
# The Elman cell's deltas pass through $W_{hh}^\top$ and $\tanh'$ once per
# step, so over long sequences they vanish or explode (notebook 5's
# product, now over time). Gated cells add paths on which the local
# derivative is a learned gate instead. PyTorch's `LSTMCell` keeps a
# second state, the cell $c_t$, updated **additively**:
#
# $$i, f, o = \sigma(\cdot), \quad g = \tanh(\cdot), \qquad
# c_t = f_t \odot c_{t-1} + i_t \odot g_t, \qquad h_t = o_t \odot \tanh(c_t),$$
#
# (each gate an affine function of $x_t$ and $h_{t-1}$), and `GRUCell`
# mixes old and new state, $h_t = (1 - z_t) \odot n_t + z_t \odot h_{t-1}$.
# In the graph these are just more nodes (fused `dot`s, `sigmoid`, `tanh`,
# `mul`), and BPTT is, again, the DP over the unrolled graph. Both cells,
# five steps, a loss on every state, against finite differences for every
# weight, bias and input:

# %%
T, n_in, n_hidden = 5, 3, 4
xs = to_values(rng.normal(size=(T, n_in)).tolist())
cs = rng.normal(size=(T, n_hidden))
inputs = [v for row in xs for v in row]


def gru_loss(cell):
    h, states = None, []
    for x_t in xs:
        h = cell(x_t, h)
        states.append(h)
    return weighted_sum(states, cs)


def lstm_loss(cell):
    state, states = None, []
    for x_t in xs:
        state = cell(x_t, state)
        states.append(state[0])                    # the loss reads h_t
    return weighted_sum(states, cs)


for cell, loss_of in ((GRUCell(n_in, n_hidden, rng=0), gru_loss),
                      (LSTMCell(n_in, n_hidden, rng=0), lstm_loss)):
    worst = fd_check(lambda cell=cell, loss_of=loss_of: loss_of(cell),
                     cell.parameters() + inputs)
    print(f"{type(cell).__name__}: {cell.num_parameters()} parameters and {len(inputs)} "
          f"inputs; finite differences agree to {worst:.1e}")
    assert worst < 1e-8

# %% [markdown]
# Why the gates help: along the cell state, the local derivative from
# $c_{t-1}$ to $c_t$ is the forget gate $f_t$ itself, not a weight matrix
# times a squashed slope. Cut the recurrence through $h$ (set
# $W_{hh} = 0$) and the derivative of $c_T$ with respect to $c_0$ is exactly
# the product of the forget gates along the way; with forget gates near 1
# it survives 50 steps, where the Elman cell's vanishes:

# %%
T = 50
lstm = LSTMCell(1, 1, rng=0)
for w in lstm.weight_hh:
    w[0].data = 0.0
lstm.bias_ih[1].data = 3.0                           # the forget gate's bias: f near 1
seq = rng.normal(size=T).tolist()
c0 = engine.Value(0.5, label="c0")
state = ([engine.Value(0.0, requires_grad=False)], [c0])
forget = []
for x_t in seq:
    with engine.no_grad():                          # the forget gate's value at this step
        forget.append(engine.sigmoid(lstm.weight_ih[1][0] * x_t + lstm.bias_ih[1]
                                     + lstm.bias_hh[1]).data)
    state = lstm([x_t], state)
(lstm_grad,) = engine.grad(state[1][0], c0)

elman = RNNCell(1, 1, rng=0)
h0 = engine.Value(0.5, label="h0")
h = [h0]
for x_t in seq:
    h = elman([x_t], h)
(elman_grad,) = engine.grad(h[0], h0)
print(f"after {T} steps: d c_T / d c_0 = {lstm_grad:.4f} (product of the forget gates "
      f"{math.prod(forget):.4f});  Elman d h_T / d h_0 = {elman_grad:.1e}")
assert math.isclose(lstm_grad, math.prod(forget), rel_tol=1e-12)
assert lstm_grad > 0.05 and abs(elman_grad) < 1e-6

# %% [markdown]
# ### Attention
#
# Text 004 lists where backpropagation is used: convolutional networks for
# images, recurrent networks and LSTMs for speech, and transformer language
# models (BERT, GPT). The transformer's layer is **attention**: each token's
# output is a softmax-weighted average of value vectors, the weights coming
# from dot products of queries and keys,
# $\text{out}_i = \sum_j \text{softmax}_j(q_i \cdot k_j / \sqrt d)\, v_j$.
# In the graph: `dot` nodes, a softmax (`exp`, a `sum`, divisions) and more
# `dot`s; the DP needs nothing new. Three tokens of dimension 4, against
# finite differences:

# %%
def attention(Q, K, V):
    """Scaled dot-product attention over lists of token vectors (lists of Values)."""
    d = len(Q[0])
    out = []
    for q in Q:
        weights = softmax([engine.dot(q, k) * (1 / math.sqrt(d)) for k in K])
        out.append([engine.dot(weights, [v[c] for v in V]) for c in range(len(V[0]))])
    return out


Q, K, V = (to_values(rng.normal(size=(3, 4)).tolist()) for _ in range(3))
c = rng.normal(size=(3, 4))
tokens = [v for M in (Q, K, V) for row in M for v in row]
worst = fd_check(lambda: weighted_sum(attention(Q, K, V), c), tokens)
print(f"attention: {len(tokens)} inputs; finite differences agree to {worst:.1e}")
assert worst < 1e-8

# %% [markdown]
# ## Write your own layer
#
# Text 003 closes its general form of backpropagation with the three
# questions to answer when you define a layer of your own:
#
# 1. What does the layer pass **forward** to the next one? (Its shape
#    depends only on the layer.)
# 2. Given the residual (the delta) that comes **back** from the next layer,
#    what is the gradient of the layer's **parameters**? (Shaped like the
#    parameters.)
# 3. What residual does it pass back to the **previous** layer? (Shaped like
#    the layer's input.)
#
# In dagrad, question 1 is a forward function on floats; questions 2 and 3
# are answered together by the **local partial derivatives** of each output
# with respect to each input and parameter: the DP multiplies them by the
# incoming delta and sums over consumers. `@engine.primitive` adds such a
# rule to the rule table, like a built-in op (it is `torch.autograd.Function`
# reduced to one Jacobian entry per input).
#
# A parametric relu (PReLU, He et al. 2015): $y = x$ for $x > 0$ and
# $y = a x$ otherwise, with a learned slope $a$. Its partials are
# $\partial y / \partial x = 1$ or $a$, and $\partial y / \partial a = 0$ or $x$:

# %%
if "prelu" in engine.TABLE:                      # re-running this cell: register it afresh
    engine.unregister("prelu")


def prelu_partials(m, out, x, a):
    """d y / d x and d y / d a; value_of reads the number behind x (a float or a Value)."""
    return (1.0, 0.0) if value_of(x) > 0 else (a, x)


@engine.primitive(partials=prelu_partials, name="prelu")
def prelu(x: float, a: float) -> float:
    return x if x > 0 else a * x


class PReLU(Module, register=False):      # register=False: no nn.load by name
    """One learned slope shared by all features, as torch.nn.PReLU()."""

    def __init__(self, init=0.25):
        super().__init__()
        self.weight = engine.Value(init)

    def forward(self, x):
        return [prelu(v, self.weight) for v in x]


layer = PReLU()
print(layer, [name for name, _ in layer.named_parameters()])
assert engine.gradcheck(prelu, [0.7, 0.25]) and engine.gradcheck(prelu, [-0.7, 0.25])

# %% [markdown]
# The three answers, checked on a vector of inputs with a known delta
# $\delta = c$ coming back:
#
# 1. forward: $y_i = x_i$ or $a x_i$, as many outputs as inputs;
# 2. parameter gradient: $\partial L / \partial a = \sum_i \delta_i \min(x_i, 0)$,
#    one number, like $a$;
# 3. residual to the previous layer: $\partial L / \partial x_i = \delta_i$ where
#    $x_i > 0$, else $a\, \delta_i$, shaped like the input.

# %%
x = rng.normal(size=8)
c = rng.normal(size=8)
features = to_values(x.tolist())
y = layer(features)
L = weighted_sum(y, c)
L.backward()
a = layer.weight.data
assert np.allclose(to_data(y), np.where(x > 0, x, a * x), rtol=0, atol=0)           # 1
assert np.isclose(layer.weight.grad, np.sum(c * np.minimum(x, 0)), rtol=1e-12)      # 2
assert np.allclose([v.grad for v in features], np.where(x > 0, c, a * c), rtol=1e-12)  # 3
worst = fd_check(lambda: weighted_sum(layer(features), c), [layer.weight, *features])
print(f"PReLU: forward, parameter gradient and residual as derived; finite differences "
      f"agree to {worst:.1e}")
assert worst < 1e-8

# %% [markdown]
# The new op is a first-class citizen: it appears by name in pictures, and
# it trains inside an `nn.Sequential` like any built-in layer:

# %%
viz.draw(weighted_sum(layer(to_values([0.8, -1.5])), [1.0, 1.0]),
         params=dict(layer.named_parameters()), precision=3)

# %%
net = Sequential(Linear(2, 8, rng=0), PReLU(), Linear(8, 1, rng=1))
X_train, y_train = make_moons(40, noise=0.1, rng=0)
history = fit(net, X_train, y_train, loss="bce_logits", optimizer="adam", lr=0.05, epochs=40,
              backend="dynamic", verbose=False)
slope = net[1].weight.data
print(f"loss {history.train_loss[0]:.3f} -> {history.train_loss[-1]:.3f}, accuracy "
      f"{history.train_acc[-1]:.0%}; the learned slope a = {slope:.3f} (started at 0.25)")
assert history.train_loss[-1] < history.train_loss[0] / 2 and slope != 0.25

# %% [markdown]
# ## Training them fast: the compiled path
#
# Every layer above is a composition of `Value` ops, so `fit` traces one
# sample's graph and runs the whole batch as numpy (`nn.compiled`, as for
# the MLP of notebook 4), with the same numbers as the scalar engine.
# `engine.compile_layers` finds the layers' structure in the traced graph:
# a convolution's `dot` nodes share their weights but each reads its own
# window, so the layer becomes **one gather of the windows** (im2col) and
# **one matrix product**; its backward is one product for the weights and
# one scatter-add into the input. A max pool is one gather and one `max`
# (the gradient goes to the first maximum, as in the scalar engine); a
# recurrent layer is a few products per time step. Inputs are numpy arrays
# of any nesting: here scikit-learn's 8x8 digits as `[1][8][8]` images.
#
# NB: `Dropout` compiles too: its masks are inputs of the traced graph, drawn
# fresh for every batch from the layer's own `random.Random` in the dynamic
# engine's order, so both engines drop the same units. `BatchNorm` (batch
# statistics, running buffers) stays on the dynamic engine: `fit` says why in
# a `nn.compiled.FallbackWarning`, never a different number.

# %%
digits = load_digits()
images = (digits.images / 16.0)[:, None]  # (1797, 1, 8, 8): [C][H][W] per sample
X_tr, X_te, y_tr, y_te = train_test_split(images, digits.target.tolist(), test_size=0.25,
                                          random_state=0, stratify=digits.target)
r = random.Random(0)
cnn = Sequential(Conv2d(1, 8, 3, rng=r), ReLU(), MaxPool2d(2), Flatten(0), Linear(72, 10, rng=r))
history = fit(cnn, X_tr, y_tr, loss="cross_entropy", optimizer="adam", lr=0.01, epochs=15,
              batch_size=32, X_test=X_te, y_test=y_te, backend="compiled", verbose=False)
print(f"{len(X_tr)} training images, 15 epochs: test accuracy {history.test_acc[-1]:.1%}")
assert history.test_acc[-1] >= 0.95

# %% [markdown]
# The generated code of one training step holds one line per layer where
# the scalar graph has one node per window and channel:

# %%
step = CompiledLoss(cnn, "cross_entropy")
step.backward(X_tr[:32], y_tr[:32])
forward = step.source.split("def forward_backward")[0]
print("\n".join(line.strip() for line in forward.splitlines()
                if "windows" in line or "x dot" in line or "x max" in line))

# %% [markdown]
# The same epoch on both engines (the numbers agree; the times vary by machine):

# %%
# output varies (timings)
seconds = {}
for backend in ("compiled", "dynamic"):
    net = copy.deepcopy(cnn)
    start = time.perf_counter()
    h = fit(net, X_tr[:320], y_tr[:320], loss="cross_entropy", optimizer="adam", lr=0.01,
            epochs=1, batch_size=32, backend=backend, verbose=False)
    seconds[backend] = (time.perf_counter() - start, h.train_loss[0])
(tc, lc), (td, ld) = seconds["compiled"], seconds["dynamic"]
assert abs(lc - ld) <= 1e-9 * abs(ld)
print(f"320 images: compiled {tc * 1e3:.0f} ms, dynamic {td * 1e3:.0f} ms "
      f"({td / tc:.0f}x); same loss {lc:.6f}")

# %% [markdown]
# ## Summary
#
# | layer | graph shape | gradient |
# |---|---|---|
# | convolution | each weight used at every position | $x$ correlated with $\delta$ |
# | ... strided, padded, channels | windows jump; padding is constant | same sums, padding dropped |
# | max pooling | one `max` node per window | $\delta$ routed to the argmax |
# | average pooling | one `dot` node with weights $1/k^2$ | $\delta / k^2$ spread over the window |
# | layer/batch norm | $\mu$, $\sigma$ feed all outputs | centred $g$ minus its $\hat x$ part |
# | batch norm, evaluation | running statistics: constants | $\gamma \delta / \sqrt{v + \epsilon}$ |
# | recurrent cell | one copy per step, shared weights | BPTT: the delta rule over time |
# | GRU, LSTM | gates multiply states | BPTT; along $c_t$ the local derivative is $f_t$ |
# | attention | `dot`s, a softmax, `dot`s | the same DP |
# | your own layer | one rule-table entry (`@primitive`) | its partials times $\delta$ |
#
# In every case the engine used the same rule table and the same DP; the
# hand formulas are what you get by grouping its scalar steps into arrays.
#
# Next: [8. Speed](08_speed.ipynb).
