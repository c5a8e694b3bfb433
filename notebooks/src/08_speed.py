# %% [markdown]
# # 8. Speed
#
# dagrad's engine works on **scalars**: every multiplication in a network is
# a Python object with its own local derivatives, and backward visits each
# one. That is what makes it easy to read and to draw, and it is also why it
# is slow. This notebook measures where the time goes and what the two
# remedies in dagrad buy:
#
# 1. the **fused `dot` node**: a neuron is one node instead of $2n$;
# 2. the **compiled path**: trace the graph once, then run forward and
#    backward for a whole batch as a few numpy array operations per layer.
#
# It ends with the benchmark table of micrograd's demo step, measured here on
# this machine, using the engine factories of dagrad's benchmark suite
# (`bench/demo_step.py`; `python -m bench` runs the full suite). The
# numbers are timings, so they vary from run to run and machine to machine;
# what the notebook asserts is only what must hold exactly (node counts, and
# that every engine computes the same loss).

# %%
import gc
import random
import statistics
import time

import numpy as np

import engine
from bench import demo_step
from engine import Value
from nn import MLP
from nn.compiled import CompiledLoss
from nn.data import micrograd_moons
from nn.losses import hinge_loss, l2_penalty
from nn.optim import SGD, LinearLR
from nn.train import fit

random.seed(0)
X, y = micrograd_moons()


