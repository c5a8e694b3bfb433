"""Benchmark 1: one training step of micrograd's demo, on every engine.

``MLP(2, [16, 16, 1])`` on micrograd's 100 moons points, hinge loss plus
``1e-4 * sum(p * p)``, one full-batch step (forward, backward, SGD update with
the demo's ``lr = 1 - 0.9 k / 100``). Every engine starts from the same
weights (micrograd's, ``random.seed(1337)``) and runs the same steps, so their
losses must agree (to rounding) at every step.

Engines: micrograd 0.1.0 as users run it (default GC); dagrad dynamic (the
scalar engine, as ``nn`` users write the loop); dagrad compiled (the step
traced once to numpy code, parameters kept in numpy between steps); ``fit``'s
compiled step (the same, through ``CompiledStepper`` and ``nn.optim.SGD``); dagrad
compiled writing ``p.grad`` (the drop-in ``backward`` that ``fit`` can use
with any optimizer); PyTorch float64 batched; JAX ``jit`` (when installed);
and a hand-written numpy forward/backward/update of the same step: the floor.

Run: ``python -m bench.demo_step [--quick]``.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

from bench import (
    MISSING,
    Result,
    fresh,
    jax_mlp,
    jax_one_core,
    ms,
    peer,
    ratio,
    run_script,
    timed,
    torch_mlp_step,
)

ALPHA = 1e-4
SIZES = [16, 16, 1]
DEFAULT_THREADS: dict[str, int] = {}  # PyTorch's own default, read before anything pins it


def lr_at(k: int) -> float:
    """micrograd demo's learning rate at step ``k``."""
    return 1.0 - 0.9 * k / 100


def initial_weights() -> list[float]:
    """micrograd's initial parameters (``random.seed(1337)``), micrograd's order."""
    state = random.getstate()
    random.seed(1337)
    from nn import MLP

    weights = [p.data for p in MLP(2, SIZES, rng=None).parameters()]
    random.setstate(state)
    return weights


def data() -> tuple[list[list[float]], list[float]]:
    from nn.data import micrograd_moons

    X, y = micrograd_moons()
    return X, [float(t) for t in y]


def layout(weights: list[float]) -> list[tuple[list[list[float]], list[float]]]:
    """Flat micrograd-order weights as ``[(W, b), ...]`` per layer (W: out x in)."""
    layers, at, nin = [], 0, 2
    for nout in SIZES:
        W, b = [], []
        for _ in range(nout):
            W.append(weights[at : at + nin])
            b.append(weights[at + nin])
            at += nin + 1
        layers.append((W, b))
        nin = nout
    return layers


# -- the engines: each returns step(k) -> loss (before the update), or None if missing ---


def micrograd_engine(X, y, weights) -> Callable[[int], float] | None:
    if peer("micrograd") is None:
        return None
    from micrograd.engine import Value
    from micrograd.nn import MLP

    model = MLP(2, SIZES)
    for p, w in zip(model.parameters(), weights, strict=True):
        p.data = w

    def step(k: int) -> float:  # the demo notebook's loop, verbatim
        inputs = [list(map(Value, xrow)) for xrow in X]
        scores = list(map(model, inputs))
        losses = [(1 + -yi * scorei).relu() for yi, scorei in zip(y, scores, strict=True)]
        data_loss = sum(losses) * (1.0 / len(losses))
        reg_loss = ALPHA * sum(p * p for p in model.parameters())
        total_loss = data_loss + reg_loss
        model.zero_grad()
        total_loss.backward()
        learning_rate = lr_at(k)
        for p in model.parameters():
            p.data -= learning_rate * p.grad
        return total_loss.data

    return step


def demo_model(weights: list[float]) -> Any:
    """micrograd's demo MLP(2, [16, 16, 1]) holding ``weights`` (dagrad's parameter order)."""
    from nn import MLP

    model = MLP(2, SIZES, rng=0)
    for p, w in zip(model.parameters(), weights, strict=True):
        p.data = w
    return model


def dagrad_dynamic(X, y, weights) -> Callable[[int], float]:
    from nn.losses import hinge_loss, l2_penalty

    model = demo_model(weights)
    params = model.parameters()

    def step(k: int) -> float:
        scores = [model(x) for x in X]
        loss = hinge_loss(scores, y) + l2_penalty(params, ALPHA)
        model.zero_grad()
        loss.backward()
        lr = lr_at(k)
        for p in params:
            p.data -= lr * p.grad
        return loss.data

    return step


