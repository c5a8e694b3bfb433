# %% [markdown]
# # 4. Training an MLP
#
# Notebooks 1 to 3 computed gradients. Training is what they are for: repeat
# *forward, loss, backward, step* until the loss is small. This notebook
#
# 1. reproduces micrograd's famous demo (a 2-16-16-1 network separating two
#    "moons") number for number, and runs source text 004's PyTorch loop;
# 2. looks at the optimisation itself: why gradient descent is a local
#    search on a non-convex loss (local minima), choosing the learning rate,
#    momentum, Adam, initialisation (symmetry breaking), gradient ascent,
#    and what one hidden layer can represent;
# 3. compares **full-batch**, **stochastic** and **mini-batch** gradient
#    descent on the same problem;
# 4. shows what **weight decay** (an L2 penalty) does to the weights, the
#    decision boundary and the test loss;
# 5. watches a network learn, live, on the moons and the spirals.
#
# Everything here uses `nn` (models, losses, optimizers, data, `fit`) and
# `viz` (plots). The scalar engine is slow, so the data sets are small and
# the runs short; the whole notebook takes well under a minute.

# %%
# %matplotlib inline
import math
import random

import matplotlib
import matplotlib.pyplot as plt

import viz
from engine import Value
from nn import MLP, Linear, Module, ReLU
from nn.data import make_moons, make_spirals, micrograd_moons, train_test_split
from nn.losses import bce_with_logits_loss, hinge_loss, l2_penalty, mse_loss
from nn.optim import SGD, Adam, LinearLR
from nn.train import decayed_parameters, evaluate_loss, fit

matplotlib.rcParams["figure.dpi"] = 70
random.seed(0)

# %% [markdown]
# ## micrograd's demo, step for step
#
# micrograd's `demo.ipynb` makes 100 points with
# `np.random.seed(1337); make_moons(n_samples=100, noise=0.1)` and labels
# $\pm 1$; `nn.data.micrograd_moons()` regenerates exactly those points (with
# numpy, without scikit-learn). The model is `MLP(2, [16, 16, 1])` after
# `random.seed(1337)`, so it starts from micrograd's very weights. The loss is
# the SVM "max-margin" loss $\text{mean}(\text{relu}(1 - y \cdot \text{score}))$
# plus an L2 penalty $10^{-4} \sum w^2$, and the optimizer is full-batch SGD
# whose learning rate decays linearly from 1.0 to 0.1 over 100 steps.
#
# The training loop, written out once by hand, is four lines: forward, loss,
# backward, step.

# %%
X, y = micrograd_moons()
random.seed(1337)
model = MLP(2, [16, 16, 1])
print(model)
optimizer = SGD(model.parameters(), lr=1.0)
schedule = LinearLR(optimizer, start_factor=1.0, end_factor=0.1, total_iters=100)

losses, accuracies = [], []
for k in range(3):
    scores = [model(x) for x in X]                                        # forward
    loss = hinge_loss(scores, y) + l2_penalty(model.parameters(), 1e-4)   # loss
    model.zero_grad()
    loss.backward()                                                        # backward
    optimizer.step()                                                       # step
    schedule.step()
    acc = sum((s.data > 0) == (t > 0) for s, t in zip(scores, y, strict=True)) / len(y)
    losses.append(loss.data)
    accuracies.append(acc)
    print(f"step {k} loss {loss.data}, accuracy {acc * 100}%")

# %% [markdown]
# micrograd's notebook printed `step 0 loss 0.8958441028683222, accuracy 50.0%`
# and `step 1 loss 1.7235905336972022, accuracy 81.0%`: the same numbers,
# to the last digit or two of rounding (dagrad sums the loss in one n-ary
# node, micrograd with a chain of `+`).

# %%
assert abs(losses[0] - 0.8958441028683222) < 1e-12 and accuracies[0] == 0.5
assert abs(losses[1] - 1.7235905336972022) < 1e-12 and accuracies[1] == 0.81

# %% [markdown]
# The source text 004 shows the same loop in PyTorch: a two-layer network
# (`nn.Linear`, `nn.ReLU`, `nn.Linear`), `MSELoss`, `SGD(lr=0.01)`, and per
# epoch `zero_grad()`, `backward()`, `step()`. dagrad's names are PyTorch's,
# so the text's code runs almost unchanged (smaller sizes, and a list
# comprehension where PyTorch batches with tensors):

# %%
class MyNet(Module):
    def __init__(self, input_size, hidden_size, output_size):
        super().__init__()
        self.fc1 = Linear(input_size, hidden_size, rng=0)
        self.fc2 = Linear(hidden_size, output_size, rng=1)
        self.activation = ReLU()

    def forward(self, x):
        x = self.fc1(x)
        x = self.activation(x)
        x = self.fc2(x)
        return x


net_004 = MyNet(input_size=10, hidden_size=8, output_size=3)
criterion = mse_loss
optimizer_004 = SGD(net_004.parameters(), lr=0.01)
data = random.Random(4)
inputs = [[data.gauss(0, 1) for _ in range(10)] for _ in range(16)]
targets = [[data.gauss(0, 1) for _ in range(3)] for _ in range(16)]
losses_004 = []
for epoch in range(100):
    outputs = [net_004(x) for x in inputs]            # forward
    loss = criterion(outputs, targets)
    optimizer_004.zero_grad()                          # backward and update
    loss.backward()
    optimizer_004.step()
    losses_004.append(loss.data)
    if (epoch + 1) % 20 == 0:
        print(f"Epoch [{epoch + 1}/100], Loss: {loss.data:.4f}")
assert all(b < a for a, b in zip(losses_004[:-1], losses_004[1:], strict=True))

# %% [markdown]
# `nn.train.fit` runs the same loop (a step function plus the optimizer and
# the schedule) and records a `History`. By default, when numpy is installed,
# its step runs the **compiled** version of the graph (notebook 8: the same
# numbers to about $10^{-15}$, many times faster); `fit(backend="dynamic")`
# runs the scalar graph exactly as the loop above. Here are all 100 steps of
# the demo, from the same initial weights:

