"""engine.compile: generated numpy code against the dynamic engine, op by op.

The oracle is the dynamic engine (itself checked against finite differences
and PyTorch): for each function the compiled batch loss, its gradient and the
per-sample outputs must equal the dynamic ones to rounding.
"""

from __future__ import annotations

import math

import pytest

import engine
from engine import Value
from engine.compile import CACHE, TraceError, compile

np = pytest.importorskip("numpy")


def dynamic(fn, params, X, penalty=None, reduction="mean"):
    """Loss, gradient and per-sample outputs computed by the dynamic engine."""
    outs = [fn([Value(v, requires_grad=False) for v in row]) for row in X.tolist()]
    total = engine.sum(outs)
    if reduction == "mean":
        total = total * (1.0 / len(outs))
    if penalty is not None:
        total = total + penalty()
    table = engine.adjoints(total) if total.requires_grad else {}
    grads = [float(table.get(p, 0.0)) for p in params]
    return total.data, grads, [o.data for o in outs]


def check(fn, params, X, penalty=None, reduction="mean", rel=1e-12):
    X = np.asarray(X, dtype=float)
    compiled = compile(fn, params, X.shape[1], penalty=penalty, reduction=reduction)
    loss, grad = compiled.loss_and_grad(X)
    want_loss, want_grad, want_outs = dynamic(fn, params, X, penalty, reduction)
    assert loss == pytest.approx(want_loss, rel=rel, abs=1e-14)
    assert grad.tolist() == pytest.approx(want_grad, rel=rel, abs=1e-14)
    assert compiled(X).tolist() == pytest.approx(want_outs, rel=rel, abs=1e-14)
    return compiled


def batch(n=7, d=3, seed=0, low=-2.0, high=2.0):
    return np.random.default_rng(seed).uniform(low, high, size=(n, d))


W = [0.7, -1.3, 0.4]


def params(values=W):
    return [Value(v, label=f"w{i}") for i, v in enumerate(values)]


UNARY = {
    "exp": lambda z: z.exp(), "tanh": lambda z: z.tanh(), "sigmoid": lambda z: z.sigmoid(),
    "relu": lambda z: z.relu(), "abs": lambda z: abs(z), "sin": lambda z: z.sin(),
    "cos": lambda z: z.cos(), "neg": lambda z: -z,
    "log": lambda z: (z * z + 0.5).log(), "sqrt": lambda z: (z * z + 0.1).sqrt(),
}


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_ops_match_the_dynamic_engine(name):
    ps = params()
    check(lambda x: UNARY[name](ps[0] * x[0] + ps[1] * x[1] - ps[2]), ps, batch())


BINARY = {
    "add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
    "div": lambda a, b: a / (b * b + 1.0), "pow const": lambda a, b: (a * b) ** 3,
    "pow zero": lambda a, b: (a + b) ** 0, "pow var": lambda a, b: (a * a + 1.0) ** b,
    "rpow": lambda a, b: 2.0 ** (a - b), "rsub": lambda a, b: 1.0 - a * b,
    "rdiv": lambda a, b: 3.0 / (a * a + 1.0) + b,
}


@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_ops_with_inputs_and_parameters_in_both_slots(name):
    ps = params()
    f = BINARY[name]
    check(lambda x: f(ps[0] * x[0], x[1] + ps[1]) + f(x[2], ps[2]), ps, batch())


def test_n_ary_sum_max_and_generic_dot():
    ps = params()

    def fn(x):
        h = [ps[0] * x[0], x[1] - ps[1], ps[2] * x[2], ps[0] + 1.0]
        return (engine.sum([*h, 2.0, x[0]]) + engine.max(*h) * 0.5
                + engine.dot(h, [x[2], x[1], x[0], 1.5], ps[2])
                + engine.dot([x[0], x[1]], [x[1], x[2]]))
    check(fn, ps, batch())


def test_max_ties_give_the_gradient_to_the_first_maximum():
    w = params([1.0, 1.0, 0.0])
    X = np.array([[1.0, 1.0, 0.0], [2.0, 2.0, 5.0], [0.0, 0.0, 0.0]])
    check(lambda x: engine.max(w[0] * x[0], w[1] * x[1], w[2] + x[2]), w, X)


def test_a_layer_becomes_one_matrix_product():
    rng = np.random.default_rng(1)
    ws = [[Value(v) for v in row] for row in rng.uniform(-1, 1, size=(4, 3))]
    bs = [Value(v) for v in rng.uniform(-1, 1, size=4)]
    out_w = [Value(v) for v in rng.uniform(-1, 1, size=4)]
    flat = [p for w, b in zip(ws, bs, strict=True) for p in (*w, b)] + out_w

    def fn(x):
        h = [engine.dot(w, x, b).tanh() for w, b in zip(ws, bs, strict=True)]
        return (engine.dot(out_w, h) - 0.5) ** 2
    compiled = check(fn, flat, batch(9))
    assert "@" in compiled.source and "4 x dot" in compiled.source
    step = compiled.source.split("def forward_backward")[1]
    assert step.count("np.tanh(") == 1  # one call for the layer's 4 tanh


def test_parameters_in_any_order_and_used_twice():
    ps = params([0.3, -0.8, 1.1, 0.5])
    order = [ps[2], ps[0], ps[3], ps[1]]  # theta's layout is not the weights' layout
    check(lambda x: engine.dot([ps[0], ps[0], ps[1]], x, ps[3]).relu() * ps[2], order,
          batch(d=3))


