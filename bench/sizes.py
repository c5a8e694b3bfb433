"""Benchmark: ``fit``'s compiled step at four sizes, against its peers (issue 13).

One full-batch SGD step (forward, backward, update; L2 1e-4) at each size:

* A ``MLP(2, [16, 16, 1])``, 100 rows, hinge (micrograd's demo);
* B ``MLP(2, [64, 64, 1])``, 1,000 rows, hinge;
* C ``MLP(64, [128, 64, 10])``, 2,000 rows, cross-entropy;
* D ``MLP(2, [8] * 20 + [1])``, 100 rows, hinge (deep and narrow).

Engines: ``fit``'s compiled step (:class:`nn.compiled.CompiledStepper`, what
``fit`` runs: parameters and optimizer state in numpy); the same step written
by hand in numpy (the floor); PyTorch float64 on one thread (the headline) and
on its default threads; JAX ``jit`` with donated buffers and its threads on one core
(:func:`bench.jax_one_core`) when installed; and
the dynamic engine (``nn.train.DynamicStepper``) where a step takes under 30 s.
Every numpy figure runs with one BLAS thread (threadpoolctl, when installed,
and ``OPENBLAS_NUM_THREADS=1`` in the runner's child). All engines start from
the same weights and run the same steps: their losses must agree to rounding.
"first call" is the first step's time: tracing and code generation for the
compiled step, tracing and compilation for JAX, the first autograd pass for
PyTorch.

Run: ``python -m bench.sizes [--quick]`` (``--quick``: small row counts that do
not test the targets).
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Callable, Iterator
from typing import Any

from bench import (
    Result,
    fresh,
    jax_mlp,
    jax_one_core,
    ms,
    peer,
    run_script,
    timed,
    torch_mlp_step,
)

ALPHA = 1e-4
LR = 0.05
NOT_INSTALLED = "not installed"

#: name -> (inputs, hidden widths, outputs, rows, loss)
SIZES: dict[str, tuple[int, list[int], int, int, str]] = {
    "A": (2, [16, 16], 1, 100, "hinge"),
    "B": (2, [64, 64], 1, 1000, "hinge"),
    "C": (64, [128, 64], 10, 2000, "cross_entropy"),
    "D": (2, [8] * 20, 1, 100, "hinge"),
}
QUICK_ROWS = {"A": 20, "B": 40, "C": 40, "D": 20}
DYNAMIC_BUDGET = 30.0  # seconds: the dynamic engine runs a size only if a step fits


@contextlib.contextmanager
def one_blas_thread() -> Iterator[str]:
    """numpy's BLAS on one thread (threadpoolctl), or what the environment set."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        import os

        yield f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}"
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield "threadpoolctl: 1 BLAS thread"


def describe(name: str, rows: int | None = None) -> str:
    nin, hidden, nout, n, loss = SIZES[name]
    hid = f"[{hidden[0]}] * {len(hidden)}" if len(hidden) > 3 else str(hidden)
    return f"{name}: MLP({nin}, {hid} + [{nout}]), {rows or n:,} rows, {loss}"


def problem(name: str, rows: int) -> tuple[list[list[float]], list[Any], list[float]]:
    """Inputs, targets (+-1 or class indices) and initial weights for a size."""
    from nn import MLP

    nin, hidden, nout, _, loss = SIZES[name]
    rng = random.Random(0)
    X = [[rng.gauss(0.0, 1.0) for _ in range(nin)] for _ in range(rows)]
    if loss == "hinge":
        y: list[Any] = [1.0 if x[0] * x[1] > 0 else -1.0 for x in X]  # xor of the signs
    else:
        y = [int(abs(sum(x[:3])) * 3) % nout for x in X]
    model = MLP(nin, [*hidden, nout], rng=1, init="he")
    return X, y, [p.data for p in model.parameters()]


def _model(name: str, weights: list[float]) -> Any:
    from nn import MLP

    nin, hidden, nout, _, _ = SIZES[name]
    model = MLP(nin, [*hidden, nout], rng=1)
    for p, w in zip(model.parameters(), weights, strict=True):
        p.data = w
    return model


