# %% [markdown]
# # 3. The delta rule: backpropagation in matrix form
#
# Notebook 2 showed backpropagation as dynamic programming over a graph of
# scalars. Textbooks (Rumelhart, Hinton and Williams 1986; Nielsen's *Neural
# Networks and Deep Learning*, chapter 2) write the same algorithm for a
# multi-layer perceptron with matrices, as the **delta rule**. This notebook
# writes it out by hand with numpy and checks, for sigmoid and relu networks
# and three losses, that it gives exactly the gradients dagrad's engine
# computes node by node.
#
# ## Notation
#
# Layer $l = 1, \dots, L$ has weights $W_l$ (one row per neuron), biases $b_l$
# and activation $f_l$; $a_0 = x$ is the input:
#
# $$z_l = W_l a_{l-1} + b_l, \qquad a_l = f_l(z_l), \qquad \ell = \text{loss}(a_L, y).$$
#
# The **delta** of a layer is the derivative of the loss with respect to its
# pre-activations, $\delta_l = \partial \ell / \partial z_l$: in the language of
# notebook 2, **the adjoint of the node $z_l$**. The chain rule gives
#
# $$\delta_L = f_L'(z_L) \odot \frac{\partial \ell}{\partial a_L}, \qquad
# \delta_l = f_l'(z_l) \odot \left(W_{l+1}^\top \delta_{l+1}\right), \qquad
# \frac{\partial \ell}{\partial W_l} = \delta_l\, a_{l-1}^\top, \qquad
# \frac{\partial \ell}{\partial b_l} = \delta_l,$$
#
# where $\odot$ is elementwise multiplication. The second equation is the DP
# recurrence: $z_l$'s consumers are the neurons of layer $l+1$ (through
# $a_l$), so its adjoint is a sum over them, $W_{l+1}^\top \delta_{l+1}$. The
# order is the reverse order of the layers.

# %%
import random

import numpy as np

import engine
from engine import Value
from nn import MLP
from nn.losses import bce_loss, cross_entropy, mse_loss, softmax

random.seed(0)
rng = np.random.default_rng(0)
np.set_printoptions(precision=5, suppress=True)

# %% [markdown]
# ## The network, twice
#
# We build a network with `nn.MLP` (which the engine differentiates node by
# node), then copy its weights into numpy matrices, one per layer: row $j$ of
# $W_l$ holds the weights of neuron $j$.

# %%
def to_numpy(model):
    """The weights of an nn.MLP as lists of numpy matrices W_l and vectors b_l."""
    Ws = [np.array([[w.data for w in n.w] for n in layer.neurons]) for layer in model.layers]
    bs = [np.array([n.b.data for n in layer.neurons]) for layer in model.layers]
    return Ws, bs


def engine_grads(model):
    """The engine's .grad of each parameter, in the same matrix layout."""
    dWs = [np.array([[w.grad for w in n.w] for n in layer.neurons]) for layer in model.layers]
    dbs = [np.array([n.b.grad for n in layer.neurons]) for layer in model.layers]
    return dWs, dbs


model = MLP(3, [4, 3, 2], activation="sigmoid", output_activation="sigmoid", init="xavier",
            rng=1)
# Biases start at 0; give them values so that a bug in db would show.
for p in model.parameters():
    if p.data == 0.0:
        p.data = random.uniform(-0.5, 0.5)
Ws, bs = to_numpy(model)
print(model)
print([W.shape for W in Ws])

# %% [markdown]
# ## The delta rule by hand
#
# The activations and their derivatives, written with numpy:

# %%
def sigmoid(z):
    return 1 / (1 + np.exp(-z))


ACT = {
    "sigmoid": (sigmoid, lambda z: sigmoid(z) * (1 - sigmoid(z))),
    "relu": (lambda z: np.maximum(z, 0), lambda z: (z > 0).astype(float)),
    "linear": (lambda z: z, lambda z: np.ones_like(z)),
}


def forward(Ws, bs, x, acts):
    """z_l = W_l a_{l-1} + b_l and a_l = f_l(z_l); returns the lists zs and as_ (a_0 = x)."""
    zs, as_ = [], [x]
    for W, b, act in zip(Ws, bs, acts, strict=True):
        zs.append(W @ as_[-1] + b)
        as_.append(ACT[act][0](zs[-1]))
    return zs, as_


def delta_rule(Ws, zs, as_, acts, delta_L):
    """Backpropagate delta_L (the output layer's delta) with the delta rule.

    Returns the gradients dW_l = delta_l a_{l-1}^T and db_l = delta_l, and the deltas.
    """
    deltas = [None] * len(Ws)
    deltas[-1] = delta_L
    for k in range(len(Ws) - 2, -1, -1):                       # layers in reverse order
        deltas[k] = ACT[acts[k]][1](zs[k]) * (Ws[k + 1].T @ deltas[k + 1])
    dWs = [np.outer(d, a) for d, a in zip(deltas, as_[:-1], strict=True)]
    return dWs, deltas, deltas                                 # db_l = delta_l