def dagrad_dynamic_gc_paused(X, y, weights) -> Callable[[int], float]:
    """The dynamic step with the cyclic garbage collector paused inside it.

    dagrad's graph has no reference cycles (no closures, parents point one
    way), so reference counting frees every node and the collector's scans of
    the growing graph are pure overhead; ``fit`` can pause it per step.
    """
    import gc

    inner = dagrad_dynamic(X, y, weights)

    def step(k: int) -> float:
        enabled = gc.isenabled()
        gc.disable()
        try:
            return inner(k)
        finally:
            if enabled:
                gc.enable()

    return step


def dagrad_compiled(X, y, weights) -> Callable[[int], float] | None:
    np = peer("numpy")
    if np is None:
        return None
    from nn.compiled import CompiledLoss

    compiled = CompiledLoss(demo_model(weights), "hinge", ALPHA)
    Xa, ya = np.array(X), np.array(y)
    return lambda k: compiled.sgd_step(Xa, ya, lr_at(k))


def dagrad_fit_step(X, y, weights) -> Callable[[int], float] | None:
    """What ``fit`` runs: ``nn.compiled.CompiledStepper`` with ``nn.optim.SGD``, whose
    ``lr`` the demo's schedule sets before each step."""
    np = peer("numpy")
    if np is None:
        return None
    from nn.compiled import compiled_stepper
    from nn.optim import SGD

    model = demo_model(weights)
    opt = SGD(model.parameters(), lr=1.0)
    stepper = compiled_stepper(model, "hinge", opt, ALPHA, X)
    data = stepper.dataset(np.array(X), np.array(y))  # as fit holds its training set
    rows = range(len(X))  # the full batch, as fit's batches come: row numbers

    def step(k: int) -> float:
        opt.lr = lr_at(k)
        return stepper.step_rows(data, rows)[0]

    return step


def dagrad_compiled_values(X, y, weights) -> Callable[[int], float] | None:
    np = peer("numpy")
    if np is None:
        return None
    from nn.compiled import CompiledLoss

    model = demo_model(weights)
    params = model.parameters()
    compiled = CompiledLoss(model, "hinge", ALPHA)
    Xa, ya = np.array(X), np.array(y)

    def step(k: int) -> float:
        model.zero_grad()
        loss = compiled.backward(Xa, ya)
        lr = lr_at(k)
        for p in params:
            p.data -= lr * p.grad
        return loss

    return step


def torch_engine(X, y, weights, threads: int | None = 1) -> Callable[[int], float] | None:
    """PyTorch float64 on ``threads`` threads (None: its default), pinned at every step
    (the other engines' turns run in between)."""
    torch = peer("torch")
    if torch is None:
        return None
    threads = threads or DEFAULT_THREADS.get("torch") or torch.get_num_threads()
    f64 = torch.float64
    params = []
    for W, b in layout(weights):
        params += [torch.tensor(W, dtype=f64, requires_grad=True),
                   torch.tensor(b, dtype=f64, requires_grad=True)]
    Xt, yt = torch.tensor(X, dtype=f64), torch.tensor(y, dtype=f64)

    def hinge(h: Any) -> Any:
        return torch.relu(1 - yt * h[:, 0]).mean()

    def step(k: int) -> float:
        torch.set_num_threads(threads)
        return torch_mlp_step(torch, params, Xt, hinge, ALPHA, lr_at(k))

    return step


def jax_engine(X, y, weights) -> Callable[[int], float] | None:
    jax = jax_one_core()
    if jax is None:
        return None
    jnp = jax.numpy
    params = [jnp.array(a) for W, b in layout(weights) for a in (W, b)]
    Xj, yj = jnp.array(X), jnp.array(y)

    def loss_fn(ps):
        h = jax_mlp(jax, ps, Xj)
        return (jax.nn.relu(1 - yj * h[:, 0]).mean()
                + ALPHA * sum((p * p).sum() for p in ps))

    def update(ps, lr):
        loss, grads = jax.value_and_grad(loss_fn)(ps)
        return loss, [p - lr * g for p, g in zip(ps, grads, strict=True)]

    update = jax.jit(update, donate_argnums=(0,))  # the old parameters' buffers are reused

    state = {"ps": params}

    def step(k: int) -> float:
        loss, state["ps"] = update(state["ps"], lr_at(k))
        return float(loss)

    return step


