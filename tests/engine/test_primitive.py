"""User-defined primitives end to end, and the errors caught at registration."""

import math

import pytest

import engine
from engine import Value, gradcheck
from engine.check import gradgradcheck
from engine.func import grad, hessian, jacobian, jvp
from engine.modes import AnomalyError, detect_anomaly, no_grad
from engine.primitive import USER_OPS, primitive, unregister

C = math.sqrt(2.0 / math.pi)


@pytest.fixture
def registered():
    """Names registered by a test, removed afterwards so the table stays clean."""
    names = []
    yield names
    for name in names:
        if name in USER_OPS:
            unregister(name)


@pytest.fixture
def softplus(registered):
    @primitive(partials=lambda m, out, x: (m.sigmoid(x),))
    def softplus(x: float) -> float:
        return max(x, 0.0) + math.log1p(math.exp(-abs(x)))

    registered.append("softplus")
    return softplus


@pytest.fixture
def gelu(registered):
    """GELU, tanh form; its partials are themselves differentiable (written over m)."""

    def gelu_partials(m, out, x):
        t = m.tanh(C * (x + 0.044715 * x * x * x))
        return (0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * C * (1.0 + 3 * 0.044715 * x * x),)

    @primitive(partials=gelu_partials, name="gelu", symbol="GELU")
    def gelu(x: float) -> float:
        return 0.5 * x * (1.0 + math.tanh(C * (x + 0.044715 * x**3)))

    registered.append("gelu")
    return gelu


@pytest.fixture
def hypot(registered):
    @primitive(partials=lambda m, out, x, y: (m.div(x, out), m.div(y, out)))
    def hypot(x: float, y: float) -> float:
        return math.hypot(x, y)

    registered.append("hypot")
    return hypot


@pytest.fixture
def logsumexp(registered):
    def forward(*xs: float) -> float:
        top = max(xs)
        return top + math.log(sum(math.exp(x - top) for x in xs))

    lse = primitive(forward, partials=lambda m, out, *xs: tuple(m.exp(x - out) for x in xs),
                    name="logsumexp")
    registered.append("logsumexp")
    return lse


def _sig(x):
    return 1.0 / (1.0 + math.exp(-x))


# -- end to end --------------------------------------------------------------------------


@pytest.mark.parametrize("x", [-30.0, -1.5, 0.0, 0.7, 40.0])
def test_softplus_everywhere(softplus, x):
    assert engine.TABLE["softplus"] is softplus.op
    assert softplus.__name__ == "softplus"
    y = softplus(Value(x))
    assert y.op.name == "softplus"
    assert y.data == pytest.approx(math.log1p(math.exp(x)) if x < 30 else x, rel=1e-15)
    s = _sig(x)
    # reverse, forward, higher order
    v = Value(x)
    softplus(v).backward()
    assert v.grad == pytest.approx(s, rel=1e-15)
    assert jvp(softplus, (x,), (2.0,))[1] == pytest.approx(2 * s, rel=1e-15)
    assert grad(grad(softplus))(x) == pytest.approx(s * (1 - s), rel=1e-12, abs=1e-300)
    assert grad(grad(grad(softplus)))(x) == pytest.approx(s * (1 - s) * (1 - 2 * s),
                                                           rel=1e-12, abs=1e-300)
    # checks
    assert gradcheck(softplus, [x], check_forward_ad=True)
    assert gradgradcheck(softplus, [x], check_forward_ad=True)


def test_softplus_in_an_expression_under_no_grad(softplus):
    x = Value(0.5)
    with no_grad():
        y = softplus(x * 2.0) + 1.0
    assert y.requires_grad is False and y.parents == ()
    assert softplus(3).data == pytest.approx(math.log1p(math.exp(3.0)), rel=1e-15)
    assert softplus(3).requires_grad is False  # numbers become constants