# %%
random.seed(1337)
model = MLP(2, [16, 16, 1])
optimizer = SGD(model.parameters(), lr=1.0)
schedule = LinearLR(optimizer, start_factor=1.0, end_factor=0.1, total_iters=100)
history = fit(model, X, y, loss="hinge", optimizer=optimizer, schedule=schedule, l2=1e-4,
              epochs=100, verbose=False)
print(f"after {history.epoch[-1]} steps: loss {history.train_loss[-1]:.4f}, "
      f"accuracy {history.train_acc[-1]:.0%}")
assert [round(v, 12) for v in history.train_loss[:2]] == [round(v, 12) for v in losses[:2]]
assert history.train_acc[-1] == 1.0

# %%
viz.plot_history(history)

# %% [markdown]
# The loss jumps at step 1 (a learning rate of 1.0 overshoots) and then falls;
# accuracy reaches 100%. The decision boundary: the model's score is positive
# in the red region, negative in the blue one.

# %%
viz.plot_decision_boundary(model, X, y, resolution=40, title="micrograd's moons, 100 steps")

# %% [markdown]
# ## Optimisation: what gradient descent can and cannot do
#
# ### Backpropagation is exact; gradient descent is local search
#
# Backpropagation (the DP of notebook 2) computes the gradient **exactly**:
# every digit of $\partial L / \partial w$ at the current weights. But a
# gradient is local information, the slope here. Gradient descent uses it to
# walk downhill one step at a time, which makes training a **local search**.
# The first source text (000) puts it sharply: dynamic programming, in the
# algorithms-textbook sense, solves an optimisation problem exactly because
# its subproblems combine into the global optimum; backpropagation's DP only
# computes a derivative, and the descent that uses it can end in a **local
# minimum**. That happens because a network's loss, as a function of its
# weights, is **not convex** (text 001) once it has hidden units.
#
# A proof by experiment, on the demo model just trained: swap two hidden
# units (their incoming weights and biases, and their outgoing weights). The
# network computes the same function, so the loss is the same. For a convex
# loss, the point halfway between two equally good weight vectors could not
# be worse than them; here it is:

# %%
def objective(net):
    """The demo's objective: max-margin loss plus the L2 penalty."""
    return (hinge_loss([net(x) for x in X], y) + l2_penalty(net.parameters(), 1e-4)).data


swapped = MLP(2, [16, 16, 1])
swapped.load_state_dict(model.state_dict())
unit0, unit1 = swapped.layers[0].neurons[:2]
for p, q in zip(unit0.parameters(), unit1.parameters(), strict=True):
    p.data, q.data = q.data, p.data                    # incoming weights and bias
for neuron in swapped.layers[1].neurons:               # outgoing weights
    neuron.w[0].data, neuron.w[1].data = neuron.w[1].data, neuron.w[0].data
halfway = MLP(2, [16, 16, 1])
for p, a, b in zip(halfway.parameters(), model.parameters(), swapped.parameters(), strict=True):
    p.data = (a.data + b.data) / 2
print(f"trained {objective(model):.5f}   hidden units 0 and 1 swapped {objective(swapped):.5f}"
      f"   halfway between them {objective(halfway):.5f}")
assert objective(swapped) == objective(model)
assert objective(halfway) > 1.5 * objective(model)       # not convex
assert 2e13 < math.factorial(16) < 2.1e13                # the permutations of 16 units

# %% [markdown]
# Every permutation of the 16 units of a layer gives another equally good
# minimum, so the loss surface has at least $16! \approx 2 \times 10^{13}$
# copies of each minimum. Most are harmless (they are equally good), but
# some starting points lead to genuinely worse places. The classic case is
# XOR with two hidden units: trained from ten random starts with the same
# settings,

# %%
X_xor, y_xor = [[0, 0], [0, 1], [1, 0], [1, 1]], [0, 1, 1, 0]
xor_losses, xor_nets = [], []
for seed in range(10):
    net = MLP(2, [2, 1], activation="tanh", init="xavier", rng=seed)
    h = fit(net, X_xor, y_xor, loss="bce_logits", optimizer="sgd", lr=0.5, epochs=400,
            verbose=False)
    xor_losses.append((h.train_loss[-1], h.train_acc[-1]))
    xor_nets.append(net)
print("final loss (accuracy) per start:",
      ", ".join(f"{loss:.3f} ({acc:.0%})" for loss, acc in xor_losses))
stuck = [i for i, (loss, _) in enumerate(xor_losses) if loss > 0.3]
assert len(stuck) == 1 and sum(loss < 0.04 for loss, _ in xor_losses) == 9
assert math.log(2) / 2 < xor_losses[stuck[0]][0] < 0.37
logits = sorted(abs(xor_nets[stuck[0]](x).data) for x in X_xor)
print("the stuck start's |logit| on the four points:", [round(v, 3) for v in logits])
assert logits[1] < 0.05 and logits[2] > 3                 # two undecided, two confident

# %% [markdown]
# Nine starts solve XOR (loss below 0.04); one ends near
# $\ln 2 / 2 \approx 0.347$, the loss of classifying two points with
# confidence and leaving the other two at probability $1/2$ (logits near 0): a poor
# stationary region that the downhill walk does not leave. Remedies are
# about the search, not the gradient: several random starts, momentum (below),
# noise from mini-batches, wider networks (with more units, fewer bad
# minima).
#
# ### Choosing the learning rate
#
# The learning rate $\alpha$ sets the step: $w \leftarrow w - \alpha\,
# \partial L / \partial w$. On the simplest loss, $L(w) = w^2$, one step is
# $w \leftarrow (1 - 2\alpha)\, w$: for $0 < \alpha < 1$ it shrinks (fastest at
# $\alpha = 1/2$, oscillating in sign above it) and for $\alpha > 1$ it
# **diverges**, growing by $|1 - 2\alpha|$ every step:

# %%
for alpha in (0.1, 0.5, 0.9, 1.1):
    w = Value(1.0)
    opt = SGD([w], lr=alpha)
    for _ in range(10):
        opt.zero_grad()
        (w * w).backward()
        opt.step()
    print(f"alpha {alpha}: w after 10 steps {w.data:+.4g}   (1 - 2 alpha)^10 = "
          f"{(1 - 2 * alpha) ** 10:+.4g}")
    assert math.isclose(w.data, (1 - 2 * alpha) ** 10, rel_tol=1e-12, abs_tol=1e-300)

# %% [markdown]
# A network is no different, only the thresholds are unknown. A sweep over
# five learning rates, full batch, 30 epochs, from the same initial weights
# (the moons of the next section):

# %%
X_lr, y_lr = make_moons(120, noise=0.1, rng=0)
sweep = {}
for lr in (0.01, 0.1, 1.0, 3.0, 30.0):
    net = MLP(2, [12, 12, 1], activation="relu", init="he", rng=0)
    sweep[lr] = fit(net, X_lr, y_lr, loss="bce_logits", optimizer="sgd", lr=lr, epochs=30,
                    verbose=False).train_loss
    print(f"lr {lr:5}: loss {sweep[lr][0]:.3f} -> {sweep[lr][-1]:.3f}")

fig, ax = plt.subplots(figsize=(6, 3.5))
for lr, curve in sweep.items():
    ax.plot(range(1, 31), curve, label=f"lr {lr}")
ax.set_xlabel("epoch")
ax.set_ylabel("training loss")
ax.set_yscale("log")
ax.legend(fontsize=8)
fig.tight_layout()
plt.show()

finals = {lr: curve[-1] for lr, curve in sweep.items()}
assert min(finals, key=finals.get) == 1.0                        # the best of the five
assert finals[0.01] > finals[0.1] > finals[1.0]                   # too small: slow
assert any(b > a + 0.1 for a, b in zip(sweep[3.0][:-1], sweep[3.0][1:], strict=True))
assert finals[30.0] > sweep[30.0][0]                              # too large: diverges

# %% [markdown]
# Too small (0.01) is safe but slow; 1.0 is the best of these five; at 3.0
# the loss jumps up in some epochs (steps overshoot the valley); at 30 it
# ends higher than it started: divergence. A practical recipe: try rates a
# factor of 3 to 10 apart, keep the largest one that descends steadily, and
# let a schedule (`LinearLR`, `CosineAnnealingLR`) lower it later.
#
# ### Momentum
#
# Plain gradient descent forgets its previous steps. **Momentum** keeps a
# running sum of them, a velocity $b$, and steps along it (PyTorch's
# `SGD(momentum=mu)`, which `nn.optim.SGD` copies):
#
# $$b \leftarrow \mu\, b + g, \qquad w \leftarrow w - \alpha\, b
# \qquad (b = g \text{ on the first step}).$$
#
# Two steps by hand against `SGD(momentum=0.9)`:

# %%
w = Value(1.0)
opt = SGD([w], lr=0.1, momentum=0.9)
w_hand, velocity = 1.0, None
for _ in range(2):
    opt.zero_grad()
    (w * w).backward()                           # g = 2w
    opt.step()
    g = 2 * w_hand
    velocity = g if velocity is None else 0.9 * velocity + g
    w_hand -= 0.1 * velocity
print(f"after two steps: SGD(momentum=0.9) {w.data}, by hand {w_hand}")
assert w.data == w_hand

# %% [markdown]
# Where the loss is a long narrow valley, plain descent zig-zags across the
# steep walls and crawls along the floor: its rate is capped by the steepest
# direction. Momentum averages the zig-zags away and accumulates speed along
# the floor. On $L = \frac{1}{2}(0.1\, w_1^2 + 10\, w_2^2)$ (a valley 100 times
# steeper one way than the other), from $(-10, 1)$, 100 steps at
# $\alpha = 0.15$ (plain descent diverges above $\alpha = 0.2$), and Adam
# (next section) for comparison:

# %%
def valley(w1, w2):
    return 0.5 * (0.1 * w1 * w1 + 10 * w2 * w2)


paths = {}
for name, make in {"SGD": lambda ps: SGD(ps, lr=0.15),
                   "SGD, momentum 0.8": lambda ps: SGD(ps, lr=0.15, momentum=0.8),
                   "Adam, lr 0.5": lambda ps: Adam(ps, lr=0.5)}.items():
    w1, w2 = Value(-10.0), Value(1.0)
    opt = make([w1, w2])
    path = [(w1.data, w2.data)]
    for _ in range(100):
        opt.zero_grad()
        valley(w1, w2).backward()
        opt.step()
        path.append((w1.data, w2.data))
    paths[name] = path
    print(f"{name:18} loss after 100 steps {valley(*path[-1]):.2e}")

fig, ax = plt.subplots(figsize=(7, 3))
g1 = [-11 + 12 * i / 100 for i in range(101)]
g2 = [-1.5 + 3 * j / 60 for j in range(61)]
ax.contour(g1, g2, [[valley(a, b) for a in g1] for b in g2], levels=15, colors="0.8")
for name, path in paths.items():
    ax.plot([p[0] for p in path], [p[1] for p in path], ".-", markersize=3, label=name)
ax.set_xlabel("$w_1$")
ax.set_ylabel("$w_2$")
ax.legend(fontsize=8)
fig.tight_layout()
plt.show()

sgd_end, mom_end, adam_end = (valley(*p[-1]) for p in paths.values())
assert mom_end < 1e-6 * sgd_end and adam_end < 1e-3 * sgd_end and sgd_end > 0.2

# %% [markdown]
# Momentum also helps with the local minima of the previous section, which
# text 001 mentions: a ball with speed can roll over a small bump. On
# $L(w) = w^4 - 3w^2 + w$, which has a shallow minimum at $w \approx 1.13$ and
# the deeper one at $w \approx -1.30$, both started at $w = 2$:

