# %% [markdown]
# # 2. Backpropagation is dynamic programming
#
# Notebook 1 ended with a graph and a `backward()` that filled in every
# derivative. This notebook explains *how*, and why it is fast. The claim:
#
# > Backpropagation is **dynamic programming** (DP) over the computation graph.
#
# A DP algorithm is specified by four things, and backpropagation has all four:
#
# | | backpropagation |
# |---|---|
# | **subproblem** | the *adjoint* of a node $v$: $\bar v = \partial L / \partial v$ |
# | **base case** | $\bar L = 1$ |
# | **recurrence** | $\bar v = \sum_{\text{consumers } u} \bar u \cdot \partial u / \partial v$ |
# | **order** | reverse topological: every consumer before the nodes it consumes |
#
# (the adjoint is the derivative of the root $L$ with respect to $v$), and its
# cost is one visit per node and one multiply-add per edge: $O(V + E)$.

# %%
import html as html_lib
import inspect
import math
import random
import tempfile
import time
import warnings
from pathlib import Path

import matplotlib.pyplot as plt
from IPython.display import HTML

import engine
import viz
from engine import Value
from engine.func import grad as grad_of
from engine.func import jvp

random.seed(0)

# %% [markdown]
# ## The recurrence is the chain rule
#
# Suppose $v$ is used by several nodes $u_1, \dots, u_k$ (its *consumers*). $L$
# depends on $v$ only through them, so the multivariable chain rule says
#
# $$\frac{\partial L}{\partial v} = \sum_{i=1}^{k} \frac{\partial L}{\partial u_i}\,
# \frac{\partial u_i}{\partial v}.$$
#
# The first factor is the consumer's adjoint (a subproblem), the second the
# **local derivative** that the rule table gave when $u_i$ was made (it is in
# `u.local_grads`). If a node uses $v$ twice, as in $u = v \cdot v$, it counts
# twice, once per operand slot.
#
# To use the recurrence for $v$ we need every consumer's adjoint first:
# process the nodes from the root backwards, in **reverse topological order**.
# That is the whole algorithm. In plain Python, with a dict as the DP table
# (`node.parents` and `node.local_grads` are the node's operands and the
# local derivatives the rule table gave when it was made):

# %%
def plain_adjoints(root):
    """Backpropagation: dL/dv for every node v reachable from the root L."""
    table = {root: 1.0}                                              # base case
    for node in reversed(engine.topological_order(root)):            # consumers first
        for parent, local in zip(node.parents, node.local_grads or (), strict=True):
            if parent.requires_grad:                                 # the recurrence:
                table[parent] = table.get(parent, 0.0) + table[node] * local
    return table

# %% [markdown]
# Six lines: the base case, the order, and the recurrence, one term per
# (consumer, operand slot). We run it on the example below and on larger
# graphs, always against the engine. dagrad's engine (`engine/backprop.py`)
# runs the same loop, made faster and more general:

# %%
print(inspect.getsource(engine.backprop._fill))

# %% [markdown]
# `table` is the DP table; the line marked `# the one summing site` is the
# recurrence of `plain_adjoints`, the only place where contributions are
# added up. The rest is speed and generality: the `(parent, local
# derivative)` pairs are read straight from the node's slots (a node keeps
# one or two parents and their partials in its own fields, or a marker for
# an n-ary node such as a `sum`, so building a graph allocates one object
# per node); an adjoint starts as `-0.0` rather than `0.0` so that the sum
# keeps IEEE signed zeros exactly; with `create_graph=True` the partials are
# the same rules evaluated on `Value`s, so the adjoints are graphs too; and
# under `engine.detect_anomaly()` each step is checked for NaN and infinity.
# `engine.adjoints(L)` returns the table; `L.backward()` adds it into `.grad`.
#
# ## A worked example
#
# Take $x = 2$, $y = 3$ and
#
# $$a = x y, \qquad b = a + x, \qquad L = a \cdot b .$$
#
# Both $a$ and $x$ have **two consumers** ($a$ is used by $b$ and by $L$;
# $x$ by $a$ and by $b$), so their adjoints are sums of two terms.

