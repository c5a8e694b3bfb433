"""Every op of the rule table through the function transforms.

For each op (the table is iterated, so a new op without a case here fails
``test_every_op_has_a_case``): forward-mode JVP == reverse-mode VJP ==
central finite differences at several points; the Hessian by
forward-over-reverse and by reverse-over-reverse against the analytic one;
third derivatives (``create_graph`` through the gradient graph) against
analytic values or finite differences of the analytic Hessian; and, where
torch is installed, ``torch.autograd.functional.hessian``/``jvp``/``hvp`` in
float64.
"""

import math
import random

import pytest

import engine
from engine import apply
from engine.check import numerical_grad
from engine.func import grad, hessian, hvp, jacobian, jvp, vjp
from engine.primitive import USER_OPS


def _sig(x):
    return 1.0 / (1.0 + math.exp(-x))


def _zeros(n):
    return [[0.0] * n for _ in range(n)]


def _dot_hessian(*xs):
    n = len(xs) // 2
    h = _zeros(len(xs))
    for i in range(n):
        h[i][n + i] = h[n + i][i] = 1.0
    return h


def _pow_hessian(x, y):
    lx = math.log(x)
    return [[y * (y - 1) * x ** (y - 2), x ** (y - 1) * (1 + y * lx)],
            [x ** (y - 1) * (1 + y * lx), x**y * lx * lx]]


def _t(x):
    return math.tanh(x)


# name -> (points, analytic Hessian at a point, analytic third derivative for unary ops)
CASES = {
    "add": ([(1.5, -2.0), (0.0, 3.0)], lambda x, y: _zeros(2), None),
    "sub": ([(1.5, -2.0), (4.0, 4.0)], lambda x, y: _zeros(2), None),
    "mul": ([(1.5, -2.0), (0.0, 3.0)], lambda x, y: [[0.0, 1.0], [1.0, 0.0]], None),
    "div": ([(1.5, -2.0), (-3.0, 0.5)],
            lambda x, y: [[0.0, -1 / y**2], [-1 / y**2, 2 * x / y**3]], None),
    "pow": ([(1.5, 2.0), (2.0, -1.5), (0.7, 0.3)], _pow_hessian, None),
    "neg": ([(1.5,), (-2.0,)], lambda x: [[0.0]], lambda x: 0.0),
    "exp": ([(0.0,), (1.3,), (-2.5,)], lambda x: [[math.exp(x)]], math.exp),
    "log": ([(0.5,), (7.0,)], lambda x: [[-1 / x**2]], lambda x: 2 / x**3),
    "tanh": ([(0.0,), (0.8,), (-2.0,)], lambda x: [[-2 * _t(x) * (1 - _t(x) ** 2)]],
             lambda x: (1 - _t(x) ** 2) * (6 * _t(x) ** 2 - 2)),
    "sigmoid": ([(0.0,), (1.7,), (-3.0,)],
                lambda x: [[_sig(x) * (1 - _sig(x)) * (1 - 2 * _sig(x))]],
                lambda x: _sig(x) * (1 - _sig(x)) * (1 - 6 * _sig(x) + 6 * _sig(x) ** 2)),
    "relu": ([(1.5,), (-2.0,)], lambda x: [[0.0]], lambda x: 0.0),
    "abs": ([(1.5,), (-2.0,)], lambda x: [[0.0]], lambda x: 0.0),
    "sin": ([(0.0,), (1.0,), (-2.5,)], lambda x: [[-math.sin(x)]], lambda x: -math.cos(x)),
    "cos": ([(0.0,), (1.0,), (-2.5,)], lambda x: [[-math.cos(x)]], math.sin),
    "sqrt": ([(0.25,), (9.0,)], lambda x: [[-0.25 * x**-1.5]], lambda x: 0.375 * x**-2.5),
    "sum": ([(1.0,), (1.0, -2.0, 3.5)], lambda *xs: _zeros(len(xs)), None),
    "dot": ([(1.0, 2.0), (1.0, 2.0, 3.0, 4.0), (0.5, -1.0, 2.0, 3.0, 0.25)], _dot_hessian,
            None),
    "max": ([(1.0, 2.0, 0.5), (-3.0,), (4.0, -1.0)], lambda *xs: _zeros(len(xs)), None),
}