# %%
def bumpy(w):
    return w**4 - 3 * w**2 + w


ends = {}
for momentum in (0.0, 0.9):
    w = Value(2.0)
    opt = SGD([w], lr=0.01, momentum=momentum)
    for _ in range(300):
        opt.zero_grad()
        bumpy(w).backward()
        opt.step()
    ends[momentum] = w.data
    print(f"momentum {momentum}: w = {w.data:+.4f}, L = {bumpy(w.data):+.4f}")
assert abs(ends[0.0] - 1.1309) < 1e-4 and abs(ends[0.9] + 1.3008) < 1e-4

# %% [markdown]
# Plain descent stops in the first valley it meets; with momentum 0.9 it
# rolls through it into the deeper one. (Not a guarantee: with other
# settings momentum can overshoot a good minimum too.)
#
# ### Adam
#
# Adam (Kingma and Ba, 2015), used from here on and in notebook 5, keeps
# two running averages per parameter, of the gradient $g$ (momentum) and of
# $g^2$, corrects both for starting at zero, and divides:
#
# $$m \leftarrow \beta_1 m + (1 - \beta_1)\, g, \quad
# v \leftarrow \beta_2 v + (1 - \beta_2)\, g^2, \quad
# w \leftarrow w - \alpha\, \frac{m / (1 - \beta_1^t)}{\sqrt{v / (1 - \beta_2^t)} + \epsilon}$$
#
# at step $t$, with $\beta_1 = 0.9$, $\beta_2 = 0.999$, $\epsilon = 10^{-8}$ (PyTorch's
# defaults). Three steps by hand against `nn.optim.Adam`:

# %%
w = Value(1.0)
opt = Adam([w], lr=0.1)
w_hand, m, v = 1.0, 0.0, 0.0
for t in range(1, 4):
    opt.zero_grad()
    (w * w).backward()
    opt.step()
    g = 2 * w_hand
    m = 0.9 * m + 0.1 * g
    v = 0.999 * v + 0.001 * g * g
    w_hand -= 0.1 * (m / (1 - 0.9**t)) / (math.sqrt(v / (1 - 0.999**t)) + 1e-8)
print(f"after three steps: Adam {w.data!r}, by hand {w_hand!r}")
assert math.isclose(w.data, w_hand, rel_tol=1e-14)

# %% [markdown]
# The division makes each parameter's step about $\alpha$ **whatever the size
# of its gradient**: on the first step exactly $\alpha\, g / (|g| + \epsilon)$.
# A weight whose gradient is $10^{-6}$ (an early layer of the deep sigmoid
# network of notebook 5) moves as far as one whose gradient is $10^{3}$:

# %%
tiny, huge = Value(0.0), Value(0.0)
tiny.grad, huge.grad = 1e-6, 1e3
Adam([tiny, huge], lr=0.01).step()
print(f"first Adam step: gradient 1e-6 moves {tiny.data:.6f}, gradient 1e3 moves {huge.data:.6f}")
assert math.isclose(tiny.data, -0.01 * 1e-6 / (1e-6 + 1e-8), rel_tol=1e-9)
assert math.isclose(huge.data, -0.01, rel_tol=1e-9)

# %% [markdown]
# That is why Adam copes with badly scaled problems (the valley above) and
# with vanishing gradients better than SGD, and why it is a common default.
# NB: `nn.optim.Adam` follows `torch.optim.Adam` formula for formula; `AdamW`
# applies weight decay to the weights directly instead of through the
# gradient.
#
# ### Initialisation and symmetry breaking
#
# `MLP(init=...)` chooses how the weights are drawn; biases start at 0:
#
# | `init` | weights drawn from | suits | source |
# |---|---|---|---|
# | `"uniform"` | $U(-1, 1)$ | micrograd's default | micrograd |
# | `"xavier"` | $U(-a, a)$, $a = \sqrt{6 / (n_{in} + n_{out})}$ | sigmoid, tanh | Glorot 2010 |
# | `"he"` | $U(-a, a)$, $a = \sqrt{6 / n_{in}}$ | relu | He 2015 |
# | `"xavier_normal"`, `"he_normal"` | normal, the same variances | | |
#
# Xavier keeps the variance of the signal about the same from layer to
# layer (forward and backward) for sigmoid-like units; He doubles it to make
# up for the half of its inputs a relu zeroes. Notebook 5 shows what goes
# wrong without that: gradients that shrink or grow by a factor per layer.
# Measured on a 200 by 200 layer, against the standard deviation of the
# formula ($a / \sqrt 3$ for $U(-a, a)$):

# %%
for init, expected in (("uniform", 1 / math.sqrt(3)), ("xavier", math.sqrt(6 / 400) / math.sqrt(3)),
                       ("he", math.sqrt(6 / 200) / math.sqrt(3)),
                       ("he_normal", math.sqrt(2 / 200))):
    layer = MLP(200, [200], init=init, rng=0).layers[0]
    ws = [w.data for neuron in layer.neurons for w in neuron.w]
    std = math.sqrt(sum(w * w for w in ws) / len(ws))
    print(f"{init:10} std {std:.4f}   formula {expected:.4f}")
    assert abs(std / expected - 1) < 0.01
    assert all(neuron.b.data == 0.0 for neuron in layer.neurons)

# %% [markdown]
# Why random at all? If every weight starts equal, every hidden unit of a
# layer computes the same output, receives the same delta (the delta rule
# gives them the same terms) and so the same update: they stay identical
# for ever, and a layer of 8 units is worth one. Random initial weights
# **break the symmetry**. Train a 2-8-1 tanh network from all weights 0.3 and
# from Xavier's random weights:

# %%
X_sym, y_sym = make_moons(100, noise=0.1, rng=0)
symmetric = MLP(2, [8, 1], activation="tanh")
for p in symmetric.parameters():
    p.data = 0.3