# %%
x = Value(2.0, label="x")
y = Value(3.0, label="y")
a = x * y
a.label = "a"
b = a + x
b.label = "b"
L = a * b
L.label = "L"

table = engine.adjoints(L)
order = engine.topological_order(L)
print("backward order:", [n.label for n in reversed(order)])
for node in reversed(order):
    print(f"  adjoint[{node.label}] = dL/d{node.label} = {table[node]}")

# %% [markdown]
# By hand, in the same order:
#
# | step | node | recurrence | adjoint |
# |---|---|---|---|
# | 1 | $L$ | base case | $1$ |
# | 2 | $b$ | consumer $L = ab$: $\bar L \cdot a$ | $6$ |
# | 3 | $a$ | consumers $L$ and $b = a + x$: $\bar L \cdot b + \bar b \cdot 1$ | $8 + 6 = 14$ |
# | 4 | $y$ | consumer $a = xy$: $\bar a \cdot x$ | $28$ |
# | 5 | $x$ | consumers $a$ and $b$: $\bar a \cdot y + \bar b \cdot 1$ | $42 + 6 = 48$ |
#
# Check against the closed form $L = xy(xy + x) = x^2 y^2 + x^2 y$:
# $\partial L/\partial x = 2xy^2 + 2xy = 48$ and $\partial L/\partial y = 2x^2 y + x^2 = 28$.

# %%
assert [n.label for n in reversed(order)] == ["L", "b", "a", "y", "x"]
assert [table[n] for n in (L, b, a, y, x)] == [1.0, 6.0, 14.0, 28.0, 48.0]
assert table[x] == 2 * 2 * 3**2 + 2 * 2 * 3 and table[y] == 2 * 2**2 * 3 + 2**2
assert plain_adjoints(L) == table            # the six-line DP gives the engine's table

# %% [markdown]
# ### The table beside the picture
#
# `viz.draw(..., table=True)` numbers the nodes `#k` in backward order and puts
# the DP table beside the graph; `flow=True` labels each edge with the
# contribution $\bar u \cdot \partial u / \partial v$ that flows back along it, so
# you can read the sums of the recurrence off the picture: the two edges
# leaving $x$ carry $42$ and $6$.

# %%
viz.draw(L, grads="adjoints", table=True, flow=True)

# %% [markdown]
# ### Gradients add up
#
# A node used several times gets the **sum** of the contributions of all its
# uses. Four classic cases, all of which have broken hand-written autodiff
# engines that assigned (`=`) instead of accumulating (`+=`), or that kept a
# node's operands in a set (so $x \cdot x$ had only one parent):

# %%
p = Value(3.0, label="p")
q = p + p                       # d/dp = 2
r = q + q                       # d/dp = 4: q is used twice, p twice inside q
s = p * p                       # two operand slots: d/dp = 2p = 6
t = (p + p) * p                 # 2p^2: d/dp = 4p = 12
print("q = p + p   ", engine.grad(q, p))
print("r = q + q   ", engine.grad(r, p), "  parents of q:", [n.label for n in q.parents])
print("s = p * p   ", engine.grad(s, p), "  parents of s:", len(s.parents))
print("t = (p+p)*p ", engine.grad(t, p))
assert engine.grad(q, p) == (2.0,) and engine.grad(r, p) == (4.0,)
assert engine.grad(s, p) == (6.0,) and engine.grad(t, p) == (12.0,)
assert s.parents == (p, p)

# %%
viz.draw(r, grads="adjoints", table=True)

# %% [markdown]
# In `r`, the node `q` is visited **once** even though it is reached along two
# paths: its adjoint $2$ is final before it passes anything on to `p`.
#
# ## The backward pass, step by step
#
# `viz.backward_steps` replays the engine's DP loop one step at a time and
# yields a frame per step: the node processed, the adjoints known so far
# (final, or still partial sums), what was sent to each parent, and a
# picture. `viz.save_backward_html` writes the replay as one self-contained
# HTML page (written to the system's temporary directory, so running the
# notebook leaves nothing in your working directory).

