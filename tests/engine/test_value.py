"""The Value node: construction, operand types, conversions, anomaly detection."""

import copy
import fractions
import gc
import math
import pickle
import subprocess
import sys

import pytest

import engine
from engine import AnomalyError, Value, detect_anomaly


@pytest.mark.parametrize("bad", ["3", None, [1], (1.0,), 1 + 2j, True, {}])
def test_value_rejects_non_numbers_with_the_type_named(bad):
    with pytest.raises(TypeError, match=type(bad).__name__):
        Value(bad)


def test_value_of_a_value_points_to_detach():
    with pytest.raises(TypeError, match="detach"):
        Value(Value(1.0))


def test_huge_int_is_a_clear_error():
    with pytest.raises(ValueError, match="too large"):
        Value(10**400)


# One rule for out-of-range numbers (issue 16): a finite number beyond the float range is a
# ValueError whatever its type (torch.tensor(10**400) raises too); inf and nan stay themselves.

@pytest.mark.parametrize("make", [lambda: 10**400, lambda: -(10**400),
                                  lambda: fractions.Fraction(10**400, 3)])
def test_out_of_range_numbers_raise_for_every_type(make):
    with pytest.raises(ValueError, match="too large for a float"):
        Value(make())
    with pytest.raises(ValueError, match="operand of mul: .* too large"):
        Value(1.0) * make()


def test_out_of_range_numpy_longdouble_raises_like_an_int():
    np = pytest.importorskip("numpy")
    if np.finfo(np.longdouble).max <= np.finfo(np.float64).max:
        pytest.skip("longdouble is double on this platform")
    with pytest.raises(ValueError, match="longdouble .* too large for a float"):
        Value(np.longdouble("1e4000"))
    with pytest.raises(ValueError, match="too large"):
        Value(np.longdouble("-1e4000"))
    with pytest.raises(ValueError, match="operand of add"):
        Value(1.0) + np.longdouble("1e4000")
    assert Value(np.longdouble("inf")).data == math.inf  # infinities stay infinite
    assert math.isnan(Value(np.longdouble("nan")).data)
    assert Value(np.longdouble("1e300")).data == 1e300


def test_infinite_and_nan_inputs_are_kept():
    assert Value(math.inf).data == math.inf and Value(-math.inf).data == -math.inf
    assert math.isnan(Value(math.nan).data)
    assert (Value(1.0) * fractions.Fraction(1, 2)).data == 0.5


def test_value_accepts_ints_fractions_and_numpy_scalars():
    assert Value(3).data == 3.0 and type(Value(3).data) is float
    assert Value(fractions.Fraction(1, 4)).data == 0.25
    np = pytest.importorskip("numpy")
    v = Value(np.float32(1.5)) * Value(np.int64(2))
    assert v.data == 3.0 and type(v.data) is float


@pytest.mark.parametrize("bad", ["3", None, [1.0], 2j, True])
@pytest.mark.parametrize("opname,fn", [
    ("add", lambda v, b: v + b), ("add", lambda v, b: b + v), ("mul", lambda v, b: v * b),
    ("sub", lambda v, b: b - v), ("div", lambda v, b: v / b), ("pow", lambda v, b: v**b),
    ("pow", lambda v, b: b**v), ("exp", lambda v, b: engine.exp(b)),
    ("dot", lambda v, b: engine.dot([v], [b])),
])
def test_bad_operands_name_the_op_and_the_type(bad, opname, fn):
    with pytest.raises(TypeError, match=rf"{opname}.*{type(bad).__name__}"):
        fn(Value(1.0), bad)


def test_reflected_operators_with_numbers_on_the_left():
    x = Value(2.0)
    assert [(3 + x).data, (3 - x).data, (3 * x).data, (3 / x).data, (3**x).data] == [
        5.0, 1.0, 6.0, 1.5, 9.0]
    y = 3**x
    y.backward()
    assert x.grad == pytest.approx(9.0 * math.log(3.0))


