"""The command line: draw an expression typed in the shell, with backward already run.

    dagrad-draw "tanh(x*w + b)" --set x=0.5 w=-3 b=2 -o graph.svg
    python -m viz "x*x + sin(x)" --set x=1 --flow --rankdir TB -o graph.png
    python -m viz "sigmoid(a*b)" --set a=1 b=2 -o steps.html   # backward animation

The format comes from the output's suffix (any format Graphviz's ``dot``
writes: ``.svg .png .pdf .jpg ...``; ``.dot .gv`` for the DOT text; ``.html``
for the backward animation) or from ``--format``; without ``-o`` the SVG (or
``--format``) goes to standard output. The expression is parsed safely by
:mod:`viz.expr` (never ``eval``). ``dot`` gets ``--timeout`` seconds (60 by
default); a graph too slow to lay out stops with advice on smaller views.
Exit codes: 0 success, 1 a rendering problem (such as Graphviz missing or
too slow), 2 a bad expression or usage (an argument that is not valid UTF-8
included).
"""

from __future__ import annotations

import argparse
import keyword
import math
import sys
from collections.abc import Sequence

from viz.expr import FUNCTIONS, ExpressionError, parse_expression
from viz.runner import RENDER_TIMEOUT, WRITABLE

_SUFFIXES = {f".{fmt}": fmt for fmt in sorted(WRITABLE)} | {
    ".dot": "dot", ".gv": "dot", ".html": "html", ".htm": "html"}


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="dagrad-draw",
        description="Draw the computation graph of an expression, with backward already run.",
        epilog='example: dagrad-draw "tanh(x*w + b)" --set x=0.5 w=-3 b=2 -o graph.svg\n'
               'an expression that starts with "-" goes after "--": '
               'dagrad-draw --set x=1 -o g.svg -- "-x*2"',
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("expression", help="e.g. 'tanh(x*w + b)': numbers, variables, + - * / **, "
                   f"unary -, and {', '.join(FUNCTIONS)}")
    p.add_argument("--set", dest="assignments", metavar="NAME=VALUE", nargs="+",
                   action="extend", default=[], help="values of the variables, e.g. x=0.5 w=-3")
    p.add_argument("-o", "--output", metavar="PATH",
                   help="file to write: .svg .png .pdf .dot .gv, or .html for the backward "
                   "animation (default: standard output)")
    p.add_argument("--format", choices=sorted(set(_SUFFIXES.values())), metavar="FORMAT",
                   help="output format: svg, png, pdf, jpg, dot, html or any other format "
                   "Graphviz's dot writes (default: from the suffix of --output, else svg)")
    p.add_argument("--timeout", type=float, default=RENDER_TIMEOUT, metavar="SECONDS",
                   help=f"time allowed to Graphviz's dot (default {RENDER_TIMEOUT:g})")
    p.add_argument("--rankdir", choices=["auto", "LR", "TB", "RL", "BT"], default="auto",
                   help="layout direction: LR (left to right), TB (top to bottom); default "
                   "auto: LR unless the picture would be wider than about 1,000 px")
    p.add_argument("--flow", action="store_true",
                   help="label edges with the gradient contribution flowing back along them")
    p.add_argument("--shade", action="store_true", help="fill nodes by |grad|")
    p.add_argument("--order", action="store_true", help="number nodes in backward order")
    p.add_argument("--table", action="store_true", help="add the adjoint table")
    p.add_argument("--no-ops", dest="show_ops", action="store_false",
                   help="fold op symbols into the value nodes")
    p.add_argument("--no-legend", dest="legend", action="store_false", help="omit the legend")
    return p


def _assignments(items: Sequence[str]) -> dict[str, float]:
    values: dict[str, float] = {}
    for item in items:
        name, eq, text = item.partition("=")
        name = name.strip()
        if not eq:
            raise ExpressionError(f"--set {item!r}: expected NAME=VALUE, e.g. x=0.5")
        if not name.isidentifier() or keyword.iskeyword(name):
            raise ExpressionError(f"--set {item!r}: {name!r} is not a valid variable name")
        if name in FUNCTIONS:
            raise ExpressionError(f"--set {item!r}: {name!r} is a function name; pick another")
        if name in values:
            raise ExpressionError(f"--set: {name} is given twice")
        try:
            value = float(text)
        except ValueError:
            raise ExpressionError(f"--set {item!r}: {text!r} is not a number") from None
        if math.isnan(value) and text.strip().lower() not in ("nan", "+nan", "-nan"):
            raise ExpressionError(f"--set {item!r}: {text!r} is not a number")
        values[name] = value
    return values


