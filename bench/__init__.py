"""dagrad's benchmark suite: each script runs every engine on the same work in
the same run and prints a table.

Run them all with one command (``make bench`` does the same)::

    python -m bench                 # the full suite, a few minutes
    python -m bench --quick         # tiny sizes, seconds (what the tests run)
    python -m bench --only demo     # some of: demo, chains, memory, scaling, hessian, engine
    python -m bench --write         # also write bench/RESULTS.md

The scripts: :mod:`bench.demo_step` (micrograd's demo step, every engine),
:mod:`bench.chains` (deep chains), :mod:`bench.memory` (bytes per node),
:mod:`bench.scaling` (time per node as the MLP grows), :mod:`bench.hessian`
(a Hessian against PyTorch) and :mod:`bench.engine` (issue 3's cost per node).

Peers are optional (``pip install -e '.[bench]'`` for micrograd and numpy;
``torch`` and ``jax`` separately). A missing peer is reported as missing, not
as a failure. This module holds what the scripts share: timing, tables, the
machine description and the peers.
"""

from __future__ import annotations

import gc
import importlib
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

MISSING = "not installed"


@dataclass
class Stats:
    """Times of repeated runs, in seconds."""

    times: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.times)

    @property
    def min(self) -> float:
        return min(self.times)

    @property
    def max(self) -> float:
        return max(self.times)


@dataclass
class Result:
    """One benchmark's outcome: rows (dicts, for tests) and the printed table."""

    name: str
    title: str
    headers: list[str]
    rows: list[dict[str, Any]]
    notes: list[str] = field(default_factory=list)

    def markdown(self) -> str:
        """The table in Markdown, with its title and notes."""
        lines = [f"### {self.title}", "", "| " + " | ".join(self.headers) + " |",
                 "|" + "|".join("---" for _ in self.headers) + "|"]
        for row in self.rows:
            lines.append("| " + " | ".join(_cell(row.get(h, "")) for h in self.headers) + " |")
        if self.notes:
            lines.append("")
            lines += [f"- {n}" for n in self.notes]
        return "\n".join(lines) + "\n"


def _cell(x: Any) -> str:
    if isinstance(x, float):
        if x != x:
            return "nan"
        if x == 0.0:
            return "0"
        if abs(x) >= 100 or abs(x) < 1e-3:
            return f"{x:.4g}" if abs(x) < 1e6 else f"{x:.3e}"
        return f"{x:.3g}"
    return str(x)


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """``(seconds, result)`` of one call."""
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def repeat(fn: Callable[[], Any], n: int) -> tuple[Stats, Any]:
    """Call ``fn`` ``n`` times; the times and the last result."""
    times, out = [], None
    for _ in range(n):
        t, out = timed(fn)
        times.append(t)
    return Stats(times), out


def peer(name: str) -> Any:
    """The module ``name``, or None when it is not installed."""
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def jax_one_core() -> Any:
    """JAX with its compute threads on one CPU core (enable_x64 on), or None.

    XLA has no thread-count setting that holds on the CPU (``XLA_FLAGS``'s
    ``intra_op_parallelism_threads`` is advisory: jax-ml/jax#1539), so the
    main thread's affinity is narrowed to one core while JAX starts its
    backend: the threads it creates then inherit that one core, and the main
    thread gets all its cores back. JAX's step is then a one-core step, as
    PyTorch's with ``set_num_threads(1)`` and numpy's with one BLAS thread.
    Call it before anything else imports JAX (the runner gives each benchmark
    its own interpreter); where affinity cannot be set, JAX keeps its threads.
    """
    started = "jax" in sys.modules
    peer("numpy")  # not under the narrowed mask: its BLAS threads keep every core
    mask = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") and not started else None
    if mask:
        os.sched_setaffinity(0, {min(mask)})
    try:
        jax = peer("jax")  # importing it starts threads too
        if jax is not None:
            jax.config.update("jax_enable_x64", True)
            jax.numpy.zeros(1).block_until_ready()  # the CPU backend and its thread pools
    finally:
        if mask:
            os.sched_setaffinity(0, mask)
    return jax


