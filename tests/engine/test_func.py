"""The function transforms of ``engine.func``: results, structures, nesting, errors."""

import collections
import math

import pytest
from golden import micrograd_example

import engine
from engine import Value
from engine.func import grad, hessian, hvp, jacobian, jvp, tangents, value_and_grad, vjp
from engine.modes import AnomalyError, detect_anomaly, no_grad

# -- first order ---------------------------------------------------------------------


def test_grad_of_a_cube_is_a_float():
    g = grad(lambda x: x**3)(2.0)
    assert g == 12.0 and type(g) is float


def test_grad_matches_micrograd_golden_numbers():
    """micrograd's README expression, as a function of (a, b)."""
    value, (da, db) = value_and_grad(micrograd_example, argnums=(0, 1))(-4.0, 2.0)
    assert f"{value:.4f} {da:.4f} {db:.4f}" == "24.7041 138.8338 645.5773"


def test_grad_accepts_ints_and_constant_functions():
    assert grad(lambda x: x * x)(3) == 6.0
    assert grad(lambda x: 5.0, allow_unused=True)(1.0) == 0.0
    assert grad(lambda x: x)(1.0) == 1.0
    assert grad(lambda x, y: y, argnums=0, allow_unused=True)(1.0, 2.0) == 0.0


def test_grad_of_an_output_read_through_data_is_an_error():
    """Issue 16: it returned 0.0 silently; torch.func.grad refuses a non-tensor output."""
    with pytest.raises(TypeError, match=r"returned the number 2\.0, not a Value.*allow_unused"):
        grad(lambda x: x.data * 2)(1.0)
    with pytest.raises(TypeError, match="not a Value"):
        grad(lambda x: 5.0)(1.0)
    with pytest.raises(TypeError, match="not a Value"):
        value_and_grad(lambda x, y: y)(1.0, 2.0)
    assert grad(lambda x: x.data * 2, allow_unused=True)(1.0) == 0.0
    assert value_and_grad(lambda x: float(x) + 1.0, allow_unused=True)(1.0) == (2.0, 0.0)


def test_grad_of_a_value_that_does_not_depend_is_zero_as_in_torch_func():
    torch = pytest.importorskip("torch")
    want = torch.func.grad(lambda x: x.detach() * 2)(torch.tensor(1.0, dtype=torch.float64))
    assert grad(lambda x: x.detach() * 2)(1.0) == want.item() == 0.0
    assert grad(grad(lambda x: 2.0 * x))(1.0) == 0.0  # the inner result is a constant Value


def test_grad_structures_follow_the_argument():
    f = lambda xs: xs[0] * xs[1] + xs[2]  # noqa: E731
    assert grad(f)([2.0, 3.0, 4.0]) == [3.0, 2.0, 1.0]
    assert grad(f)((2.0, 3.0, 4.0)) == (3.0, 2.0, 1.0)
    assert grad(lambda p: p["w"] * p["b"])({"w": 2.0, "b": -1.0}) == {"w": -1.0, "b": 2.0}
    nested = grad(lambda p: p["w"][0] * p["w"][1] * p["b"])({"w": [1.0, 2.0], "b": 3.0})
    assert nested == {"w": [6.0, 3.0], "b": 2.0}
    Point = collections.namedtuple("Point", "x y")
    assert grad(lambda p: p.x * p.y)(Point(2.0, 5.0)) == Point(5.0, 2.0)


def test_argnums_tuple_and_negative():
    f = lambda x, y, z: x * y * z  # noqa: E731
    assert grad(f, argnums=(0, 2))(2.0, 3.0, 4.0) == (12.0, 6.0)
    assert grad(f, argnums=-1)(2.0, 3.0, 4.0) == 6.0
    assert grad(f, argnums=(1,))(2.0, 3.0, 4.0) == (8.0,)


def test_non_differentiated_arguments_and_kwargs_pass_through():
    def f(x, name, scale=1.0):
        assert name == "label"
        return x * scale

    assert grad(f)(2.0, "label", scale=3.0) == 3.0


def test_value_and_grad_and_has_aux():
    def f(x):
        y = x * x
        return y, {"y": y.data}

    (value, aux), g = value_and_grad(f, has_aux=True)(3.0)
    assert (value, aux, g) == (9.0, {"y": 9.0}, 6.0)
    assert grad(f, has_aux=True)(3.0) == (6.0, {"y": 9.0})


def test_grad_keeps_the_function_name():
    def loss(x):
        return x * x

    assert grad(loss).__name__ == "loss"


# -- Jacobians -------------------------------------------------------------------------


def polar(p):
    r, theta = p
    return [r * theta.cos(), r * theta.sin(), r * r]