def test_penalty_sum_reduction_and_parameter_only_output():
    ps = params()
    check(lambda x: (ps[0] * x[0] - x[1]) ** 2, ps, batch(),
          penalty=lambda: 1e-2 * engine.dot(ps, ps), reduction="sum")
    check(lambda x: ps[0] * ps[1] + 0.0 * x[0], ps, batch())  # no real input dependence


def test_user_primitives_compile_through_their_float_rules():
    from engine.primitive import primitive, unregister

    @primitive(partials=lambda m, out, x: (m.sigmoid(x),), name="softplus_compile_test")
    def softplus(x: float) -> float:
        return max(x, 0.0) + math.log1p(math.exp(-abs(x)))

    try:
        ps = params()
        check(lambda x: softplus(ps[0] * x[0] + ps[1]) * x[1], ps, batch())
    finally:
        unregister("softplus_compile_test")


def test_backward_accumulates_like_the_dynamic_engine():
    ps = params()
    X = batch()
    compiled = compile(lambda x: (ps[0] * x[0] + ps[1]).tanh() * x[2], ps, 3)
    loss = compiled.backward(X)
    _, want, _ = dynamic(lambda x: (ps[0] * x[0] + ps[1]).tanh() * x[2], ps, X)
    assert ps[2].grad is None  # not in the graph: untouched, as in the dynamic engine
    assert [p.grad for p in ps[:2]] == pytest.approx(want[:2], rel=1e-12)
    assert compiled.backward(X) == loss
    assert [p.grad for p in ps[:2]] == pytest.approx([2 * g for g in want[:2]], rel=1e-12)


def test_sgd_step_updates_theta_and_store_writes_the_parameters():
    ps = params()
    X = batch()
    compiled = compile(lambda x: (ps[0] * x[0] - ps[1] * x[1]) ** 2, ps, 3)
    loss, grad = compiled.loss_and_grad(X)
    before = compiled.theta.copy()
    assert compiled.sgd_step(X, 0.1) == loss
    assert compiled.theta.tolist() == pytest.approx((before - 0.1 * grad).tolist(), rel=1e-15)
    assert [p.data for p in ps] == W  # untouched until store()
    compiled.store()
    assert [p.data for p in ps] == compiled.theta.tolist()
    ps[0].data = 5.0
    compiled.load()
    assert compiled.theta[0] == 5.0


def test_data_dependent_control_flow_is_rejected_with_the_first_difference():
    w = Value(1.0)

    def leaky(x):
        z = w * x[0]
        return z.relu() if x[0].data > 0 else z * 0.1  # a Python branch on the data

    with pytest.raises(TraceError, match=r"depends on the data.*sample 0 and sample \d+"):
        compile(leaky, [w], 1).loss_and_grad(np.array([[1.0], [2.0], [-1.0]]))


def test_constants_taken_from_the_data_are_caught_too():
    w = Value(1.0)
    with pytest.raises(TraceError, match="constant made from an input"):
        compile(lambda x: w * x[0].data, [w], 1).loss_and_grad(np.array([[1.0], [2.0]]))


def test_check_always_retraces_when_the_structure_changes_for_every_sample():
    w = Value(2.0)
    mode = {"square": False}
    fn = lambda x: (w * x[0]) ** 2 if mode["square"] else w * x[0]  # noqa: E731
    compiled = compile(fn, [w], 1, check="always")
    X = np.array([[1.0], [3.0]])
    assert compiled.loss_and_grad(X)[0] == pytest.approx(4.0)
    first = compiled.source
    mode["square"] = True
    loss, grad = compiled.loss_and_grad(X)
    assert compiled.source != first
    assert loss == pytest.approx((4.0 + 36.0) / 2)
    assert grad.tolist() == pytest.approx([(2 * 2 * 1 + 2 * 2 * 9) / 2])


def test_code_is_cached_by_structure():
    X = batch()
    a, b = params(), params([1.0, 2.0, 3.0])
    first = compile(lambda x: (a[0] * x[0] + a[1]).tanh(), a, 3)
    first.loss_and_grad(X)
    size = len(CACHE)
    second = compile(lambda x: (b[0] * x[0] + b[1]).tanh(), b, 3)
    second.loss_and_grad(X)
    assert len(CACHE) == size and second.source == first.source
    assert second.loss_and_grad(X)[0] != first.loss_and_grad(X)[0]  # its own parameters


def test_clear_errors_for_bad_use():
    w = Value(1.0)
    free = Value(2.0)  # requires grad, but is not a parameter
    with pytest.raises(TraceError, match="requires grad but is not in params"):
        compile(lambda x: w * x[0] + free, [w], 1).loss_and_grad(np.ones((2, 1)))
    with pytest.raises(TraceError, match="must return a Value"):
        compile(lambda x: 1.0, [w], 1).loss_and_grad(np.ones((2, 1)))
    with pytest.raises(ValueError, match=r"shape \(B, 2\), got \(3, 1\)"):
        compile(lambda x: w * x[0], [w], 2).loss_and_grad(np.ones((3, 1)))
    with pytest.raises(ValueError, match="reduction"):
        compile(lambda x: w * x[0], [w], 1, reduction="max")
    with pytest.raises(ValueError, match="check"):
        compile(lambda x: w * x[0], [w], 1, check="sometimes")
    with pytest.raises(TypeError, match="leaf Value"):
        compile(lambda x: w * x[0], [w * 2.0], 1)