random_start = MLP(2, [8, 1], activation="tanh", init="xavier", rng=0)
results = {}
for name, net in (("all weights 0.3", symmetric), ("xavier", random_start)):
    h = fit(net, X_sym, y_sym, loss="bce_logits", optimizer="sgd", lr=0.5, epochs=50,
            verbose=False)
    units = {tuple(p.data for p in neuron.parameters()) for neuron in net.layers[0].neurons}
    results[name] = (len(units), h.train_acc[-1])
    print(f"{name:16} distinct hidden units after training: {len(units)}   "
          f"accuracy {h.train_acc[-1]:.0%}")
assert results["all weights 0.3"][0] == 1 and results["xavier"][0] == 8
assert results["all weights 0.3"][1] < results["xavier"][1]

# %% [markdown]
# ### Ascent instead of descent
#
# Text 000 notes that some tasks climb instead: replace the $-$ of the update
# by $+$ to **maximise** (a reward, a likelihood). Its last section connects
# this to reinforcement learning: Q-learning and Sarsa propagate rewards with
# dynamic programming, and deep reinforcement learning propagates them with
# backpropagation and gradient **ascent** (policy-gradient methods).
# PyTorch's optimizers, and dagrad's, take `maximize=True`:

# %%
def reward(w):
    return 5 - (w - 3) ** 2                # largest at w = 3


w = Value(0.0)
opt = SGD([w], lr=0.1, maximize=True)
for _ in range(100):
    opt.zero_grad()
    reward(w).backward()
    opt.step()
print(f"gradient ascent: w = {w.data:.8f}, reward {reward(w.data):.8f}")
assert abs(w.data - 3) < 1e-8

# %% [markdown]
# ### What a network can represent
#
# Text 000 cites the **universal approximation theorem** (Hornik, Stinchcombe
# and White 1989): a network with one hidden layer of enough units can
# approximate any continuous function on a bounded domain as closely as
# wanted. It says nothing about finding the weights (that is the local
# search above), but training does find good ones here: $\sin x$ on
# $[-\pi, \pi]$ with 1, 3 and 16 tanh units, Adam, 600 full-batch steps,
# with the largest error measured on a grid ten times finer than the
# training points:

# %%
X_sin = [[-math.pi + 2 * math.pi * i / 39] for i in range(40)]
y_sin = [math.sin(x[0]) for x in X_sin]
grid = [[-math.pi + 2 * math.pi * i / 400] for i in range(401)]
fig, ax = plt.subplots(figsize=(6, 3.5))
ax.plot([g[0] for g in grid], [math.sin(g[0]) for g in grid], "k", lw=3, alpha=0.3,
        label="sin x")
max_errors = {}
for units in (1, 3, 16):
    net = MLP(1, [units, 1], activation="tanh", init="xavier", rng=0)
    fit(net, X_sin, y_sin, loss="mse", optimizer="adam", lr=0.02, epochs=600, verbose=False)
    curve = [net(g).data for g in grid]
    max_errors[units] = max(abs(v - math.sin(g[0])) for v, g in zip(curve, grid, strict=True))
    ax.plot([g[0] for g in grid], curve, label=f"{units} units: max error "
            f"{max_errors[units]:.3f}")
ax.legend(fontsize=8)
fig.tight_layout()
plt.show()
assert max_errors[1] > max_errors[3] > max_errors[16] and max_errors[16] < 0.1

# %% [markdown]
# ## Full batch, stochastic, mini-batch
#
# Gradient descent needs $\nabla L$ where $L$ is the mean loss over the whole
# training set. Three ways to spend the same amount of computation:
#
# * **full batch**: one exact gradient per epoch, one update per epoch;
# * **stochastic** (batch size 1): the gradient of one sample, an update per
#   sample: $N$ noisy updates per epoch;
# * **mini-batch** (batch size $k$): the mean gradient of $k$ samples: $N/k$
#   updates per epoch, less noisy than stochastic.
#
# Each epoch computes the same number of per-sample gradients in all three;
# what differs is how many times the weights move. We train the same initial
# network on the same moons (120 points, a quarter held out for testing)
# with binary cross-entropy on the logit, each with a learning rate that
# works for it.
#
# NB: `fit(batch_size=None)` is full batch; `batch_size=1` is what
# `torch.utils.data.DataLoader(batch_size=1, shuffle=True)` gives.

# %%
X, y = make_moons(120, noise=0.1, rng=0)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, rng=0)
modes = {"full batch (lr 0.5)": (None, 0.5), "stochastic, batch 1 (lr 0.05)": (1, 0.05),
         "mini-batch 10 (lr 0.5)": (10, 0.5)}
runs = {}
for name, (batch_size, lr) in modes.items():
    net = MLP(2, [12, 12, 1], activation="relu", init="he", rng=0)
    runs[name] = fit(net, X_train, y_train, loss="bce_logits", optimizer="sgd", lr=lr,
                     batch_size=batch_size, epochs=30, X_test=X_test, y_test=y_test,
                     rng=0, verbose=False)
    updates = 30 * (1 if batch_size is None else math.ceil(len(X_train) / batch_size))
    h = runs[name]
    print(f"{name:30} updates {updates:5}  train loss {h.train_loss[-1]:.3f}  "
          f"train acc {h.train_acc[-1]:.0%}  test acc {h.test_acc[-1]:.0%}")

# %%
fig, (by_epoch, by_update) = plt.subplots(1, 2, figsize=(12, 3.8), sharey=True)
for name, h in runs.items():
    batch_size = modes[name][0]
    per_epoch = 1 if batch_size is None else math.ceil(len(X_train) / batch_size)
    by_epoch.plot(h.epoch, h.train_loss, label=name)
    by_update.plot([e * per_epoch for e in h.epoch], h.train_loss, label=name)
by_epoch.set_xlabel("epoch (the same number of per-sample gradients in each)")
by_update.set_xlabel("weight updates")
by_update.set_xscale("log")
by_epoch.set_ylabel("training loss")
by_epoch.set_yscale("log")
by_epoch.legend(fontsize=8)
fig.tight_layout()
plt.show()