BUILTIN = sorted(name for name in engine.TABLE if name not in USER_OPS)
POINTS = [(name, p) for name in BUILTIN if name in CASES for p in CASES[name][0]]


def _f(name):
    op = engine.TABLE[name]
    return lambda *xs: apply(op, *xs)


def _allnums(point):
    return tuple(range(len(point)))


def _direction(n, seed):
    rng = random.Random(seed)
    return [rng.uniform(-1.0, 1.0) for _ in range(n)]


def test_every_op_has_a_case():
    assert set(BUILTIN) <= set(CASES), f"add a case for {sorted(set(BUILTIN) - set(CASES))}"


@pytest.mark.parametrize("name,point", POINTS)
def test_jvp_equals_vjp_equals_finite_differences(name, point):
    f = _f(name)
    numeric = numerical_grad(f, point)
    reverse = list(jacobian(f, _allnums(point), mode="reverse")(*point))
    forward = list(jacobian(f, _allnums(point), mode="forward")(*point))
    assert forward == pytest.approx(reverse, rel=1e-15, abs=0.0)
    assert reverse == pytest.approx(numeric, rel=1e-6, abs=1e-7)
    # one JVP along a direction, and the VJP with a cotangent, are the same contraction
    t = _direction(len(point), len(point))
    out, tangent_out = jvp(f, point, t)
    out2, vjp_fn = vjp(f, point)
    cotangent = list(vjp_fn(0.7))
    assert out == out2 == pytest.approx(op_forward(name, point), rel=1e-15)
    assert tangent_out == pytest.approx(sum(g * ti for g, ti in zip(reverse, t, strict=True)),
                                        rel=1e-12, abs=1e-15)
    assert cotangent == pytest.approx([0.7 * g for g in reverse], rel=1e-15)


def op_forward(name, point):
    return engine.TABLE[name].forward(*point)


@pytest.mark.parametrize("mode", ["forward", "reverse"])
@pytest.mark.parametrize("name,point", POINTS)
def test_hessian_is_analytic(name, point, mode):
    h = hessian(_f(name), _allnums(point), mode=mode)(*point)
    h = [list(row) for row in h]
    expected = CASES[name][1](*point)
    for row, want in zip(h, expected, strict=True):
        assert row == pytest.approx(want, rel=1e-12, abs=1e-14)
    # grad(grad(.)) gives the diagonal too
    for i in range(len(point)):
        d2 = grad(grad(_f(name), i), i)(*point)
        assert d2 == pytest.approx(expected[i][i], rel=1e-12, abs=1e-14)


@pytest.mark.parametrize("name,point", POINTS)
def test_hvp_is_hessian_times_vector(name, point):
    n = len(point)
    v = _direction(n, 3)
    hv = hvp(lambda xs: _f(name)(*xs), list(point), v)
    h = CASES[name][1](*point)
    want = [sum(h[i][j] * v[j] for j in range(n)) for i in range(n)]
    assert hv == pytest.approx(want, rel=1e-12, abs=1e-14)


@pytest.mark.parametrize("name,point", [(n, p) for n, p in POINTS if CASES[n][2]])
def test_third_derivative_of_unary_op(name, point):
    f = _f(name)
    (x,) = point
    want = CASES[name][2](x)
    assert grad(grad(grad(f)))(x) == pytest.approx(want, rel=1e-12, abs=1e-14)
    # forward over reverse over reverse
    assert jacobian(grad(grad(f)), mode="forward")(x) == pytest.approx(want, rel=1e-12,
                                                                       abs=1e-14)


@pytest.mark.parametrize("name,point", POINTS)
def test_third_directional_derivative(name, point):
    """``d3/ds3 f(p + s v)`` by grad(grad(grad)), against finite differences of the
    analytic ``v.H(p + s v).v``: create_graph through every op, fused ones included."""
    f, hess = _f(name), CASES[name][1]
    v = _direction(len(point), 11)

    def along(s):
        return f(*[p + s * vi for p, vi in zip(point, v, strict=True)])

    def second(s):
        q = [p + s * vi for p, vi in zip(point, v, strict=True)]
        h = hess(*q)
        return sum(v[i] * h[i][j] * v[j] for i in range(len(q)) for j in range(len(q)))

    eps = 1e-5
    want = (second(eps) - second(-eps)) / (2 * eps)
    assert grad(grad(grad(along)))(0.0) == pytest.approx(want, rel=1e-5, abs=1e-8)


