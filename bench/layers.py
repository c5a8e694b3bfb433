"""Benchmark: the compiled path beyond the MLP (issue 14): a CNN and a GRU, per epoch.

* **CNN** ``Conv2d(1, 8, 3) -> ReLU -> MaxPool2d(2) -> Flatten -> Linear(72, 10)`` on
  scikit-learn's 8x8 digits (1,347 training images ``[1][8][8]``, scaled to [0, 1]),
  cross-entropy, Adam (lr 0.01), batches of 32: ``fit``'s compiled epoch (the median
  of epochs 2..n: epoch 1 also traces and compiles, reported apart) against its
  dynamic epoch (``backend="dynamic"``) and against the same net in PyTorch float64
  on one thread (its own training loop: forward, ``backward``, ``Adam.step`` per batch).
* **GRU** ``nn.tasks.ParityRNN(8, cell="gru")`` on running parity (400 bit strings of
  length 10, a logit per step, ``bce_logits``), Adam, batches of 32: compiled against
  dynamic per epoch.

Both compiled runs start from the same parameters as the dynamic ones; the table shows
the largest relative difference of their first-epoch losses (same history).
numpy's BLAS and PyTorch run on one thread. Wall clock, engines taking turns in one run.

Run: ``python -m bench.layers [--quick]`` (``--quick``: a quarter of the data, 3 epochs;
its sizes do not test the targets).
"""

from __future__ import annotations

import argparse
import copy
import random
import statistics
import sys
import time
from typing import Any

from bench import Result, print_result
from bench.sizes import one_blas_thread


def _digits(quick: bool) -> tuple[Any, list[int]]:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    X, _, y, _ = train_test_split((digits.images / 16.0)[:, None], digits.target,
                                  test_size=0.25, random_state=0, stratify=digits.target)
    n = len(X) // 4 if quick else len(X)
    return X[:n], y[:n].tolist()


def _epoch_times(model: Any, X: Any, y: Any, loss: str, epochs: int,
                 backend: str) -> tuple[list[float], list[float]]:
    """Wall-clock seconds of each epoch of ``fit`` and its history's losses."""
    from nn.train import fit

    marks = [time.perf_counter()]
    history = fit(model, X, y, loss=loss, optimizer="adam", lr=0.01, epochs=epochs,
                  batch_size=32, backend=backend, verbose=False, rng=0,
                  callback=lambda epoch, h: marks.append(time.perf_counter()))
    return [b - a for a, b in zip(marks, marks[1:], strict=False)], history.train_loss


def _cnn() -> Any:
    import nn

    r = random.Random(0)
    return nn.Sequential(nn.Conv2d(1, 8, 3, rng=r), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(0), nn.Linear(72, 10, rng=r))


def _torch_epoch(X: Any, y: list[int]) -> float | None:
    """One epoch of the same CNN in PyTorch float64, one thread (seconds)."""
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(1)
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 8, 3), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
                              torch.nn.Flatten(), torch.nn.Linear(72, 10)).double()
    opt = torch.optim.Adam(net.parameters(), lr=0.01)
    Xt, yt = torch.tensor(X, dtype=torch.float64), torch.tensor(y)
    loss_fn = torch.nn.CrossEntropyLoss()

    def epoch() -> float:
        start = time.perf_counter()
        for i in range(0, len(Xt), 32):
            opt.zero_grad()
            loss_fn(net(Xt[i:i + 32]), yt[i:i + 32]).backward()
            opt.step()
        return time.perf_counter() - start

    epoch()  # warm-up
    return statistics.median(epoch() for _ in range(3))


def _same(a: list[float], b: list[float]) -> float:
    return max(abs(u - v) / max(abs(v), 1e-300) for u, v in zip(a, b, strict=True))


def measure(quick: bool = False) -> list[tuple[str, str]]:
    """The measurements as (what, figure) rows."""
    import warnings

    from nn.compiled import FallbackWarning
    from nn.tasks import ParityRNN, parity_sequences

    epochs = 3 if quick else 5
    rows: list[tuple[str, str]] = []
    with one_blas_thread() as blas, warnings.catch_warnings():
        warnings.simplefilter("error", FallbackWarning)  # the compiled path, or nothing
        rows.append(("BLAS", blas))
        X, y = _digits(quick)
        model = _cnn()
        twin = copy.deepcopy(model)
        comp, comp_loss = _epoch_times(model, X, y, "cross_entropy", epochs, "compiled")
        dyn, dyn_loss = _epoch_times(twin, X, y, "cross_entropy", 1, "dynamic")
        torch_epoch = _torch_epoch(X, y)
        c = statistics.median(comp[1:])
        rows += [("CNN on digits: rows per epoch", str(len(X))),
                 ("CNN compiled epoch (median of 2..n)", f"{c * 1e3:.1f} ms"),
                 ("CNN compiled epoch 1 (traces and compiles)", f"{comp[0] * 1e3:.1f} ms"),
                 ("CNN dynamic epoch", f"{dyn[0] * 1e3:.0f} ms"),
                 ("CNN compiled vs dynamic (target >= 20x)", f"{dyn[0] / c:.1f}x"),
                 ("CNN same history: epoch-1 loss, largest relative difference",
                  f"{_same(comp_loss[:1], dyn_loss):.1e}")]
        if torch_epoch is None:
            rows.append(("CNN PyTorch float64 (1 thread) epoch", "not installed"))
        else:
            rows += [("CNN PyTorch float64 (1 thread) epoch", f"{torch_epoch * 1e3:.1f} ms"),
                     ("CNN compiled / PyTorch time (target <= 2x)", f"{c / torch_epoch:.2f}x")]
        bits, parity = parity_sequences(100 if quick else 400, length=10, rng=0)
        gru = ParityRNN(8, cell="gru", rng=0)
        twin = copy.deepcopy(gru)
        comp, comp_loss = _epoch_times(gru, bits, parity, "bce_logits", epochs, "compiled")
        dyn, dyn_loss = _epoch_times(twin, bits, parity, "bce_logits", 2, "dynamic")
        c, d = statistics.median(comp[1:]), statistics.median(dyn)
        rows += [("GRU(1, 8) parity, length 10: sequences per epoch", str(len(bits))),
                 ("GRU compiled epoch (median of 2..n)", f"{c * 1e3:.1f} ms"),
                 ("GRU compiled epoch 1 (traces and compiles)", f"{comp[0] * 1e3:.1f} ms"),
                 ("GRU dynamic epoch", f"{d * 1e3:.0f} ms"),
                 ("GRU compiled vs dynamic (target >= 10x)", f"{d / c:.1f}x"),
                 ("GRU same history: epoch 1-2 losses, largest relative difference",
                  f"{_same(comp_loss[:2], dyn_loss):.1e}")]
    return rows


def run(quick: bool = False) -> Result:
    """The measurements as a :class:`bench.Result` (``python -m bench`` runs this)."""
    rows = [{"measurement": what, "figure": figure} for what, figure in measure(quick)]
    notes = ["--quick: these sizes do not test the targets."] if quick else []
    return Result("layers", "Compiled layers: a small CNN on digits and a GRU on parity "
                  "(compiled vs dynamic vs PyTorch float64, one thread)",
                  ["measurement", "figure"], rows, notes)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.layers", description=__doc__.split(
        "\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a quarter of the data, 3 epochs")
    args = parser.parse_args(argv)
    print_result(run(args.quick))
    return 0


if __name__ == "__main__":
    sys.exit(main())