@pytest.mark.parametrize("mode", ["forward", "reverse", "auto"])
def test_jacobian_by_both_modes(mode):
    r, th = 2.0, 0.3
    want = [[math.cos(th), -r * math.sin(th)], [math.sin(th), r * math.cos(th)], [2 * r, 0.0]]
    got = jacobian(polar, mode=mode)([r, th])
    for row, w in zip(got, want, strict=True):
        assert row == pytest.approx(w, rel=1e-15)


def test_jacobian_structures():
    f = lambda x: {"sq": x * x, "pair": (x, 3.0)}  # noqa: E731
    assert jacobian(f)(2.0) == {"sq": 4.0, "pair": (1.0, 0.0)}
    g = lambda p: [p["a"] * p["b"]]  # noqa: E731
    assert jacobian(g, mode="forward")({"a": 2.0, "b": 5.0}) == [{"a": 5.0, "b": 2.0}]
    assert jacobian(lambda x, y: x * y, argnums=(0, 1))(2.0, 5.0) == (5.0, 2.0)
    J, aux = jacobian(lambda x: ([x, -x], "aux"), has_aux=True)(1.0)
    assert (J, aux) == ([1.0, -1.0], "aux")


def test_jacobian_auto_picks_the_cheaper_mode(monkeypatch):
    import engine.func as func

    calls = []
    for name in ("_forward_rows", "_reverse_rows"):
        real = getattr(func, name)
        monkeypatch.setattr(func, name, lambda *a, _r=real, _n=name: calls.append(_n) or _r(*a))
    jacobian(lambda x: [x, x * x, x.exp()])(1.0)  # n = 1 <= m = 3
    jacobian(lambda xs: xs[0] * xs[1] * xs[2])([1.0, 2.0, 3.0])  # n = 3 > m = 1
    jacobian(lambda xs: xs[0] * xs[1], mode="forward")([1.0, 2.0])
    assert calls == ["_forward_rows", "_reverse_rows", "_forward_rows"]


# -- forward mode ------------------------------------------------------------------------


def test_jvp_vjp_and_tangent_table():
    f = lambda x, y: [x * y, x.sin() + y]  # noqa: E731
    out, t = jvp(f, (2.0, 3.0), (1.0, -1.0))
    assert out == [6.0, math.sin(2.0) + 3.0]
    assert t == pytest.approx([3.0 - 2.0, math.cos(2.0) - 1.0], rel=1e-15)
    out2, vjp_fn = vjp(f, (2.0, 3.0))
    assert out2 == out
    assert vjp_fn([1.0, 0.0]) == (3.0, 2.0)
    assert vjp_fn([0.0, 2.0]) == pytest.approx((2 * math.cos(2.0), 2.0), rel=1e-15)

    x, y = Value(2.0), Value(3.0)
    z = x * y + x * x
    table = tangents(z, [x, y], [1.0, 0.0])
    assert table[z] == 3.0 + 4.0 and table[x] == 1.0
    assert tangents(z, x)[z] == 7.0


def test_jvp_with_a_lone_scalar_or_dict_primal():
    assert jvp(lambda x: x * x, 3.0, 1.0) == (9.0, 6.0)
    out = jvp(lambda p: p["a"] * p["b"], {"a": 2.0, "b": 5.0}, {"a": 1.0, "b": 0.0})
    assert out == (10.0, 5.0)


def test_forward_mode_follows_shared_subexpressions_once_per_slot():
    x = Value(1.5)
    a = x + x  # two slots
    b = a * a
    c = engine.dot([b, a], [a, x])
    assert tangents(c, x)[c] == pytest.approx(grad(
        lambda v: engine.dot([(v + v) * (v + v), v + v], [v + v, v]))(1.5), rel=1e-15)


def test_forward_mode_under_detect_anomaly_names_the_op():
    with detect_anomaly(), pytest.raises(AnomalyError, match="forward mode: sqrt"):
        jvp(lambda x: x.sqrt(), (0.0,), (1.0,))


# -- higher order and nesting ---------------------------------------------------------------


def test_grad_of_grad_to_fourth_order():
    f = lambda x: x.sin() * x.exp()  # noqa: E731
    x = 0.7
    # (e^x sin x)'''' = -4 e^x sin x
    assert grad(grad(grad(grad(f))))(x) == pytest.approx(-4 * math.exp(x) * math.sin(x),
                                                         rel=1e-13)


def test_nested_transforms_do_not_confuse_perturbations():
    """d/dx [x * (d/dy x*y at y=x)] = d/dx [x * x] = 2x (JAX's classic example)."""
    assert grad(lambda x: x * grad(lambda y: x * y)(x))(2.0) == 4.0
    # the inner level closes over the outer variable and is fed a float
    assert grad(lambda x: x * grad(lambda y: x * y)(3.0))(2.0) == 4.0