def _layout(name: str, flat: Any) -> list[tuple[Any, Any]]:
    """``(W, b)`` views per layer of a flat vector in dagrad's order (each neuron's
    weights, then its bias)."""
    nin, hidden, nout, _, _ = SIZES[name]
    out, at = [], 0
    for width in [*hidden, nout]:
        block = flat[at:at + width * (nin + 1)].reshape(width, nin + 1)
        out.append((block[:, :nin], block[:, nin]))
        at, nin = at + width * (nin + 1), width
    return out


# -- the engines: make(name, X, y, weights) -> step() -> loss before the update ------------


def compiled_engine(name, X, y, weights) -> Callable[[], float] | None:
    np = peer("numpy")
    if np is None:
        return None
    from nn.compiled import compiled_stepper
    from nn.optim import SGD

    model = _model(name, weights)
    stepper = compiled_stepper(model, SIZES[name][4], SGD(model.parameters(), lr=LR), ALPHA, X)
    data = stepper.dataset(np.array(X), np.array(y))  # as fit holds its training set
    rows = range(len(X))  # the full batch, as fit's batches come: row numbers
    return lambda: stepper.step_rows(data, rows)[0]


def numpy_engine(name, X, y, weights) -> Callable[[], float] | None:
    """The step written by hand in numpy: what the best generator could emit."""
    np = peer("numpy")
    if np is None:
        return None
    theta = np.array(weights)
    gtheta = np.zeros_like(theta)
    layers, grads = _layout(name, theta), _layout(name, gtheta)
    Xa, n = np.array(X), len(X)
    hinge = SIZES[name][4] == "hinge"
    ya = np.array(y, dtype=float)[:, None] if hinge else None
    onehot = None if hinge else np.eye(SIZES[name][2])[np.array(y)]
    last = len(layers) - 1

    def step() -> float:
        acts, pre = [Xa], []
        h = Xa
        for i, (W, b) in enumerate(layers):
            z = h @ W.T + b
            pre.append(z)
            h = np.maximum(z, 0.0) if i < last else z
            acts.append(h)
        if hinge:
            margin = 1.0 - ya * h
            loss = np.maximum(margin, 0.0).sum() / n
            ds = (margin > 0.0) * ya * (-1.0 / n)
        else:
            m = h.max(1, keepdims=True)
            e = np.exp(h - m)
            total = e.sum(1, keepdims=True)
            loss = ((np.log(total) + m) * 1.0 - (h * onehot).sum(1, keepdims=True)).sum() / n
            ds = (e / total - onehot) * (1.0 / n)
        loss += ALPHA * (theta @ theta)
        for i in range(last, -1, -1):
            W = layers[i][0]
            gW, gb = grads[i]
            gW[:] = ds.T @ acts[i]
            gb[:] = ds.sum(0)
            if i:
                ds = (ds @ W) * (pre[i - 1] > 0.0)
        gtheta.__iadd__((2.0 * ALPHA) * theta)
        theta.__isub__(LR * gtheta)
        return float(loss)

    return step


def _torch_engine(name, X, y, weights, threads: int | None) -> Callable[[], float] | None:
    torch = peer("torch")
    if torch is None:
        return None
    np = peer("numpy")
    f64 = torch.float64
    flat = np.array(weights)
    params = []
    for W, b in _layout(name, flat):
        params += [torch.tensor(W, dtype=f64, requires_grad=True),
                   torch.tensor(b, dtype=f64, requires_grad=True)]
    Xt = torch.tensor(X, dtype=f64)
    hinge = SIZES[name][4] == "hinge"
    yt = torch.tensor(y, dtype=f64) if hinge else torch.tensor(y)
    F = torch.nn.functional

    def data_loss(h: Any) -> Any:
        return torch.relu(1 - yt * h[:, 0]).mean() if hinge else F.cross_entropy(h, yt)

    def step() -> float:
        if threads is not None:
            torch.set_num_threads(threads)
        return torch_mlp_step(torch, params, Xt, data_loss, ALPHA, LR)

    return step


def torch_one_thread(name, X, y, weights):
    return _torch_engine(name, X, y, weights, 1)


