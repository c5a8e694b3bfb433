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
#
# Backward mirrors forward (text 000's observation): forward multiplies by
# $W_l$ and applies $f_l$; backward multiplies by $W_{l+1}^\top$ and by
# $f_l'$. And backward needs what forward computed, every $a_l$ and $z_l$:
# the engine keeps them in the graph's nodes.
#
# ### Glossary: the source texts' terms and notation, and dagrad's names
#
# The source texts (`../shared/seeds/`, mostly in Chinese) write the same
# quantities in four notations. The texts put the layer in a **superscript**,
# $z^{(l)}$ (000, 002, 004) or $z_i^l$ (001); these notebooks put it in a
# subscript, $z_l$, and a neuron's index after it, $z_{l,i}$.
#
# | term (text) | the texts write | here; in dagrad |
# |---|---|---|
# | 净活性值, net input | $z^{(l)}$, $z_i^l$ | $z_l$; a neuron's `dot`, `a.parents[0]` |
# | 活性值, activation | $a^{(l)} = f_l(z^{(l)})$ | $a_l$; a neuron's output `Value` |
# | 误差项, delta, error term | $\delta^{(l)}$, $\delta_i^l$ | $\delta_l$; `adjoints(loss)[z]` |
# | 敏感程度, sensitivity (000, 002) | $\delta^{(l)}$ | the same |
# | 残差, residual (003) | $\nabla_i = \nabla_{f_i} J$ | adjoint of a layer's output |
# | 权重, weight | $w_{ij}^{(l)}$: from $j$ in $l-1$ to $i$ in $l$ | $W_l$; `neurons[i].w[j]` |
# | 偏置, bias | $b^{(l)}$; 001: $w_0$, the weight of $x_0 = 1$ | $b_l$; `neurons[i].b` |
# | 参数集合, parameters (003) | $\Theta$, $\Theta_i$ | `model.parameters()` |
# | neurons in layer $l$ | $M_l$ (000), $m^{(l)}$ (002), $n^{(l)}$ (004) | `layer.nout` |
# | 学习率, learning rate | $\alpha$ (000, 001), **$\lambda$ (003)** | $\alpha$; `lr` |
# | 正则化系数, L2 coefficient | $\lambda$ (000) | `fit(l2=...)`, `l2_penalty` |
# | 经验风险, empirical risk | $\mathcal{R}(W, b)$, $E(w)$, $J(W, b)$ | `train_loss` |
# | 损失函数, loss | $\mathcal{L}(y, \hat y)$, $J(y, o)$ | $\ell$; `nn.losses` |
# | prediction, output | $\hat y$, $o$ | $a_L$; the model's output |
# | Hadamard product | $\odot$, $\circ$ (003) | $\odot$; `*` on numpy arrays |
# | one-hot row (000, 002) | $\mathbb{1}_i(a_j)$, $a_j$ at place $i$ | $\partial z / \partial w$ |
# | 前馈, 反向传播 | forward, backward propagation | `model(x)`, `loss.backward()` |
# | 动态规划, 表格法 | DP, the table | `engine.adjoints` (notebook 2) |
# | 梯度消失, 局部最优 | vanishing gradients, local optimum | notebooks 5 and 4 |
# | 批量, 随机, 小批量 | batch, SGD, mini-batch | `fit(batch_size=None, 1, k)` |
# | 前向/反向模式 | forward / reverse mode | `engine.func.jvp`, `grad` |
#
# Text 003 also splits a layer in two, a **connection layer**
# $\mathbf{x} \mapsto \Theta \mathbf{x}$ and an **activation layer**
# $\max(0, \mathbf{x})$, each with its own backward rule ($\Theta^\top \nabla$ and
# $\text{sgn} \circ \nabla$): that is `nn.Sequential(nn.Linear(...), nn.ReLU())`,
# and the two factors of the delta rule above.

# %%
import random

import numpy as np

