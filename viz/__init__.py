"""dagrad's pictures: computation graphs, their gradient flow, and training plots.

* :func:`draw` turns a graph into a ``graphviz.Digraph`` (Jupyter shows it
  inline): values with their data and grad, small op nodes, colours by role
  with a legend, gradient contributions on the edges (``flow=True``), the
  backward order and the adjoint table (``order=True``, ``table=True``), and
  smaller views of large graphs (``collapse``, ``depth``, ``show_ops``); the
  legend lists exactly what the picture contains, and the layout direction is
  chosen to keep the picture about 1,000 px wide where it can.
* :func:`to_svg` and :func:`save` render with Graphviz's ``dot`` (any format
  it writes, by suffix: ``.svg .png .pdf .jpg ...``) within a time limit;
  :class:`GraphvizNotFoundError` says how to install it.
* :func:`backward_steps`, :func:`animate` and :func:`save_backward_html`
  animate the backward pass one DP step at a time: a player shown inline in
  Jupyter, or one self-contained HTML file.
* :func:`plot_history`, :func:`plot_decision_boundary` and
  :func:`plot_grad_magnitudes` draw training curves with matplotlib
  (optional: ``pip install dagrad[plots]``, imported only when called).
* ``python -m viz "tanh(x*w + b)" --set x=0.5 w=-3 b=2 -o graph.svg`` (or the
  ``dagrad-draw`` script) draws an expression typed on the command line.

``viz`` imports ``engine``, not ``nn``: neurons and layers are found from
parameter names (files are written with ``nn.io.atomic_write``, imported when
a file is written).

>>> from engine import Value
>>> import viz
>>> x = Value(2.0, label="x"); y = x * x; y.backward()
>>> "grad 4" in viz.draw(y).source
True
"""

from viz.animate import Animation, Frame, animate, backward_steps, save_backward_html
from viz.dot import Graph, GraphTooLargeError, Scene, draw, group_of_name
from viz.expr import ExpressionError, parse_expression
from viz.live import LiveView as LiveView
from viz.plots import plot_decision_boundary, plot_grad_magnitudes, plot_history
from viz.render import GraphvizNotFoundError, RenderError, RenderTimeoutError, save, to_svg
from viz.style import legend_label

__all__ = [
    "Animation", "ExpressionError", "Frame", "Graph", "GraphTooLargeError",
    "GraphvizNotFoundError", "RenderError", "RenderTimeoutError", "Scene",
    "animate", "backward_steps", "draw", "group_of_name", "legend_label", "parse_expression",
    "plot_decision_boundary", "plot_grad_magnitudes", "plot_history", "save",
    "save_backward_html", "to_svg",
]
