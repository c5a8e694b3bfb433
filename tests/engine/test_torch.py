"""Every op, its edge cases, first and second derivatives, against PyTorch float64."""

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import engine
from engine import Value

torch = pytest.importorskip("torch")

# name -> (dagrad function of Values, torch function of tensors)
UNARY = {
    "neg": (lambda x: -x, lambda x: -x),
    "exp": (engine.exp, torch.exp),
    "log": (engine.log, torch.log),
    "tanh": (engine.tanh, torch.tanh),
    "sigmoid": (engine.sigmoid, torch.sigmoid),
    "relu": (engine.relu, torch.relu),
    "abs": (engine.abs, torch.abs),
    "sin": (engine.sin, torch.sin),
    "cos": (engine.cos, torch.cos),
    "sqrt": (engine.sqrt, torch.sqrt),
}
BINARY = {
    "add": (lambda x, y: x + y, lambda x, y: x + y),
    "sub": (lambda x, y: x - y, lambda x, y: x - y),
    "mul": (lambda x, y: x * y, lambda x, y: x * y),
    "div": (lambda x, y: x / y, lambda x, y: x / y),
    "pow": (lambda x, y: x**y, lambda x, y: x**y),
}
NARY = {
    "sum": (lambda *xs: engine.sum(xs), lambda *xs: torch.stack(xs).sum()),
    "dot": (lambda *xs: engine.dot(xs[: len(xs) // 2], xs[len(xs) // 2 : 2 * (len(xs) // 2)],
                                   xs[-1] if len(xs) % 2 else None),
            lambda *xs: (torch.stack(xs[: len(xs) // 2])
                         * torch.stack(xs[len(xs) // 2 : 2 * (len(xs) // 2)])).sum()
            + (xs[-1] if len(xs) % 2 else 0.0)),
    "max": (lambda *xs: engine.max(*xs), lambda *xs: torch.stack(xs).max(dim=0).values),
}

ORDINARY = [-2.5, -1.0, -0.3, 0.4, 1.0, 2.7]
EDGES = [0.0, -0.0, 1e-300, -1e-300, 1000.0, -1000.0, 710.0, math.inf, -math.inf, math.nan]
BINARY_EDGES = [(0.0, 0.0), (1.0, 0.0), (-1.0, 0.0), (0.0, -1.0), (-0.0, -1.0), (0.0, 2.0),
                (0.0, 0.5), (-2.0, 0.5), (-2.0, 3.0), (-8.0, 1 / 3), (math.inf, 0.0),
                (10.0, 400.0), (-10.0, 401.0), (math.nan, 0.0), (1.0, math.nan),
                (math.inf, -math.inf), (1e308, 10.0), (2.0, -1.0), (-2.0, 2.0)]


def same(a: float, b: float, rel: float = 1e-12) -> bool:
    """Equal as IEEE numbers: nan == nan, infinities by sign, else close."""
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    if math.isinf(a) or math.isinf(b):
        return a == b
    return math.isclose(a, b, rel_tol=rel, abs_tol=1e-300)


def compare(fn, tfn, point, second_order=True):
    xs = [Value(x) for x in point]
    out = fn(*xs)
    ts = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in point]
    tout = tfn(*ts)
    assert same(out.data, tout.item()), f"value at {point}: {out.data} vs {tout.item()}"
    grads = engine.grad(out, xs, create_graph=second_order, materialize_grads=True)
    tgrads = torch.autograd.grad(tout, ts, create_graph=second_order, allow_unused=True,
                                 materialize_grads=True)
    for i, (g, tg) in enumerate(zip(grads, tgrads, strict=True)):
        assert same(float(g), tg.item()), f"d/dx{i} at {point}: {float(g)} vs {tg.item()}"
    if not second_order:
        return
    for i, (g, tg) in enumerate(zip(grads, tgrads, strict=True)):
        if not tg.requires_grad:  # torch: the first derivative is constant
            continue
        row = engine.grad(g, xs, materialize_grads=True) if isinstance(g, Value) and \
            g.requires_grad else [0.0] * len(xs)
        trow = torch.autograd.grad(tg, ts, allow_unused=True, materialize_grads=True,
                                   retain_graph=True)
        for j, (h, th) in enumerate(zip(row, trow, strict=True)):
            assert same(float(h), th.item(), 1e-10), \
                f"d2/dx{i}dx{j} at {point}: {float(h)} vs {th.item()}"


@pytest.mark.parametrize("name", UNARY)
@pytest.mark.parametrize("x", ORDINARY)
def test_unary_ops_first_and_second_order(name, x):
    if name in ("log", "sqrt") and x <= 0:
        x = -x
    compare(*UNARY[name], (x,))


@pytest.mark.parametrize("name", UNARY)
@pytest.mark.parametrize("x", EDGES)
def test_unary_ops_edge_cases(name, x):
    compare(*UNARY[name], (x,), second_order=False)


@pytest.mark.parametrize("name", BINARY)
@pytest.mark.parametrize("point", [(1.5, -2.0), (-0.7, 3.0), (2.0, 0.5), (0.3, -1.2)])
def test_binary_ops_first_and_second_order(name, point):
    if name == "pow":
        point = (abs(point[0]), point[1])
    compare(*BINARY[name], point)


@pytest.mark.parametrize("name", BINARY)
@pytest.mark.parametrize("point", BINARY_EDGES)
def test_binary_ops_edge_cases(name, point):
    compare(*BINARY[name], point, second_order=False)


@pytest.mark.parametrize("name", NARY)
@pytest.mark.parametrize("point", [(1.0, -2.0, 3.5), (0.5, -1.0, 2.0, 3.0, 0.25),
                                   (2.0, 2.0, 1.0), (math.inf, 1.0, 2.0, -3.0)])
def test_nary_ops(name, point):
    compare(*NARY[name], point, second_order=name != "max")


def test_negative_base_exponent_gradient_is_nan():
    x = Value(1.5)
    ((-2.0) ** x).backward()
    t = torch.tensor(1.5, dtype=torch.float64, requires_grad=True)
    (torch.tensor(-2.0, dtype=torch.float64) ** t).backward()
    assert math.isnan(x.grad) and math.isnan(t.grad.item())


@pytest.mark.parametrize("fn,tfn,x", [
    (lambda x: x.sin(), torch.sin, 0.9), (lambda x: x.tanh(), torch.tanh, -0.4),
    (lambda x: x.exp(), torch.exp, 0.6), (lambda x: x.log(), torch.log, 1.7),
    (lambda x: x**3.5, lambda x: x**3.5, 1.3), (lambda x: x * x.sin() * x.exp(),
                                                 lambda x: x * x.sin() * x.exp(), 0.8),
    (lambda x: x.sigmoid(), torch.sigmoid, 0.3), (lambda x: x.sqrt(), torch.sqrt, 2.0),
    (lambda x: 1 / x, lambda x: 1 / x, 0.7),
])
def test_third_derivatives(fn, tfn, x):
    v = Value(x)
    d = fn(v)
    t = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    td = tfn(t)
    for _ in range(3):
        (d,) = engine.grad(d, v, create_graph=True)
        (td,) = torch.autograd.grad(td, t, create_graph=True)
        assert same(d.data, td.item(), 1e-10)


# -- a property test over random expression DAGs with shared subexpressions -----------

SAFE_UNARY = {
    "tanh": (lambda a: a.tanh(), torch.tanh),
    "sigmoid": (lambda a: a.sigmoid(), torch.sigmoid),
    "sin": (lambda a: a.sin(), torch.sin),
    "cos": (lambda a: a.cos(), torch.cos),
    "softlog": (lambda a: (1 + a * a).log(), lambda a: torch.log(1 + a * a)),
    "softsqrt": (lambda a: (1 + a * a).sqrt(), lambda a: torch.sqrt(1 + a * a)),
    "exptanh": (lambda a: a.tanh().exp(), lambda a: torch.exp(torch.tanh(a))),
    "relu": (lambda a: a.relu(), torch.relu),
    "neg": (lambda a: -a, lambda a: -a),
}
SAFE_BINARY = {
    "add": (lambda a, b: a + b, lambda a, b: a + b),
    "sub": (lambda a, b: a - b, lambda a, b: a - b),
    "mul": (lambda a, b: a * b, lambda a, b: a * b),
    "softdiv": (lambda a, b: a / (1 + b * b), lambda a, b: a / (1 + b * b)),
    "softpow": (lambda a, b: (1 + a * a) ** b.tanh(), lambda a, b: (1 + a * a) ** torch.tanh(b)),
}

instruction = st.one_of(
    st.tuples(st.sampled_from(sorted(SAFE_UNARY)), st.integers(0, 10**6)),
    st.tuples(st.sampled_from(sorted(SAFE_BINARY)), st.integers(0, 10**6), st.integers(0, 10**6)),
)


@settings(max_examples=60, deadline=None)
@given(point=st.lists(st.floats(-2, 2), min_size=1, max_size=4),
       program=st.lists(instruction, min_size=1, max_size=14))
def test_random_dags_match_torch(point, program):
    xs = [Value(x) for x in point]
    ts = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in point]
    nodes, tnodes = list(xs), list(ts)
    for name, *args in program:
        table = SAFE_UNARY if len(args) == 1 else SAFE_BINARY
        nodes.append(table[name][0](*[nodes[a % len(nodes)] for a in args]))
        tnodes.append(table[name][1](*[tnodes[a % len(tnodes)] for a in args]))
    out = engine.sum(nodes[len(xs):])  # every node contributes: many consumers per node
    tout = torch.stack(tnodes[len(ts):]).sum()
    # the sum may cancel (terms ~1, total ~1e-8): allow rounding relative to the terms
    scale = 1.0 + sum(abs(n.data) for n in nodes[len(xs):])
    assert same(out.data, tout.item(), 1e-9) or abs(out.data - tout.item()) < 1e-13 * scale
    grads = engine.grad(out, xs, materialize_grads=True)
    tgrads = torch.autograd.grad(tout, ts, allow_unused=True, materialize_grads=True)
    for g, tg in zip(grads, tgrads, strict=True):
        assert same(g, tg.item(), 1e-9) or abs(g - tg.item()) < 1e-12