# %%
steps = list(viz.backward_steps(L))
for frame in steps:
    print(frame.caption)
assert [f.node for f in steps] == list(reversed(order))
assert steps[-1].adjoints == table            # the replay ends with the engine's DP table

# %% [markdown]
# Step 3 is the interesting one: $a$'s adjoint became final only after both of
# its consumers ($L$ and $b$) had sent their contributions. In the picture the
# processed nodes are final, the others show partial sums:

# %%
steps[2]

# %% [markdown]
# The whole replay as a page with buttons and a slider (shown here in an
# `iframe`; open the file in a browser for a full-size view):

# %%
page_path = viz.save_backward_html(L, Path(tempfile.gettempdir()) / "dagrad_backward_L.html",
                                   title="L = a * b, a = x * y, b = a + x")
page = page_path.read_text(encoding="utf-8")
print(f"{len(page) / 1024:.0f} KiB, {len(steps)} frames; open {page_path.name} from your "
      "temporary directory in a browser for the full-size view")
assert len(page) < 150_000
warnings.filterwarnings("ignore", message="Consider using IPython.display.IFrame")
HTML(f'<iframe srcdoc="{html_lib.escape(page)}" width="100%" height="420" '
     'style="border:1px solid #ccc"></iframe>')

# %% [markdown]
# ## Why DP: the cost argument
#
# Without the table, the chain rule can be expanded recursively:
# $\partial L/\partial v$ is the sum, **over every path** from $L$ down to $v$,
# of the product of the local derivatives along the path. That is correct, and
# it is exactly the recurrence above *without memoisation*: a shared node is
# re-expanded once per path that reaches it. The function below does that
# expansion (it is here only to be measured; dagrad never does this):

# %%
def naive_adjoints(root):
    """dL/dv for every node by expanding the chain rule path by path (no memo).

    Returns the table and the number of (node, path) visits.
    """
    table, visits = {}, 0

    def visit(node, g):            # g = product of the local derivatives along this path
        nonlocal visits
        visits += 1
        table[node] = table.get(node, 0.0) + g
        for parent, d in zip(node.parents, node.local_grads or (), strict=True):
            if parent.requires_grad:
                visit(parent, g * d)

    visit(root, 1.0)
    return table, visits


naive, visits = naive_adjoints(L)
assert all(math.isclose(naive[n], table[n]) for n in table)
assert visits == 9 and len(order) == 5
print("same table as the DP; visits:", visits, "versus nodes:", len(order))

# %% [markdown]
# On the tiny example the waste is small (9 visits for 5 nodes). It grows
# exponentially with depth. Take a **layered graph**: $w$ inputs, then $d$
# layers of $w$ nodes, each node the sum of **all** nodes of the layer below,
# then a root summing the last layer; every node has $w$ consumers:
#
# * root-to-leaf **paths**: $w^{d+1}$ (choose one of $w$ nodes in each of the $d$
#   layers, then one of the $w$ leaves): what naive expansion sums over;
# * **edges**: $w$ into the root plus $w \cdot w$ per layer, $w + d w^2$: what
#   DP visits, each once.
#
# A nice twist: in this graph every local derivative is 1, so the adjoint of
# a leaf is exactly the **number of paths** from the root to it. DP counts the
# exponentially many paths in linear time.

# %%
def layered_graph(width, depth):
    """Leaves, then `depth` layers of `width` n-ary sum nodes, then a sum root."""
    leaves = [Value(random.uniform(-1, 1), label=f"x{j}") for j in range(width)]
    layer = leaves
    for _ in range(depth):
        layer = [engine.sum(layer) for _ in range(width)]
    return leaves, engine.sum(layer)