def _format(args: argparse.Namespace) -> str:
    if args.output is None:
        return args.format or "svg"
    from pathlib import Path

    by_suffix = _SUFFIXES.get(Path(args.output).suffix.lower())
    if args.format is None:
        if by_suffix is None:
            raise ExpressionError(f"cannot tell the format of {args.output!r} from its suffix: "
                                  f"use one of {' '.join(_SUFFIXES)} or pass --format")
        return by_suffix
    if by_suffix is not None and by_suffix != args.format:
        raise ExpressionError(f"--format {args.format} does not match the suffix of "
                              f"{args.output!r}")
    return args.format


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line.

    Args:
        argv: The arguments (default: ``sys.argv[1:]``).

    Returns:
        The exit code: 0 success, 1 a rendering problem, 2 a bad expression or usage.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    for position, arg in enumerate(argv, 1):
        bad = _not_utf8(arg)
        if bad is not None:
            print(f"dagrad-draw: error: argument {position} ({arg!r:.60}) is not valid UTF-8 "
                  f"text ({bad}); retype it or set a UTF-8 locale (e.g. LANG=C.UTF-8)",
                  file=sys.stderr)
            return 2
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # argparse has printed the usage message
        return int(exc.code or 0)
    if not args.timeout > 0:
        print(f"dagrad-draw: error: --timeout must be a positive number of seconds, got "
              f"{args.timeout:g}", file=sys.stderr)
        return 2
    try:
        values = _assignments(args.assignments)
        fmt = _format(args)
        root, _leaves = parse_expression(args.expression, values)
    except ExpressionError as exc:
        print(f"dagrad-draw: error: {exc}", file=sys.stderr)
        return 2

    from viz.animate import save_backward_html
    from viz.dot import GraphTooLargeError, draw
    from viz.render import GraphvizNotFoundError, RenderError, pipe, write_atomic

    try:
        if fmt == "html":
            if args.output is None:
                raise ExpressionError("the html animation needs an output file: -o steps.html")
            if not root.requires_grad:
                raise ExpressionError("the expression has no variables, so backward has no "
                                      "steps to animate")
            save_backward_html(root, args.output, rankdir=args.rankdir, show_ops=args.show_ops,
                               legend=args.legend, timeout=args.timeout)
            print(f"dagrad-draw: wrote {args.output}", file=sys.stderr)
            return 0
        if root.requires_grad:
            root.backward()
        graph = draw(root, rankdir=args.rankdir, flow=args.flow, shade=args.shade,
                     order=args.order, table=args.table, show_ops=args.show_ops,
                     legend=args.legend)
        data = pipe(graph, fmt, timeout=args.timeout)
    except ExpressionError as exc:
        print(f"dagrad-draw: error: {exc}", file=sys.stderr)
        return 2
    except GraphTooLargeError as exc:
        what = "animates" if fmt == "html" else "draws"
        print(f"dagrad-draw: error: the picture would have {exc.nodes:,} nodes, more than "
              f"dagrad-draw {what} ({exc.limit:,}). "
              f"{_smaller_views(args, fmt, timeout=False)}",
              file=sys.stderr)
        return 1
    except RenderError as exc:
        print(f"dagrad-draw: error: {exc.reason} {_smaller_views(args, fmt)}", file=sys.stderr)
        return 1
    except (GraphvizNotFoundError, RuntimeError, OSError) as exc:
        print(f"dagrad-draw: error: {exc}", file=sys.stderr)
        return 1
    if args.output is None:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    else:
        try:
            write_atomic(args.output, data)
        except OSError as exc:
            print(f"dagrad-draw: error: {exc}", file=sys.stderr)
            return 1
        print(f"dagrad-draw: wrote {args.output}", file=sys.stderr)
    return 0


def _smaller_views(args: argparse.Namespace, fmt: str, *, timeout: bool = True) -> str:
    """Advice for a picture too large or too slow, in this command's own flags
    (``--flow`` and ``--table`` count only for still pictures, not the animation).

    >>> args = _parser().parse_args(["x+x", "--flow", "--table", "--timeout", "1"])
    >>> for part in _smaller_views(args, "svg").split(", "):
    ...     print(part)
    Draw a smaller view: add --no-ops (op symbols folded into the value nodes)
    leave out --flow (no edge labels)
    leave out --table (no adjoint table); or allow more time: --timeout SECONDS (more than 1).
    """
    ways = []
    if args.show_ops:
        ways.append("add --no-ops (op symbols folded into the value nodes)")
    if args.flow and fmt != "html":
        ways.append("leave out --flow (no edge labels)")
    if args.table and fmt != "html":
        ways.append("leave out --table (no adjoint table)")
    advice = f"Draw a smaller view: {', '.join(ways)}" if ways else "Draw a smaller expression"
    if timeout:
        advice += f"; or allow more time: --timeout SECONDS (more than {args.timeout:g})"
    return advice + "."


def _not_utf8(arg: str) -> str | None:
    """What is wrong with a command-line argument that is not valid UTF-8, else ``None``.

    Python decodes undecodable bytes of ``argv`` to lone surrogates
    (``surrogateescape``); no picture or file name can hold them.

    >>> _not_utf8("x+1") is None, _not_utf8("x\udcff")
    (True, 'byte 0xff at character 2')
    """
    for i, ch in enumerate(arg, 1):
        if 0xDC80 <= ord(ch) <= 0xDCFF:
            return f"byte 0x{ord(ch) - 0xDC00:02x} at character {i}"
        if 0xD800 <= ord(ch) <= 0xDFFF:
            return f"lone surrogate U+{ord(ch):04X} at character {i}"
    return None


if __name__ == "__main__":
    sys.exit(main())
