"""engine.compile against the dynamic engine on random graphs over every op (hypothesis).

Each example builds one sample's graph from a random recipe over every
built-in op of the rule table, with constants that include negative numbers,
0, -0.0, inf and nan, and inputs large enough to saturate sigmoid and tanh and
to overflow exp. The compiled outputs and gradients must equal the dynamic
engine's: nan where it has nan, the same infinities, equal to 1e-12 relative
elsewhere (issue 13).
"""

from __future__ import annotations

import math

import pytest

import engine
import engine.compile
from engine import Value
from engine.compile import compile_function

np = pytest.importorskip("numpy")
hypothesis = pytest.importorskip("hypothesis")
st = hypothesis.strategies

INF, NAN = math.inf, math.nan
CONSTANTS = [-2.0, -1.0, -0.5, -0.0, 0.0, 0.5, 1.0, 1.5, 3.0, INF, -INF, NAN]
INPUTS = [-800.0, -50.0, -1.0, -0.0, 0.0, 0.3, 2.0, 50.0, 800.0]
PARAMS = [-1.5, -0.5, 0.0, 0.7, 2.0]

UNARY = {
    "neg": lambda a: -a, "exp": lambda a: a.exp(), "log": lambda a: a.log(),
    "tanh": lambda a: a.tanh(), "sigmoid": lambda a: a.sigmoid(), "relu": lambda a: a.relu(),
    "abs": lambda a: abs(a), "sin": lambda a: a.sin(), "cos": lambda a: a.cos(),
    "sqrt": lambda a: a.sqrt(),
}
BINARY = {
    "add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b, "pow": lambda a, b: a ** b,
}
N_ARY = {
    "sum": lambda xs: engine.sum(xs), "max": lambda xs: engine.max(*xs),
    "dot": lambda xs: engine.dot(xs[: len(xs) // 2], xs[len(xs) // 2 : 2 * (len(xs) // 2)],
                                 xs[-1] if len(xs) % 2 else None),
}
OPS = {**UNARY, **BINARY, **N_ARY}


def test_the_recipes_cover_every_built_in_op():
    from engine.primitive import USER_OPS

    assert set(OPS) == {name for name in engine.TABLE if name not in USER_OPS}


# An operand: ("pool", i) picks an earlier node (inputs and parameters first), or a constant.
operand = st.one_of(st.tuples(st.just("pool"), st.integers(0, 10**6)),
                    st.tuples(st.just("const"), st.sampled_from(CONSTANTS)))
step = st.tuples(st.sampled_from(sorted(OPS)), st.lists(operand, min_size=2, max_size=5))
recipes = st.lists(step, min_size=1, max_size=8)


def build(recipe, inputs, params):
    """The recipe's graph on ``inputs`` and ``params``: the sum of its last nodes."""
    pool = [*inputs, *params]
    for name, args in recipe:
        xs = [pool[c % len(pool)] if kind == "pool" else c for kind, c in args]
        if name in UNARY:
            x = xs[0] if isinstance(xs[0], Value) else pool[-1]
            pool.append(UNARY[name](x))
        elif name in BINARY:
            a, b = xs[0], xs[1]
            if not isinstance(a, Value) and not isinstance(b, Value):
                a = pool[-1]
            pool.append(BINARY[name](a, b))
        else:
            pool.append(N_ARY[name]([pool[-1], *xs]))
    return engine.sum([*pool[-3:], params[0] * inputs[0]])  # reaches an input and a parameter


def same(got, want, what):
    got, want = np.asarray(got, dtype=float), np.asarray(want, dtype=float)
    assert (np.isnan(got) == np.isnan(want)).all(), (what, got, want)
    infinite = np.isinf(want)
    assert (got[infinite] == want[infinite]).all(), (what, got, want)
    finite = np.isfinite(want)
    assert got[finite].tolist() == pytest.approx(want[finite].tolist(), rel=1e-12,
                                                 abs=1e-300), (what, got, want)


@hypothesis.settings(deadline=None, max_examples=60, derandomize=True,
                     suppress_health_check=list(hypothesis.HealthCheck))
@hypothesis.given(recipe=recipes,
                  rows=st.lists(st.lists(st.sampled_from(INPUTS), min_size=3, max_size=3),
                                min_size=1, max_size=3),
                  theta=st.lists(st.sampled_from(PARAMS), min_size=3, max_size=3))
def test_compiled_equals_dynamic_on_random_graphs_over_every_op(recipe, rows, theta):
    params = [Value(v) for v in theta]
    fn = lambda x: build(recipe, x, params)  # noqa: E731
    compiled = compile_function(fn, params, 3)
    X = np.array(rows)
    outputs = compiled(X)
    for r, row in enumerate(rows):
        out = fn([Value(v, requires_grad=False) for v in row])
        table = engine.adjoints(out)
        want = [float(table.get(p, 0.0)) for p in params]
        loss, grad = compiled.loss_and_grad(X[r : r + 1])
        same(outputs[r], out.data, "output")
        same(loss, out.data, "loss")
        same(grad, want, "gradient")


# -- the reuse rule is sound: a branch on the data or the parameters never gives a silently
# -- different number (issue 13, item 3)

THRESHOLDS = [-1.0, 0.0, 0.5]


@hypothesis.settings(deadline=None, max_examples=40, derandomize=True,
                     suppress_health_check=list(hypothesis.HealthCheck))
@hypothesis.given(on=st.sampled_from(["input", "parameter", "both"]),
                  threshold=st.sampled_from(THRESHOLDS),
                  then=recipes, otherwise=recipes,
                  batches=st.lists(st.lists(st.lists(st.sampled_from([-2.0, -0.5, 0.3, 1.0]),
                                                     min_size=3, max_size=3),
                                            min_size=1, max_size=3), min_size=2, max_size=4),
                  steps=st.lists(st.sampled_from([-1.0, 0.0, 0.7]), min_size=4, max_size=4))
def test_a_python_branch_is_followed_or_refused_never_frozen(on, threshold, then, otherwise,
                                                            batches, steps):
    params = [Value(0.4), Value(-0.3), Value(1.1)]

    def fn(x):
        read = {"input": x[1], "parameter": params[1], "both": x[1] * params[1]}[on]
        return build(then if read.data > threshold else otherwise, x, params)

    compiled = compile_function(fn, params, 3)
    for X, shift in zip(batches, steps, strict=False):
        X = np.array(X)
        compiled.theta[1] = shift  # the parameters change between calls, as in training
        try:
            outputs = compiled(X)
        except engine.compile.TraceError:
            continue  # refused with a reason: allowed; a wrong number is not
        saved = [p.data for p in params]
        for p, v in zip(params, compiled.theta.tolist(), strict=True):
            p.data = v
        try:
            want = [fn([Value(v, requires_grad=False) for v in row]).data for row in X.tolist()]
        finally:
            for p, v in zip(params, saved, strict=True):
                p.data = v
        same(outputs, want, "outputs after a branch")