def dp_edges(root):
    return sum(len(n.parents) for n in engine.topological_order(root))


leaves, root = layered_graph(2, 3)
counts = engine.adjoints(root)
print("paths from the root to each leaf:", [counts[x] for x in leaves])
assert [counts[x] for x in leaves] == [2.0**3, 2.0**3]
assert plain_adjoints(root) == counts

# %%
viz.draw(root, grads="adjoints", order=True)

# %% [markdown]
# Now grow the depth, for width 2 and width 3. We count the paths with the
# DP itself, count the DP's edges from the graph, and for the smaller graphs
# also run the naive expansion and time both.

# %%
# output varies (timings: not compared when the notebooks are checked)
rows = []
for width in (2, 3):
    for depth in (2, 4, 6, 8, 10, 12, 14, 16, 20, 30):
        leaves, root = layered_graph(width, depth)
        t0 = time.perf_counter()
        table_dp = engine.adjoints(root)
        dp_ms = (time.perf_counter() - t0) * 1e3
        paths = sum(table_dp[x] for x in leaves)
        edges = dp_edges(root)
        assert paths == width ** (depth + 1) and edges == width + depth * width**2
        naive_visits = naive_ms = None
        if paths <= 60_000:
            t0 = time.perf_counter()
            table_naive, naive_visits = naive_adjoints(root)
            naive_ms = (time.perf_counter() - t0) * 1e3
            assert all(math.isclose(table_naive[x], table_dp[x]) for x in leaves)
            assert naive_visits > paths
        rows.append((width, depth, paths, edges, naive_visits, naive_ms, dp_ms))

print(f"{'w':>2} {'d':>3} {'paths (naive)':>16} {'edges (DP)':>11} "
      f"{'naive visits':>13} {'naive ms':>9} {'DP ms':>7}")
for width, depth, paths, edges, nv, nms, dms in rows:
    nv_text = f"{nv:13,}" if nv is not None else f"{'-':>13}"
    nms_text = f"{nms:9.1f}" if nms is not None else f"{'-':>9}"
    print(f"{width:>2} {depth:>3} {int(paths):16,} {edges:11,} {nv_text} {nms_text} {dms:7.2f}")

# %% [markdown]
# At depth 30 and width 3 naive expansion would sum over $3^{31} \approx 6
# \times 10^{14}$ paths, over two months at a hundred million paths per
# second. DP follows 273 edges. (The naive expansion makes even more visits
# than there are paths: every partial path, from the root to an inner node, is
# a visit too.) The six-line `plain_adjoints` fills the engine's table on
# that graph too:

# %%
paths_30 = 3**31
print(f"3^31 = {paths_30:.2e} paths: {paths_30 / 1e8 / 86400:.0f} days at 1e8 paths/s")
assert 6e14 < paths_30 < 7e14 and paths_30 / 1e8 / 86400 > 61
assert rows[-1][:2] == (3, 30) and rows[-1][3] == 273
leaves, root = layered_graph(3, 30)
assert plain_adjoints(root) == engine.adjoints(root)

# %%
fig, ax = plt.subplots(figsize=(6, 3.5), dpi=80)
for width, marker, color in ((2, "o", "tab:blue"), (3, "s", "tab:red")):
    ds = [r[1] for r in rows if r[0] == width]
    ax.semilogy(ds, [r[2] for r in rows if r[0] == width], marker=marker, color=color,
                label=f"paths, w={width} (naive)")
    ax.semilogy(ds, [r[3] for r in rows if r[0] == width], marker=marker, color=color,
                linestyle="--", label=f"edges, w={width} (DP)")
ax.set_xlabel("depth d")
ax.set_ylabel("terms summed")
ax.set_title("Chain rule expanded per path vs dynamic programming")
ax.legend(fontsize=8)
fig.tight_layout()
plt.show()