# %% [markdown]
# ### Sigmoid network, mean squared error
#
# With $\ell = \frac{1}{m}\sum_i (a_{L,i} - y_i)^2$ over the $m$ outputs,
# $\partial\ell/\partial a_L = \frac{2}{m}(a_L - y)$, so
# $\delta_L = \sigma'(z_L) \odot \frac{2}{m}(a_L - y)$ with $\sigma' = \sigma(1 - \sigma)$.

# %%
x = rng.uniform(-1, 1, size=3)
y = np.array([0.0, 1.0])
acts = ["sigmoid", "sigmoid", "sigmoid"]

zs, as_ = forward(Ws, bs, x, acts)
delta_L = ACT["sigmoid"][1](zs[-1]) * 2 / len(y) * (as_[-1] - y)
dWs, dbs, deltas = delta_rule(Ws, zs, as_, acts, delta_L)

model.zero_grad()
out = model(list(x))
loss = mse_loss(out, list(y))
loss.backward()
eWs, ebs = engine_grads(model)

print("loss: engine", loss.data, " numpy", np.mean((as_[-1] - y) ** 2))
print("dL/dW_1 by the delta rule:\n", dWs[0])
print("dL/dW_1 by the engine:\n", eWs[0])
assert abs(loss.data - np.mean((as_[-1] - y) ** 2)) < 1e-14
for k in range(3):
    assert np.allclose(dWs[k], eWs[k], rtol=1e-10, atol=1e-14), f"W_{k + 1}"
    assert np.allclose(dbs[k], ebs[k], rtol=1e-10, atol=1e-14), f"b_{k + 1}"
print("delta rule == engine, for every weight and bias")

# %% [markdown]
# ### The deltas are the adjoints of the pre-activations
#
# A neuron in dagrad is one fused `dot` node computing $z = w \cdot a + b$,
# followed by an activation node. So $z_{l,j}$ is the parent of the neuron's
# output, and its adjoint, read from the DP table of `engine.adjoints`, should
# be $\delta_{l,j}$:

# %%
h = [Value(v, requires_grad=False) for v in x]
pre_activations = []
for layer in model.layers:
    h = [neuron(h) for neuron in layer.neurons]
    pre_activations.append([a.parents[0] for a in h])      # the dot node under each sigmoid
loss = mse_loss(h, list(y))
table = engine.adjoints(loss)
for k, zk in enumerate(pre_activations):
    adj = np.array([table[z] for z in zk])
    print(f"layer {k + 1}: adjoints of z = {adj}   delta = {deltas[k]}")
    assert zk[0].op.name == "dot"
    assert np.allclose(adj, deltas[k], rtol=1e-10, atol=1e-15)

# %% [markdown]
# ## All the combinations
#
# The same check for sigmoid and relu hidden layers and three losses. Only the
# output delta $\delta_L$ changes with the loss:
#
# | output layer | loss | $\partial \ell / \partial a_L$ | $\delta_L$ |
# |---|---|---|---|
# | sigmoid | MSE | $\frac{2}{m}(a_L - y)$ | $\sigma'(z_L) \odot \frac{2}{m}(a_L - y)$ |
# | sigmoid | binary cross-entropy | $\frac{a_L - y}{m\, a_L (1 - a_L)}$ | $\frac{1}{m}(a_L - y)$ |
# | linear + softmax | cross-entropy | (via softmax) | $\text{softmax}(z_L) - \text{onehot}(y)$ |
#
# The last two rows are the remarkable ones: the output delta is simply
# **output minus target**. We derive why below, after checking all six
# combinations.

# %%
def output_delta(loss_name, zL, aL, y):
    m = len(aL)
    if loss_name == "mse":
        return ACT["sigmoid"][1](zL) * 2 / m * (aL - y)
    if loss_name == "bce":
        return (aL - y) / m                      # sigmoid' cancels (derived below)
    if loss_name == "cross_entropy":
        p = np.exp(zL - zL.max())
        return p / p.sum() - np.eye(m)[y]        # softmax minus one-hot (derived below)
    raise ValueError(loss_name)


def engine_loss(loss_name, out, y):
    if loss_name == "mse":
        return mse_loss(out, list(y))
    if loss_name == "bce":
        return bce_loss(out, list(y))
    return cross_entropy(out, int(y))