def test_jvp_inside_grad_and_vjp_inside_grad():
    f = lambda x: x.exp() * x  # noqa: E731 - f'' = e^x (x + 2)
    assert grad(lambda x: jvp(f, (x,), (1.0,))[1])(0.5) == pytest.approx(
        math.exp(0.5) * 2.5, rel=1e-15)

    def g(x):
        _, vjp_fn = vjp(f, (x,))
        return vjp_fn(1.0)[0]

    assert grad(g)(0.5) == pytest.approx(math.exp(0.5) * 2.5, rel=1e-15)


def test_hessian_modes_agree_and_are_symmetric():
    def f(p):
        x, y, z = p
        return (x * y).sin() + z.exp() * x**2 + engine.dot([x, y], [y, z])

    p = [0.3, -0.8, 0.5]
    h_fwd = hessian(f, mode="forward")(p)
    h_rev = hessian(f, mode="reverse")(p)
    for i in range(3):
        assert h_fwd[i] == pytest.approx(h_rev[i], rel=1e-14)
        for j in range(3):
            assert h_fwd[i][j] == pytest.approx(h_fwd[j][i], rel=1e-14)
    v = [1.0, -2.0, 0.5]
    hv = hvp(f, p, v)
    assert hv == pytest.approx([sum(h_fwd[i][j] * v[j] for j in range(3)) for i in range(3)],
                               rel=1e-13)


def test_hessian_with_argnums_tuple_and_dict():
    h = hessian(lambda x, y: x * x * y, argnums=(0, 1))(3.0, 2.0)
    assert h == ((4.0, 6.0), (6.0, 0.0))
    hd = hessian(lambda p: p["a"] ** 2 * p["b"])({"a": 3.0, "b": 2.0})
    assert hd == {"a": {"a": 4.0, "b": 6.0}, "b": {"a": 6.0, "b": 0.0}}


def test_value_inputs_give_connected_results():
    x = Value(2.0)
    g = grad(lambda v: v**3)(x)
    assert isinstance(g, Value) and g.data == 12.0
    g.backward()
    assert x.grad == 12.0  # d/dx 3x^2
    out, t = jvp(lambda v: v.sin(), (x,), (1.0,))
    (dt,) = engine.grad(t, x)
    assert dt == pytest.approx(-math.sin(2.0), rel=1e-15)


def test_hvp_differentiable_in_its_vector():
    """An outer grad with respect to v of v . H v = 2 H v (tangents that are graphs)."""
    f = lambda p: p[0] ** 2 * p[1] + p[1].sin()  # noqa: E731
    x = [1.0, 0.5]
    h = hessian(f)(x)

    def quad(v):
        hv = hvp(f, x, v)
        return hv[0] * v[0] + hv[1] * v[1]

    v = [0.3, -0.7]
    want = [2 * sum(h[i][j] * v[j] for j in range(2)) for i in range(2)]
    assert grad(quad)(v) == pytest.approx(want, rel=1e-14)


def test_transforms_ignore_an_outer_no_grad_and_respect_an_inner_one():
    with no_grad():
        assert grad(lambda x: x * x)(3.0) == 6.0

    def f(x):
        with no_grad():
            y = x * x
        return y + x

    assert grad(f)(3.0) == 1.0


def test_closure_over_a_value_is_a_constant_at_top_level():
    w = Value(3.0)
    assert grad(lambda x: w * x)(2.0) == 3.0
    assert w.grad is None


# -- Newton's method ---------------------------------------------------------------------


def rosenbrock(p):
    x, y = p
    return (1 - x) ** 2 + 100 * (y - x * x) ** 2


def test_newton_with_grad_and_hessian_finds_rosenbrock_minimum():
    p, steps = [-1.2, 1.0], 0
    g_fn, h_fn = grad(rosenbrock), hessian(rosenbrock)
    while math.hypot(p[0] - 1.0, p[1] - 1.0) > 1e-12 and steps < 50:
        g, ((a, b), (c, d)) = g_fn(p), h_fn(p)
        det = a * d - b * c
        p = [p[0] - (d * g[0] - b * g[1]) / det, p[1] - (a * g[1] - c * g[0]) / det]
        steps += 1
    assert steps <= 10  # pure Newton: 7 steps from (-1.2, 1), quadratic at the end
    assert p == pytest.approx([1.0, 1.0], abs=1e-12)
    assert grad(rosenbrock)([1.0, 1.0]) == [0.0, 0.0]
    assert hessian(rosenbrock)([1.0, 1.0]) == [[802.0, -400.0], [-400.0, 200.0]]