def torch_mlp_step(torch: Any, params: list, X: Any, data_loss: Callable[[Any], Any],
                   alpha: float, lr: float) -> float:
    """One SGD step of the benchmarks' MLP in PyTorch; returns the loss before the step.

    ``params`` alternate a weight ``(out, in)`` and a bias per layer (relu between
    layers, a linear output); the loss is ``data_loss(outputs) + alpha * sum(p**2)``.
    """
    h = X
    for i in range(0, len(params), 2):
        h = h @ params[i].T + params[i + 1]
        if i + 2 < len(params):
            h = torch.relu(h)
    loss = data_loss(h) + alpha * sum((p * p).sum() for p in params)
    for p in params:
        p.grad = None
    loss.backward()
    with torch.no_grad():
        for p in params:
            p -= lr * p.grad
    return loss.item()


def jax_mlp(jax: Any, ps: list, X: Any) -> Any:
    """The benchmarks' MLP forward in JAX (as :func:`torch_mlp_step`'s): ``ps``
    alternate a weight ``(out, in)`` and a bias; relu between layers, linear output."""
    h = X
    for i in range(0, len(ps), 2):
        h = h @ ps[i].T + ps[i + 1]
        if i + 2 < len(ps):
            h = jax.nn.relu(h)
    return h


def fresh() -> None:
    """Collect garbage left by the previous engine, so each starts clean."""
    gc.collect()


_THREADED = ("torch", "jax", "tensorflow")  # modules that run threads of their own


def isolated(fn: Callable[[], Any]) -> Any:
    """``fn()`` run in a forked child process; its result comes back pickled.

    For measurements of huge graphs: the child starts from this process's small,
    clean heap, so a timing does not depend on what an earlier measurement left
    behind (freeing a 2,000,000-node graph leaves the allocator's free lists
    scattered over a large heap, which slows the next engine's graph walks by
    ~20%). Where ``fork`` is unavailable or unsafe (a multithreaded library such
    as torch or JAX is loaded: forking it can deadlock), ``fn`` runs here after
    :func:`fresh`. The runner gives each benchmark its own interpreter, which
    loads only the peers that benchmark needs. An exception in the child is
    raised here as a ``RuntimeError`` with its text.
    """
    import multiprocessing

    try:
        ctx = multiprocessing.get_context("fork")
    except ValueError:
        ctx = None
    if ctx is None or any(m in sys.modules for m in _THREADED):
        fresh()
        return fn()
    receive, send = ctx.Pipe(duplex=False)

    def child() -> None:
        try:
            send.send(("ok", fn()))
        except BaseException as e:  # noqa: BLE001 (reported to the parent)
            send.send(("error", f"{type(e).__name__}: {e}"))

    proc = ctx.Process(target=child)
    proc.start()
    send.close()
    try:
        status, value = receive.recv()
    except EOFError:  # it died without a word (killed, out of memory)
        proc.join()
        status, value = "error", f"the child process died (exit code {proc.exitcode})"
    proc.join()
    if status != "ok":
        raise RuntimeError(f"isolated benchmark run failed: {value}")
    return value


def ms(seconds: float) -> float:
    return seconds * 1e3


def ratio(a: float | None, b: float | None) -> float | str:
    """``a / b``, or ``MISSING`` when either is missing."""
    if a is None or b is None or b == 0:
        return MISSING
    return a / b


def versions() -> dict[str, str]:
    """Versions of Python and of the peers (``missing`` when not installed)."""
    out = {"python": platform.python_version()}
    for name, dist in (("numpy", "numpy"), ("torch", "torch"), ("jax", "jax"),
                       ("micrograd", "micrograd")):
        try:
            from importlib.metadata import version

            out[name] = version(dist)
        except Exception:  # noqa: BLE001 (any failure means: not installed)
            out[name] = MISSING
    return out


def machine() -> dict[str, str]:
    """CPU model, cores, OS, load and versions: what a results table is true for."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    info = {"cpu": cpu, "cores": str(os.cpu_count()), "os": platform.platform(terse=True)}
    try:
        info["load average (1, 5, 15 min)"] = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        pass
    info.update(versions())
    return info


def header(title: str) -> str:
    return f"\n== {title} ==\n"


def print_result(result: Result, file: Any = None) -> None:
    print(result.markdown(), file=file or sys.stdout, flush=True)


def run_script(run: Callable[..., Result], argv: list[str] | None = None) -> Result:
    """A script's ``main``: run it (``--quick`` for tiny sizes) and print its table."""
    argv = sys.argv[1:] if argv is None else argv
    result = run(quick="--quick" in argv)
    print_result(result)
    return result


def seq(xs: Sequence[float]) -> str:
    return ", ".join(f"{x:g}" for x in xs)