# %% [markdown]
# A real network looks like this layered graph: every unit of one layer feeds
# every unit of the next. Backpropagation is usable at all only because it is
# DP.
#
# NB: PyTorch's autograd engine and JAX's `vjp` transpose are the same DP: a
# topological sort of the recorded graph, then one pass that accumulates
# "grad" buffers (PyTorch's `InputBuffer`) for each node before calling its
# backward function.
#
# ## Forward mode: the same DP in the other direction
#
# Transposing the recurrence gives **forward mode**: fix one input direction
# $t$ and carry the *tangent* $\dot v = \sum_j \frac{\partial v}{\partial x_j}
# t_j$ of every node from the inputs up,
# $\dot v = \sum_{\text{parents } p} \frac{\partial v}{\partial p}\, \dot p$,
# in topological order. It uses the very same local derivatives
# (`engine.func.tangents` is the twin of `engine.adjoints`).
#
# The difference is what one pass buys:
#
# * one **forward** pass gives the derivative of **every output** with respect
#   to **one input** direction (a column of the Jacobian);
# * one **reverse** pass gives the derivative of **one output** with respect to
#   **every input** (a row of the Jacobian).
#
# A loss has millions of inputs (the weights) and one output: reverse mode
# needs one pass, forward mode one pass per weight. Measure it on
# $f(x) = \sum_i x_i \sin x_{i+1}$ with $n$ inputs and one output:

# %%
# output varies (timings: not compared when the notebooks are checked)
def f(xs):
    return engine.sum([xs[i] * xs[(i + 1) % len(xs)].sin() for i in range(len(xs))])


def gradient_forward_mode(f, xs):
    """n Jacobian-vector products, one per basis direction e_j: n forward passes."""
    n = len(xs)
    return [jvp(f, (xs,), ([1.0 if i == j else 0.0 for i in range(n)],))[1] for j in range(n)]


print(f"{'n':>5} {'forward passes':>15} {'forward ms':>11} {'reverse passes':>15} "
      f"{'reverse ms':>11}")
mode_rows = []
for n in (10, 40, 160):
    xs = [random.uniform(-1, 1) for _ in range(n)]
    t0 = time.perf_counter()
    g_fwd = gradient_forward_mode(f, xs)
    fwd_ms = (time.perf_counter() - t0) * 1e3
    t0 = time.perf_counter()
    g_rev = grad_of(f)(xs)
    rev_ms = (time.perf_counter() - t0) * 1e3
    exact = [math.sin(xs[(j + 1) % n]) + xs[j - 1] * math.cos(xs[j]) for j in range(n)]
    assert all(math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-15)
               for a, b in zip(g_fwd, exact, strict=True))
    assert all(math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-15)
               for a, b in zip(g_rev, exact, strict=True))
    mode_rows.append((n, fwd_ms, rev_ms))
    print(f"{n:5} {n:15} {fwd_ms:11.1f} {1:15} {rev_ms:11.1f}")

# %% [markdown]
# Both give the exact gradient $\partial f/\partial x_j = \sin x_{j+1} + x_{j-1}
# \cos x_j$; forward mode's cost grows with $n$ (each pass is as big as the
# function, so the total is $O(n^2)$ here), reverse mode's stays at one pass.
# The roles swap for a function with **one input and many outputs**, where
# one forward pass gives the whole Jacobian column; notebook 6 measures that
# side.
#
# ## Summary
#
# * Subproblem: the adjoint $\partial L/\partial v$ of each node. Base case:
#   $\partial L/\partial L = 1$. Recurrence: sum over consumers of consumer
#   adjoint times local derivative. Order: reverse topological.
# * The table makes each node's adjoint computed once; without it, the chain
#   rule sums over paths, and paths grow exponentially with depth.
# * Forward mode is the same DP transposed: one pass per input instead of one
#   pass per output.
#
# NB: `engine.adjoints(L)` is the DP table that `torch.autograd.grad(L,
# all_nodes)` would give; `engine.func.jvp`/`grad` are `jax.jvp`/`jax.grad`.
#
# Next: [3. The delta rule](03_the_delta_rule.ipynb).
