"""Value.register_hook with torch.Tensor.register_hook's semantics (issue 16)."""

import math

import pytest

import engine
from engine import Value
from engine.hooks import RemovableHandle

torch = pytest.importorskip("torch")


@pytest.fixture(autouse=True)
def _no_hooks_left():
    live = RemovableHandle.live
    yield
    assert RemovableHandle.live == live  # every test removes what it registers


def _torch_run(make_hooks):
    x = torch.tensor(2.0, dtype=torch.float64, requires_grad=True)
    h = x * 3
    h.retain_grad()
    y = h * h
    calls = []
    handles = make_hooks(x, h, y, calls)
    y.backward()
    for handle in handles:
        handle.remove()
    return calls, x.grad.item(), h.grad.item()


def _engine_run(make_hooks):
    x = Value(2.0)
    h = x * 3.0
    y = h * h
    calls = []
    handles = make_hooks(x, h, y, calls)
    y.backward()
    for handle in handles:
        handle.remove()
    return calls, x.grad, h.grad


def _scale_and_shift(x, h, y, calls):
    def log(name, result):
        def hook(g):
            calls.append((name, float(g)))
            return result(g)
        return hook

    return [y.register_hook(log("y", lambda g: None)),
            h.register_hook(log("h", lambda g: g * 10)),
            x.register_hook(log("x", lambda g: g + 1))]


def test_hooks_scale_intermediates_and_shift_leaves_as_in_torch():
    want = _torch_run(_scale_and_shift)
    got = _engine_run(_scale_and_shift)
    assert got == want == ([("y", 1.0), ("h", 12.0), ("x", 360.0)], 361.0, 120.0)


def test_a_hook_sees_the_total_gradient_once():
    x = Value(3.0)
    seen = []
    handle = x.register_hook(seen.append)
    (x * x).backward()
    handle.remove()
    assert seen == [6.0] and x.grad == 6.0


def test_hooks_chain_in_registration_order():
    xt = torch.tensor(1.0, dtype=torch.float64, requires_grad=True)
    xt.register_hook(lambda g: g * 2)
    xt.register_hook(lambda g: g + 1)
    (xt * 5).backward()
    x = Value(1.0)
    handles = [x.register_hook(lambda g: g * 2), x.register_hook(lambda g: g + 1)]
    (x * 5).backward()
    for handle in handles:
        handle.remove()
    assert x.grad == xt.grad.item() == 11.0


def test_removed_hooks_are_not_called():
    x = Value(2.0)
    calls = []
    handle = x.register_hook(lambda g: calls.append(g) or 0.0)
    handle.remove()
    handle.remove()  # twice is harmless, as in torch
    (x * x).backward()
    assert calls == [] and x.grad == 4.0


def test_hooks_run_in_engine_grad_and_adjoints():
    x = Value(2.0)
    h = x * 3.0
    handle = h.register_hook(lambda g: g * 10)
    try:
        assert engine.grad(h * h, x) == (360.0,)
        assert engine.adjoints(h * h)[h] == 120.0
    finally:
        handle.remove()
    assert x.grad is None and engine.grad(h * h, x) == (36.0,)


def test_hooks_with_create_graph_get_and_give_values():
    x = Value(2.0)
    handle = x.register_hook(lambda g: g * g)  # the hook's result stays a graph
    try:
        (dx,) = engine.grad(x**3, x, create_graph=True)  # (3x^2)^2 = 144
    finally:
        handle.remove()
    assert isinstance(dx, Value) and dx.data == 144.0
    (ddx,) = engine.grad(dx, x)  # d/dx 9x^4 = 36x^3
    assert ddx == 288.0


def test_a_hook_that_zeroes_stops_the_flow():
    x = Value(2.0)
    h = x.exp()
    handle = h.register_hook(lambda g: 0.0)
    (h * math.inf).backward()  # inf adjoint replaced by 0 before it reaches exp's partial
    handle.remove()
    assert x.grad == 0.0


def test_register_hook_on_a_constant_is_an_error():
    with pytest.raises(RuntimeError, match="does not require grad"):
        Value(1.0, requires_grad=False).register_hook(lambda g: g)


def test_a_hook_returning_a_non_number_is_a_clear_error():
    x = Value(1.0)
    handle = x.register_hook(lambda g: "bad")
    try:
        with pytest.raises(TypeError, match="hook's result"):
            (x * 2.0).backward()
    finally:
        handle.remove()


def test_without_hooks_backward_takes_the_fast_loop(monkeypatch):
    from engine import backprop

    def fail(*args):
        raise AssertionError("the step generator ran")

    monkeypatch.setattr(backprop, "_steps", fail)
    x = Value(2.0)
    (x * x).backward()
    assert x.grad == 4.0
