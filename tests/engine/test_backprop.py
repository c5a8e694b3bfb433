"""The backward pass: golden numbers and the field's known failures, by name."""

import threading

import pytest
from golden import micrograd_example

import engine
from engine import Value, adjoints, no_grad, topological_order, zero_grad


def test_micrograd_readme_golden_numbers():
    a = Value(-4.0)
    b = Value(2.0)
    g = micrograd_example(a, b)
    assert f"{g.data:.4f}" == "24.7041"
    g.backward()
    assert f"{a.grad:.4f}" == "138.8338"
    assert f"{b.grad:.4f}" == "645.5773"


def test_a_plus_a():
    a = Value(3.0)
    b = a + a
    b.backward()
    assert b.parents == (a, a)
    assert a.grad == 2.0


def test_x_plus_x_times_x():
    x = Value(3.0)
    y = (x + x) * x  # 2x^2 -> 4x
    y.backward()
    assert y.data == 18.0 and x.grad == 12.0


def test_chained_doubling_visits_each_node_once():
    a = Value(1.5)
    b = a + a
    c = b + b
    order = topological_order(c)
    assert order == [a, b, c]
    assert len({id(n) for n in order}) == 3
    assert adjoints(c) == {c: 1.0, b: 2.0, a: 4.0}
    c.backward()
    assert a.grad == 4.0


def _reference_order(roots, include_constants):
    """The plain iterative DFS post-order (every parent through ``parents``, leaves pushed)."""
    order, seen = [], set()
    for root in roots:
        if root in seen or not (include_constants or root.requires_grad):
            continue
        seen.add(root)
        stack = [(root, iter(root.parents))]
        while stack:
            for p in stack[-1][1]:
                if p not in seen and (include_constants or p.requires_grad):
                    seen.add(p)
                    stack.append((p, iter(p.parents)))
                    break
            else:
                order.append(stack.pop()[0])
    return order


@pytest.mark.parametrize("seed", range(6))
def test_topological_order_is_the_plain_dfs_post_order_on_random_graphs(seed):
    # the order fixes the order in which the DP sums: it must not change with speed work
    import random

    rng = random.Random(seed)
    nodes = [Value(rng.uniform(-1, 1), requires_grad=rng.random() < 0.8) for _ in range(6)]
    for _ in range(60):
        k = rng.choice([1, 2, 2, 3, 5])
        args = [rng.choice(nodes) if rng.random() < 0.9 else rng.uniform(-1, 1) for _ in range(k)]
        if k == 1:
            nodes.append(engine.relu(args[0]) if rng.random() < 0.5 else engine.tanh(args[0]))
        elif k == 2:
            nodes.append(args[0] * args[1] if rng.random() < 0.5 else args[0] + args[1])
        else:
            nodes.append(engine.sum(args) if k == 3 else engine.dot(args[:2], args[2:4], args[4]))
    roots = [nodes[-1], nodes[-7], nodes[3]]
    for include_constants in (False, True):
        assert (topological_order(roots, include_constants=include_constants)
                == _reference_order(roots, include_constants))


def test_x_times_x_keeps_two_parents():
    x = Value(-2.5)
    y = x * x
    assert y.parents == (x, x)
    y.backward()
    assert x.grad == -5.0


def test_diamond():
    x = Value(2.0)
    left, right = x * 3.0, x.exp()
    top = left * right  # 3x e^x -> 3e^x + 3x e^x
    top.backward()
    assert x.grad == pytest.approx(3 * 2.718281828459045**2 * 3)
    assert left.grad == right.data and right.grad == left.data


def test_second_backward_gives_exactly_twice():
    x, y = Value(0.3), Value(-1.7)
    z = (x * y).tanh() + x.sin() * y
    z.backward()
    first = (x.grad, y.grad)
    z.backward()
    assert (x.grad, y.grad) == (2 * first[0], 2 * first[1])


def test_zero_grad_resets():
    x = Value(1.0)
    (x * 5).backward()
    assert x.grad == 5.0
    zero_grad([x])
    assert x.grad is None
    (x * 5).backward()
    assert x.grad == 5.0
    zero_grad([x], set_to_none=False)
    assert x.grad == 0.0


def test_million_deep_chain():
    x = Value(0.5)
    y = x
    for _ in range(1_000_000):
        y = y * 1.0
    order_len = len(topological_order(y))
    y.backward()
    assert order_len == 1_000_001
    assert x.grad == 1.0


def test_adjoints_does_not_touch_grad():
    x = Value(2.0)
    y = x * x * x
    table = adjoints(y)
    assert table[x] == 12.0
    assert x.grad is None and y.grad is None


def test_backward_fills_intermediate_grads():
    x = Value(2.0)
    h = x * x
    y = h * 3.0
    y.backward()
    assert (y.grad, h.grad, x.grad) == (1.0, 3.0, 12.0)


def test_seed_gradient_scales():
    x = Value(2.0)
    (x * x).backward(gradient=0.5)
    assert x.grad == 2.0