def test_gelu_against_torch(gelu):
    torch = pytest.importorskip("torch")
    for x in (-2.0, -0.3, 0.0, 0.9, 2.5):
        t = torch.tensor(x, dtype=torch.float64, requires_grad=True)
        y = torch.nn.functional.gelu(t, approximate="tanh")
        (d1,) = torch.autograd.grad(y, t, create_graph=True)
        (d2,) = torch.autograd.grad(d1, t, create_graph=True)
        (d3,) = torch.autograd.grad(d2, t)
        assert gelu(x).data == pytest.approx(float(y.detach()), rel=1e-14, abs=1e-16)
        assert grad(gelu)(x) == pytest.approx(float(d1.detach()), rel=1e-13)
        assert grad(grad(gelu))(x) == pytest.approx(float(d2.detach()), rel=1e-12)
        assert grad(grad(grad(gelu)))(x) == pytest.approx(float(d3), rel=1e-11, abs=1e-13)
        assert jvp(grad(gelu), (x,), (1.0,))[1] == pytest.approx(float(d2.detach()), rel=1e-12)


def test_binary_primitive_hessian(hypot):
    x, y = 3.0, 4.0
    r = 5.0
    want = [[y * y / r**3, -x * y / r**3], [-x * y / r**3, x * x / r**3]]
    for mode in ("forward", "reverse"):
        h = hessian(hypot, argnums=(0, 1), mode=mode)(x, y)
        for row, w in zip(h, want, strict=True):
            assert list(row) == pytest.approx(w, rel=1e-14)
    assert gradgradcheck(hypot, [x, y], check_forward_ad=True)


def test_nary_primitive(logsumexp):
    xs = [0.5, -1.0, 2.0]
    soft = [math.exp(x) / sum(math.exp(v) for v in xs) for x in xs]
    f = lambda v: logsumexp(*v)  # noqa: E731
    assert grad(f)(xs) == pytest.approx(soft, rel=1e-14)
    assert jacobian(f, mode="forward")(xs) == pytest.approx(soft, rel=1e-14)
    h = hessian(f)(xs)
    for i in range(3):
        want = [(soft[i] if i == j else 0.0) - soft[i] * soft[j] for j in range(3)]
        assert h[i] == pytest.approx(want, rel=1e-12, abs=1e-15)
    assert logsumexp(1.0).data == 1.0


def test_detect_anomaly_names_the_primitive(registered):
    @primitive(partials=lambda m, out, x: (m.div(1.0, x),), name="badlog")
    def badlog(x: float) -> float:
        return math.log(x) if x > 0 else -math.inf

    registered.append("badlog")
    with detect_anomaly(), pytest.raises(AnomalyError, match="badlog produced -inf"):
        badlog(Value(0.0))
    with detect_anomaly(), pytest.raises(AnomalyError, match="backward of badlog produced inf"):
        badlog(Value(1e-320)).backward()
    with detect_anomaly(), pytest.raises(AnomalyError, match="forward mode: badlog"):
        jvp(lambda x: badlog(x * 0.0 + 1e-320), (1.0,), (1.0,))


def test_the_picture_shows_the_primitive(softplus, gelu):
    import viz

    x = Value(0.5, label="x")
    y = gelu(softplus(x) * 2.0)
    y.backward()
    source = viz.draw(y).source
    assert "label=<softplus>" in source  # the op node; the default symbol is the name
    assert "label=<GELU>" in source  # a given symbol
    assert f"grad {x.grad:.4g}" in source  # the gradient flowed through both primitives
    assert source == viz.draw(y).source  # deterministic, as for built-in ops


def test_gradcheck_catches_a_wrong_primitive(registered):
    @primitive(partials=lambda m, out, x: (2.0 * m.cos(x),), name="wrongsin")
    def wrongsin(x: float) -> float:
        return math.sin(x)

    registered.append("wrongsin")
    with pytest.raises(engine.GradcheckError, match="reverse mode"):
        gradcheck(wrongsin, [0.3])
    with pytest.raises(engine.GradcheckError, match="forward mode"):
        gradcheck(wrongsin, [0.3], check_backward_ad=False, check_forward_ad=True)