def test_unary_methods_and_functions_agree():
    for name in ["exp", "log", "tanh", "sigmoid", "relu", "abs", "sin", "cos", "sqrt"]:
        x = Value(0.8)
        assert getattr(x, name)().data == getattr(engine, name)(0.8).data
    assert list(map(engine.relu, [-1.0, 2.0]))[1].data == 2.0
    assert abs(Value(-2.0)).data == 2.0 and (+Value(2.0)).data == 2.0


def test_comparisons_and_conversions_read_data():
    a, b = Value(1.0), Value(2.0)
    assert a < b and a <= 1.0 and b > a and b >= 2
    assert float(b) == 2.0 and int(Value(2.7)) == 2 and b.item() == 2.0
    assert bool(Value(0.0)) is False and bool(b) is True
    assert f"{Value(3.14159):.2f}" == "3.14"
    assert max([a, b]) is b  # Python's max picks the node
    assert (a == Value(1.0)) is False  # identity: nodes are dict keys
    with pytest.raises(TypeError, match="<"):
        _ = a < "x"


def test_repr_and_is_leaf():
    a = Value(2.0, label="a")
    assert repr(a) == "Value('a', data=2.0, grad=None)"
    assert a.is_leaf and not (a * a).is_leaf


def test_nodes_are_small():
    assert not hasattr(Value(1.0), "__dict__")


# -- how the edges are stored ---------------------------------------------------------


def test_parents_and_local_grads_by_arity():
    x, y = Value(0.5), Value(-2.0)
    assert x.parents == () and x.local_grads is None
    e = x.exp()
    assert e.parents == (x,) and e.local_grads == (math.exp(0.5),)
    m = x * y
    assert m.parents == (x, y) and m.local_grads == (-2.0, 0.5)
    d = engine.dot([x, y], [3.0, 4.0], bias=1.0)
    assert d.parents[:2] == (x, y) and [p.data for p in d.parents[2:]] == [3.0, 4.0, 1.0]
    assert d.local_grads == (3.0, 4.0, 0.5, -2.0, 1.0)


def test_constants_record_parents_but_no_partials():
    c = Value(3.0, requires_grad=False)
    two = c * 2.0
    assert two.parents[0] is c and two.parents[1].data == 2.0 and not two.requires_grad
    assert two.local_grads is None
    with engine.no_grad():
        y = Value(1.0) * Value(2.0)
    assert y.parents == () and y.local_grads is None and y.is_leaf


def test_a_binary_node_is_one_object_for_the_garbage_collector():
    # its parents and partials live in slots, not in tuples the collector must track
    x, y = Value(1.0), Value(2.0)
    for node in (x * y, x.tanh(), x + 3.0):
        assert not [r for r in gc.get_referents(node) if isinstance(r, tuple)]


@pytest.mark.parametrize("how", ["deepcopy", "pickle"])
def test_a_copied_or_pickled_graph_keeps_its_edges(how):
    x = Value(2.0)
    y = engine.dot([x, x * 3.0], [1.0, 2.0], bias=x.exp())  # d/dx = 1 + 6 + e^2
    z = copy.deepcopy(y) if how == "deepcopy" else pickle.loads(pickle.dumps(y))
    assert len(z.parents) == 5 and z.local_grads == y.local_grads and z.op is engine.ops.DOT
    z.backward()
    (x2,) = {p for p in z.parents if p.is_leaf and p.requires_grad}
    assert x2 is not x and x2.grad == 7.0 + math.exp(2.0) and x.grad is None


def test_unpickling_a_graph_with_an_unknown_op_names_it():
    from engine.primitive import primitive, unregister

    @primitive(partials=lambda m, out, x: (3.0,), name="triple_pickled")
    def triple(x):
        return 3.0 * x

    data = pickle.dumps(triple(Value(1.0)))
    unregister("triple_pickled")
    with pytest.raises(KeyError, match="triple_pickled"):
        pickle.loads(data)


def test_parents_are_read_only():
    y = Value(1.0) * 2.0
    with pytest.raises(AttributeError):
        y.parents = ()
    with pytest.raises(AttributeError):
        y.local_grads = (1.0, 1.0)