def test_ieee_results_as_the_dynamic_engine():
    w = Value(0.0)
    X = np.array([[0.0], [1.0]])
    compiled = compile(lambda x: (w * x[0]).log() + (x[0] - 1.0) / (w * x[0]), [w], 1)
    outs = compiled(X).tolist()
    _, _, want = dynamic(lambda x: (w * x[0]).log() + (x[0] - 1.0) / (w * x[0]), [w], X)
    assert [str(o) for o in outs] == [str(o) for o in want]  # nan and -inf alike


def test_parameter_only_dots_with_constant_operands():
    ps = params()
    check(lambda x: engine.dot([2.0], [ps[0]]) + engine.dot([ps[1], ps[2]], [ps[2], 3.0]) * x[0],
          ps, batch())


def random_function(seed, ps):
    """A random per-sample function mixing inputs, parameters, constants and every op."""
    import random

    rng = random.Random(seed)
    safe_unary = [lambda z: z.tanh(), lambda z: z.sigmoid(), lambda z: z.relu(), abs,
                  lambda z: z.sin(), lambda z: (z * z + 1.0).log(), lambda z: -z,
                  lambda z: (z * 0.3).exp(), lambda z: (z * z + 0.2).sqrt()]
    binary = [lambda a, b: a + b, lambda a, b: a - b, lambda a, b: a * b,
              lambda a, b: a / (b * b + 1.0), lambda a, b: (a * a + 0.5) ** 1.5]
    recipe = [(rng.random(), rng.randrange(9), rng.randrange(5), rng.random(),
               [rng.random() for _ in range(4)]) for _ in range(12)]

    def fn(x):
        pool = [*x, *ps]
        for kind, u, b, c, picks in recipe:
            pick = [pool[int(p * len(pool))] for p in picks]
            if kind < 0.35:
                v = safe_unary[u](pick[0])
            elif kind < 0.7:
                v = binary[b](pick[0], pick[1] if c < 0.8 else 0.5)
            elif kind < 0.8:
                v = engine.sum([pick[0], pick[1], 1.5, pick[2]])
            elif kind < 0.9:
                v = engine.max(pick[0], pick[1], pick[2])
            else:
                v = engine.dot(pick[:2], [pick[2], 2.0], pick[3])
            pool.append(v)
        return engine.sum(pool[-4:]) * 0.25
    return fn


@pytest.mark.parametrize("seed", range(25))
def test_random_graphs_match_the_dynamic_engine(seed):
    ps = params()
    check(random_function(seed, ps), ps, batch(6, seed=seed), rel=1e-10)


def test_every_new_row_is_checked_once():
    w = Value(1.0)

    def leaky(x):
        z = w * x[0]
        return z.relu() if x[0].data > 0 else z * 0.1

    compiled = compile(leaky, [w], 1)
    compiled.loss_and_grad(np.array([[1.0], [2.0]]))  # one structure so far
    compiled.loss_and_grad(np.array([[2.0], [3.0]]))  # a new row, the same structure
    with pytest.raises(TraceError, match="new sample gives a different graph"):
        compiled.loss_and_grad(np.array([[3.0], [-1.0]]))  # the other branch: rejected
    first = compile(leaky, [w], 1, check="first")
    first.loss_and_grad(np.array([[1.0], [2.0]]))
    assert first.loss_and_grad(np.array([[-1.0]]))[0] == 0.0  # relu branch: the documented risk


def test_parameters_the_graph_does_not_reach_keep_grad_none():
    used, unused = Value(2.0), Value(3.0)
    compiled = compile(lambda x: used * x[0], [used, unused], 1)
    compiled.backward(np.array([[1.0], [3.0]]))
    assert used.grad == 2.0 and unused.grad is None  # as the dynamic engine and PyTorch


# -- emitted text means what the graph means (issue 13, item 2) ----------------------------


def same(got, want, rel=1e-12):
    """Equal to ``rel``, nan where nan, infinities of the same sign."""
    got, want = np.asarray(got, dtype=float), np.asarray(want, dtype=float)
    assert got.shape == want.shape
    assert (np.isnan(got) == np.isnan(want)).all(), (got, want)
    finite = np.isfinite(want)
    assert (got[~finite & ~np.isnan(want)] == want[~finite & ~np.isnan(want)]).all(), (got, want)
    assert got[finite].tolist() == pytest.approx(want[finite].tolist(), rel=rel, abs=1e-300)


def check_ieee(fn, params, X, rel=1e-12):
    """Compiled against dynamic where values and gradients may be inf or nan."""
    X = np.asarray(X, dtype=float)
    compiled = compile(fn, params, X.shape[1])
    loss, grad = compiled.loss_and_grad(X)
    want_loss, want_grad, want_outs = dynamic(fn, params, X)
    same(loss, want_loss, rel)
    same(grad, want_grad, rel)
    same(compiled(X), want_outs, rel)
    return compiled


def test_a_negative_constant_base_keeps_its_parentheses():
    w = Value(1.0)
    compiled = check_ieee(lambda i: (-2.0) ** (w * i[0]), [w], [[2.0]])
    assert compiled.loss_and_grad(np.array([[2.0]]))[0] == 4.0  # not -(2.0 ** 2)
    assert "(-2.0)" in compiled.source and "-2.0 **" not in compiled.source


