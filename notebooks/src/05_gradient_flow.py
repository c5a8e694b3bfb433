# %% [markdown]
# # 5. Gradient flow
#
# Backpropagation sends the loss's adjoint from the output back to the first
# layer. Notebook 3 wrote the recurrence per layer,
#
# $$\delta_l = f'(z_l) \odot \left(W_{l+1}^\top \delta_{l+1}\right),$$
#
# so the delta of layer $l$ is the output delta multiplied by one factor
# $f'(z) \cdot W$ **per layer in between**. If those factors are typically
# smaller than 1, the gradient reaching the first layers shrinks
# exponentially with depth: the **vanishing gradient** problem, which kept
# deep networks from training until the late 2000s. The sigmoid makes it
# almost certain: $\sigma'(z) = \sigma(z)(1 - \sigma(z)) \le 1/4$. The relu's
# derivative is exactly 1 wherever the unit is active.
#
# This notebook measures it: per-layer gradient magnitudes of a deep sigmoid
# network against a deep relu network, before and during training, and a
# picture of the gradient flowing through a network for one training example.

# %%
# %matplotlib inline
import math
import random

import matplotlib
import matplotlib.pyplot as plt

import engine
import viz
from engine.func import grad as derivative
from nn import MLP
from nn.data import make_moons
from nn.losses import bce_with_logits_loss
from nn.optim import SGD
from nn.train import fit
from nn.utils import clip_grad_norm

matplotlib.rcParams["figure.dpi"] = 70
random.seed(0)

# %% [markdown]
# ## The sigmoid's slope is at most 1/4
#
# The engine's derivatives of `sigmoid`, `tanh` and `relu` over $[-6, 6]$:

# %%
slopes = {}
for name in ("sigmoid", "tanh", "relu"):
    zs = [i / 10 for i in range(-60, 61)]
    slopes[name] = [derivative(getattr(engine, name))(z) for z in zs]
    print(f"{name:8} largest slope {max(slopes[name]):.4f}")
assert max(slopes["sigmoid"]) == 0.25 and max(slopes["tanh"]) == 1.0
assert set(slopes["relu"]) == {0.0, 1.0}

# %% [markdown]
# ## Per-layer gradient magnitudes at initialisation
#
# Two networks with 8 hidden layers of 8 units, one with sigmoid, one with
# relu, each initialised the way its activation wants (Xavier/Glorot for
# sigmoid, He/Kaiming for relu; notebook 4's `nn.MLP(init=...)`). One batch of
# 32 moons points, the binary cross-entropy on the output logit, one backward
# pass. For each layer we print the mean $|\partial L / \partial w|$ over its
# weights and biases.
#
# NB: in PyTorch you would read `[p.grad.abs().mean() for p in
# layer.parameters()]` after `loss.backward()`, or register hooks.

# %%
X, y = make_moons(32, noise=0.1, rng=0)
depth, width = 8, 8


def layer_grad_magnitudes(model):
    """Mean |grad| over each layer's parameters (after a backward pass)."""
    return [sum(abs(p.grad) for p in layer.parameters()) / len(layer.parameters())
            for layer in model.layers]


nets = {
    "sigmoid": MLP(2, [width] * depth + [1], activation="sigmoid", init="xavier", rng=1),
    "relu": MLP(2, [width] * depth + [1], activation="relu", init="he", rng=1),
}
magnitudes = {}
for name, net in nets.items():
    loss = bce_with_logits_loss([net(x) for x in X], y)
    net.zero_grad()
    loss.backward()
    magnitudes[name] = layer_grad_magnitudes(net)

print(f"{'layer':>5} {'sigmoid':>10} {'relu':>10}")
for i, (s, r) in enumerate(zip(magnitudes["sigmoid"], magnitudes["relu"], strict=True)):
    print(f"{i + 1:5} {s:10.2e} {r:10.2e}")