def test_pow_with_constant_exponent_at_negative_base():
    """x ** 3 for x < 0: the exponent's (nan) partial must not leak into x's derivatives."""
    f = lambda x: x**3.0  # noqa: E731
    assert grad(f)(-2.0) == 12.0
    assert grad(grad(f))(-2.0) == -12.0
    assert grad(grad(grad(f)))(-2.0) == 6.0
    assert jvp(grad(f), (-2.0,), (1.0,)) == (12.0, -12.0)
    assert hessian(lambda x, p: x**p, (0, 1))(-2.0, 3.0)[0][0] == -12.0


# -- PyTorch, float64 -----------------------------------------------------------------


def _torch_fn(torch, name):
    unary = {"neg": torch.neg, "exp": torch.exp, "log": torch.log, "tanh": torch.tanh,
             "sigmoid": torch.sigmoid, "relu": torch.relu, "abs": torch.abs, "sin": torch.sin,
             "cos": torch.cos, "sqrt": torch.sqrt}
    binary = {"add": torch.add, "sub": torch.sub, "mul": torch.mul, "div": torch.div,
              "pow": torch.pow}
    if name in unary:
        return unary[name]
    if name in binary:
        return binary[name]
    if name == "sum":
        return lambda *xs: torch.stack(xs).sum()
    if name == "max":
        return lambda *xs: torch.stack(xs).max()
    if name == "dot":
        def dot(*xs):
            n = len(xs) // 2
            s = (torch.stack(xs[:n]) * torch.stack(xs[n:2 * n])).sum()
            return s + xs[-1] if len(xs) % 2 else s
        return dot
    raise KeyError(name)


@pytest.mark.parametrize("name,point", POINTS)
def test_against_torch_functional(name, point):
    torch = pytest.importorskip("torch")
    from torch.autograd import functional as tf

    tfn = _torch_fn(torch, name)
    f = _f(name)
    xs = tuple(torch.tensor(p, dtype=torch.float64) for p in point)
    v = _direction(len(point), 5)
    vs = tuple(torch.tensor(x, dtype=torch.float64) for x in v)

    h_torch = tf.hessian(tfn, xs)
    h_torch = [[float(h_torch[i][j]) for j in range(len(point))] for i in range(len(point))]
    h_ours = [list(r) for r in hessian(f, _allnums(point))(*point)]
    for row, want in zip(h_ours, h_torch, strict=True):
        assert row == pytest.approx(want, rel=1e-12, abs=1e-14)

    _, jvp_torch = tf.jvp(tfn, xs, vs)
    assert jvp(f, point, v)[1] == pytest.approx(float(jvp_torch), rel=1e-12, abs=1e-14)

    _, hvp_torch = tf.hvp(lambda *a: tfn(*a), xs, vs)
    hv = hvp(lambda a: f(*a), list(point), v)
    assert hv == pytest.approx([float(t) for t in hvp_torch], rel=1e-12, abs=1e-14)


@pytest.mark.parametrize("x", [-2.0, -0.3, 0.4, 1.7])
def test_third_derivative_against_torch(x):
    torch = pytest.importorskip("torch")

    def ours(v):
        return (v * v.sin()).exp() / (1.0 + v * v).sqrt() + engine.dot([v, v], [v.tanh(), 2.0])

    def theirs(t):
        return (t * t.sin()).exp() / (1.0 + t * t).sqrt() + t * t.tanh() + 2.0 * t

    t = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    (d1,) = torch.autograd.grad(theirs(t), t, create_graph=True)
    (d2,) = torch.autograd.grad(d1, t, create_graph=True)
    (d3,) = torch.autograd.grad(d2, t)
    assert grad(grad(grad(ours)))(x) == pytest.approx(float(d3), rel=1e-12)
    assert hvp(grad(ours), x, 1.0) == pytest.approx(float(d3), rel=1e-12)
