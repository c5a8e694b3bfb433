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
# The layers come from `nn` (`Conv2d`, `MaxPool2d`, `LayerNorm`, `BatchNorm1d`,
# `RNNCell`), with PyTorch's shapes and parameter names.

# %%
import random

import numpy as np

import engine
import viz
from nn.conv import Conv2d
from nn.norm import BatchNorm1d, LayerNorm
from nn.pool import MaxPool2d
from nn.rnn import RNNCell
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
# ## Summary
#
# | layer | graph shape | gradient |
# |---|---|---|
# | convolution | each weight used at every position | $x$ correlated with $\delta$ |
# | max pooling | one `max` node per window | $\delta$ routed to the argmax |
# | layer/batch norm | $\mu$, $\sigma$ feed all outputs | centred $g$ minus its $\hat x$ part |
# | recurrent cell | one copy per step, shared weights | BPTT: the delta rule over time |
#
# In every case the engine used the same rule table and the same DP; the
# hand formulas are what you get by grouping its scalar steps into arrays.
#
# Next: [8. Speed](08_speed.ipynb).