def numpy_floor(X, y, weights) -> Callable[[int], float] | None:
    """The step written by hand in numpy: what the best generator could emit."""
    np = peer("numpy")
    if np is None:
        return None
    theta = np.array(weights)
    gtheta = np.zeros_like(theta)
    views, at, nin = [], 0, 2
    for nout in SIZES:  # micrograd order: each neuron's weights then its bias
        block, gblock = (a[at : at + nout * (nin + 1)].reshape(nout, nin + 1)
                         for a in (theta, gtheta))
        views.append((block[:, :nin], block[:, nin], gblock[:, :nin], gblock[:, nin]))
        at, nin = at + nout * (nin + 1), nout
    (W1, b1, gW1, gb1), (W2, b2, gW2, gb2), (W3, b3, gW3, gb3) = views
    Xa, ya = np.array(X), np.array(y)[:, None]
    n = len(Xa)

    def step(k: int) -> float:
        nonlocal theta, gtheta
        h1 = Xa @ W1.T + b1
        a1 = np.maximum(h1, 0.0)
        h2 = a1 @ W2.T + b2
        a2 = np.maximum(h2, 0.0)
        s = a2 @ W3.T + b3
        margin = 1.0 - ya * s
        loss = np.maximum(margin, 0.0).sum() / n + ALPHA * (theta @ theta)
        ds = (margin > 0.0) * ya * (-1.0 / n)
        gW3[:] = ds.T @ a2
        gb3[:] = ds.sum(0)
        dh2 = (ds @ W3) * (h2 > 0.0)
        gW2[:] = dh2.T @ a1
        gb2[:] = dh2.sum(0)
        dh1 = (dh2 @ W2) * (h1 > 0.0)
        gW1[:] = dh1.T @ Xa
        gb1[:] = dh1.sum(0)
        gtheta += (2.0 * ALPHA) * theta
        theta -= lr_at(k) * gtheta
        return float(loss)

    return step


ENGINES: list[tuple[str, Callable[..., Any]]] = [
    ("micrograd 0.1.0", micrograd_engine),
    ("dagrad dynamic", dagrad_dynamic),
    ("dagrad dynamic, GC paused", dagrad_dynamic_gc_paused),
    ("dagrad compiled", dagrad_compiled),
    ("dagrad fit's compiled step", dagrad_fit_step),
    ("dagrad compiled, p.grad", dagrad_compiled_values),
    ("PyTorch float64", torch_engine),
    ("PyTorch float64, default threads", lambda X, y, w: torch_engine(X, y, w, None)),
    ("JAX jit", jax_engine),
    ("numpy by hand (floor)", numpy_floor),
]


def run(quick: bool = False, steps: int | None = None,
        micrograd_steps: int | None = None) -> Result:
    """Run every engine for the same steps; a table of per-step times and losses.

    Args:
        quick: Tiny run (3 steps; micrograd 2).
        steps: Steps for every engine but micrograd (100 by default).
        micrograd_steps: Steps for micrograd (20 by default: it takes ~1 s each).
    """
    steps = steps or (3 if quick else 100)
    micrograd_steps = min(micrograd_steps or (2 if quick else 20), steps)
    jax_one_core()  # first: JAX's threads on one core
    for name in ("numpy", "torch", "micrograd.nn", "nn.compiled"):
        peer(name)  # every engine then runs in the same interpreter (same objects for the GC)
    torch = peer("torch")
    if torch is not None and "torch" not in DEFAULT_THREADS:
        DEFAULT_THREADS["torch"] = torch.get_num_threads()
    from bench.sizes import one_blas_thread

    with one_blas_thread() as how:
        result = _run(steps, micrograd_steps, quick)
    torch_note = (f"PyTorch float64: 1 thread (the headline, used for x PyTorch); its "
                  f"default ({DEFAULT_THREADS['torch']} threads) on its own row."
                  if "torch" in DEFAULT_THREADS else "PyTorch: not installed.")
    result.notes.append(f"numpy: {how}. {torch_note} JAX: jit with donated buffers, its "
                        "threads pinned to one core.")
    return result


