# %% [markdown]
# # 6. Higher-order derivatives and forward mode
#
# So far a gradient was a list of floats. This notebook makes the gradient
# itself a **graph**, so it can be differentiated again: second derivatives,
# `grad(grad(f))`, Hessians, and Newton's method. Then it returns to the
# question notebook 2 opened: when is **forward mode** the better direction?
#
# The key idea is small. Each entry of dagrad's rule table gives its local
# derivatives as a formula over a math namespace `m`. Evaluated on floats it
# gives numbers (the fast path); evaluated on `Value`s it **builds nodes**. With
# `create_graph=True` the backward DP runs on `Value`s, and every adjoint is a
# differentiable expression.

# %%
import math
import random
import time

import numpy as np

import engine
import viz
from engine import Value
from engine.func import grad, hessian, hvp, jacobian, jvp, vjp
from engine.ops import F
from engine.value import V

random.seed(0)

# %% [markdown]
# The rule for `tanh` is `lambda m, out, x: (1.0 - out * out,)`. On floats
# (`m = F`, `out` a float) it returns a number; on `Value`s (`m = V`, `out` a
# node) the same lambda builds a `sub` node over a `mul` node:

# %%
rule = engine.TABLE["tanh"]
print("on floats:", rule.partials(F, math.tanh(0.5), 0.5))
x = Value(0.5, label="x")
out = x.tanh()
(d,) = rule.partials(V, out, x)
print("on Values:", d, " made by", d.op.name, "of", [p.op.name for p in d.parents if p.op])
assert rule.partials(F, math.tanh(0.5), 0.5)[0] == d.data and d.op.name == "sub"

# %% [markdown]
# ## A second derivative with `create_graph`
#
# For $y = x^3 \sin x$, by hand,
# $y' = 3x^2 \sin x + x^3 \cos x$ and
# $y'' = 6x \sin x + 6x^2 \cos x - x^3 \sin x$.
#
# `engine.grad(y, x, create_graph=True)` returns the first derivative as a
# `Value` that still depends on `x`; differentiating it again gives $y''$.
#
# NB: this is `torch.autograd.grad(y, x, create_graph=True)`; calling
# `y.backward(create_graph=True)` instead leaves a `Value` in `x.grad`, as in
# PyTorch.

# %%
x = Value(1.3, label="x")
y = x**3 * x.sin()
(dy,) = engine.grad(y, x, create_graph=True)
(d2y,) = engine.grad(dy, x)
xv = 1.3
d1 = 3 * xv**2 * math.sin(xv) + xv**3 * math.cos(xv)
d2 = 6 * xv * math.sin(xv) + 6 * xv**2 * math.cos(xv) - xv**3 * math.sin(xv)
print(f"y'  = {dy.data:.12f}  (by hand {d1:.12f})   type: {type(dy).__name__}")
print(f"y'' = {d2y:.12f}  (by hand {d2:.12f})")
assert math.isclose(dy.data, d1, rel_tol=1e-13) and math.isclose(d2y, d2, rel_tol=1e-12)

# %% [markdown]
# The first derivative is a graph built from the same primitives (look for
# the `cos` that the rule for `sin` introduced, and the `**` nodes from the
# rule for `x ** 3`). Drawn with its own adjoints, the grad shown on `x` is
# $\partial y' / \partial x = y''$:

# %%
viz.draw(dy, grads="adjoints", legend=False)

# %% [markdown]
# ## `grad(grad(f))`
#
# `engine.func` has function transforms in the style of JAX: `grad(f)` is a
# new Python function computing $f'$, so derivatives of any order are
# compositions. Successive derivatives of $\tanh$ at $0.5$, each checked
# against a central difference of the previous one:

# %%
derivatives = [engine.tanh]
for _ in range(4):
    derivatives.append(grad(derivatives[-1]))

x0, h = 0.5, 1e-5
t = math.tanh(x0)
closed = [t, 1 - t**2, -2 * t * (1 - t**2), (1 - t**2) * (6 * t**2 - 2),
          8 * t * (1 - t**2) * (2 - 3 * t**2)]
for k, d in enumerate(derivatives):
    value = float(d(x0))
    line = f"tanh^({k})(0.5) = {value:+.10f}   closed form {closed[k]:+.10f}"
    if k:
        previous = derivatives[k - 1]
        fd = (float(previous(x0 + h)) - float(previous(x0 - h))) / (2 * h)
        line += f"   finite difference of order {k - 1}: {fd:+.10f}"
        assert math.isclose(value, fd, rel_tol=1e-6, abs_tol=1e-8)
    assert math.isclose(value, closed[k], rel_tol=1e-12, abs_tol=1e-14)
    print(line)

