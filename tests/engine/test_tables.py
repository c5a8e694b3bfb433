"""The tables that tie an op to its names (issue 18): one rule table, every name made from it."""

import operator

import pytest

import engine
from engine import Value, ops
from engine.value import UNARY, V

BUILTIN = [ops.ADD, ops.SUB, ops.MUL, ops.DIV, ops.POW, ops.NEG, ops.EXP, ops.LOG, ops.TANH,
           ops.SIGMOID, ops.RELU, ops.ABS, ops.SIN, ops.COS, ops.SQRT, ops.SUM, ops.DOT, ops.MAX]

# the binary ops and neg are Python's operators; each maps to the dunder that applies it
OPERATORS = {"add": operator.add, "sub": operator.sub, "mul": operator.mul,
             "div": operator.truediv, "pow": operator.pow, "neg": operator.neg}


def test_the_builtin_list_is_the_table():
    assert [op.name for op in BUILTIN] == [n for n in ops.TABLE if ops.TABLE[n] in BUILTIN]
    assert all(ops.TABLE[op.name] is op for op in BUILTIN)


@pytest.mark.parametrize("op", BUILTIN, ids=lambda op: op.name)
def test_every_op_has_its_value_method_or_operator_and_engine_function(op):
    x, y = Value(0.7), Value(1.3)
    if op.arity == 1 and op.name != "neg":
        fn = getattr(engine, op.name)
        assert fn is UNARY[op.name] and getattr(Value, op.name) is fn
        assert fn(x).op is op and getattr(x, op.name)().op is op
        assert fn(x).data == op.forward(0.7)
    elif op.name in OPERATORS:
        args = (x,) if op.arity == 1 else (x, y)
        assert OPERATORS[op.name](*args).op is op
    else:  # the n-ary ops: one engine function each
        fn = getattr(engine, op.name)
        out = fn([x, y], [y, x]) if op.name == "dot" else fn([x, y, x])
        assert out.op is op


@pytest.mark.parametrize("name", ops.MATH_NAMES)
def test_every_math_namespace_has_every_name(name):
    assert callable(getattr(ops.F, name))
    assert callable(getattr(V, name))
    compile_ = pytest.importorskip("engine.compile")
    assert callable(getattr(compile_.SYMBOLIC, name))


def test_the_float_and_value_namespaces_also_say_which_slots_need_partials():
    assert ops.F.needs(1.0) and V.needs(Value(1.0))
    assert not V.needs(Value(1.0, requires_grad=False)) and not V.needs(2.0)


def test_every_builtin_rule_uses_only_the_declared_names():
    used = set()

    class Spy:
        def __getattr__(self, name):
            used.add(name)
            return getattr(ops.F, name)

    for op in BUILTIN:
        n = 1 if op.arity == 1 else 2 if op.arity == 2 else 4
        xs = [0.5 + i for i in range(n)]
        op.partials(Spy(), op.forward(*xs), *xs)
    assert used <= set(ops.MATH_NAMES) | {"needs"}


def test_unary_functions_carry_the_forward_doc():
    assert "overflow" in engine.exp.__doc__ and engine.exp.__name__ == "exp"