import engine
from engine import Value
from nn import MLP
from nn.losses import bce_loss, cross_entropy, mse_loss, softmax
from nn.optim import SGD

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
# | linear | half squared error, $\frac{1}{2}\lVert a_L - y \rVert^2$ | $a_L - y$ | $a_L - y$ |
# | linear | MSE (`mse_loss`) | $\frac{2}{m}(a_L - y)$ | $\frac{2}{m}(a_L - y)$ |
# | sigmoid | MSE | $\frac{2}{m}(a_L - y)$ | $\sigma'(z_L) \odot \frac{2}{m}(a_L - y)$ |
# | sigmoid | binary cross-entropy | $\frac{a_L - y}{m\, a_L (1 - a_L)}$ | $\frac{1}{m}(a_L - y)$ |
# | linear + softmax | cross-entropy | (via softmax) | $\text{softmax}(z_L) - \text{onehot}(y)$ |
#
# Three rows give the output delta **output minus target**. The first is
# the regression case of the source texts (001 and 004 write the squared
# loss with a factor $\frac{1}{2}$ exactly so that it cancels the 2 of the
# derivative). dagrad's `mse_loss`, like PyTorch's `MSELoss`, has no
# $\frac{1}{2}$ and takes the **mean** over its $m$ entries (outputs times
# samples), so its delta is $\frac{2}{m}(o - y)$: the same direction, scaled
# by $2/m$ (a learning rate $m/2$ times larger gives the same steps). The
# last two rows we derive below, after checking all ten combinations (two
# hidden activations, five output layer and loss pairs).

# %%
def output_delta(out_act, loss_name, zL, aL, y):
    m = len(aL)
    if loss_name == "half_se":
        return ACT[out_act][1](zL) * (aL - y)          # linear: f' = 1, so a_L - y
    if loss_name == "mse":
        return ACT[out_act][1](zL) * 2 / m * (aL - y)
    if loss_name == "bce":
        return (aL - y) / m                      # sigmoid' cancels (derived below)
    if loss_name == "cross_entropy":
        p = np.exp(zL - zL.max())
        return p / p.sum() - np.eye(m)[y]        # softmax minus one-hot (derived below)
    raise ValueError(loss_name)


def engine_loss(loss_name, out, y):
    if loss_name == "half_se":
        return 0.5 * engine.sum([(o - t) ** 2 for o, t in zip(out, y, strict=True)])
    if loss_name == "mse":
        return mse_loss(out, list(y))
    if loss_name == "bce":
        return bce_loss(out, list(y))
    return cross_entropy(out, int(y))


COMBINATIONS = [("linear", "half_se"), ("linear", "mse"), ("sigmoid", "mse"),
                ("sigmoid", "bce"), ("linear", "cross_entropy")]
rows = []
for hidden in ("sigmoid", "relu"):
    for out_act, loss_name in COMBINATIONS:
        n_out = 3 if loss_name == "cross_entropy" else 2
        init = "he" if hidden == "relu" else "xavier"
        net = MLP(4, [5, 4, n_out], activation=hidden, output_activation=out_act, init=init,
                  rng=len(rows))
        for p in net.parameters():
            if p.data == 0.0:                          # biases: positive, so relus stay alive
                p.data = random.uniform(0.1, 0.5)
        x = rng.uniform(-1, 1, size=4)
        if loss_name == "cross_entropy":
            y = 2
        elif out_act == "linear":
            y = rng.normal(size=n_out)                     # regression targets
        else:
            y = rng.integers(0, 2, size=n_out).astype(float)
        acts = [hidden, hidden, out_act]
        Ws, bs = to_numpy(net)
        zs, as_ = forward(Ws, bs, x, acts)
        delta_L = output_delta(out_act, loss_name, zs[-1], as_[-1], y)
        dWs, dbs, _ = delta_rule(Ws, zs, as_, acts, delta_L)
        out = net(list(x))
        loss = engine_loss(loss_name, out, y)
        loss.backward()
        if out_act == "linear" and loss_name != "cross_entropy":   # o - y, and 2(o - y)/m
            factor = 1.0 if loss_name == "half_se" else 2 / n_out
            assert np.allclose(engine.grad(loss, out), factor * (as_[-1] - y), atol=1e-15)
        eWs, ebs = engine_grads(net)
        err = max(max(np.abs(a - b).max() for a, b in zip(dWs, eWs, strict=True)),
                  max(np.abs(a - b).max() for a, b in zip(dbs, ebs, strict=True)))
        scale = max(np.abs(g).max() for g in eWs)
        rows.append((hidden, f"{out_act} + {loss_name}", loss.data, scale, err))
        assert err <= 1e-12 * max(1.0, scale), (hidden, loss_name, err)