@pytest.mark.parametrize("c", [math.inf, -math.inf, math.nan, -0.0, 0.0, -3.5])
def test_non_finite_and_signed_zero_constants_are_spelled_safely(c):
    w = Value(0.5)
    check_ieee(lambda i: (w * i[0]) * c + 1.0 / (w * i[0] + c) + (w - c) ** 2.0, [w],
               [[2.0], [3.0], [-1.0]])


def test_a_nan_constant_is_the_same_structure_in_every_row():
    w = Value(1.0)
    fn = lambda i: w * i[0] + (w * math.nan if i[0].data > 5 else 0.0)  # noqa: E731
    compiled = compile(lambda i: w * i[0] + math.nan * w, [w], 1)
    loss, grad = compiled.loss_and_grad(np.array([[1.0], [2.0], [3.0]]))  # no TraceError
    assert math.isnan(loss) and math.isnan(grad[0])
    with pytest.raises(TraceError):  # a real difference is still found
        compile(fn, [w], 1, check="rows").loss_and_grad(np.array([[1.0], [7.0]]))


# -- a zero mask or a zero adjoint stops the gradient, as in PyTorch (issue 13, item 1) ----


def torch_loss_and_grad(tf, w, X):
    """PyTorch float64: the mean of ``tf(w, x)`` over the rows of ``X`` and d/dw."""
    torch = pytest.importorskip("torch")
    tw = torch.tensor(w, dtype=torch.float64, requires_grad=True)
    loss = torch.stack([tf(torch, tw, torch.tensor(x, dtype=torch.float64))
                        for x in np.asarray(X)[:, 0]]).mean()
    loss.backward()
    return loss.item(), tw.grad.item()


MASKS = {
    "relu then sqrt": (lambda w, x: (w * x).relu().sqrt(),
                       lambda t, w, x: (w * x).relu().sqrt()),
    "relu then log": (lambda w, x: (w * x).relu().log() * 0.5 + w,
                      lambda t, w, x: (w * x).relu().log() * 0.5 + w),
    "max then sqrt": (lambda w, x: engine.max(w * x, 0.0).sqrt() + w,
                      lambda t, w, x: t.maximum(w * x, t.zeros((), dtype=t.float64)).sqrt() + w),
}


@pytest.mark.parametrize("x", [-1.0, -0.0, 2.0])
@pytest.mark.parametrize("name", sorted(MASKS))
def test_a_zero_mask_stops_an_infinite_adjoint_as_in_torch(name, x):
    fn, tf = MASKS[name]
    w = Value(1.0)
    loss, grad = compile(lambda i: fn(w, i[0]), [w], 1).loss_and_grad(np.array([[x]]))
    want_loss, want_grad = torch_loss_and_grad(tf, 1.0, [[x]])
    same(loss, want_loss)
    same(grad, [want_grad])


def test_bce_on_a_saturated_sigmoid_stops_at_the_clamp_as_torch():
    # p = sigmoid(50) is exactly 1.0. Clamping the probability (torch.clamp: a where) stops
    # the gradient at max's mask: 0, as torch's fused BCE; the dynamic engine agrees
    torch = pytest.importorskip("torch")
    w, b = Value(1.0), Value(0.0)
    tiny = math.exp(-100.0)

    def bce(i):
        p, t = (w * i[0] + b).sigmoid(), i[1]
        return -(t * engine.max(p, tiny).log() + (1.0 - t) * engine.max(1.0 - p, tiny).log())

    X = np.array([[50.0, 1.0], [-50.0, 0.0], [0.3, 1.0]])
    compiled = check_ieee(bce, [w, b], X)
    loss, grad = compiled.loss_and_grad(X)
    tw = torch.tensor([1.0, 0.0], dtype=torch.float64, requires_grad=True)
    tX = torch.tensor(X, dtype=torch.float64)
    tl = torch.nn.functional.binary_cross_entropy((tw[0] * tX[:, 0] + tw[1]).sigmoid(), tX[:, 1])
    tl.backward()
    assert not np.isnan(grad).any()
    same(loss, tl.item())
    same(grad, tw.grad.tolist())


def test_a_zero_adjoint_times_an_infinite_partial_is_nan_as_in_torch():
    # torch's log backward is grad / x: 0 / 0 at x = 0, and mul's is grad * other
    w = Value(0.0)
    compiled = check_ieee(lambda i: (w * i[0]).log() * 0.0 + w, [w], [[1.0]])
    assert math.isnan(compiled.loss_and_grad(np.array([[1.0]]))[1][0])
    want = torch_loss_and_grad(lambda t, w, x: (w * x).log() * 0.0 + w, 0.0, [[1.0]])
    assert math.isnan(want[1])


@pytest.mark.parametrize("p", [0.5, -0.5, 1.5, 0.0])
@pytest.mark.parametrize("x", [-0.0, 0.0, 4.0, -math.inf, math.inf])
def test_pow_with_half_exponents_is_sqrt_as_the_dynamic_engine(p, x):
    w = Value(1.0)
    check_ieee(lambda i: (w * i[0]) ** p + w, [w], [[x]])
    check_ieee(lambda i: (w * i[0]) ** (i[1] * w) + w, [w], [[x, p]])  # an array of exponents


# -- when a trace is reused (issue 13, item 3) ----------------------------------------------