def _run(steps: int, micrograd_steps: int, quick: bool) -> Result:
    X, y = data()
    weights = initial_weights()
    rows: list[dict[str, Any]] = []
    losses: dict[str, list[float]] = {}
    times: dict[str, list[float]] = {}
    steppers: dict[str, tuple[Callable[[int], float], int]] = {}
    for name, make in ENGINES:  # the same steps on every engine: the losses must agree
        fresh()
        step = make(X, y, weights)
        if step is None:
            rows.append({"engine": name, "median ms": MISSING})
            continue
        n = micrograd_steps if name.startswith("micrograd") else steps
        times[name], losses[name] = [], []
        for k in range(n):
            t, loss = timed(lambda k=k, step=step: step(k))
            times[name].append(t)
            losses[name].append(loss)
        steppers[name] = (step, n)
    samples = {} if quick else _interleaved(steppers, times)
    for name, first in times.items():
        trace, n = losses[name], steppers[name][1]
        ts = samples.get(name) or first
        order = sorted(ts)
        rows.insert([e for e, _ in ENGINES].index(name), {
            "engine": name, "timing": f"{len(ts)} turns" if name in samples else
            f"{len(ts)} steps", "median ms": ms(order[len(ts) // 2]),
            "min ms": ms(order[0]), "max ms": ms(order[-1]), "first step ms": ms(first[0]),
            f"loss @{micrograd_steps}": trace[micrograd_steps - 1],
            f"loss @{steps}": trace[-1] if n == steps else ""})
    _ratios(rows)
    ref = losses.get("dagrad dynamic")
    notes = [f"loss @k: the loss of step k (before its update); every engine ran the same "
             f"steps from the same weights. micrograd ran {micrograd_steps} steps "
             f"(about a second each).",
             "timing: after those steps the engines but micrograd take turns, round after "
             "round for 10 s, each turn a block of about 20 ms of steps (its mean is one "
             "sample), so a burst of load on the shared machine slows them all alike. "
             "micrograd's figures are over its own steps.",
             "Every peer is imported before the first engine runs, so all of them run with "
             "the same objects alive for Python's garbage collector to scan."]
    for name, trace in losses.items():
        if ref is None or name == "dagrad dynamic":
            continue
        k = min(len(trace), len(ref))
        diff = max(abs(a - b) for a, b in zip(trace[:k], ref[:k], strict=True))
        for row in rows:
            if row["engine"] == name:
                row["max |loss - dynamic|"] = diff
    headers = ["engine", "timing", "median ms", "min ms", "max ms", "first step ms",
               "x micrograd",
               "x PyTorch", f"loss @{micrograd_steps}", f"loss @{steps}",
               "max |loss - dynamic|"]
    return Result("demo", "micrograd's demo step: MLP(2, [16, 16, 1]), 100 points, one "
                  "full-batch SGD step", headers, rows, notes)


def _interleaved(steppers: dict[str, tuple[Callable[[int], float], int]],
                 times: dict[str, list[float]], seconds: float = 10.0) -> dict[str, list]:
    """Per-step times with the engines taking turns, round after round: a block
    of about 20 ms of steps per engine, so load bursts hit every engine alike.
    Engines slower than half a second a step (micrograd) keep their own times."""
    med = {name: sorted(ts)[len(ts) // 2] for name, ts in times.items()}
    turns = {name: max(1, int(0.02 / med[name])) for name in steppers if med[name] < 0.5}
    samples: dict[str, list[float]] = {name: [] for name in turns}
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        for name, size in turns.items():
            step, n = steppers[name]
            t, _ = timed(lambda step=step, k=n - 1, size=size: [step(k) for _ in range(size)])
            samples[name].append(t / size)
    return samples


def _ratios(rows: list[dict[str, Any]]) -> None:
    """Speed-ups: micrograd's median over this engine's; PyTorch's over this one's."""
    med = {r["engine"]: r["median ms"] for r in rows if isinstance(r.get("median ms"), float)}
    mg, pt = med.get("micrograd 0.1.0"), med.get("PyTorch float64")
    for r in rows:
        m = med.get(r["engine"])
        r["x micrograd"] = ratio(mg, m)
        r["x PyTorch"] = ratio(pt, m)


def main(argv: list[str] | None = None) -> Result:
    """Run this benchmark from the command line and print its table."""
    return run_script(run, argv)


if __name__ == "__main__":
    main()