def best_ms(fn, repeat=5):
    """The fastest of `repeat` calls of fn(), in milliseconds (the least disturbed run)."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times) * 1e3

# %% [markdown]
# ## Where the time goes: one Python object per scalar operation
#
# Each operation allocates a `Value`, computes a float, and records its
# parents and local derivatives; backward then loops over every node in
# Python. That costs a microsecond or a few per node, whatever the
# operation, while numpy spends about a nanosecond per element once it has
# an array. Let us count nodes in one step of micrograd's demo (100 points,
# `MLP(2, [16, 16, 1])`, hinge loss plus L2) and divide the time by them.

# %%
# output varies (timings: not compared when the notebooks are checked)
random.seed(1337)
model = MLP(2, [16, 16, 1])
params = model.parameters()


def demo_loss():
    return hinge_loss([model(x) for x in X], y) + l2_penalty(params, 1e-4)


loss = demo_loss()
nodes = engine.topological_order(loss)
edges = sum(len(n.parents) for n in nodes)
forward_ms = best_ms(demo_loss, repeat=3)
backward_ms = best_ms(lambda: engine.adjoints(loss), repeat=3)
print(f"{len(nodes):,} nodes that need a gradient, {edges:,} edges")
print(f"forward {forward_ms:.1f} ms, backward {backward_ms:.1f} ms: "
      f"{(forward_ms + backward_ms) * 1e3 / len(nodes):.2f} microseconds per node")

# %% [markdown]
# ## The fused `dot` node
#
# micrograd builds a neuron as `sum((wi * xi for wi, xi in zip(w, x)), b)`:
# $n$ multiplications and $n$ additions, $2n$ nodes, each with its own object
# and its own step in backward. dagrad's `engine.dot(w, x, b)` computes
# $\sum_i w_i x_i + b$ as **one** node with $2n + 1$ parents and local
# derivatives $(x_1, \dots, x_n, w_1, \dots, w_n, 1)$. The arithmetic is the
# same; the per-node overhead is paid once per neuron instead of $2n$ times.
#
# The same 16-input layer on 100 samples, built both ways from the same
# `Value`s (the unfused one is written out here only to be measured):

# %%
# output varies (timings: not compared when the notebooks are checked)
layer_w = [[Value(random.uniform(-1, 1)) for _ in range(16)] for _ in range(16)]
layer_b = [Value(0.0) for _ in range(16)]
inputs = [[Value(random.uniform(-1, 1), requires_grad=False) for _ in range(16)]
          for _ in range(100)]


def fused():
    return engine.sum([engine.dot(w, x, b).relu()
                       for x in inputs for w, b in zip(layer_w, layer_b, strict=True)])


def unfused():
    return engine.sum([sum((wi * xi for wi, xi in zip(w, x, strict=True)), b).relu()
                       for x in inputs for w, b in zip(layer_w, layer_b, strict=True)])


rows = []
for name, build in (("unfused (micrograd's shape)", unfused), ("fused dot", fused)):
    out = build()
    n = len(engine.topological_order(out))
    f_ms = best_ms(build, repeat=3)
    b_ms = best_ms(lambda out=out: engine.adjoints(out), repeat=3)
    grads = engine.grad(out, layer_w[0])
    rows.append((name, n, f_ms, b_ms, grads))
    print(f"{name:28} {n:7,} nodes   forward {f_ms:6.1f} ms   backward {b_ms:6.1f} ms")

(_, n_unfused, fu, bu, g_unfused), (_, n_fused, ff, bf, g_fused) = rows
print(f"fused: {n_unfused / n_fused:.1f}x fewer nodes, {(fu + bu) / (ff + bf):.1f}x faster")
parameters_and_root = 16 * 16 + 16 + 1
assert n_unfused == 100 * 16 * (16 + 16 + 1) + parameters_and_root   # *, +, relu per neuron
assert n_fused == 100 * 16 * (1 + 1) + parameters_and_root           # dot, relu per neuron
assert np.allclose(g_unfused, g_fused, rtol=1e-12)      # same gradients

# %% [markdown]
# Fusing removes most nodes, and the time follows the node count. It cannot
# remove the rest: each neuron, each sample, is still a handful of Python
# objects.
#
# ## The compiled path
#
# A model's graph has the same **structure** for every sample of a batch:
# only the numbers differ. `engine.compile` (used by `nn.compiled.CompiledLoss`)
# traces the per-sample loss **once** with placeholder inputs, groups the
# nodes of a layer that do the same thing into one array operation (the 16
# `dot` nodes of a layer become one matrix product over the batch), and
# generates straight-line numpy code for the forward and the backward pass.
# The local derivatives come from the same rule table, evaluated on numpy
# expressions instead of floats, so the compiled step computes the same
# gradients:

# %%
random.seed(1337)
model = MLP(2, [16, 16, 1])
params = model.parameters()
dynamic_loss = demo_loss()
dynamic_loss.backward()
dynamic_grads = [p.grad for p in params]

compiled = CompiledLoss(model, "hinge", alpha=1e-4)
model.zero_grad()
compiled_value = compiled.backward(np.array(X), np.array(y, dtype=float))
compiled_grads = [p.grad for p in params]
print(f"loss: dynamic {dynamic_loss.data!r}, compiled {compiled_value!r}")
print("largest gradient difference:",
      max(abs(a - b) for a, b in zip(dynamic_grads, compiled_grads, strict=True)))
assert abs(dynamic_loss.data - compiled_value) < 1e-12
assert np.allclose(dynamic_grads, compiled_grads, rtol=1e-10, atol=1e-14)

# %% [markdown]
# The generated code is readable (a few lines per layer, forward then
# backward):

# %%
print(compiled.source)

# %% [markdown]
# `fit` uses this path by itself: `fit(backend="compiled")` (and the default
# `"auto"`, whenever numpy is installed and the loss is given by name) runs
# each training step through `nn.compiled.compiled_step`, with the same
# optimizer, schedule and `History` as `backend="dynamic"`, the scalar graph.
# The first 30 steps of micrograd's demo (notebook 4: SGD with a decaying
# learning rate), once each way, from the same initial weights:

# %%
# output varies (timings: not compared when the notebooks are checked)
def train(backend):
    random.seed(1337)
    net = MLP(2, [16, 16, 1])
    optimizer = SGD(net.parameters(), lr=1.0)
    schedule = LinearLR(optimizer, start_factor=1.0, end_factor=0.1, total_iters=100)
    t0 = time.perf_counter()
    history = fit(net, X, y, loss="hinge", optimizer=optimizer, schedule=schedule, l2=1e-4,
                  epochs=30, verbose=False, backend=backend)
    return history, time.perf_counter() - t0


dynamic_history, dynamic_s = train("dynamic")
compiled_history, compiled_s = train("compiled")
print(f"dynamic : {dynamic_s:6.2f} s, final loss {dynamic_history.train_loss[-1]:.10f}, "
      f"accuracy {dynamic_history.train_acc[-1]:.0%}")
print(f"compiled: {compiled_s:6.2f} s, final loss {compiled_history.train_loss[-1]:.10f}, "
      f"accuracy {compiled_history.train_acc[-1]:.0%}")
gap = max(abs(a - b) for a, b in zip(dynamic_history.train_loss, compiled_history.train_loss,
                                     strict=True))
print(f"largest difference between the two loss curves over 30 steps: {gap:.1e}, "
      f"speed-up {dynamic_s / compiled_s:.0f}x")
assert gap < 1e-9 and compiled_history.train_acc == dynamic_history.train_acc

# %% [markdown]
# NB: this is what `jax.jit` and `torch.compile` do at a much larger scale:
# trace once, then run a fused program. Like them, the trace assumes the
# graph does not depend on the data: Python `if`s on values would give a
# different graph per sample, which `engine.compile` detects and refuses
# (`TraceError`) rather than computing a wrong gradient.
#
# ## The benchmark: micrograd's demo step on every engine
#
# One full-batch training step (forward, backward, SGD update) of micrograd's
# demo, every engine from micrograd's initial weights, using the step
# functions of `bench/demo_step.py`. Each engine runs a few steps and we keep
# the median time of the steps after the first (the first pays for tracing,
# imports and warm-up); micrograd runs one, since it takes about a second.
# PyTorch runs as a batched float64 model (it is installed in the test
# environment; a missing engine is reported as missing).

# %%
# output varies (timings: not compared when the notebooks are checked)
weights = demo_step.initial_weights()
Xb, yb = demo_step.data()
steps = {"micrograd 0.1.0": 1, "dagrad dynamic": 4, "dagrad dynamic, GC paused": 4,
         "dagrad compiled": 30,
         "dagrad compiled, p.grad": 30, "PyTorch float64": 30, "numpy by hand (floor)": 30}
table, losses = [], {}
for name, make in demo_step.ENGINES:
    if name not in steps:
        continue
    gc.collect()
    step = make(Xb, yb, weights)
    if step is None:
        table.append((name, None, None))
        continue
    times, trace = [], []
    for k in range(steps[name]):
        t0 = time.perf_counter()
        trace.append(step(k))
        times.append(time.perf_counter() - t0)
    losses[name] = trace
    table.append((name, statistics.median(times[1:] or times) * 1e3, trace))

reference = {name: ms for name, ms, _ in table}["micrograd 0.1.0"]
print(f"{'engine':26} {'ms per step':>12} {'x micrograd':>12}   {'first loss':>18}")
for name, ms, trace in table:
    if ms is None:
        print(f"{name:26} {'missing':>12}")
        continue
    speedup = f"{reference / ms:12,.0f}" if reference else f"{'':>12}"
    print(f"{name:26} {ms:12.3f} {speedup}   {trace[0]:18.16f}")

# %% [markdown]
# Every engine computed the same losses, step for step (to rounding), from
# the same weights:

# %%
ref = losses["dagrad dynamic"]
for name, trace in losses.items():
    k = min(len(trace), len(ref))
    diff = max(abs(a - b) for a, b in zip(trace[:k], ref[:k], strict=True))
    print(f"{name:26} max |loss - dagrad dynamic| over {k} steps: {diff:.1e}")
    assert diff < 1e-12
assert abs(ref[0] - 0.8958441028683222) < 1e-12     # micrograd's printed step 0

# %% [markdown]
# Reading the table:
#
# * micrograd and dagrad's dynamic engine pay Python's price per scalar node;
#   dagrad's is tens of times faster mostly from the fused `dot` (far fewer
#   nodes), an iterative DP loop, float local derivatives computed once in
#   the forward pass, and small nodes: a unary or binary node is one object
#   holding its parents and partials in slots, where micrograd's is about
#   seven (a dict, a set, a closure and its cells) for Python's cyclic
#   garbage collector to track and scan. "GC paused" switches off that
#   collector during the step: dagrad's graph has no reference cycles, so
#   reference counting frees it and the collector's scans of thousands of
#   live nodes are pure overhead.
# * The compiled path runs the same step as a few numpy calls per layer,
#   thousands of times faster than micrograd, close to the numpy written by
#   hand (the floor: what the best code generator could emit) and faster
#   than PyTorch on a problem this small, where PyTorch's per-operation
#   overhead dominates. "compiled, p.grad" also writes every gradient back
#   into the `Value`s, so that any `nn.optim` optimizer can be used.
# * For big models all of this is moot: the work moves to large matrix
#   products, where numpy, PyTorch and JAX run at the speed of the hardware
#   and per-operation overhead disappears.
#
# ## Summary
#
# * A scalar engine pays microseconds of Python per node; one step of a small
#   network on 100 points already has thousands of nodes and tens of
#   thousands of edges (about fifty thousand nodes without the fused `dot`).
# * The fused `dot` node cuts the node count of a neuron from $2n$ to 1.
# * Compiling the traced graph to numpy removes the per-node cost entirely.
#
# This is the last notebook. Back to the start:
# [1. Derivatives and the Value graph](01_derivatives_and_the_value_graph.ipynb).