def test_gradgradcheck_catches_a_wrong_second_derivative(registered):
    # right first derivative on floats, but the partial is a constant on Values
    @primitive(partials=lambda m, out, x: (float(m.exp(x)),), name="flatexp")
    def flatexp(x: float) -> float:
        return math.exp(x)

    registered.append("flatexp")
    assert gradcheck(flatexp, [0.3])
    with pytest.raises(engine.GradcheckError, match="gradgradcheck failed"):
        gradgradcheck(flatexp, [0.3])


# -- registration errors --------------------------------------------------------------------


def test_missing_partials_is_an_error():
    with pytest.raises(TypeError, match=r"primitive 'cube': partials= is required"):
        @primitive
        def cube(x: float) -> float:
            return x**3
    with pytest.raises(TypeError, match=r"partials= is required"):
        primitive(lambda x: x, name="ident")
    assert "cube" not in engine.TABLE and "ident" not in engine.TABLE


@pytest.mark.parametrize("partials", [
    lambda m, out: (1.0,),
    lambda m, out, x, y: (1.0, 1.0),
    lambda out, x: (1.0,),
])
def test_partials_of_the_wrong_arity(partials):
    with pytest.raises(TypeError, match=r"primitive 'cube': partials.* does not match "
                                        r"forward\(x: float\) -> float: it must take "
                                        r"\(m, out, x0\)"):
        @primitive(partials=partials)
        def cube(x: float) -> float:
            return x**3
    assert "cube" not in engine.TABLE


def test_nary_forward_needs_nary_partials():
    with pytest.raises(TypeError, match=r"must take \(m, out, \*xs\)"):
        primitive(lambda *xs: sum(xs), partials=lambda m, out, x, y: (1.0, 1.0), name="total")


def test_duplicate_names_are_errors(softplus):
    with pytest.raises(ValueError, match=r"already has a user-defined op .* "
                                         r"unregister\('softplus'\)"):
        primitive(lambda x: x, partials=lambda m, out, x: (1.0,), name="softplus")
    with pytest.raises(ValueError, match="already has a built-in op with that name"):
        primitive(lambda x: x, partials=lambda m, out, x: (1.0,), name="exp")
    assert engine.TABLE["exp"].forward(0.0) == 1.0


def test_other_registration_errors():
    with pytest.raises(ValueError, match=r"give the op a name="):
        primitive(lambda x: x, partials=lambda m, out, x: (1.0,))
    with pytest.raises(TypeError, match="at least one input"):
        primitive(lambda: 1.0, partials=lambda m, out: (), name="nothing")
    with pytest.raises(TypeError, match="keyword-only argument 'k'"):
        def f(x, *, k):
            return x
        primitive(f, partials=lambda m, out, x: (1.0,))
    with pytest.raises(TypeError, match="partials must be a function"):
        primitive(lambda x: x, partials=(1.0,), name="ident")
    with pytest.raises(TypeError, match="forward must be a function"):
        primitive(3.0, partials=lambda m, out, x: (1.0,), name="three")
    with pytest.raises(ValueError, match="'exp' is a built-in op"):
        unregister("exp")
    with pytest.raises(ValueError, match="'nosuch' is not a registered primitive"):
        unregister("nosuch")


def test_errors_at_call_time_name_the_primitive(registered, softplus):
    @primitive(partials=lambda m, out, x: [1.0, 2.0], name="twoslopes")
    def twoslopes(x: float) -> float:
        return x

    @primitive(partials=lambda m, out, x: (1.0,), name="word")
    def word(x: float) -> float:
        return "x"

    registered.extend(["twoslopes", "word"])
    with pytest.raises(ValueError, match=r"'twoslopes': partials must return a tuple of 1 "
                                         r"derivative\(s\), one per input, got 2 values"):
        twoslopes(Value(1.0))
    with pytest.raises(TypeError, match=r"forward of primitive 'word': expected a real number"):
        word(Value(1.0))
    with pytest.raises(TypeError, match=r"softplus\(\) takes 1 input\(s\) but 2 were given"):
        softplus(Value(1.0), 2.0)
    with pytest.raises(TypeError, match="operand of softplus"):
        softplus("one")
