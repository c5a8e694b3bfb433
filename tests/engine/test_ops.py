"""Every entry of the rule table against central finite differences.

``POINTS`` lists, for each built-in primitive, points where it is smooth; a
new primitive in ``engine/ops.py`` without points here fails
``test_every_builtin_op_has_points``. Kinks (relu/abs at 0, max ties) are
tested separately against the PyTorch convention.
"""

import math

import pytest

import engine
from engine import Value, apply, ops
from engine.check import numerical_grad

BUILTINS = {v.name: v for v in vars(ops).values() if isinstance(v, ops.Op)}

POINTS = {
    "add": [(1.5, -2.0), (0.0, 3.0), (-7.25, 1e-3)],
    "sub": [(1.5, -2.0), (0.0, 3.0), (4.0, 4.0)],
    "mul": [(1.5, -2.0), (0.0, 3.0), (-0.5, -0.25)],
    "div": [(1.5, -2.0), (0.0, 3.0), (-3.0, 0.5)],
    "pow": [(1.5, 2.0), (2.0, -1.5), (0.7, 0.3), (3.0, 0.5)],
    "neg": [(1.5,), (-2.0,), (0.0,)],
    "exp": [(0.0,), (1.3,), (-2.5,)],
    "log": [(0.5,), (1.0,), (7.0,)],
    "tanh": [(0.0,), (0.8,), (-2.0,)],
    "sigmoid": [(0.0,), (1.7,), (-3.0,)],
    "relu": [(1.5,), (-2.0,), (0.3,)],
    "abs": [(1.5,), (-2.0,), (0.3,)],
    "sin": [(0.0,), (1.0,), (-2.5,)],
    "cos": [(0.0,), (1.0,), (-2.5,)],
    "sqrt": [(0.25,), (1.0,), (9.0,)],
    "sum": [(1.0,), (1.0, -2.0, 3.5), (0.1, 0.2, 0.3, 0.4)],
    "dot": [(1.0, 2.0), (1.0, 2.0, 3.0, 4.0), (0.5, -1.0, 2.0, 3.0, 0.25)],
    "max": [(1.0, 2.0, 0.5), (-3.0,), (4.0, -1.0)],
}


def test_every_builtin_op_has_points():
    assert set(BUILTINS) == set(POINTS), "add finite-difference points for every new op"
    assert set(BUILTINS) <= set(engine.TABLE)


@pytest.mark.parametrize("name,point", [(n, p) for n, ps in POINTS.items() for p in ps])
def test_op_matches_finite_differences(name, point):
    op = engine.TABLE[name]
    xs = [Value(x) for x in point]
    out = apply(op, *xs)
    assert out.data == pytest.approx(op.forward(*point), rel=1e-15)
    analytic = engine.grad(out, xs)
    numeric = numerical_grad(lambda *vs: apply(op, *vs), point)
    assert analytic == pytest.approx(numeric, rel=1e-6, abs=1e-7)


@pytest.mark.parametrize("name,point", [(n, p) for n, ps in POINTS.items() for p in ps])
def test_value_partials_equal_float_partials(name, point):
    """The same table entry gives the same numbers on floats and on Values."""
    op = engine.TABLE[name]
    xs = [Value(x) for x in point]
    out = apply(op, *xs)
    on_values = op.partials(engine.value.V, out, *xs)
    assert [float(d) for d in on_values] == pytest.approx(list(out.local_grads), rel=1e-15)


FUSED_POINTS = [(), (2.5,), (1.0, 2.0), (-0.0, 0.0), (1e308, 1e308, 2.0, 2.0),
                (0.1, 0.2, 0.3, 0.7, 0.11, -0.13, 0.5), (math.inf, 1.0, 0.0, 2.0, math.nan)]


FUSED_SCALARS = [2.5, -2.5, 0.0, -0.0, 1e-300, -1e-300, math.inf, -math.inf, math.nan]


def _fused_cases():
    for op in BUILTINS.values():
        if op.fused is not None:
            points = FUSED_POINTS if op.arity is None else [(x,) for x in FUSED_SCALARS]
            yield from ((op, point) for point in points)


@pytest.mark.parametrize("op,point", list(_fused_cases()),
                         ids=lambda c: c.name if isinstance(c, ops.Op) else repr(c))
def test_fused_float_path_is_forward_and_partials_bit_for_bit(op, point):
    """An op's ``fused`` (what apply runs on floats) gives exactly its forward and partials,
    signed zeros, inf, nan and the STOP mask included."""
    if op.arity is None:
        out, partials = op.fused(list(point))
        assert type(partials) is tuple
    else:
        out, d = op.fused(*point)
        partials = (d,)
    want = op.forward(*point)
    assert repr(out) == repr(want)
    expected = op.partials(ops.F, want, *point)
    assert [repr(d) for d in partials] == [repr(d) for d in expected]
    assert [d is ops.STOP for d in partials] == [d is ops.STOP for d in expected]


