"""Benchmark: ``fit`` on scikit-learn's digits against ``MLPClassifier`` (issue 13).

The 1,797 8x8 digits (64 features, scaled to [0, 1] by dividing by 16), split
75/25 with a fixed seed. dagrad: ``fit(MLP(64, [32, 10]), loss="cross_entropy",
optimizer="adam", lr=0.01, epochs=30, batch_size=32)`` (the compiled backend,
as ``fit`` picks it); scikit-learn: ``MLPClassifier((32,), solver="adam",
batch_size=32, max_iter=30, learning_rate_init=0.01)``, the tool a user would
pick instead. Both are timed end to end (wall clock, one BLAS thread), taking
turns, best of 3 runs each, and scored on the same test set. scikit-learn is an
optional peer.

Run: ``python -m bench.digits [--quick]`` (``--quick``: 3 epochs).
"""

from __future__ import annotations

import warnings
from typing import Any

from bench import MISSING, Result, peer, run_script, timed
from bench.sizes import NOT_INSTALLED, one_blas_thread


def load() -> tuple[Any, Any, Any, Any] | None:
    """The digits as numpy arrays (what a scikit-learn user hands to both tools)."""
    datasets = peer("sklearn.datasets")
    if datasets is None:
        return None
    from sklearn.model_selection import train_test_split

    digits = datasets.load_digits()
    X_train, X_test, y_train, y_test = train_test_split(
        digits.data / 16.0, digits.target, test_size=0.25, random_state=0)
    return X_train, y_train, X_test, y_test


#: Runs of the compiled fit and of scikit-learn, taking turns (each keeps its best).
ROUNDS = 3


def _first(pair: tuple[float, Any]) -> float:
    return pair[0]


def run(quick: bool = False) -> Result:
    """dagrad's fit (compiled and, briefly, dynamic) and scikit-learn on the digits."""
    epochs = 3 if quick else 30
    rows: list[dict[str, Any]] = []
    data = load()
    headers = ["engine", "seconds", "epochs", "test accuracy", "s per epoch", "x scikit-learn"]
    if data is None:
        rows.append({"engine": "scikit-learn MLPClassifier", "seconds": NOT_INSTALLED})
        return Result("digits", "scikit-learn's digits: fit against MLPClassifier", headers,
                      rows, ["scikit-learn is not installed: no data set to run on."])
    X_train, y_train, X_test, y_test = data
    sk = peer("sklearn.neural_network")
    with one_blas_thread() as how:
        from nn import MLP
        from nn.train import fit

        def dagrad(backend: str, n: int) -> tuple[float, Any]:
            model = MLP(64, [32, 10], rng=0)
            seconds, _ = timed(lambda: fit(
                model, X_train, y_train, loss="cross_entropy", optimizer="adam", lr=0.01,
                epochs=n, batch_size=32, verbose=False, backend=backend, rng=0))
            return seconds, model

        def sklearn() -> tuple[float, Any]:
            clf = sk.MLPClassifier((32,), solver="adam", batch_size=32, max_iter=epochs,
                                   learning_rate_init=0.01, random_state=0)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # it warns that 30 iterations did not converge
                seconds, _ = timed(lambda: clf.fit(X_train, y_train))
            return seconds, clf

        compiled, sklearn_runs = [], []
        for _ in range(1 if quick else ROUNDS):  # the two take turns; each keeps its best
            compiled.append(dagrad("compiled", epochs))
            if sk is not None:
                sklearn_runs.append(sklearn())
        for backend, n, (seconds, model) in (("compiled", epochs, min(compiled, key=_first)),
                                             ("dynamic", 1, dagrad("dynamic", 1))):
            right = sum(int(p) == int(t) for p, t in zip(model.predict(X_test), y_test,
                                                          strict=True))
            rows.append({"engine": f"dagrad fit, backend={backend!r}", "seconds": seconds,
                         "epochs": n, "test accuracy": right / len(y_test),
                         "s per epoch": seconds / n})
        if sk is None:
            rows.append({"engine": "scikit-learn MLPClassifier", "seconds": NOT_INSTALLED})
        else:
            seconds, clf = min(sklearn_runs, key=_first)
            rows.append({"engine": "scikit-learn MLPClassifier", "seconds": seconds,
                         "epochs": epochs, "test accuracy": clf.score(X_test, y_test),
                         "s per epoch": seconds / epochs})
    sk_row = rows[-1] if isinstance(rows[-1].get("seconds"), float) else None
    for row in rows:
        row["x scikit-learn"] = (row["s per epoch"] / sk_row["s per epoch"]
                                 if sk_row and isinstance(row.get("seconds"), float) else MISSING)
    notes = [f"numpy: {how}; 1,347 training and 450 test digits; accuracy on the test set.",
             "fit's time is end to end: target encoding, the compiled trace (first call), "
             f"{epochs} epochs of 43 mini-batches with Adam, and per-epoch training accuracy.",
             f"Compiled fit and scikit-learn take turns, {ROUNDS} runs each (1 with --quick); "
             "each row is its best run (the machine's other load only adds time).",
             "The dynamic backend runs one epoch only (its s per epoch is the figure to compare)."]
    if quick:
        notes.insert(0, "--quick: 3 epochs; these figures do not test the targets.")
    return Result("digits", "scikit-learn's digits: fit(MLP(64, [32, 10])) against "
                  "MLPClassifier((32,))", headers, rows, notes)


def main(argv: list[str] | None = None) -> Result:
    """Run this benchmark from the command line and print its table."""
    return run_script(run, argv)


if __name__ == "__main__":
    main()