def test_requires_grad_turned_on_after_the_op_recomputes_the_partials():
    # made from constants, so apply recorded no partials; backward computes them
    a = Value(3.0, requires_grad=False)
    y = a * a + a.sin()
    a.requires_grad = True
    y.requires_grad = y.parents[0].requires_grad = y.parents[1].requires_grad = True
    y.backward()
    assert a.grad == 2 * 3.0 + math.cos(3.0)


# -- detect_anomaly ------------------------------------------------------------------


def test_anomaly_in_forward_names_op_inputs_and_line():
    with detect_anomaly(), pytest.raises(AnomalyError) as info:
        Value(-1.0).sqrt()
    message = str(info.value)
    assert "sqrt produced nan from inputs (-1.0,)" in message
    assert "test_value.py" in message


def test_anomaly_in_backward_names_op_and_creation_site():
    x = Value(0.0)
    with detect_anomaly():
        y = x.sqrt()  # fine forward: sqrt(0) = 0; its slope at 0 is inf
        with pytest.raises(AnomalyError) as info:
            y.backward()
    message = str(info.value)
    assert "backward of sqrt produced inf" in message
    assert "test_value.py" in message


def test_no_anomaly_check_outside_the_context():
    assert Value(-1.0).log().data != Value(-1.0).log().data  # nan, no error
    with detect_anomaly():
        assert (Value(2.0) * 3).data == 6.0


def test_import_engine_loads_no_third_party_module():
    code = (
        "import sys; before = set(sys.modules); import engine, engine.backprop, engine.check; "
        "new = {m.split('.')[0] for m in set(sys.modules) - before}; "
        "print(sorted(new - set(sys.stdlib_module_names) - {'engine'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# -- deep graphs copy and pickle without recursion (issue 16) -------------------------

def _chain(n: int) -> tuple[Value, Value]:
    x = Value(0.5, label="x")
    y = x
    for _ in range(n):
        y = y * 1.0000001
    return x, y


@pytest.mark.parametrize("how", ["deepcopy", "pickle"])
def test_a_100000_op_chain_copies_and_pickles(how):
    x, y = _chain(100_000)
    z = copy.deepcopy(y) if how == "deepcopy" else pickle.loads(pickle.dumps(y))
    assert z is not y and z.data == y.data
    grads = engine.adjoints(z)
    (x2,) = [n for n in grads if n.label == "x"]
    assert x2 is not x and x2.grad is None
    assert grads[x2] == engine.adjoints(y)[x]
    from engine.graphcopy import PICKLING as _PICKLING

    assert not _PICKLING.pending  # nothing left marked for the next pickle


@pytest.mark.parametrize("how", ["deepcopy", "pickle"])
def test_nodes_shared_by_several_roots_stay_shared(how):
    x = Value(2.0)
    h = (x * 3.0).tanh()
    out = [h * h, h + x, h]
    copied = copy.deepcopy(out) if how == "deepcopy" else pickle.loads(pickle.dumps(out))
    a, b, h2 = copied
    assert a.parents == (h2, h2) and b.parents[0] is h2
    assert b.parents[1] is h2.parents[0].parents[0]  # the same copied x
    assert h2 is not h


def test_pickle_after_a_root_shared_its_ancestors_leaves_no_marks():
    from engine.graphcopy import PICKLING as _PICKLING

    _, y = _chain(50)
    z = y * 2.0
    pickle.dumps([y, z])  # z's ancestors were stored with y's: pickle never asks for them
    assert not _PICKLING.pending


def test_copy_copy_shares_the_parents():
    x = Value(1.0)
    y = x * 2.0
    c = copy.copy(y)
    assert c is not y and c.parents == y.parents and c.local_grads == (2.0, 1.0)


def test_a_gradient_graph_pickles_with_its_node():
    x = Value(3.0)
    y = x * x
    y.backward(create_graph=True)  # x.grad is a Value graph: 2x
    x2 = pickle.loads(pickle.dumps(x))
    assert isinstance(x2.grad, Value) and x2.grad.data == 6.0
