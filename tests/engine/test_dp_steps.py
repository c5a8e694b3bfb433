"""engine.backprop.dp_steps: the DP one step at a time, and the fast loop that must equal it."""

import math
import random

import pytest

import engine
from engine import Value, adjoints, no_grad, topological_order
from engine.backprop import _fill, _seed_table, dp_steps


def _random_graph(rng: random.Random, n_leaves: int = 4, n_ops: int = 60):
    """A random DAG over every kind of op, with shared nodes, duplicates and constants."""
    nodes = [Value(rng.uniform(-2, 2), label=f"x{i}") for i in range(n_leaves)]
    nodes.append(Value(0.7, requires_grad=False))
    for _ in range(n_ops):
        a, b = rng.choice(nodes), rng.choice(nodes)
        kind = rng.randrange(9)
        if kind == 0:
            y = a + b
        elif kind == 1:
            y = a * b
        elif kind == 2:
            y = a * a  # a duplicate operand
        elif kind == 3:
            y = a.relu()
        elif kind == 4:
            y = a.tanh()
        elif kind == 5:
            y = engine.max(a, b, 0.0)
        elif kind == 6:
            y = engine.dot([a, b], [b, 0.5], bias=a)
        elif kind == 7:
            y = (a * a + 1.0).sqrt()
        else:
            y = engine.sum([a, b, a])
        nodes.append(y)
    return nodes[:n_leaves], nodes[-1]


@pytest.mark.parametrize("seed", range(20))
def test_fast_loop_equals_the_step_generator(seed):
    leaves, root = _random_graph(random.Random(seed))
    if not root.requires_grad:
        pytest.skip("the random root is a constant")
    fast = _seed_table((root,), 1.5, False)
    _fill(fast, topological_order(root))
    steps = list(dp_steps(root, 1.5))
    slow = steps[-1].table
    assert list(fast) == list(slow)  # the same nodes, reached in the same order
    for node in fast:
        assert math.isclose(fast[node], slow[node], rel_tol=0, abs_tol=0) or (
            fast[node] != fast[node] and slow[node] != slow[node]), node
    assert adjoints(root, 1.5) == fast


def test_steps_come_in_reverse_topological_order_with_final_adjoints():
    x = Value(2.0, label="x")
    y = x * x + x  # 2x + 1 = 5
    steps = list(dp_steps(y))
    assert [s.node for s in steps] == list(reversed(topological_order(y)))
    assert steps[-1].node is x and steps[-1].adjoint == 5.0
    mul = y.parents[0]
    (mul_step,) = [s for s in steps if s.node is mul]
    assert mul_step.partials == (2.0, 2.0)
    assert mul_step.sent == ((x, 0, 2.0), (x, 1, 2.0))  # x * x sends twice, one per slot


def test_sent_skips_constants():
    x = Value(3.0)
    y = x * 4.0
    (first, _) = dp_steps(y)
    assert [(p, slot, c) for p, slot, c in first.sent] == [(x, 0, 4.0)]


def test_dp_steps_with_create_graph_gives_graphs_and_leaves_grad_mode_alone():
    x = Value(3.0)
    y = x * x * x
    with no_grad():
        steps = []
        for step in dp_steps(y, create_graph=True):
            assert not engine.is_grad_enabled()  # the caller's mode between steps
            steps.append(step)
    dx = steps[-1].table[x]
    assert isinstance(dx, Value) and dx.data == 27.0
    (ddx,) = engine.grad(dx, x)
    assert ddx == 18.0


def test_dp_steps_refuses_a_constant_root():
    with pytest.raises(RuntimeError, match="does not require grad"):
        list(dp_steps(Value(1.0, requires_grad=False)))