def test_n_ary_ops_with_one_or_two_operands_keep_them_in_slots_and_differentiate():
    b, w, x = Value(0.5), Value(2.0), Value(-3.0)
    for out, parents, grads in [(engine.dot([], [], b), (b,), (1.0,)),
                                (engine.dot([w], [x]), (w, x), (-3.0, 2.0)),
                                (engine.sum([x]), (x,), (1.0,)),
                                (engine.max(w, x), (w, x), (1.0, 0.0))]:
        assert out.parents == parents
        assert engine.grad(out, parents) == grads


def test_the_fused_ops_are_relu_and_dot():
    assert {op.name for op in BUILTINS.values() if op.fused is not None} == {"relu", "dot"}


def test_dot_keeps_its_partials_as_a_tuple_from_the_fused_path():
    w, x = [Value(2.0), Value(-1.0)], [Value(3.0), Value(0.5)]
    out = engine.dot(w, x, Value(0.25))
    assert out.data == 5.75 and out.local_grads == (3.0, 0.5, 2.0, -1.0, 1.0)
    assert ops.DOT.fused is not None


# -- kinks: the subgradient PyTorch picks --------------------------------------------


def test_relu_at_zero_has_zero_slope():
    x = Value(0.0)
    x.relu().backward()
    assert x.grad == 0.0


def test_abs_at_zero_has_zero_slope():
    x = Value(0.0)
    abs(x).backward()
    assert x.grad == 0.0


def test_max_tie_sends_gradient_to_first_maximum():
    a, b, c = Value(2.0), Value(5.0), Value(5.0)
    m = engine.max(a, b, c)
    m.backward()
    assert (m.data, a.grad, b.grad, c.grad) == (5.0, 0.0, 1.0, 0.0)


def test_max_accepts_an_iterable_and_propagates_nan():
    assert engine.max([Value(1.0), 3.0]).data == 3.0
    assert math.isnan(engine.max(Value(1.0), math.nan, 3.0).data)
    with pytest.raises(ValueError, match="at least one"):
        engine.max([])


def test_pow_kinks_follow_torch():
    """x**0 has zero slope everywhere; the exponent's slope at x = 0 is masked to 0."""
    x, p = Value(0.0), Value(0.0)
    y = x**p
    y.backward()
    assert (y.data, x.grad, p.grad) == (1.0, 0.0, 0.0)
    x, p = Value(0.0), Value(2.0)
    (x**p).backward()
    assert (x.grad, p.grad) == (0.0, 0.0)


# -- the fused nodes ---------------------------------------------------------------


def test_dot_is_one_node_with_bias():
    w = [Value(1.0), Value(-2.0), Value(0.5)]
    x = [Value(3.0), Value(1.0), Value(4.0)]
    b = Value(0.25)
    out = engine.dot(w, x, b)
    assert out.op.name == "dot"
    assert out.parents == (*w, *x, b)
    assert out.data == 1.0 * 3.0 - 2.0 * 1.0 + 0.5 * 4.0 + 0.25
    out.backward()
    assert [v.grad for v in w] == [3.0, 1.0, 4.0]
    assert [v.grad for v in x] == [1.0, -2.0, 0.5]
    assert b.grad == 1.0


def test_dot_rejects_mismatched_lengths():
    with pytest.raises(ValueError, match="2 weights but 3 inputs"):
        engine.dot([Value(1.0)] * 2, [1.0, 2.0, 3.0])


def test_sum_of_nothing_is_zero_and_one_node_otherwise():
    assert engine.sum([]).data == 0.0
    xs = [Value(float(i)) for i in range(5)]
    s = engine.sum(xs)
    assert s.op.name == "sum" and s.parents == tuple(xs) and s.data == 10.0
    s.backward()
    assert [x.grad for x in xs] == [1.0] * 5


# -- IEEE semantics without torch (golden values) ----------------------------------


@pytest.mark.parametrize("expr,expected", [
    (lambda: Value(0.0).log(), -math.inf),
    (lambda: Value(-1.0).log(), math.nan),
    (lambda: 1 / Value(0.0), math.inf),
    (lambda: -1 / Value(0.0), -math.inf),
    (lambda: Value(0.0) / 0.0, math.nan),
    (lambda: 1 / Value(-0.0), -math.inf),
    (lambda: Value(-1.0).sqrt(), math.nan),
    (lambda: Value(1000.0).exp(), math.inf),
    (lambda: Value(-1000.0).sigmoid(), 0.0),
    (lambda: Value(1000.0).sigmoid(), 1.0),
    (lambda: Value(1000.0).tanh(), 1.0),
    (lambda: Value(0.0) ** -1, math.inf),
    (lambda: Value(-0.0) ** -1, -math.inf),
    (lambda: Value(-8.0) ** (1 / 3), math.nan),
    (lambda: Value(10.0) ** 400, math.inf),
    (lambda: Value(-10.0) ** 401, -math.inf),
    (lambda: Value(math.inf).sin(), math.nan),
    (lambda: Value(math.nan).relu(), math.nan),
    (lambda: Value(math.inf) - math.inf, math.nan),
    (lambda: Value(1e308) * 10, math.inf),
])
def test_ieee_values_without_python_exceptions(expr, expected):
    got = expr().data
    assert (math.isnan(got) and math.isnan(expected)) or got == expected
