"""The checks behind :class:`engine.detect_anomaly`: where a node was created, and
whether an op's forward value or backward contribution turned sane numbers into a
NaN or an infinity. Apart from the core: only anomaly mode calls them.
"""

from __future__ import annotations

import math
import os
import traceback

from engine.modes import AnomalyError

_ENGINE_DIR = os.path.dirname(os.path.abspath(__file__))


def creation_site() -> str:
    """``file:line in function`` of the innermost caller outside ``engine``."""
    for frame in reversed(traceback.extract_stack()):
        if os.path.dirname(os.path.abspath(frame.filename)) != _ENGINE_DIR:
            return f"{frame.filename}:{frame.lineno} in {frame.name}"
    return "<unknown>"


def _bad(out: float, inputs) -> bool:
    if out != out:
        return not any(x != x for x in inputs)
    return math.isinf(out) and all(math.isfinite(x) for x in inputs)


def check_forward(op, xs: list[float], out: float, site: str) -> None:
    """Raise :class:`AnomalyError` if ``op`` made a NaN/inf from sane inputs."""
    if _bad(out, xs):
        raise AnomalyError(f"{op.name} produced {out} from inputs {tuple(xs)} at {site}")


def check_backward(node, adjoint, local) -> None:
    """Raise :class:`AnomalyError` if ``node``'s backward made a NaN/inf."""
    a = float(adjoint)
    for i, (parent, d) in enumerate(zip(node.parents, local, strict=True)):
        if not parent.requires_grad:  # nothing flows to a constant
            continue
        c = a * d if isinstance(d, float) else a * float(d)  # d may be a mask's STOP
        if _bad(c, (a,)):
            inputs = tuple(p.data for p in node.parents)
            raise AnomalyError(
                f"backward of {node.op.name} produced {c} for its input {i} "
                f"(inputs {inputs}, local derivative {float(d)}, adjoint {a}); "
                f"the node was created at {node.trace or '<before detect_anomaly>'}"
            )
