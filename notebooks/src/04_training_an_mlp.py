# %% [markdown]
# # 4. Training an MLP
#
# Notebooks 1 to 3 computed gradients. Training is what they are for: repeat
# *forward, loss, backward, step* until the loss is small. This notebook
#
# 1. reproduces micrograd's famous demo (a 2-16-16-1 network separating two
#    "moons") number for number;
# 2. compares **full-batch**, **stochastic** and **mini-batch** gradient
#    descent on the same problem;
# 3. shows what **weight decay** (an L2 penalty) does to the weights, the
#    decision boundary and the test loss.
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
from nn import MLP
from nn.data import make_moons, micrograd_moons, train_test_split
from nn.losses import hinge_loss, l2_penalty
from nn.optim import SGD, LinearLR
from nn.train import evaluate, fit

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
# test loss every 10 epochs (`nn.train.evaluate` runs the model under
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
            curve.append((epoch, *evaluate(net, X_test, y_test, "bce_logits")))

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
test_loss2, test_acc2 = evaluate(net, X_test, y_test, "bce_logits")
print(f"l2 = 0.03   train loss {h2.train_loss[-1]:.3f} acc {h2.train_acc[-1]:.0%}   "
      f"test loss {test_loss2:.3f} acc {test_acc2:.1%}")
assert h2.train_acc[-1] < h1.train_acc[-1] and test_acc2 < c1[-1][2]

# %% [markdown]
# ## Summary
#
# * Training is forward, loss, backward, step; `fit` runs it and returns a
#   `History` that `viz.plot_history` draws.
# * Full batch, stochastic and mini-batch descent differ in how many noisy
#   updates one pass over the data buys.
# * Weight decay adds $\lambda \|w\|^2$ to the loss: smaller weights,
#   smoother functions, less overfitting.
#
# Next: [5. Gradient flow](05_gradient_flow.ipynb).