def counting(fn):
    """``fn`` with a count of its calls (each call is one trace)."""
    def wrapped(x):
        wrapped.calls += 1
        return fn(x)
    wrapped.calls = 0
    return wrapped


def test_a_branch_free_function_is_traced_once_whatever_the_rows_and_parameters():
    w = Value(0.5)
    fn = counting(lambda x: (w * x[0] - x[1]).tanh() ** 2)
    compiled = compile(fn, [w], 2)
    rng = np.random.default_rng(0)
    for _ in range(5):
        compiled.sgd_step(rng.normal(size=(16, 2)), 0.1)  # new rows, new theta
    assert fn.calls == 2  # the first row, twice (the determinism check), then never again
    assert not compiled.reads.inputs and not compiled.reads.params
    static = counting(lambda x: (w * x[0] - x[1]).tanh() ** 2)
    compiled = compile(static, [w], 2, check="static")
    compiled.loss_and_grad(rng.normal(size=(4, 2)))
    compiled.loss_and_grad(rng.normal(size=(4, 2)))
    assert static.calls == 1


def test_a_batch_edited_in_place_gives_the_new_loss_and_is_checked_again():
    w = Value(2.0)
    compiled = compile(lambda x: w * x[0], [w], 1)
    X = np.array([[1.0], [2.0]])
    assert compiled.loss_and_grad(X)[0] == 3.0
    X[:] = 10.0
    assert compiled.loss_and_grad(X)[0] == 20.0

    def leaky(x):
        z = w * x[0]
        return z.relu() if x[0].data > 0 else z * 0.1

    rows = compile(leaky, [w], 1)
    X = np.array([[1.0], [2.0]])
    rows.loss_and_grad(X)
    X[1, 0] = -1.0  # the same array, now a row that takes the other branch
    with pytest.raises(TraceError, match="new sample gives a different graph"):
        rows.loss_and_grad(X)


def test_a_branch_on_a_parameter_follows_the_parameters():
    w = Value(1.0)
    fn = lambda x: (w * x[0]) ** 2 if w.data > 0 else -(w * x[0])  # noqa: E731
    compiled = compile(fn, [w], 1)
    X = np.array([[2.0], [3.0]])
    assert compiled.loss_and_grad(X)[0] == pytest.approx((4.0 + 9.0) / 2)
    assert compiled.reads.params and not compiled.reads.inputs
    w.data = -1.0
    compiled.load()
    loss, grad = compiled.loss_and_grad(X)  # the other branch, as the dynamic engine
    want_loss, want_grad, _ = dynamic(fn, [w], X)
    assert (loss, grad.tolist()) == (want_loss, want_grad) == (2.5, [-2.5])
    compiled.theta[:] = 3.0  # theta changed by a step (p.data is not written)
    assert compiled.loss_and_grad(X)[0] == pytest.approx((36.0 + 81.0) / 2)
    assert w.data == -1.0  # traced at theta, then restored


def test_a_constant_made_from_a_parameter_under_no_grad_follows_theta():
    w = Value(2.0)

    def fn(x):
        with engine.no_grad():
            scale = w * 1.0  # a constant: its value is baked into the code
        return w * x[0] * scale

    compiled = compile(fn, [w], 1)
    X = np.array([[1.0]])
    assert compiled.loss_and_grad(X)[0] == 4.0
    compiled.theta[:] = 3.0
    assert compiled.loss_and_grad(X)[0] == 9.0


def test_a_graph_drawn_at_random_is_refused_not_frozen():
    import random

    w = Value(1.0)
    rng = random.Random(0)

    def dropout(x):  # 20 units, each kept with probability 1/2: a new mask at every call
        return engine.sum([w * x[0] * (0.0 if rng.random() < 0.5 else 2.0) for _ in range(20)])

    with pytest.raises(TraceError, match="random numbers or keeps state"):
        compile(dropout, [w], 1).loss_and_grad(np.ones((3, 1)))
    calls = iter(range(1000))
    with pytest.raises(TraceError, match="two traces of the same sample"):
        compile(lambda x: w * x[0] * float(next(calls)), [w], 1).loss_and_grad(np.ones((2, 1)))


def test_the_rows_checked_are_bounded_and_forgotten_rows_are_checked_again(monkeypatch):
    import engine.compile as ec

    monkeypatch.setattr(ec, "SEEN_ROWS", 50)
    w = Value(1.0)

    def leaky(x):
        z = w * x[0]
        return z.relu() if x[0].data > -1e9 else z * 0.1

    compiled = compile(leaky, [w], 1)
    rng = np.random.default_rng(0)
    first = np.abs(rng.normal(size=(8, 1)))
    compiled.loss_and_grad(first)
    for _ in range(20):
        compiled.loss_and_grad(np.abs(rng.normal(size=(16, 1))))
        assert len(compiled._seen) <= 50
    fn_calls = counting(leaky)
    compiled.fn = fn_calls
    compiled.loss_and_grad(first)  # forgotten long ago: traced again, row by row
    assert fn_calls.calls == len(first)


def test_a_read_is_named_in_the_error():
    w = Value(1.0)
    fn = lambda x: w * x[0] if x[0].data > 0 else w  # noqa: E731
    with pytest.raises(TraceError, match=r"reads the data at .*test_compile\.py:\d+"):
        compile(fn, [w], 1).loss_and_grad(np.array([[1.0], [-1.0]]))