full, sgd, mini = runs.values()
assert sgd.train_loss[9] < full.train_loss[9] and mini.train_loss[9] < full.train_loss[9]
assert full.train_loss[8] < mini.train_loss[0]     # per update: 9 full steps vs 9 mini-batch steps
assert mini.train_loss[9] < sgd.train_loss[0]      # 90 mini-batch steps vs 90 single-sample steps
assert all(h.train_acc[-1] >= 0.9 for h in runs.values())
rises = {name: sum(b > a for a, b in zip(h.train_loss[:-1], h.train_loss[1:], strict=True))
         for name, h in runs.items()}
print("epochs in which the training loss went up:", rises)
assert rises["full batch (lr 0.5)"] == 0
assert rises["stochastic, batch 1 (lr 0.05)"] >= 5 and rises["mini-batch 10 (lr 0.5)"] >= 5

# %% [markdown]
# Per epoch, stochastic and mini-batch descent get much further: they move
# the weights 90 and 9 times per epoch against once. Their curves are also
# bumpier (the loss went up in several epochs, against none for full batch),
# because each update follows the gradient of a few samples, a noisy
# estimate of the full gradient. Full batch is smooth but slow per epoch.
# In practice mini-batches win: most of the progress of stochastic descent,
# a gradient averaged over $k$ samples, and (on real hardware) $k$
# samples processed in parallel as one matrix product (notebook 3). Per
# **update** (right), the order reverses: an exact full-batch gradient step
# makes more progress than one noisy single-sample step; stochastic descent
# wins per epoch only because it takes so many more steps for the same work.
#
# ## Weight decay
#
# With few, noisy training points a flexible network can fit the noise: the
# training loss goes to zero while the loss on new data grows. **Weight
# decay** adds $\lambda \sum_i w_i^2$ to the loss. Its gradient $2 \lambda w$
# pulls every weight towards 0 at each step, so only weights that the data
# keeps pushing stay large.
#
# NB: adding `l2 * sum(p * p)` to the loss (`fit(l2=...)`, micrograd's
# `alpha * sum(p*p)`) is the same as `SGD(weight_decay=2 * l2)` (PyTorch's
# `weight_decay` adds `wd * p` to the gradient). One step of each, from the
# same weights:

# %%
a = MLP(2, [4, 1], rng=5)
b = MLP(2, [4, 1], rng=5)
batch_x, batch_y = X_train[:8], [2 * t - 1 for t in y_train[:8]]
opt_a = SGD(a.parameters(), lr=0.1)
opt_b = SGD(b.parameters(), lr=0.1, weight_decay=2 * 0.01)
loss_a = hinge_loss([a(x) for x in batch_x], batch_y) + l2_penalty(a, 0.01)
loss_b = hinge_loss([b(x) for x in batch_x], batch_y)
loss_a.backward()
loss_b.backward()
opt_a.step()
opt_b.step()
gap = max(abs(p.data - q.data) for p, q in zip(a.parameters(), b.parameters(), strict=True))
print(f"largest difference between the two updated models: {gap:.1e}")
assert gap < 1e-15

# %% [markdown]
# Now the experiment: 30 noisy training points, 200 test points from the
# same distribution, a 2-16-16-1 relu network trained with Adam for 120
# full-batch steps, without and with weight decay. A `callback` measures the
# test loss every 10 epochs (`nn.train.evaluate_loss` runs the model under
# `no_grad`).

# %%
X, y = make_moons(230, noise=0.3, rng=0)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=200, rng=0)
decay_runs = {}
for l2 in (0.0, 3e-3):
    net = MLP(2, [16, 16, 1], activation="relu", init="he", rng=0)
    test_curve = []

    def every_10(epoch, history, net=net, curve=test_curve):
        if epoch % 10 == 0:
            curve.append((epoch, *evaluate_loss(net, X_test, y_test, "bce_logits")))

    h = fit(net, X_train, y_train, loss="bce_logits", optimizer="adam", lr=0.03, epochs=120,
            l2=l2, rng=0, verbose=False, callback=every_10)
    norm = math.sqrt(sum(p.data**2 for p in net.parameters()))
    decay_runs[l2] = (net, h, norm, test_curve)
    _, test_loss, test_acc = test_curve[-1]
    print(f"l2 = {l2:<6} |w| = {norm:5.2f}   train loss {h.train_loss[-1]:.3f} "
          f"acc {h.train_acc[-1]:.0%}   test loss {test_loss:.3f} acc {test_acc:.1%}")

# %%
fig, axes = plt.subplots(1, 3, figsize=(13, 4))
for ax, (l2, (net, _, norm, _)) in zip(axes[:2], decay_runs.items(), strict=True):
    viz.plot_decision_boundary(net, X_train, y_train, ax=ax, resolution=40,
                               title=f"l2 = {l2}: |w| = {norm:.1f}")
for l2, (_, h, _, curve) in decay_runs.items():
    line, = axes[2].plot(h.epoch, h.train_loss, label=f"train, l2 = {l2}")
    axes[2].plot([c[0] for c in curve], [c[1] for c in curve], "o--", color=line.get_color(),
                 label=f"test, l2 = {l2}")
axes[2].set_xlabel("epoch")
axes[2].set_ylabel("loss")
axes[2].set_yscale("log")
axes[2].legend(fontsize=8)
fig.tight_layout()
plt.show()

(_, h0, n0, c0), (_, h1, n1, c1) = decay_runs.values()
print(f"|w| without decay / with: {n0 / n1:.1f}")
assert 2 < n0 / n1 < 3                          # decay keeps the weights small
assert h0.train_loss[-1] < h1.train_loss[-1]    # without it the training set is fit tighter
assert c1[-1][1] < c0[-1][1] / 2                # with it, new data is predicted better:
assert c1[-1][2] > c0[-1][2]                    # lower test loss, higher test accuracy