print(f"{'hidden':8} {'output + loss':22} {'loss value':>10} {'max |grad|':>11} "
      f"{'max |difference|':>17}")
for hidden, name, value, scale, err in rows:
    print(f"{hidden:8} {name:22} {value:10.5f} {scale:11.5f} {err:17.2e}")
assert len(rows) == 10 and max(r[4] for r in rows) < 1e-15
assert min(r[3] for r in rows) > 0.01          # no case passes with all-zero gradients

# %% [markdown]
# `mse_loss` over a **batch** averages over every entry, samples times
# outputs, so its delta per output is $\frac{2}{N m}(o - y)$; with the
# $\frac{1}{2}$ and a sum instead of a mean it would be $o - y$ exactly:

# %%
outs = [[Value(v) for v in row] for row in rng.normal(size=(4, 3))]      # N = 4, m = 3
targets = rng.normal(size=(4, 3))
flat = [o for row in outs for o in row]
diff = np.array([[o.data for o in row] for row in outs]) - targets
mse_delta = np.array(engine.grad(mse_loss(outs, targets.tolist()), flat)).reshape(4, 3)
half_delta = np.array(engine.grad(
    0.5 * engine.sum([(o - t) ** 2 for o, t in zip(flat, targets.ravel(), strict=True)]),
    flat)).reshape(4, 3)
assert np.allclose(mse_delta, 2 * diff / 12, atol=1e-16)
assert np.allclose(half_delta, diff, atol=1e-16)
print("mse_loss delta = 2 (o - y) / 12;  half squared error delta = o - y")

# %% [markdown]
# The differences are at the level of floating-point rounding (below
# $10^{-15}$, asserted): the delta rule and the engine's node-by-node DP compute the same
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

# %% [markdown]
# ## A worked example by hand: the 3-2-1 network of the source text
#
# Roi Yehoshua's *Backpropagation: step-by-step derivation* (the source text
# `001`) ends with one iteration of the algorithm on a small network, with
# every number printed. Its weights were in a figure; here they are. The
# inputs are $x_1 = 1$, $x_2 = 0$ and the **bias input** $x_0 = 1$ (the text
# treats a bias as the weight $w_0$ of an input that is always 1); the label
# is $y = 1$, the loss is the log loss (binary cross-entropy), every unit is
# a sigmoid, and the learning rate is $\alpha = 0.5$. The net is **sparse**:
# only these edges exist ($x_2$'s weights do not matter, since $x_2 = 0$):
#
# | unit | net input $z$ | | unit | net input $z$ |
# |---|---|---|---|---|
# | $h_1$ | $0.5\,x_0 + 0.3\,x_1$ | | $h_4$ | $-0.5\,a_1 + 0.4\,a_2$ |
# | $h_2$ | $-0.2\,x_0 + 0.7\,x_1$ | | $h_5$ | $0.3\,a_1 + 0.6\,a_2 + 0.4\,a_3$ |
# | $h_3$ | $-0.1\,x_0$ | | $o$ | $0.5\,a_4 + 0.7\,a_5$ |
#
# with $a_i = \sigma(z_i)$. The text's notation: $z_i^l$ is the **net input**
# of neuron $i$ in layer $l$, $w_{ij}^l$ the weight from neuron $j$ of layer
# $l-1$ to neuron $i$ of layer $l$, and $\delta_i^l = \partial E/\partial z_i^l$
# its **delta**. Built from `Value`s, one per weight:

# %%
WEIGHTS = {                            # unit -> {its input: the weight of that edge}
    "h1": {"x0": 0.5, "x1": 0.3},
    "h2": {"x0": -0.2, "x1": 0.7},
    "h3": {"x0": -0.1},
    "h4": {"a1": -0.5, "a2": 0.4},
    "h5": {"a1": 0.3, "a2": 0.6, "a3": 0.4},
    "o": {"a4": 0.5, "a5": 0.7},
}
OUTPUT_OF = {"h1": "a1", "h2": "a2", "h3": "a3", "h4": "a4", "h5": "a5", "o": "o"}
LAYER = {"h1": 1, "h2": 1, "h3": 1, "h4": 2, "h5": 2, "o": 3}