def torch_default_threads(name, X, y, weights):
    torch = peer("torch")
    return _torch_engine(name, X, y, weights, DEFAULT_THREADS.get("torch") or (
        torch.get_num_threads() if torch is not None else None))


def jax_engine(name, X, y, weights) -> Callable[[], float] | None:
    jax = jax_one_core()
    if jax is None:
        return None
    jnp = jax.numpy
    np = peer("numpy")
    params = [jnp.array(a) for W, b in _layout(name, np.array(weights)) for a in (W, b)]
    Xj = jnp.array(X)
    hinge = SIZES[name][4] == "hinge"
    yj = jnp.array(y, dtype=jnp.float64) if hinge else jnp.array(y)
    k = SIZES[name][2]

    def loss_fn(ps):
        h = jax_mlp(jax, ps, Xj)
        if hinge:
            data = jax.nn.relu(1 - yj * h[:, 0]).mean()
        else:
            data = (jax.nn.logsumexp(h, axis=1) - (h * jax.nn.one_hot(yj, k)).sum(1)).mean()
        return data + ALPHA * sum((p * p).sum() for p in ps)

    def update(ps):
        loss, grads = jax.value_and_grad(loss_fn)(ps)
        return loss, [p - LR * g for p, g in zip(ps, grads, strict=True)]

    update = jax.jit(update, donate_argnums=(0,))  # the old parameters' buffers are reused
    state = {"ps": params}

    def step() -> float:
        loss, state["ps"] = update(state["ps"])
        return float(loss)

    return step


def dynamic_engine(name, X, y, weights) -> Callable[[], float] | None:
    """``fit(backend="dynamic")``'s stepper, or None when a step would exceed the budget."""
    from nn.losses import LOSSES
    from nn.optim import SGD
    from nn.train import DynamicStepper

    model = _model(name, weights)
    stepper = DynamicStepper(model, LOSSES[SIZES[name][4]], SGD(model.parameters(), lr=LR),
                             ALPHA)
    return lambda: stepper.step(X, y)[0]


DEFAULT_THREADS: dict[str, int] = {}

ENGINES: list[tuple[str, Callable[..., Any]]] = [
    ("fit's compiled step", compiled_engine),
    ("numpy by hand", numpy_engine),
    ("PyTorch float64, 1 thread", torch_one_thread),
    ("PyTorch float64, default threads", torch_default_threads),
    ("JAX jit", jax_engine),
    ("dagrad dynamic", dynamic_engine),
]


