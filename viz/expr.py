"""A safe parser for the small expressions typed on the command line.

``tanh(x*w + b)`` is parsed with :mod:`ast` and evaluated node by node over
a whitelist: numbers, the variables the caller names, ``+ - * / **``, unary
``-`` and ``+``, and calls of one argument to the engine's functions
``exp log tanh sigmoid relu sin cos sqrt abs``. Everything else (``eval``-able
tricks such as ``__import__('os')``, attribute access, subscripts, lambdas,
keywords, comprehensions, strings, comparisons...) is rejected with an
:class:`ExpressionError` that names the construct and its column. Nothing
is ever passed to ``eval`` or ``compile``.

Every number becomes a constant ``Value`` and every operation goes through
the engine, so ``1/0`` is ``inf`` and ``10**400`` is ``inf`` (IEEE, as the
engine computes), never a Python exception or a huge integer.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping

import engine
from engine import Value

#: The functions an expression may call, by name.
FUNCTIONS = {
    "exp": engine.exp, "log": engine.log, "tanh": engine.tanh, "sigmoid": engine.sigmoid,
    "relu": engine.relu, "sin": engine.sin, "cos": engine.cos, "sqrt": engine.sqrt,
    "abs": engine.abs,
}

_BINARY = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**"}
_UNARY = {ast.USub: "-", ast.UAdd: "+"}

#: Longer expressions are refused (they are typed by hand; this bounds the work).
MAX_LENGTH = 2000

_ALLOWED = ("numbers, variables given with --set, + - * / **, unary -, and calls "
            f"{', '.join(f'{f}(...)' for f in FUNCTIONS)}")


class ExpressionError(ValueError):
    """The expression is not in the whitelisted language; the message says why.

    Attributes:
        unknown: Variable names used but not given (empty for other errors).
    """

    def __init__(self, message: str, unknown: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.unknown = unknown


def _where(node: ast.AST) -> str:
    col = getattr(node, "col_offset", None)
    return "" if col is None else f" at column {col + 1}"


def _describe(node: ast.AST) -> str:
    names = {
        ast.Attribute: "attribute access (a.b)", ast.Subscript: "subscripts (a[i])",
        ast.Lambda: "lambda", ast.ListComp: "comprehensions", ast.SetComp: "comprehensions",
        ast.DictComp: "comprehensions", ast.GeneratorExp: "generator expressions",
        ast.Compare: "comparisons", ast.BoolOp: "and/or", ast.IfExp: "if/else",
        ast.NamedExpr: "assignment (:=)", ast.Starred: "unpacking (*)",
        ast.JoinedStr: "f-strings", ast.List: "lists", ast.Tuple: "tuples", ast.Dict: "dicts",
        ast.Set: "sets", ast.Await: "await", ast.Yield: "yield", ast.YieldFrom: "yield",
        ast.Slice: "slices", ast.keyword: "keyword arguments",
    }
    return names.get(type(node), type(node).__name__)


def _check(tree: ast.Expression, variables: Mapping[str, object]) -> None:
    """Reject anything outside the whitelist; report all unknown variables at once."""
    unknown: dict[str, int] = {}
    called = {id(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
    for node in ast.walk(tree):
        if isinstance(node, (ast.Expression, ast.Load)) or type(node) in _BINARY or \
                type(node) in _UNARY:
            continue
        if isinstance(node, ast.BinOp):
            if type(node.op) not in _BINARY:
                raise ExpressionError(f"operator {type(node.op).__name__}{_where(node)} is not "
                                      f"allowed; allowed: {_ALLOWED}")
        elif isinstance(node, ast.UnaryOp):
            if type(node.op) not in _UNARY:
                raise ExpressionError(f"operator {type(node.op).__name__}{_where(node)} is not "
                                      f"allowed; allowed: {_ALLOWED}")
        elif isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name):
                raise ExpressionError(f"{_describe(node.func)}{_where(node.func)} is not allowed "
                                      f"as a function: only {', '.join(FUNCTIONS)} can be called,"
                                      " by name")
            fname = node.func.id
            if fname not in FUNCTIONS:
                raise ExpressionError(f"calling {fname!r}{_where(node)} is not allowed: only "
                                      f"{', '.join(FUNCTIONS)} can be called")
            if node.keywords:
                raise ExpressionError(f"{fname}(){_where(node)}: keyword arguments are not "
                                      "allowed")
            if len(node.args) != 1 or isinstance(node.args[0], ast.Starred):
                raise ExpressionError(f"{fname}(){_where(node)} takes exactly one argument, "
                                      f"got {len(node.args)}")
        elif isinstance(node, ast.Name):
            if id(node) in called:
                continue
            if node.id in FUNCTIONS:
                raise ExpressionError(f"{node.id!r}{_where(node)} is a function: call it, as "
                                      f"{node.id}(x)")
            if node.id not in variables:
                unknown[node.id] = min(unknown.get(node.id, node.col_offset), node.col_offset)
        elif isinstance(node, ast.Constant):
            v = node.value
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise ExpressionError(f"{v!r}{_where(node)} is not a real number; only numbers "
                                      "are allowed as constants")
        else:
            raise ExpressionError(f"{_describe(node)}{_where(node)} is not allowed in an "
                                  f"expression; allowed: {_ALLOWED}")
    if unknown:
        unknown = sorted(unknown, key=unknown.get)  # in reading order
        given = ", ".join(f"{n}=..." for n in unknown)
        raise ExpressionError(
            f"unknown variable{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}: "
            f"give {'their values' if len(unknown) > 1 else 'its value'} with --set {given}",
            tuple(unknown),
        )


def parse_expression(text: str, variables: Mapping[str, float | Value] | None = None
                     ) -> tuple[Value, dict[str, Value]]:
    """Parse and evaluate ``text`` into a computation graph, safely.

    Args:
        text: The expression, e.g. ``"tanh(x*w + b)"``.
        variables: Values of the variables, by name (numbers become leaf
            ``Value``s labelled with their name; ``Value``s are used as given).

    Returns:
        ``(root, leaves)``: the output node and the variable leaves by name.

    Raises:
        ExpressionError: A syntax error, a construct outside the whitelist,
            or unknown variables (all named in the message).

    >>> root, leaves = parse_expression("tanh(x*w + b)", {"x": 0.5, "w": -3, "b": 2})
    >>> round(root.data, 4), leaves["w"].label
    (0.4621, 'w')
    >>> parse_expression("__import__('os')")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    viz.expr.ExpressionError: calling '__import__' at column 1 is not allowed: only exp, ...
    """
    if not isinstance(text, str):
        raise ExpressionError(f"expected the expression as a string, got {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"the expression has {len(text)} characters, more than "
                              f"{MAX_LENGTH}")
    variables = dict(variables or {})
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        col = f" at column {exc.offset}" if exc.offset else ""
        raise ExpressionError(f"not a valid expression{col}: {exc.msg}") from None
    except (RecursionError, MemoryError):
        raise ExpressionError("the expression is nested too deeply") from None
    _check(tree, variables)
    leaves = {}
    for name, v in variables.items():
        try:
            leaves[name] = v if isinstance(v, Value) else Value(v, label=name)
        except (TypeError, ValueError) as exc:
            raise ExpressionError(f"variable {name}: {exc}") from None
    try:
        return _evaluate(tree.body, leaves), leaves
    except (TypeError, ValueError) as exc:
        raise ExpressionError(str(exc)) from None


def _evaluate(root: ast.expr, leaves: dict[str, Value]) -> Value:
    """Post-order evaluation with an explicit stack (no recursion limit)."""
    done: dict[int, Value] = {}
    stack: list[tuple[ast.expr, bool]] = [(root, False)]
    while stack:
        node, ready = stack.pop()
        if isinstance(node, ast.Constant):
            done[id(node)] = Value(node.value, requires_grad=False)
        elif isinstance(node, ast.Name):
            done[id(node)] = leaves[node.id]
        elif not ready:
            stack.append((node, True))
            kids = [node.left, node.right] if isinstance(node, ast.BinOp) else (
                [node.operand] if isinstance(node, ast.UnaryOp) else [node.args[0]])
            stack.extend((k, False) for k in reversed(kids))
        elif isinstance(node, ast.BinOp):
            a, b = done[id(node.left)], done[id(node.right)]
            op = _BINARY[type(node.op)]
            done[id(node)] = (a + b if op == "+" else a - b if op == "-" else a * b if op == "*"
                              else a / b if op == "/" else a ** b)
        elif isinstance(node, ast.UnaryOp):
            x = done[id(node.operand)]
            done[id(node)] = -x if isinstance(node.op, ast.USub) else x
        else:
            done[id(node)] = FUNCTIONS[node.func.id](done[id(node.args[0])])
    return done[id(root)]