# %% [markdown]
# Without weight decay the boundary bends around individual noisy points,
# the training loss heads to zero and the test loss climbs: overfitting.
# With $\lambda = 0.003$ the weights stay between 2 and 3 times smaller (the
# norm of all parameters), the boundary is smoother, the test loss is less
# than half and the test accuracy higher. Too much decay underfits: with
# $\lambda = 0.03$ the network can no longer bend the boundary enough, and
# both its training and its test accuracy fall below those of
# $\lambda = 0.003$:

# %%
net = MLP(2, [16, 16, 1], activation="relu", init="he", rng=0)
h2 = fit(net, X_train, y_train, loss="bce_logits", optimizer="adam", lr=0.03, epochs=120,
         l2=0.03, rng=0, verbose=False)
test_loss2, test_acc2 = evaluate_loss(net, X_test, y_test, "bce_logits")
print(f"l2 = 0.03   train loss {h2.train_loss[-1]:.3f} acc {h2.train_acc[-1]:.0%}   "
      f"test loss {test_loss2:.3f} acc {test_acc2:.1%}")
assert h2.train_acc[-1] < h1.train_acc[-1] and test_acc2 < c1[-1][2]

# %% [markdown]
# ### Decay the weights, not the biases
#
# The first source text's update rules (000, equations 3 and 4) treat the
# two kinds of parameters differently:
#
# $$W \leftarrow W - \alpha\left(\frac{1}{N}\sum_n \frac{\partial \mathcal{L}_n}{\partial W}
# + \lambda W\right), \qquad
# b \leftarrow b - \alpha\, \frac{1}{N}\sum_n \frac{\partial \mathcal{L}_n}{\partial b}:$$
#
# the weights are decayed, the **biases are not**. `l2_penalty(params, lam)`
# and `fit(l2=...)` above penalise every parameter they are given, as
# micrograd's demo and PyTorch's `weight_decay` over `model.parameters()`
# do. The reason to exempt biases: decay is meant to keep the function
# smooth by keeping its slopes (the weights) small, but a bias only shifts
# where a unit switches on. Decaying it pulls every unit's switching point
# towards the origin and buys no smoothness.
#
# To follow the text, give the penalty the weights only: a neuron's bias is
# the parameter named `...b` in `model.named_parameters()`. (PyTorch users
# write two parameter groups,
# `SGD([{"params": weights}, {"params": biases, "weight_decay": 0}], ...)`.)
# One step of each against equations (3) and (4), from the same weights
# (the text's $\lambda W$ is the gradient of $\frac{\lambda}{2}\lVert W
# \rVert^2$, so the penalty is `l2_penalty(weights, lam / 2)`):

# %%
def weights_only(net):
    """The parameters 000's rule decays: every weight, no bias."""
    return [p for name, p in net.named_parameters() if not name.endswith(".b")]


def start_net():
    """A 2-4-1 tanh network with non-zero biases (so that decaying them shows)."""
    net = MLP(2, [4, 1], activation="tanh", init="xavier", rng=5)
    biases = random.Random(5)
    for name, p in net.named_parameters():
        if name.endswith(".b"):
            p.data = biases.uniform(-0.5, 0.5)
    return net


lam, alpha = 0.1, 0.5
batch_x, batch_y = X_train[:8], y_train[:8]
stepped = {}
for name in ("no penalty", "weights only", "every parameter"):
    net = start_net()
    penalised = {"no penalty": [], "weights only": weights_only(net),
                 "every parameter": net.parameters()}[name]
    loss = bce_with_logits_loss([net(x) for x in batch_x], batch_y) + l2_penalty(penalised,
                                                                                lam / 2)
    loss.backward()
    SGD(net.parameters(), lr=alpha).step()
    stepped[name] = dict(net.named_parameters())
plain, text_rule, everything = stepped.values()
start = dict(start_net().named_parameters())
for name, p in text_rule.items():
    decay = 0.0 if name.endswith(".b") else alpha * lam * start[name].data
    assert abs(p.data - (plain[name].data - decay)) < 1e-15, name      # eq. (3) and (4)
    assert abs(everything[name].data - (plain[name].data - alpha * lam * start[name].data)) \
        < 1e-15, name
print("b of neuron 0 after one step:  no penalty", plain["layers.0.neurons.0.b"].data,
      "  text's rule", text_rule["layers.0.neurons.0.b"].data,
      "  every parameter", everything["layers.0.neurons.0.b"].data)

# %% [markdown]
# With the text's rule the biases take exactly the undecayed step; with a
# penalty on every parameter they also shrink by $\alpha \lambda b$.
#
# `fit` offers the choice directly: `fit(l2=lam, l2_bias=False)` decays only
# the parameters `nn.train.decayed_parameters(model)` names (those whose name
# does not end in `b` or `bias`: our `weights_only`), on the fast compiled
# path too. Its first epochs equal a hand-written loss with the penalty over
# the weights only:

# %%
X_far = [[a + 4, b + 4] for a, b in make_moons(60, noise=0.1, rng=0)[0]]
y_far = make_moons(60, noise=0.1, rng=0)[1]
by_hand = MLP(2, [8, 1], activation="tanh", init="xavier", rng=0)
by_fit = MLP(2, [8, 1], activation="tanh", init="xavier", rng=0)
assert decayed_parameters(by_hand) == weights_only(by_hand)


def decayed_loss(outputs, targets):
    return bce_with_logits_loss(outputs, targets) + l2_penalty(weights_only(by_hand), 0.01)


h_hand = fit(by_hand, X_far, y_far, loss=decayed_loss, optimizer="adam", lr=0.05, epochs=5,
             verbose=False)
h_fit = fit(by_fit, X_far, y_far, loss="bce_logits", optimizer="adam", lr=0.05, epochs=5,
            l2=0.01, l2_bias=False, verbose=False)
print("hand-written penalty:", [round(v, 6) for v in h_hand.train_loss])
print("fit(l2_bias=False):  ", [round(v, 6) for v in h_fit.train_loss])
assert all(math.isclose(a, b, rel_tol=1e-9)
           for a, b in zip(h_hand.train_loss, h_fit.train_loss, strict=True))