def sparse_net(weights, x1=1.0, x2=0.0):
    """The text's network: returns its weights as Values, the net inputs z and the output o."""
    w = {(unit, src): Value(v, label=f"w[{unit},{src}]")
         for unit, edges in weights.items() for src, v in edges.items()}
    a = {"x0": Value(1.0, requires_grad=False, label="x0"),
         "x1": Value(x1, requires_grad=False, label="x1"),
         "x2": Value(x2, requires_grad=False, label="x2")}
    z = {}
    for unit, edges in weights.items():                       # in forward order
        z[unit] = engine.sum([w[unit, src] * a[src] for src in edges])
        a[OUTPUT_OF[unit]] = z[unit].sigmoid()
    return w, z, a


w, z, a = sparse_net(WEIGHTS)
o = a["o"]
loss = bce_loss(o, 1.0)                # the log loss -y log o - (1 - y) log(1 - o), y = 1
print(f"output o = {o.data:.10f} (the text: 0.6718), loss = {loss.data:.6f}")
assert abs(o.data - 0.6718458612) < 1e-9 and round(o.data, 4) == 0.6718

# %% [markdown]
# **The deltas, the text's way**: at the output, log loss after a sigmoid
# gives $\delta_o = o - y$ (derived above); then the delta rule for sigmoid
# units, layer by layer backwards,
# $\delta_i = a_i (1 - a_i) \sum_j w_{ji}\, \delta_j$ over the units $j$ that
# $i$ feeds. Written with plain floats, beside the engine's adjoint of each
# net input $z_i$ (notebook 2's DP table):

# %%
by_hand = {"o": o.data - 1.0}                           # delta_o = o - y
for unit in ("h5", "h4", "h3", "h2", "h1"):             # layer by layer, backwards
    out = OUTPUT_OF[unit]
    consumers = [j for j, edges in WEIGHTS.items() if out in edges]
    a_i = a[out].data
    by_hand[unit] = a_i * (1 - a_i) * sum(WEIGHTS[j][out] * by_hand[j] for j in consumers)

table = engine.adjoints(loss)
print(f"{'layer':>5} {'unit':>4} {'net input z':>12} {'activation a':>13} "
      f"{'delta (text rule)':>18} {'adjoint of z (DP)':>18}")
for unit in WEIGHTS:
    print(f"{LAYER[unit]:5} {unit:>4} {z[unit].data:12.6f} {a[OUTPUT_OF[unit]].data:13.6f} "
          f"{by_hand[unit]:18.10f} {table[z[unit]]:18.10f}")
    assert abs(by_hand[unit] - table[z[unit]]) < 1e-15

# %% [markdown]
# The text remarks that the deltas get smaller as they travel back, so the
# early layers learn slowly (its name for it: **vanishing gradients**,
# notebook 5). Here the largest $|\delta|$ of each layer drops by a factor of
# more than 4 per layer:

# %%
largest = {layer: max(abs(by_hand[u]) for u in WEIGHTS if LAYER[u] == layer)
           for layer in (3, 2, 1)}
print("largest |delta| by layer (output first):",
      ", ".join(f"layer {k}: {v:.4f}" for k, v in largest.items()))
assert largest[3] > 4 * largest[2] > 16 * largest[1]

# %% [markdown]
# **One gradient step.** $\partial E / \partial w_{ij} = \delta_i\, a_j$ (the
# delta of the neuron the edge enters times the activation of the one it
# leaves), and the text's update is $w_{ij} \leftarrow w_{ij} - \alpha\,
# \delta_i\, a_j$. By hand, and with the engine's `.grad` after
# `loss.backward()`; then a second forward pass with the new weights:

# %%
loss.backward()
ALPHA = 0.5
new_weights = {}
for unit, edges in WEIGHTS.items():
    new_weights[unit] = {}
    for src, value in edges.items():
        grad_by_hand = by_hand[unit] * a[src].data           # delta_i * a_j
        assert abs(grad_by_hand - w[unit, src].grad) < 1e-15
        new_weights[unit][src] = value - ALPHA * grad_by_hand