# %% [markdown]
# NB: `engine.func.grad` is `jax.grad` / `torch.func.grad`: it takes a function
# and returns a function. `engine.grad(outputs, inputs)` keeps the meaning of
# `torch.autograd.grad`.
#
# ## A Hessian
#
# The Hessian of a scalar function is the Jacobian of its gradient. Take the
# Rosenbrock function, the classic banana-shaped valley,
#
# $$f(x, y) = (1 - x)^2 + 100 (y - x^2)^2, \qquad
# H = \begin{pmatrix} 2 - 400 y + 1200 x^2 & -400 x \\ -400 x & 200 \end{pmatrix}.$$

# %%
def rosenbrock(p):
    x, y = p
    return (1 - x) ** 2 + 100 * (y - x**2) ** 2


def rosenbrock_hessian(x, y):
    return [[2 - 400 * y + 1200 * x**2, -400 * x], [-400 * x, 200.0]]


point = [-1.2, 1.0]
H = hessian(rosenbrock)(point)
print("engine  :", H)
print("by hand :", rosenbrock_hessian(*point))
assert np.allclose(H, rosenbrock_hessian(*point), rtol=1e-13)
assert np.allclose(hessian(rosenbrock, mode="reverse")(point), H, rtol=1e-13)

# %% [markdown]
# `hessian` is forward-over-reverse by default (as `jax.hessian`): one reverse
# pass builds the gradient graph, then one forward sweep per input fills a
# column. When only $H v$ is needed (as in Newton-CG or in checking curvature
# along a direction), `hvp` does a single forward sweep over the gradient
# graph and never forms $H$:

# %%
v = [0.3, -0.7]
Hv = hvp(rosenbrock, point, v)
print("hvp:", Hv, "  H @ v:", (np.array(H) @ v).tolist())
assert np.allclose(Hv, np.array(H) @ v, rtol=1e-13)

# %% [markdown]
# ## Newton's method
#
# Gradient descent steps along $-\nabla f$ with a fixed step size. Newton's
# method uses the curvature: it minimises the local quadratic model,
# $x_{k+1} = x_k - H(x_k)^{-1} \nabla f(x_k)$. Near a minimum it converges
# quadratically (the number of correct digits doubles each step). On
# Rosenbrock, starting from the traditional point $(-1.2, 1)$ (watch step 2
# overshoot up the side of the valley: far from the minimum the quadratic
# model is poor, and pure Newton is not monotone):

# %%
p = [-1.2, 1.0]
print(f"{'step':>4} {'x':>14} {'y':>14} {'f':>12} {'|grad|':>10}")
newton = []
for k in range(12):
    g = grad(rosenbrock)(p)
    fval = float(rosenbrock([Value(c) for c in p]))
    newton.append((k, *p, fval, math.hypot(*g)))
    print(f"{k:4} {p[0]:14.10f} {p[1]:14.10f} {fval:12.3e} {math.hypot(*g):10.2e}")
    if math.hypot(*g) < 1e-12:
        break
    step = np.linalg.solve(hessian(rosenbrock)(p), g)
    p = [p[0] - step[0], p[1] - step[1]]
assert math.isclose(p[0], 1.0, abs_tol=1e-10) and math.isclose(p[1], 1.0, abs_tol=1e-10)
newton_steps = k

# %% [markdown]
# Gradient descent from the same point, with a step size ($10^{-3}$) small
# enough to stay stable in this valley, is still far from $(1, 1)$ after a thousand
# steps: the valley floor is nearly flat along its length and steep across,
# and a single step size cannot suit both directions. The Hessian captures
# exactly that difference.

# %%
p = [-1.2, 1.0]
lr = 1e-3
for _ in range(1000):
    g = grad(rosenbrock)(p)
    p = [p[0] - lr * g[0], p[1] - lr * g[1]]
distance = math.hypot(p[0] - 1, p[1] - 1)
print(f"Newton: {newton_steps} steps to |grad| < 1e-12;  gradient descent after 1000 steps: "
      f"({p[0]:.4f}, {p[1]:.4f}), distance {distance:.3f} from the minimum")
assert newton_steps < 12 and distance > 0.1