def test_the_code_cache_is_bounded(monkeypatch):
    import engine.compile as ec

    monkeypatch.setattr(ec, "CACHE_SIZE", 3)
    w = Value(1.0)
    for k in range(6):
        compile(lambda x, k=k: w * x[0] + float(k), [w], 1).loss_and_grad(np.ones((1, 1)))
        assert len(CACHE) <= 3


# -- one source of truth for ops and names (issue 18) ----------------------------------------


def test_every_built_in_op_of_the_rule_table_has_an_emission_rule():
    from engine.primitive import USER_OPS

    n_ary = {"sum", "dot", "max"}  # emitted as reductions and matrix products
    built_in = {name for name in engine.TABLE if name not in USER_OPS}
    with_text = {name for name, op in engine.TABLE.items() if op.numpy is not None}
    assert built_in - n_ary <= with_text, built_in - n_ary - with_text
    assert with_text <= built_in - n_ary  # the row's text: elementwise built-ins only
    for name in with_text:  # one placeholder per operand, e.g. "np.tanh({0})"
        op = engine.TABLE[name]
        assert op.numpy.format(*[f"<{i}>" for i in range(op.arity)]).count("<") == op.arity


def test_the_emitted_forward_is_the_rule_table_rows_text():
    w = Value(0.5)
    f = compile(lambda x: (w * x[0]).tanh().exp(), [w], 1)
    f.loss_and_grad(np.full((2, 1), 0.3))
    assert "exp2 = np.exp(tanh1)  # 1 x exp" in f.source
    assert engine.TABLE["exp"].numpy == "np.exp({0})"


def test_the_symbolic_namespace_has_every_name_of_the_math_namespaces():
    from engine import ops
    from engine.compile import SYMBOLIC
    from engine.value import V

    names = set(getattr(ops, "MATH_NAMES", ())) | set(vars(ops.F)) | set(vars(V))
    assert names <= set(vars(SYMBOLIC)), names - set(vars(SYMBOLIC))


def test_a_built_in_op_without_an_emission_rule_is_refused_by_name(monkeypatch):
    import dataclasses

    import engine.compile as ec
    from engine import ops
    from engine.value import apply

    no_text = dataclasses.replace(ops.SIN, numpy=None)  # a built-in row without numpy text
    monkeypatch.setattr(ec, "CACHE", type(ec.CACHE)())  # no code built before for this graph
    w = Value(1.0)
    with pytest.raises(TraceError, match="built-in op 'sin', which has no numpy emission rule"):
        compile(lambda x: apply(no_text, w * x[0]), [w], 1).loss_and_grad(np.ones((2, 1)))


def test_compile_function_is_the_name_and_compile_an_alias():
    import engine.compile as ec

    assert ec.compile is ec.compile_function
    namespace: dict = {}
    exec("from engine.compile import *", namespace)
    assert "compile" not in namespace and "compile_function" in namespace


# -- work arrays (issue 13): reused per batch size, never handed out ---------------------------


def _layer(n_in=3, width=4, seed=2):
    rng = np.random.default_rng(seed)
    ws = [[Value(v) for v in row] for row in rng.uniform(-1, 1, size=(width, n_in))]
    bs = [Value(v) for v in rng.uniform(-1, 1, size=width)]
    flat = [p for w, b in zip(ws, bs, strict=True) for p in (*w, b)]

    def fn(x):
        h = [engine.dot(w, x, b).relu() for w, b in zip(ws, bs, strict=True)]
        return engine.sum(v * v for v in h), h
    return fn, flat


def test_aux_is_not_a_work_array_the_next_call_overwrites():
    fn, flat = _layer()
    compiled = compile(fn, flat, 3)
    X1, X2 = batch(5, seed=1), batch(5, seed=2)
    compiled.loss_and_grad(X1)
    first = compiled.aux
    assert "out=W[" in compiled.source  # the layer's product is written into a work array
    kept = first.copy()
    compiled.loss_and_grad(X2)
    assert np.array_equal(first, kept) and not np.array_equal(first, compiled.aux)
    want = [[v.data for v in fn([Value(x) for x in row])[1]] for row in X1.tolist()]
    assert np.allclose(first, want, rtol=1e-12, atol=0.0)


def test_work_arrays_are_kept_for_a_few_batch_sizes_and_give_the_same_numbers():
    from engine.compile import WORK_SETS

    fn, flat = _layer()
    compiled = compile(lambda x: fn(x)[0], flat, 3)
    for n in [5, 9, 5, 2, 7, 3, 11, 5]:  # more sizes than are kept; sizes coming back
        X = batch(n, seed=n)
        loss, grad = compiled.loss_and_grad(X)
        want_loss, want_grad, _ = dynamic(lambda x: fn(x)[0], flat, X)
        assert loss == pytest.approx(want_loss, rel=1e-12)
        assert grad.tolist() == pytest.approx(want_grad, rel=1e-12, abs=1e-14)
        assert len(compiled._work_sets) <= WORK_SETS


