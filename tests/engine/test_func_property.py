"""Property tests over random expression DAGs (shared subexpressions included).

Forward-mode and reverse-mode Jacobians agree, Hessians are symmetric and the
same by forward-over-reverse and reverse-over-reverse, and a JVP is the
Jacobian times the tangent.
"""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import engine
from engine.func import hessian, jacobian, jvp

# Each builder takes three earlier nodes (often the same one: shared
# subexpressions) and makes a new one. None grows faster than linearly in its
# inputs, so ten steps stay finite and well scaled.
BUILDERS = {
    "add": lambda a, b, c: a + b,
    "sub": lambda a, b, c: a - b,
    "mul": lambda a, b, c: a * b.tanh(),
    "square": lambda a, b, c: a.tanh() * a.tanh(),  # one node twice: two parent slots
    "div": lambda a, b, c: a / (1.0 + b * b),
    "neg": lambda a, b, c: -a,
    # an exponent that is never exactly 0: there pow's torch-style mask (x**0 has
    # zero slope) makes the Hessian asymmetric, as in torch (see test_func.py)
    "pow": lambda a, b, c: (a.sigmoid() + 0.5) ** (b.tanh() + 0.5),
    "cube": lambda a, b, c: a.tanh() ** 3,  # a constant exponent, negative bases too
    "exp": lambda a, b, c: a.tanh().exp(),
    "log": lambda a, b, c: (a * a + 1.0).log(),
    "sqrt": lambda a, b, c: (a * a + 0.5).sqrt(),
    "tanh": lambda a, b, c: a.tanh(),
    "sigmoid": lambda a, b, c: a.sigmoid(),
    "sin": lambda a, b, c: a.sin(),
    "cos": lambda a, b, c: a.cos(),
    "relu": lambda a, b, c: a.relu(),
    "abs": lambda a, b, c: abs(a),
    "sum": lambda a, b, c: engine.sum([a, b, c]),
    "dot": lambda a, b, c: engine.dot([a.tanh(), b], [c, a.sin()], bias=b),
    "max": lambda a, b, c: engine.max(a, b, c),
}


@st.composite
def dags(draw):
    n_inputs = draw(st.integers(1, 3))
    point = draw(st.lists(st.floats(-1.5, 1.5), min_size=n_inputs, max_size=n_inputs))
    steps = draw(st.lists(
        st.tuples(st.sampled_from(sorted(BUILDERS)), st.integers(0, 10**6),
                  st.integers(0, 10**6), st.integers(0, 10**6)),
        min_size=1, max_size=10))
    n_outputs = draw(st.integers(1, 3))
    return point, steps, n_outputs


def build(steps, n_outputs):
    """The function of a list of inputs that the drawn DAG describes."""
    def f(xs):
        nodes = list(xs)
        for name, i, j, k in steps:
            a, b, c = (nodes[t % len(nodes)] for t in (i, j, k))
            nodes.append(BUILDERS[name](a, b, c))
        return nodes[-n_outputs:]
    return f


def _close(a, b):
    for row_a, row_b in zip(a, b, strict=True):
        assert row_a == pytest.approx(row_b, rel=1e-9, abs=1e-9)


@settings(max_examples=50, deadline=None)
@given(dags())
def test_forward_and_reverse_jacobians_agree(dag):
    point, steps, n_outputs = dag
    f = build(steps, n_outputs)
    forward = jacobian(f, mode="forward")(point)
    reverse = jacobian(f, mode="reverse")(point)
    _close(forward, reverse)
    t = [0.5 - i for i in range(len(point))]
    _, tangent_out = jvp(f, (point,), (t,))
    _close([tangent_out], [[sum(r * ti for r, ti in zip(row, t, strict=True))
                            for row in reverse]])


@settings(max_examples=50, deadline=None)
@given(dags())
def test_hessians_are_symmetric_and_agree(dag):
    point, steps, n_outputs = dag
    g = build(steps, n_outputs)

    def f(xs):
        return engine.sum(g(xs)) + xs[0] * 0.0

    h_fwd = hessian(f, mode="forward")(point)
    h_rev = hessian(f, mode="reverse")(point)
    _close(h_fwd, h_rev)
    _close(h_fwd, [list(col) for col in zip(*h_fwd, strict=True)])