# %% [markdown]
# ## Forward mode against reverse mode
#
# Notebook 2 showed the two directions of the same DP. For
# $f: \mathbb{R}^n \to \mathbb{R}^m$ the Jacobian costs **$n$ forward sweeps**
# (one column each) or **$m$ reverse sweeps** (one row each), after one
# recording of the graph. `jacobian(f, mode=...)` does either; with
# `mode="auto"` it picks the one with fewer sweeps.
#
# * `jvp(f, primals, tangents)` is one forward sweep: $J t$.
# * `vjp(f, primals)` returns a function computing $u^\top J$, one reverse
#   sweep per call.

# %%
out, Jt = jvp(lambda a, b: [a * b, a.sin() + b], (2.0, 3.0), (1.0, 0.0))   # column 0 of J
out, vjp_fn = vjp(lambda a, b: [a * b, a.sin() + b], (2.0, 3.0))
print("J t with t = e_0:", Jt, "   u J with u = e_1:", vjp_fn([0.0, 1.0]))
assert Jt == [3.0, math.cos(2.0)] and vjp_fn([0.0, 1.0]) == (math.cos(2.0), 1.0)

# %% [markdown]
# Now two mirror-image functions, with 1 and 200 on either side, both a chain
# of 200 steps so that every output depends on a long stretch of the graph:
#
# * **many inputs, one output** (like a loss, or an RNN read at the end):
#   $h_0 = 0$, $h_i = \tanh(h_{i-1} + x_i)$, output $h_{200}$;
# * **one input, many outputs** (a trajectory): $s_0 = t$,
#   $s_k = s_{k-1} + 0.01 \sin s_{k-1}$, outputs $s_1, \dots, s_{200}$.

# %%
# output varies (timings: not compared when the notebooks are checked)
def many_to_one(xs):
    h = 0.0
    for x in xs:
        h = engine.tanh(h + x)
    return h


def one_to_many(t, m=200):
    s, outputs = t, []
    for _ in range(m):
        s = s + 0.01 * engine.sin(s)
        outputs.append(s)
    return outputs


def timed(fn, *args, repeat=3):
    best = math.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn(*args)
        best = min(best, time.perf_counter() - t0)
    return result, best * 1e3


xs = [random.uniform(-0.5, 0.5) for _ in range(200)]
rows = []
for name, fn, arg, n, m in [("many inputs, one output", many_to_one, xs, 200, 1),
                            ("one input, many outputs", one_to_many, 0.7, 1, 200)]:
    J_fwd, fwd_ms = timed(jacobian(fn, mode="forward"), arg)
    J_rev, rev_ms = timed(jacobian(fn, mode="reverse"), arg)
    assert np.allclose(J_fwd, J_rev, rtol=1e-12, atol=1e-15)
    rows.append((name, n, m, fwd_ms, rev_ms))

print(f"{'function':25} {'n':>4} {'m':>4} {'forward sweeps':>15} {'ms':>7} "
      f"{'reverse sweeps':>15} {'ms':>7}")
for name, n, m, fwd_ms, rev_ms in rows:
    print(f"{name:25} {n:4} {m:4} {n:15} {fwd_ms:7.1f} {m:15} {rev_ms:7.1f}")

# %% [markdown]
# The sweep counts are the whole story: 200 forward sweeps against one reverse
# sweep for the loss-like function, and the mirror image for the trajectory.
# (Each sweep visits only the nodes downstream of its seed, about half the
# chain on average, and each mode records the graph once.) Training a
# network is the first case with millions of inputs, which is why deep
# learning uses reverse mode; forward mode shines for few inputs, for
# Jacobian-vector products, and inside `hessian` and `hvp` (forward over
# reverse).
#
# ## Summary
#
# * `create_graph=True` makes adjoints `Value` graphs, so derivatives of
#   derivatives work, to any order, from the same rule table.
# * `grad`, `hessian`, `hvp`, `jacobian`, `jvp`, `vjp` are function transforms
#   in the style of JAX.
# * Newton's method uses the Hessian and converges in a handful of steps where
#   gradient descent crawls.
# * Forward mode costs one sweep per input, reverse mode one per output.
#
# NB: `jacobian(f, mode="forward")` is `jax.jacfwd(f)`, `mode="reverse"` is
# `jax.jacrev(f)`; `hessian` is `jax.hessian` (`jacfwd(jacrev(f))`).
#
# Next: [7. Beyond the MLP](07_beyond_the_mlp.ipynb).