ratio = {name: m[0] / m[-1] for name, m in magnitudes.items()}
print(f"first layer / last layer: sigmoid {ratio['sigmoid']:.1e}, relu {ratio['relu']:.1e}")
per_layer = {name: [m[i + 1] / m[i] for i in range(depth)] for name, m in magnitudes.items()}
for name, factors in per_layer.items():
    print(f"{name:8} factor lost per layer, from the output back: "
          + " ".join(f"{f:.1f}" for f in reversed(factors)))
assert 1e5 < 1 / ratio["sigmoid"] < 1e6 and ratio["relu"] > 0.1
assert all(2 < f < 11 for f in per_layer["sigmoid"])
assert all(0.25 < f < 4 for f in per_layer["relu"])

# %%
fig, ax = plt.subplots(figsize=(6, 3.5))
for name, m in magnitudes.items():
    ax.semilogy(range(1, depth + 2), m, marker="o", label=name)
ax.set_xlabel("layer (1 = nearest the input)")
ax.set_ylabel("mean |dL/dw|")
ax.set_title(f"gradient magnitude per layer, {depth} hidden layers")
ax.legend()
fig.tight_layout()
plt.show()

# %% [markdown]
# In the sigmoid network the gradient loses a factor of between 2 and 11 per
# layer (the $1/4$ bound times weights of order 1): the first layer's gradient
# is hundreds of thousands of times smaller than the last layer's (between
# $10^5$ and $10^6$, asserted). Gradient descent with one learning rate then
# barely moves the early layers. The relu network's gradients change by less
# than a factor of 4 from one layer to the next, and the first layer's is
# within a factor of 10 of the last layer's.
#
# The same decay is visible in the adjoints of the **pre-activations**, the
# deltas of notebook 3 (here for one example, read from the engine's DP table):

# %%
def delta_norms(model, x, target):
    """The root-mean-square adjoint of each layer's pre-activations for one example."""
    h = [engine.Value(v, requires_grad=False) for v in x]
    pre = []
    for layer in model.layers:
        h = [neuron(h) for neuron in layer.neurons]
        pre.append([a.parents[0] if a.op.name != "dot" else a for a in h])
    table = engine.adjoints(bce_with_logits_loss(h[0], target))
    return [math.sqrt(sum(table[z] ** 2 for z in zs) / len(zs)) for zs in pre]


for name, net in nets.items():
    norms = delta_norms(net, X[0], y[0])
    print(f"{name:8} |delta_l| from layer 1 to the output: "
          + " ".join(f"{v:.1e}" for v in norms))

# %% [markdown]
# ## Exploding gradients
#
# The same product can grow instead of shrink. If the per-layer factor
# $f'(z) W$ is typically **larger** than 1, the deltas grow exponentially on
# their way back: **exploding gradients**. A relu network shows both cases
# cleanly. A relu is positively homogeneous ($\text{relu}(s z) = s\,
# \text{relu}(z)$ for $s > 0$), so multiplying every weight of the He-initialised
# network by $s$ (its biases are 0) multiplies the delta of layer $l$,
# $\partial\, \text{output} / \partial z_l$, by exactly $s^{9 - l}$ (one factor
# per layer above it; the output layer is layer 9):

# %%
def output_deltas(model, x):
    """The root-mean-square adjoint of each layer's pre-activations, for d output."""
    h = [engine.Value(v, requires_grad=False) for v in x]
    pre = []
    for layer in model.layers:
        h = [neuron(h) for neuron in layer.neurons]
        pre.append([a.parents[0] if a.op.name != "dot" else a for a in h])
    table = engine.adjoints(h[0])
    return [math.sqrt(sum(table[z] ** 2 for z in zs) / len(zs)) for zs in pre]


def scaled_relu_net(scale):
    net = MLP(2, [width] * depth + [1], activation="relu", init="he", rng=1)
    for name, p in net.named_parameters():
        if not name.endswith(".b"):
            p.data *= scale
    return net


by_scale = {s: output_deltas(scaled_relu_net(s), X[0]) for s in (0.5, 1.0, 2.0)}
for s, d in by_scale.items():
    print(f"weights x {s}: |delta_l| from layer 1 to the output: "
          + " ".join(f"{v:.1e}" for v in d))