def test_ufunc_form_comes_from_the_rule_table_text():
    from engine.compile import ufunc_form

    forms = {name: ufunc_form(op.numpy) for name, op in engine.TABLE.items() if op.numpy}
    assert forms["sub"] == "np.subtract({0}, {1}, out={out})"
    assert forms["relu"] == "np.maximum({0}, 0.0, out={out})"
    assert forms["sigmoid"] is None and forms["pow"] is None  # helpers, not one ufunc
    x, y = np.array([[1.5, -2.0]]), np.array([[0.5, 4.0]])
    for name, form in forms.items():
        if form is None:
            continue
        op = engine.TABLE[name]
        args = ["x", "y"][:op.arity]
        out = np.empty((1, 2))
        ns = {"np": np, "x": x, "y": y, "out": out}
        with np.errstate(all="ignore"):
            want = eval(op.numpy.format(*args), ns)
            got = eval(form.format(*args, out="out"), ns)
        assert got is out and np.array_equal(got, want, equal_nan=True), name


@pytest.mark.parametrize("max_first", [False, True])
def test_max_gradient_goes_to_the_first_maximum_only_even_from_an_infinite_adjoint(max_first):
    """max's adjoint is -inf (1/max at max = 0): the first maximum gets it, the other slots
    exactly 0 from it (their gradient is the sum's 1, not nan). Whether the max is the first
    contribution to the layer's adjoint (a mask) or a later one (added into the argmax's slot),
    both orders give the dynamic engine's numbers."""
    w = [Value(-1.0), Value(0.0), Value(0.0)]  # two maxima: the first one wins

    def fn(x):
        z = [engine.dot([wi], [x[0]]) for wi in w]
        parts = [engine.sum(z), engine.max(*z) ** -1.0]
        return parts[1] + parts[0] if max_first else parts[0] + parts[1]
    compiled = check(fn, w, np.array([[1.0], [2.0]]))
    _, grad = compiled.loss_and_grad(np.array([[1.0], [2.0]]))
    assert grad.tolist() == [1.5, -math.inf, 1.5]
    assert ("first maximum" in compiled.source) == max_first


@pytest.mark.parametrize("name", ["l2", "scaled_twice", "negated", "sqrt", "bias"])
def test_penalty_adjoints_with_constant_partials_are_folded_into_the_code(name):
    """The penalty's seed (1.0) times constant partials is a number known when the code is
    written: no array is made for it (an L2 term is one line); a partial that is an
    expression (sqrt's) makes the adjoint an array again. Same numbers either way."""
    ps = params()
    penalty = {
        "l2": lambda: 1e-4 * engine.dot(ps, ps),
        "scaled_twice": lambda: (engine.dot(ps, ps) * 3.0) * -0.5,
        "negated": lambda: -(engine.dot(ps, ps) - 2.0),
        "sqrt": lambda: 0.1 * engine.dot(ps, ps).sqrt(),
        "bias": lambda: 0.5 * engine.dot(ps[:2], ps[:2], ps[2]),
    }[name]
    compiled = check(lambda x: (ps[0] * x[0] - x[1]) ** 2, ps, batch(), penalty=penalty)
    step = compiled.source.split("def forward_backward")[1]
    assert ("_shared = np.full_like(" in step) == (name == "sqrt"), step


@pytest.mark.parametrize("rows", [4, 2000])  # the small path (putmask) and the large one
def test_a_layer_of_relus_in_place_stops_an_infinite_adjoint(rows):
    """relu over a whole product, in place, then sqrt: where relu is 0 the adjoint is inf
    and the mask (written into the adjoint itself) gives exactly 0, as torch's
    threshold_backward; where it passes, the inf goes through."""
    rng = np.random.default_rng(3)
    ws = [[Value(v) for v in row] for row in rng.uniform(-1, 1, size=(3, 2))]
    flat = [p for row in ws for p in row]

    def fn(x):
        return engine.sum(engine.dot(w, x).relu().sqrt() for w in ws)
    X = rng.normal(size=(rows, 2))
    X[0] = 0.0  # every relu is 0 on this row: sqrt's partial is inf there
    compiled = check_ieee(fn, flat, X)
    assert "in place" in compiled.source and "_mask" in compiled.source
    _, grad = compiled.loss_and_grad(X)
    assert not np.isnan(grad).any()


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("loss", ["hinge", "negated", "squared"])
def test_the_loss_seed_is_a_number_until_an_array_needs_it(loss, reduction):
    """The batch loss's seed (``scale``: 1/B or 1) flows as a number through the loss's
    one-column tail: aliases and number partials fold into it, a relu mask makes it the
    array np.where(mask, 0.0, scale); a partial that is an array (``x0`` of ``w0 * x0``,
    ``2 * e`` of a square) makes it an array first. Same numbers as the dynamic engine
    either way."""
    ps = params()
    out = {
        "hinge": lambda x: (1.0 - x[2] * (ps[0] * x[0] + ps[1] * x[1])).relu(),
        "negated": lambda x: -((ps[0] * x[0] - x[2]) * 3.0),
        "squared": lambda x: (ps[0] * x[0] + ps[2] - x[2]) ** 2,
    }[loss]
    X = batch(9)
    X[:, 2] = np.sign(X[:, 2])
    compiled = check(lambda x: engine.sum([out(x)]), ps, X, reduction=reduction)
    step = compiled.source.split("def forward_backward")[1]
    assert ("0.0, scale)" in step) == (loss == "hinge"), step
    assert ("np.full_like(" in step) == (loss != "hinge"), step  # P[0] * x0: an array partial
    assert ("((-scale) * 3.0))" in step) == (loss == "negated"), step  # neg and * 3.0 folded