# -- bad input -----------------------------------------------------------------------------


def test_grad_of_a_non_scalar_names_the_function():
    def vec(x):
        return [x, x]

    with pytest.raises(TypeError, match=r"vec must return a scalar .* list of 2.*jacobian"):
        grad(vec)(1.0)


@pytest.mark.parametrize("argnums,err,msg", [
    (2, ValueError, r"argnums=2 is out of range: f was called with 2"),
    (-3, ValueError, r"argnums=-3 is out of range"),
    ((0, 0), ValueError, r"names an argument twice"),
    ((), TypeError, r"argnums must be an int or a non-empty tuple"),
    ("0", TypeError, r"argnums must be an int"),
    (True, TypeError, r"argnums must be an int"),
    ((0, 1.0), TypeError, r"argnums must hold ints, got float"),
])
def test_bad_argnums(argnums, err, msg):
    def f(x, y):
        return x * y

    with pytest.raises(err, match=msg):
        grad(f, argnums=argnums)(1.0, 2.0)


@pytest.mark.parametrize("bad", ["a", None, True, [1.0, "b"], {"w": None}, {1, 2}])
def test_non_differentiable_input_names_the_argument(bad):
    def f(x, weights):
        return x

    with pytest.raises(TypeError, match=r"grad: argument 1 \('weights'\) of f"):
        grad(f, argnums=1)(1.0, bad)


def test_bad_tangents_and_cotangents():
    f = lambda xs: xs[0] * xs[1]  # noqa: E731
    with pytest.raises(ValueError, match=r"tangents\[0\] is a list of 1 but must match a list "
                                         r"of 2"):
        jvp(f, ([1.0, 2.0],), ([1.0],))
    with pytest.raises(ValueError, match="1 primals but 2 tangents"):
        jvp(f, ([1.0, 2.0],), ([1.0, 0.0], 1.0))
    with pytest.raises(TypeError, match=r"tangents\[0\]\[1\]: expected a float"):
        jvp(f, ([1.0, 2.0],), ([1.0, "x"],))
    with pytest.raises(TypeError, match="jvp: primals: expected a tuple of arguments"):
        jvp(f, "ab", ("cd",))
    _, vjp_fn = vjp(lambda x: [x, x], (1.0,))
    with pytest.raises(ValueError, match=r"cotangents is a scalar but must match a list of 2"):
        vjp_fn(1.0)


def test_bad_outputs_mode_and_functions():
    with pytest.raises(TypeError, match=r"jacobian: the output of <lambda>\[1\]: .* got str"):
        jacobian(lambda x: [x, "y"])(1.0)
    with pytest.raises(ValueError, match="mode must be 'auto', 'forward' or 'reverse'"):
        jacobian(lambda x: x, mode="sideways")
    with pytest.raises(TypeError, match="grad: expected a function, got float"):
        grad(3.0)
    with pytest.raises(TypeError, match=r"has_aux=True, f must return a pair"):
        grad(lambda x: x, has_aux=True)(1.0)
    with pytest.raises(ValueError, match="tangents: 2 inputs but 1 seeds"):
        tangents(Value(1.0), [Value(1.0), Value(2.0)], [1.0])


def test_jacfwd_and_jacrev_are_the_two_modes():
    from engine.func import jacfwd, jacrev

    f = lambda p: {"a": p[0] * p[1], "b": p[1].exp()}  # noqa: E731
    assert jacfwd(f)([2.0, 0.0]) == jacrev(f)([2.0, 0.0]) == {"a": [0.0, 2.0], "b": [0.0, 1.0]}
    assert jacrev(lambda x: (x * x, "aux"), has_aux=True)(3.0) == (6.0, "aux")


# -- found through the transforms: one fixed in the core, one reported (ops.py) -------


def test_detect_anomaly_allows_pow_of_a_negative_base():
    with detect_anomaly():
        assert jvp(lambda x: x**3, (-2.0,), (1.0,)) == (-8.0, 12.0)  # forward mode: fine
        assert grad(lambda x: x**3)(-2.0) == 12.0
        assert grad(grad(lambda x: x**3))(-2.0) == -12.0
        assert hessian(lambda x: x**3, mode="forward")(-2.0) == -12.0


def test_hessian_of_pow_at_a_zero_exponent_is_symmetric():
    h = hessian(lambda x, p: x**p, argnums=(0, 1))(2.0, 0.0)
    assert h[0] == pytest.approx((0.0, 0.5), rel=1e-15)
    assert h[1] == pytest.approx((0.5, math.log(2.0) ** 2), rel=1e-15)