rows = []
for hidden in ("sigmoid", "relu"):
    for loss_name in ("mse", "bce", "cross_entropy"):
        n_out = 3 if loss_name == "cross_entropy" else 2
        out_act = "linear" if loss_name == "cross_entropy" else "sigmoid"
        init = "he" if hidden == "relu" else "xavier"
        net = MLP(4, [5, 4, n_out], activation=hidden, output_activation=out_act, init=init,
                  rng=7)
        for p in net.parameters():
            if p.data == 0.0:
                p.data = random.uniform(-0.5, 0.5)
        x = rng.uniform(-1, 1, size=4)
        y = 2 if loss_name == "cross_entropy" else rng.integers(0, 2, size=n_out).astype(float)
        acts = [hidden, hidden, out_act]
        Ws, bs = to_numpy(net)
        zs, as_ = forward(Ws, bs, x, acts)
        dWs, dbs, _ = delta_rule(Ws, zs, as_, acts, output_delta(loss_name, zs[-1], as_[-1], y))
        loss = engine_loss(loss_name, net(list(x)), y)
        loss.backward()
        eWs, ebs = engine_grads(net)
        err = max(max(np.abs(a - b).max() for a, b in zip(dWs, eWs, strict=True)),
                  max(np.abs(a - b).max() for a, b in zip(dbs, ebs, strict=True)))
        scale = max(np.abs(g).max() for g in eWs)
        rows.append((hidden, loss_name, loss.data, scale, err))
        assert err <= 1e-12 * max(1.0, scale), (hidden, loss_name, err)

print(f"{'hidden':8} {'loss':14} {'loss value':>10} {'max |grad|':>11} {'max |difference|':>17}")
for hidden, loss_name, value, scale, err in rows:
    print(f"{hidden:8} {loss_name:14} {value:10.5f} {scale:11.5f} {err:17.2e}")

# %% [markdown]
# The differences are at the level of floating-point rounding ($10^{-16}$ to
# $10^{-17}$): the delta rule and the engine's node-by-node DP compute the same
# numbers, in a different grouping.
#
# ## Why the output delta is `o - y`
#
# **Sigmoid with binary cross-entropy.** For one output $o = \sigma(z)$ and
# target $y \in \{0, 1\}$, $\ell = -y \log o - (1 - y) \log(1 - o)$. Then
#
# $$\frac{\partial \ell}{\partial o} = -\frac{y}{o} + \frac{1 - y}{1 - o}
# = \frac{o - y}{o(1 - o)}, \qquad \sigma'(z) = o(1 - o),$$
#
# and the product is $\delta = o - y$: the derivative of the sigmoid cancels
# the denominator of the loss's derivative. This matters in practice: with
# MSE the delta carries a factor $\sigma'(z)$, which is nearly 0 when the
# sigmoid saturates ($|z|$ large), so a confidently **wrong** output learns
# very slowly. With cross-entropy the delta is as large as the error.

# %%
slopes = {}
for z in (-8.0, 0.0, 8.0):
    zv = Value(z)
    o = zv.sigmoid()
    bce_loss(o, 1.0).backward()       # target 1
    z2 = Value(z)
    mse_loss(z2.sigmoid(), 1.0).backward()
    print(f"z = {z:5}: o = {o.data:.5f}   BCE delta = {zv.grad:+.5f} (o - y = {o.data - 1:+.5f})"
          f"   MSE delta = {z2.grad:+.7f}")
    assert abs(zv.grad - (o.data - 1.0)) < 1e-12
    assert abs(z2.grad - 2 * (o.data - 1.0) * o.data * (1 - o.data)) < 1e-15
    slopes[z] = (zv.grad, z2.grad)
assert abs(slopes[-8.0][0]) > 1000 * abs(slopes[-8.0][1])   # wrong and confident: BCE still learns

# %% [markdown]
# At $z = -8$ the output is $0.0003$ for a target of 1: badly wrong. The BCE
# delta is $-0.9997$; the MSE delta is $-0.0007$, over a thousand times smaller.
#
# **Softmax with cross-entropy.** With $p = \text{softmax}(z)$,
# $p_i = e^{z_i} / \sum_k e^{z_k}$, and a one-hot target $y$,
# $\ell = -\sum_i y_i \log p_i$. The softmax couples all outputs, so instead
# of an elementwise $f'$ it has a Jacobian,
#
# $$\frac{\partial p_i}{\partial z_j} = p_i (\mathbb{1}[i = j] - p_j), \qquad
# J = \operatorname{diag}(p) - p p^\top,$$
#
# and $\delta = J^\top \frac{\partial \ell}{\partial p}
# = (\operatorname{diag}(p) - p p^\top)(-y / p) = -y + p \sum_i y_i = p - y$,
# using $\sum_i y_i = 1$. Let the engine confirm both steps: the Jacobian of
# `nn.losses.softmax`, row by row with `engine.grad`, and the gradient of
# `cross_entropy`:

# %%
z = [Value(v, label=f"z{i}") for i, v in enumerate([1.0, -0.5, 2.0])]
p = softmax(z)
J = np.array([engine.grad(p_i, z) for p_i in p])
pv = np.array([p_i.data for p_i in p])
print("softmax Jacobian from the engine:\n", J)
assert np.allclose(J, np.diag(pv) - np.outer(pv, pv), atol=1e-15)

target = 1
loss = cross_entropy(z, target)
delta = np.array(engine.grad(loss, z))
print("delta =", delta, "   p - onehot(y) =", pv - np.eye(3)[target])
assert np.allclose(delta, pv - np.eye(3)[target], atol=1e-15)
assert np.allclose(J.T @ (-np.eye(3)[target] / pv), delta, atol=1e-15)

# %% [markdown]
# NB: this is why PyTorch's `nn.CrossEntropyLoss` takes **logits** and applies
# `log_softmax` itself, and why `BCEWithLogitsLoss` exists: fused, the
# gradient is the simple and numerically safe $p - y$, and the loss never
# takes the log of a rounded-to-zero probability. dagrad's
# `nn.losses.cross_entropy` and `bce_with_logits_loss` do the same.
#
# ## A mini-batch: the sum over samples becomes a matrix product
#
# For a batch of $N$ samples stack inputs as the columns of $A_0$ and the
# deltas as the columns of $\Delta_l$. The mean loss's gradient is the mean
# of the per-sample gradients, and the sum of outer products is a matrix
# product:
#
# $$\frac{\partial \ell}{\partial W_l} = \frac{1}{N} \sum_{n} \delta_l^{(n)} a_{l-1}^{(n)\top}
# = \frac{1}{N}\, \Delta_l A_{l-1}^\top, \qquad
# \frac{\partial \ell}{\partial b_l} = \frac{1}{N}\, \Delta_l \mathbf{1}.$$
#
# This is how every deep-learning framework actually runs backpropagation: a
# few large matrix products per layer instead of millions of scalar nodes.

# %%
N = 8
net = MLP(3, [6, 3], activation="relu", output_activation="linear", init="he", rng=3)
for p in net.parameters():
    p.data += random.uniform(-0.1, 0.1)
X = rng.normal(size=(3, N))
labels = rng.integers(0, 3, size=N)
Ws, bs = to_numpy(net)

Z1 = Ws[0] @ X + bs[0][:, None]
A1 = np.maximum(Z1, 0)
Z2 = Ws[1] @ A1 + bs[1][:, None]
P = np.exp(Z2 - Z2.max(axis=0)) / np.exp(Z2 - Z2.max(axis=0)).sum(axis=0)
D2 = P - np.eye(3)[labels].T                 # output deltas, one column per sample
D1 = (Z1 > 0) * (Ws[1].T @ D2)
dW1, db1 = D1 @ X.T / N, D1.mean(axis=1)
dW2, db2 = D2 @ A1.T / N, D2.mean(axis=1)

loss = cross_entropy([net(list(X[:, n])) for n in range(N)], [int(t) for t in labels])
loss.backward()
eWs, ebs = engine_grads(net)
print(f"batch loss {loss.data:.6f}")
for name, mine, theirs in [("W1", dW1, eWs[0]), ("b1", db1, ebs[0]),
                           ("W2", dW2, eWs[1]), ("b2", db2, ebs[1])]:
    print(f"d{name}: max |matrix form - engine| = {np.abs(mine - theirs).max():.1e}")
    assert np.allclose(mine, theirs, rtol=1e-10, atol=1e-14), name

# %% [markdown]
# ## Summary
#
# * The delta rule is the DP of notebook 2 with the nodes grouped by layer:
#   $\delta_l$ is the adjoint of $z_l$, and $W_{l+1}^\top \delta_{l+1}$ is the
#   sum over consumers.
# * $\partial \ell / \partial W_l = \delta_l a_{l-1}^\top$: each weight's
#   gradient is the adjoint of its output times the value of its input.
# * Sigmoid + binary cross-entropy and softmax + cross-entropy give the
#   output delta $o - y$; sigmoid + MSE keeps a $\sigma'$ factor that
#   vanishes when the output saturates.
#
# NB: in PyTorch the same gradients come from `loss.backward()` on an
# `nn.Sequential(nn.Linear, nn.Sigmoid, ...)`; `nn.Linear` stores `W` with one
# row per output neuron, as here.
#
# Next: [4. Training an MLP](04_training_an_mlp.ipynb).