def _dynamic_estimate(name: str, X, y, weights) -> float:
    """Seconds for one dynamic step on all rows, extrapolated from 1% of them."""
    k = max(2, len(X) // 100)
    step = dynamic_engine(name, X[:k], y[:k], weights)
    t, _ = timed(step)
    return t * len(X) / k


def measure(name: str, rows: int, seconds: float) -> list[dict[str, Any]]:
    """Every engine on one size: first call, then turns of steps; one row each."""
    X, y, weights = problem(name, rows)
    steps: dict[str, Callable[[], float]] = {}
    own: dict[str, list[float]] = {}
    out: dict[str, dict[str, Any]] = {}
    losses: dict[str, list[float]] = {}
    estimate = _dynamic_estimate(name, X, y, weights)
    for engine, make in ENGINES:
        fresh()
        row = out[engine] = {"size": name, "engine": engine}
        if engine == "dagrad dynamic" and estimate > DYNAMIC_BUDGET:
            row["median ms"] = f"skipped (a step takes ~{estimate:.0f} s)"
            row["estimated step s"] = estimate
            continue
        step = make(name, X, y, weights)
        if step is None:
            row["median ms"] = NOT_INSTALLED
            continue
        first, loss = timed(step)
        row["first call ms"] = ms(first)
        (t1, l1), (t2, l2) = timed(step), timed(step)
        losses[engine], own[engine] = [loss, l1, l2], [t1, t2]
        steps[engine] = step
    samples = _turns(steps, seconds, own)
    ref = losses.get("numpy by hand")
    for engine, ts in samples.items():
        order = sorted(ts)
        row = out[engine]
        row.update({"median ms": ms(order[len(order) // 2]), "min ms": ms(order[0]),
                    "samples": len(order)})
        if ref is not None:
            row["max |loss - numpy|"] = max(abs(a - b) / max(1.0, abs(b))
                                            for a, b in zip(losses[engine], ref, strict=True))
    comp = out["fit's compiled step"].get("median ms")
    for row in out.values():
        m = row.get("median ms")
        if isinstance(m, float) and isinstance(comp, float):
            row["x compiled"] = m / comp
    out["dagrad dynamic"].setdefault("estimated step s", estimate)
    return list(out.values())


def _turns(steps: dict[str, Callable[[], float]], seconds: float,
           own: dict[str, list[float]]) -> dict[str, list[float]]:
    """Per-step times with the engines taking turns, a block of ~20 ms each per round,
    so a burst of load on the shared machine slows them all alike. An engine slower
    than half a second a step (the dynamic engine at the larger sizes) would hold up
    the rounds: it keeps the times of its own steps (``own``)."""
    med = {}
    for name, step in steps.items():
        t, _ = timed(step)
        med[name] = t
    slow = {name: own[name] for name, t in med.items() if t > 0.5}
    steps = {name: step for name, step in steps.items() if name not in slow}
    block = {name: max(1, int(0.02 / max(t, 1e-6))) for name, t in med.items()
             if name not in slow}
    samples: dict[str, list[float]] = {name: [] for name in steps}
    start = time.perf_counter()
    while time.perf_counter() - start < seconds or min(map(len, samples.values())) < 3:
        for name, step in steps.items():
            size = block[name]
            t, _ = timed(lambda step=step, size=size: [step() for _ in range(size)])
            samples[name].append(t / size)
    return {**samples, **slow}


def run(quick: bool = False, sizes: list[str] | None = None,
        seconds: float | None = None) -> Result:
    """The size sweep: one table, a row per (size, engine).

    Args:
        quick: Small row counts (the targets are not tested at these sizes).
        sizes: Which of A, B, C, D (all by default).
        seconds: Time the engines take turns per size (8 s; quick 0.3 s).
    """
    torch = peer("torch")
    if torch is not None:
        DEFAULT_THREADS["torch"] = torch.get_num_threads()
    peer("numpy")
    jax_one_core()  # before anything else starts JAX: its threads on one core
    seconds = seconds if seconds is not None else (0.3 if quick else 8.0)
    rows: list[dict[str, Any]] = []
    with one_blas_thread() as how:
        for name in sizes or list(SIZES):
            n = QUICK_ROWS[name] if quick else SIZES[name][3]
            rows += measure(name, n, seconds)
    notes = [describe(s, QUICK_ROWS[s] if quick else None) for s in sizes or SIZES]
    notes += [
        f"numpy: {how}. "
        + (f"PyTorch: 1 thread for the headline row, and its default "
           f"({DEFAULT_THREADS['torch']} threads) beside it. " if "torch" in DEFAULT_THREADS
           else "PyTorch: not installed. ")
        + "JAX: its threads pinned to one core (XLA has no thread setting that holds; "
        "bench.jax_one_core).",
        "One full-batch SGD step (lr 0.05, L2 1e-4) from the same weights on every engine; "
        "max |loss - numpy| compares the first three steps' losses (relative).",
        "median/min ms over turns: the engines take turns, about 20 ms of steps each per "
        "round, for the time given (an engine slower than 0.5 s a step: over its own 2 steps "
        "after the first); x compiled = this engine's median / the compiled step's.",
        f"The dynamic engine runs where one step is estimated under {DYNAMIC_BUDGET:.0f} s "
        "(from 1% of the rows); its estimate is given either way.",
    ]
    if quick:
        notes.insert(0, "--quick: small row counts; these figures do not test the targets.")
    headers = ["size", "engine", "median ms", "min ms", "first call ms", "x compiled",
               "max |loss - numpy|", "samples", "estimated step s"]
    return Result("sizes", "fit's compiled step at four sizes (issue 13)", headers, rows, notes)


def main(argv: list[str] | None = None) -> Result:
    """Run this benchmark from the command line and print its table."""
    return run_script(run, argv)


if __name__ == "__main__":
    main()