def test_grad_like_torch_autograd_grad():
    x, y = Value(2.0), Value(3.0)
    z = x * y + y
    assert engine.grad(z, [x, y]) == (3.0, 3.0)
    assert x.grad is None
    unused = Value(1.0)
    with pytest.raises(RuntimeError, match="not used"):
        engine.grad(z, [unused])
    assert engine.grad(z, [unused], allow_unused=True) == (None,)
    assert engine.grad(z, [unused], materialize_grads=True) == (0.0,)


def test_grad_of_several_outputs_sums_them():
    x = Value(2.0)
    assert engine.grad([x * x, x * 3.0], x) == (7.0,)
    assert engine.grad([x * x, x * 3.0], x, grad_outputs=[1.0, 2.0]) == (10.0,)
    with pytest.raises(ValueError, match="2 outputs but 1 grad_outputs"):
        engine.grad([x * x, x * 3.0], x, grad_outputs=[1.0])


def test_higher_order_derivatives_of_power():
    x = Value(1.5)
    (d1,) = engine.grad(x**4, x, create_graph=True)
    (d2,) = engine.grad(d1, x, create_graph=True)
    (d3,) = engine.grad(d2, x)
    assert (d1.data, d2.data, d3) == pytest.approx((4 * 1.5**3, 12 * 1.5**2, 24 * 1.5))


def test_backward_with_create_graph_makes_value_grads():
    x = Value(0.7)
    y = x.sin()
    y.backward(create_graph=True)
    assert isinstance(x.grad, Value)
    (dd,) = engine.grad(x.grad, x)
    assert dd == pytest.approx(-0.644217687237691)  # -sin(0.7)


def test_backward_of_a_constant_is_a_clear_error():
    c = Value(1.0, requires_grad=False) * 2
    with pytest.raises(RuntimeError, match="does not require grad"):
        c.backward()


# -- requires_grad, no_grad, detach --------------------------------------------------


def test_constants_cost_no_gradient_work():
    x = Value(2.0)
    c = Value(3.0, requires_grad=False)
    y = x * (c * 4.0)
    assert not (c * 4.0).requires_grad
    order = topological_order(y)
    assert c not in order and x in order
    y.backward()
    assert x.grad == 12.0 and c.grad is None


def test_no_grad_records_nothing_and_restores():
    x = Value(2.0)
    with no_grad():
        y = x * x
        assert not engine.is_grad_enabled()
    assert engine.is_grad_enabled()
    assert (y.data, y.parents, y.requires_grad) == (4.0, (), False)


def test_no_grad_as_decorator():
    @no_grad()
    def f(v):
        return v * v

    assert f(Value(3.0)).parents == ()


def test_no_grad_is_thread_local():
    seen = {}
    inside, done = threading.Event(), threading.Event()

    def worker():
        with no_grad():
            inside.set()
            done.wait(5)

    t = threading.Thread(target=worker)
    t.start()
    inside.wait(5)
    x = Value(1.0)
    seen["parents"] = (x * 2).parents
    done.set()
    t.join()
    assert len(seen["parents"]) == 2 and seen["parents"][0] is x


def test_switches_are_counted_so_apply_may_read_the_defaults_while_none_is_on():
    from engine import modes

    assert modes.SWITCHED[0] == 0
    fresh = {}
    t = threading.Thread(target=lambda: fresh.update(
        grad_enabled=modes.STATE.grad_enabled, anomaly=modes.STATE.anomaly))
    t.start()
    t.join()
    assert fresh == {"grad_enabled": modes.DEFAULTS.grad_enabled,
                     "anomaly": modes.DEFAULTS.anomaly}
    with pytest.raises(ZeroDivisionError):
        with no_grad(), modes.detect_anomaly():
            assert modes.SWITCHED[0] == 2
            assert not (Value(1.0) * 2).requires_grad
            raise ZeroDivisionError("leaves both switches by an error")
    assert modes.SWITCHED[0] == 0 and (Value(1.0) * 2).requires_grad


def test_detach_cuts_the_graph():
    x = Value(2.0)
    y = (x * 3).detach() * x
    y.backward()
    assert x.grad == 6.0
    assert not x.detach().requires_grad


def test_backward_restores_the_garbage_collector_state():
    import gc

    x = Value(2.0)
    assert gc.isenabled()
    (x * x).backward()
    assert gc.isenabled()
    gc.disable()
    try:
        (x * x).backward()
        assert not gc.isenabled()
    finally:
        gc.enable()
    with pytest.raises(RuntimeError):
        Value(1.0, requires_grad=False).backward()
    assert gc.isenabled()


def test_concurrent_backward_passes_leave_the_collector_on():
    """Issue 16: gc was turned off and on with a check-then-act that was not atomic."""
    import gc
    import sys

    def work():
        x = Value(0.5)
        y = x * 2.0
        for _ in range(3000):  # many short passes: many chances to interleave
            y.backward()

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        for _ in range(5):
            assert gc.isenabled()
            threads = [threading.Thread(target=work) for _ in range(4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            assert gc.isenabled()
    finally:
        sys.setswitchinterval(interval)


def test_backward_keeps_the_collector_off_if_the_user_turned_it_off():
    import gc

    gc.disable()
    try:
        (Value(2.0) * 3.0).backward()
        assert not gc.isenabled()
    finally:
        gc.enable()
    (Value(2.0) * 3.0).backward()
    assert gc.isenabled()