for s, d in by_scale.items():
    for layer, (value, base) in enumerate(zip(d, by_scale[1.0], strict=True), start=1):
        assert math.isclose(value, base * s ** (depth + 1 - layer), rel_tol=1e-9)
print(f"first layer's delta: x {by_scale[0.5][0] / by_scale[1.0][0]:.5f} (0.5^8) and "
      f"x {by_scale[2.0][0] / by_scale[1.0][0]:.0f} (2^8)")

# %% [markdown]
# Halving the weights makes the first layer's delta $2^8 = 256$ times
# smaller (vanishing); doubling them makes it 256 times larger (exploding).
# Initialisation schemes (notebook 4) aim for a factor near 1.
#
# Exploding gradients make training unstable rather than slow: one huge
# step throws the weights far away. With the doubled weights and plain SGD
# ($\alpha = 0.05$) the first steps are so large that every relu of a layer
# ends up switched off for every input: the network outputs a constant, its
# loss is stuck at $\ln 2$, and a dead relu gets no gradient to recover.
# **Gradient clipping** (`nn.utils.clip_grad_norm`, PyTorch's
# `clip_grad_norm_`, called between `backward()` and `step()`) rescales the
# gradient when its norm exceeds a bound, so every step stays small: the
# loss falls (every value below the one two steps before, to under a quarter
# of the start in 20 steps) and the network stays alive, its output still
# varying with the input. (A dead layer is one whose relus output 0 for all
# 32 points; the layers after it then see constant inputs.)

# %%
def _run(layers, x):
    for layer in layers:
        x = [neuron(x) for neuron in layer.neurons]
    return x


clip_runs = {}
for max_norm in (None, 1.0):
    net = scaled_relu_net(2.0)
    opt = SGD(net.parameters(), lr=0.05)
    losses = []
    for _ in range(20):
        loss = bce_with_logits_loss([net(x) for x in X], y)
        opt.zero_grad()
        loss.backward()
        if max_norm is not None:
            clip_grad_norm(net.parameters(), max_norm)
        opt.step()
        losses.append(loss.data)
    outputs = {round(net(x).data, 9) for x in X}
    dead_layers = []                          # hidden layers whose relus are 0 for every point
    for k in range(depth):
        prefix = net.layers[:k + 1]
        if all(all(a.data == 0.0 for a in _run(prefix, x)) for x in X):
            dead_layers.append(k + 1)
    clip_runs[max_norm] = (losses, len(outputs), dead_layers)
    print(f"clip {str(max_norm):4}: loss " + " ".join(f"{v:.3f}" for v in losses[::4])
          + f" ... {losses[-1]:.3f};  distinct outputs on the 32 points: {len(outputs)};  "
          f"dead hidden layers: {dead_layers}")
(unclipped, n_unclipped, dead), (clipped, n_clipped, dead_clipped) = clip_runs.values()
assert unclipped[0] > 10 and abs(unclipped[-1] - math.log(2)) < 1e-3 and n_unclipped == 1
assert dead and not dead_clipped
assert clipped[-1] < clipped[0] / 4 and n_clipped > 20
assert all(clipped[k + 2] < clipped[k] for k in range(len(clipped) - 2))

# %% [markdown]
# ## During training
#
# `fit(track_grads=True)` records each layer's mean $|\partial L / \partial w|$
# per epoch and `viz.plot_grad_magnitudes` draws them. Both networks train on
# the same 32 points (16 of each class) with Adam (notebook 4) for 25
# epochs of mini-batches of 8. The sigmoid network learns nothing: its loss
# never falls below $\ln 2 \approx 0.693$, the loss of answering $1/2$ for
# every point, by more than 0.005, and its accuracy wanders between 37.5%
# and 50%, no better than guessing (what it ends with is noise around chance
# level, not learning). The relu network's loss falls below 40% of where it
# started, and its accuracy rises above 85%. (Adam rescales each parameter's step by its
# own gradient history, which partly compensates small gradients; even so
# the sigmoid network does not learn here.)