# %% [markdown]
# Where the choice matters: data far from the origin. Moons shifted by
# $(4, 4)$, a 2-8-1 tanh network, a strong penalty $\lambda = 0.01$, Adam for
# 80 epochs, once decaying every parameter (`l2_bias=True`, the default, as
# micrograd's demo) and once the weights only:

# %%
far = {}
for name, l2_bias in (("every parameter", True), ("weights only", False)):
    net = MLP(2, [8, 1], activation="tanh", init="xavier", rng=0)
    fit(net, X_far, y_far, loss="bce_logits", optimizer="adam", lr=0.05, epochs=80, l2=0.01,
        l2_bias=l2_bias, verbose=False)
    acc = sum((net(x).data > 0) == (t == 1) for x, t in zip(X_far, y_far, strict=True)) / 60
    mean_bias = sum(abs(n.b.data) for n in net.layers[0].neurons) / 8
    far[name] = (net, acc, mean_bias)
    print(f"decay {name:16} accuracy {acc:.0%}   mean |bias| of the hidden units {mean_bias:.2f}")

fig, axes = plt.subplots(1, 2, figsize=(10, 4))
for ax, (name, (net, acc, _)) in zip(axes, far.items(), strict=True):
    viz.plot_decision_boundary(net, X_far, y_far, ax=ax, resolution=40,
                               title=f"decay {name}: accuracy {acc:.0%}")
fig.tight_layout()
plt.show()
(_, acc_all, bias_all), (_, acc_w, bias_w) = far.values()
assert acc_w > acc_all and bias_w > 4 * bias_all
assert 0.15 < bias_all < 0.3 and 1.0 < bias_w < 1.5

# %% [markdown]
# Decaying the biases keeps them near 0 (a mean $|b|$ of about 0.2 against
# about 1.2), so every hidden unit's boundary must pass near the origin,
# far from the data, and the network fits the shifted moons worse. With the
# text's rule the biases move the boundaries to the data.

# %% [markdown]
# ## Watching a network learn
#
# TensorFlow Playground made it famous: a network trains while its decision
# boundary, its loss and its weights change on screen. `viz.LiveView` is a
# `fit` callback that does that in a notebook cell: every few epochs it
# redraws one figure **in place** with the decision boundary and the data,
# the loss curves, and each layer's mean $|\partial L / \partial w|$ (from
# `fit(track_grads=True)`; the vanishing and exploding gradients of notebook
# 5 would show there). Outside a notebook (a script, a terminal) it prints
# one progress line per redraw instead. First the moons (100 training and
# 30 test points; the dashed curve is the test loss), 100 epochs, a redraw
# every 25:

# %%
X, y = make_moons(130, noise=0.15, rng=0)
X_live, X_live_test, y_live, y_live_test = train_test_split(X, y, test_size=30, rng=0)
net = MLP(2, [16, 16, 1], activation="relu", init="he", rng=0)
view = viz.LiveView(net, X_live, y_live, every=25, epochs=100, resolution=20,
                    title="moons: 2-16-16-1 relu, Adam")
history = fit(net, X_live, y_live, loss="bce_logits", optimizer="adam", lr=0.02, epochs=100,
              X_test=X_live_test, y_test=y_live_test, track_grads=True, verbose=False,
              callback=view)
assert view.redraws == 4 and history.train_acc[-1] >= 0.95
assert sorted(history.grad_norms) == ["layers.0", "layers.1", "layers.2"]

# %% [markdown]
# The spirals (CS231n's three interleaved arms) need a boundary that winds
# around the origin; three outputs, cross-entropy, the class is the argmax.
# The boundary starts as a few straight cuts and bends into arms:

# %%
X_spiral, y_spiral = make_spirals(150, n_classes=3, noise=0.2, rng=0)
net = MLP(2, [24, 24, 3], activation="relu", init="he", rng=0)
view = viz.LiveView(net, X_spiral, y_spiral, every=50, epochs=150, resolution=20,
                    title="spirals: 2-24-24-3 relu, Adam")
history = fit(net, X_spiral, y_spiral, loss="cross_entropy", optimizer="adam", lr=0.02,
              epochs=150, track_grads=True, verbose=False, callback=view)
print(f"spirals: accuracy {history.train_acc[0]:.0%} after one epoch, "
      f"{history.train_acc[-1]:.0%} after 150")
assert view.redraws == 3 and history.train_acc[0] < 0.7 and history.train_acc[-1] > 0.95

# %% [markdown]
# Without a display the same callback prints a line per redraw:

# %%
net = MLP(2, [16, 16, 1], activation="relu", init="he", rng=0)
text_view = viz.LiveView(net, X_live, y_live, every=50, epochs=100, display="text")
history = fit(net, X_live, y_live, loss="bce_logits", optimizer="adam", lr=0.02, epochs=100,
              verbose=False, callback=text_view)
assert text_view.lines[-1].startswith(f"epoch 100/100: loss {history.train_loss[-1]:.4f}")

# %% [markdown]
# ## Summary
#
# * Training is forward, loss, backward, step; `fit` runs it and returns a
#   `History` that `viz.plot_history` draws.
# * Backpropagation computes the gradient exactly; gradient descent on a
#   non-convex loss is still a local search. The learning rate trades speed
#   for stability (too large diverges); momentum and Adam speed it up in
#   badly scaled valleys; random initialisation breaks the symmetry between
#   units, scaled (Xavier, He) to keep signals from shrinking or growing.
# * Full batch, stochastic and mini-batch descent differ in how many noisy
#   updates one pass over the data buys.
# * Weight decay adds $\lambda \|w\|^2$ to the loss: smaller weights,
#   smoother functions, less overfitting. The source text decays the weights
#   and not the biases (`fit(l2_bias=False)`); that matters when the data is
#   far from the origin.
# * `viz.LiveView` shows training as it happens: boundary, losses and
#   per-layer gradients, redrawn in place.
#
# Next: [5. Gradient flow](05_gradient_flow.ipynb).