def test_a_batch_whose_work_arrays_are_too_large_to_keep_gets_them_for_the_call(monkeypatch):
    from engine import compile as compile_module

    fn, flat = _layer()
    compiled = compile(lambda x: fn(x)[0], flat, 3)
    X = batch(6)
    want = compiled.loss_and_grad(X)
    assert len(compiled._work_sets) == 1
    monkeypatch.setattr(compile_module, "WORK_BYTES", 6 * 4 * 8 - 1)  # less than one array
    compiled._work_sets.clear()
    got = compiled.loss_and_grad(X)
    assert compiled._work_sets == {} and got[0] == want[0] and np.array_equal(got[1], want[1])


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_loss_and_outputs_is_the_forward_half_of_loss_and_grad(reduction):
    """An evaluation runs forward only: the same loss (bit for bit, penalty included) and
    the same outputs as loss_and_grad, its own arrays, and gtheta left alone."""
    fn, flat = _layer()
    compiled = compile(fn, flat, 3, penalty=lambda: 1e-3 * engine.dot(flat, flat),
                       reduction=reduction)
    X = batch(8, seed=4)
    loss, grad = compiled.loss_and_grad(X)
    aux = compiled.aux
    grad_before = compiled.gtheta.copy()
    got, outputs = compiled.loss_and_outputs(X)
    assert got == loss and np.array_equal(outputs, aux) and outputs is compiled.aux
    assert np.array_equal(compiled.gtheta, grad_before)
    kept = outputs.copy()
    compiled.loss_and_outputs(batch(8, seed=5))  # the next call leaves these alone
    assert np.array_equal(outputs, kept)
    plain = compile(lambda x: fn(x)[0], flat, 3)
    assert plain.loss_and_outputs(X) == (plain.loss_and_grad(X)[0], None)


def test_the_n_ary_ops_reading_their_operands_is_not_a_read_of_the_data():
    # dot, sum and max read their operands' data inside engine.value.apply_many: the op's own
    # evaluation, which the trace must not take for a branch on the data
    w = [Value(0.5), Value(-1.5)]
    fn = counting(lambda x: engine.max(engine.sum([engine.dot(w, x, 0.25), x[0]]), x[1]) ** 2)
    compiled = compile(fn, w, 2)
    rng = np.random.default_rng(1)
    for _ in range(3):
        compiled.sgd_step(rng.normal(size=(8, 2)), 0.1)
    assert not compiled.reads.inputs and not compiled.reads.params
    assert fn.calls == 2


# -- a layer's first weight gradient written into its view (issue 13) -------------------------


def _two_layers(tied=False, seed=4):
    rng = np.random.default_rng(seed)
    W1 = [[Value(v) for v in row] for row in rng.uniform(-1, 1, size=(4, 3))]
    b1 = [Value(v) for v in rng.uniform(-1, 1, size=4)]
    W2 = W1[:1] if tied else [[Value(v) for v in rng.uniform(-1, 1, size=4)]]
    w2 = [W2[0][0], W2[0][1], W2[0][2], Value(0.5)] if tied else W2[0]
    flat = [p for w, b in zip(W1, b1, strict=True) for p in (*w, b)] + (
        [w2[3]] if tied else list(w2))

    def fn(x):
        h = [engine.dot(w, x, b).relu() for w, b in zip(W1, b1, strict=True)]
        return (engine.dot(w2, h) - 1.0) ** 2
    return fn, flat


@pytest.mark.parametrize("tied", [False, True])
def test_a_layers_first_weight_gradient_is_written_in_place_and_the_penalty_added_last(tied):
    """gtheta is zeroed before each call: the data's gradient of a layer's weights is
    one np.matmul(..., out=G[i]) (and its biases' one np.add.reduce), the L2 term's
    added after; a parameter reached twice (tied: W1's first row is read again by the
    output) is added to, never overwritten. Both equal the dynamic engine."""
    fn, flat = _two_layers(tied)

    def penalty():
        return 0.01 * engine.sum(p * p for p in flat)
    compiled = check(fn, flat, batch(9, seed=3), penalty=penalty)
    src = compiled.source.split("def forward_backward")[1]
    assert "out=G[" in src and ", 0, out=G[" in src
    lines = [line.strip() for line in src.splitlines() if "G[" in line]
    data = [i for i, line in enumerate(lines) if "_shared" not in line]
    assert len(data) < len(lines) and max(data) < min(set(range(len(lines))) - set(data))
    added = [lines[i] for i in data if "+=" in lines[i]]
    # tied: the output's weights are an irregular copy (added), then W1 overlaps them
    assert len(added) == (2 if tied else 0), added


def test_the_squares_partial_is_two_x_without_a_power_call():
    """d(z**2)/dz is 2.0 * z: z ** 1.0 is z exactly (inf, nan and -0.0 too), so the
    generated code does not compute it; the numbers equal the dynamic engine's."""
    w = params([0.5])
    compiled = check(lambda x: (w[0] * x[0] - x[1]) ** 2, w,
                     [[1.0, 2.0], [0.0, -0.0], [3.0, 1.5], [-2.0, 4.0]])
    assert "** 1.0" not in compiled.source and "(2.0 * sub" in compiled.source
    inf = compile(lambda x: (w[0] * x[0]) ** 2, w, 1)
    loss, grad = inf.loss_and_grad(np.array([[math.inf]]))
    assert loss == math.inf and grad.tolist() == [math.inf]