# %%
histories = {}
for name, (activation, init) in {"sigmoid": ("sigmoid", "xavier"),
                                 "relu": ("relu", "he")}.items():
    net = MLP(2, [width] * depth + [1], activation=activation, init=init, rng=1)
    histories[name] = fit(net, X, y, loss="bce_logits", optimizer="adam", lr=0.01, epochs=25,
                          batch_size=8, track_grads=True, rng=0, verbose=False)
    h = histories[name]
    print(f"{name:8} loss {h.train_loss[0]:.3f} -> {h.train_loss[-1]:.3f}, "
          f"accuracy {h.train_acc[0]:.0%} -> {h.train_acc[-1]:.0%}")
sig, rel = histories["sigmoid"], histories["relu"]
assert sum(y) == 16                                   # balanced: guessing is 50%
assert min(sig.train_loss) > math.log(2) - 0.005
assert 0.375 <= min(sig.train_acc) and max(sig.train_acc) <= 0.5
assert rel.train_loss[-1] < 0.4 * rel.train_loss[0] and rel.train_acc[-1] > 0.85

# %%
fig, axes = plt.subplots(1, 2, figsize=(12, 4), sharey=True)
for ax, (name, h) in zip(axes, histories.items(), strict=True):
    viz.plot_grad_magnitudes(h, ax=ax)
    ax.set_title(f"{name}: mean |grad| per layer")
    ax.legend(fontsize=7, ncol=3)
fig.tight_layout()
plt.show()

# %% [markdown]
# ## The gradient flowing through one example
#
# A picture makes the flow concrete. `viz.draw(..., flow=True)` labels every
# edge with the contribution that travels back along it during backward,
# $\bar u \cdot \partial u / \partial v$, coloured by sign (blue positive, red
# negative) and drawn wider when larger; `shade=True` fills each node by the
# size of its gradient. Parameter names come from
# `dict(model.named_parameters())`, as in torchviz.
#
# A small sigmoid network, 2-3-3-1, on one training example: watch the
# contributions shrink on their way back from the loss to the first layer.

# %%
small = MLP(2, [3, 3, 1], activation="sigmoid", init="xavier", rng=2)
loss = bce_with_logits_loss(small(X[0]), y[0])
loss.backward()
# one node per neuron (its largest |grad|) keeps the picture readable at the page's width
viz.draw(loss, params=dict(small.named_parameters()), flow=True, shade=True, precision=2,
         collapse="neuron")

# %% [markdown]
# For the deep networks a node-level picture is too big to read (the sigmoid
# network has hundreds of nodes), so `collapse="layer"` draws each layer as one
# node, shaded by the size of its gradient:

# %%
deep = nets["sigmoid"]
deep.zero_grad()
loss = bce_with_logits_loss(deep(X[0]), y[0])
loss.backward()
viz.draw(loss, params=dict(deep.named_parameters()), collapse="layer", shade=True,
         precision=2)

# %% [markdown]
# ## Summary
#
# * Each layer multiplies the backward signal by $f'(z) W$; with sigmoids
#   ($f' \le 1/4$) it decays exponentially with depth: vanishing gradients.
# * relu ($f' \in \{0, 1\}$) with He initialisation keeps the magnitudes
#   comparable across layers, which is one reason deep networks use it.
# * Factors above 1 make the deltas **explode** instead: unstable training,
#   tamed by good initialisation and gradient clipping.
# * `fit(track_grads=True)` with `viz.plot_grad_magnitudes` and
#   `viz.draw(flow=True, shade=True)` show where the gradient goes.
#
# Other remedies, beyond this notebook: residual connections (an identity
# path whose local derivative is 1), normalisation layers (notebook 7), and
# careful initialisation.
#
# Next: [6. Higher-order derivatives and forward mode](06_higher_order_and_forward_mode.ipynb).