_, _, a_after = sparse_net(new_weights)
o_after = a_after["o"].data
print(f"output after one step: {o_after:.10f} (the text: 0.6981)")
assert abs(o_after - 0.6980763066) < 1e-9 and round(o_after, 4) == 0.6981

# %% [markdown]
# The output moved from 0.6718 to 0.6981, towards the label 1, as the text
# says.
#
# ### The same numbers from an `nn.MLP`? Not after the step
#
# Porting the example to a fully connected `MLP(2, [3, 2, 1])` (sigmoid
# everywhere) with the text's weights, the weight on $x_0$ as each unit's
# bias, and **zeros for the edges the text's net does not have**, gives the
# same output before the step. After one step with the same $\alpha$ it does
# not: the MLP has all 20 parameters, and every missing edge whose gradient
# is not zero is trainable and moves.

# %%
mlp = MLP(2, [3, 2, 1], activation="sigmoid", output_activation="sigmoid")
SOURCES = (["x1", "x2"], ["a1", "a2", "a3"], ["a4", "a5"])
UNITS = (["h1", "h2", "h3"], ["h4", "h5"], ["o"])
for layer, units, srcs in zip(mlp.layers, UNITS, SOURCES, strict=True):
    for neuron, unit in zip(layer.neurons, units, strict=True):
        neuron.b.data = WEIGHTS[unit].get("x0", 0.0)          # absent edges are 0
        for wj, src in zip(neuron.w, srcs, strict=True):
            wj.data = WEIGHTS[unit].get(src, 0.0)

state = mlp.state_dict()
edges = [(u, s) for units, srcs in zip(UNITS, SOURCES, strict=True)     # in parameter order:
         for u in units for s in [*srcs, "x0"]]                         # w.0, w.1, ..., b
text_edges = {(u, s) for u, srcs in WEIGHTS.items() for s in srcs}
assert mlp.num_parameters() == 20 and len(text_edges) == 12
out = mlp([1.0, 0.0])
assert abs(out.data - o.data) < 1e-15                         # the same function ...
bce_loss(out, 1.0).backward()
moved = [f"{u} <- {s}" for p, (u, s) in zip(mlp.parameters(), edges, strict=True)
         if (u, s) not in text_edges and p.grad != 0.0]
print("edges the text's net lacks, but with a gradient in the MLP:", ", ".join(moved))
SGD(mlp.parameters(), lr=ALPHA).step()
mlp_after = mlp([1.0, 0.0]).data
print(f"MLP output after one step: {mlp_after:.7f}   the sparse net's: {o_after:.7f}")
assert moved == ["h3 <- x1", "h4 <- a3", "h4 <- x0", "h5 <- x0", "o <- x0"]
assert abs(mlp_after - 0.7330581) < 5e-8 and abs(mlp_after - 0.7330580894) < 1e-9
assert [p.grad for p, (u, s) in zip(mlp.parameters(), edges, strict=True) if s == "x2"] \
    == [0.0, 0.0, 0.0]

# %% [markdown]
# Five edges the sparse net does not have get a gradient in the MLP: $h_3$'s
# weight on $x_1$, $h_4$'s on $a_3$, and the biases of $h_4$, $h_5$ and $o$
# (the text gave them none). Only $x_2$'s three weights stay put, because
# $x_2 = 0$ makes their gradient $\delta_i \cdot 0$. The extra trainable
# weights make a bigger step towards the label, 0.7331 instead of 0.6981.
# To reproduce the text with an `MLP`, leave those five parameters out of
# the optimizer:

# %%
mlp.load_state_dict(state)                                    # the weights before the step
mlp.zero_grad()
bce_loss(mlp([1.0, 0.0]), 1.0).backward()
SGD([p for p, edge in zip(mlp.parameters(), edges, strict=True) if edge in text_edges],
    lr=ALPHA).step()
print(f"MLP output after one step on the text's edges only: {mlp([1.0, 0.0]).data:.10f}")
assert abs(mlp([1.0, 0.0]).data - o_after) < 1e-15

# %% [markdown]
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
