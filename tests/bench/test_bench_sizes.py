"""The size sweep, digits and fresh-rows benchmarks at tiny sizes; the targets table."""

from __future__ import annotations

import pytest

pytest.importorskip("numpy")


def test_size_sweep_engines_agree_and_missing_peers_say_not_installed():
    from bench import sizes

    result = sizes.run(quick=True, sizes=["A", "C"], seconds=0.05)
    rows = {(r["size"], r["engine"]): r for r in result.rows}
    for (size, engine), row in rows.items():
        if isinstance(row.get("median ms"), float) and engine != "numpy by hand":
            assert row["max |loss - numpy|"] < 1e-12, (size, engine)
            assert row["first call ms"] > 0
    assert isinstance(rows["A", "fit's compiled step"]["median ms"], float)
    for size in ("A", "C"):
        jax = rows[size, "JAX jit"]
        assert isinstance(jax["median ms"], float) or jax["median ms"] == "not installed"
    assert "do not test the targets" in result.markdown()


def test_size_sweep_problems_are_what_the_issue_names():
    from bench import sizes

    assert sizes.SIZES["C"] == (64, [128, 64], 10, 2000, "cross_entropy")
    assert sizes.SIZES["D"][1] == [8] * 20 and sizes.SIZES["B"][3] == 1000
    X, y, w = sizes.problem("C", 5)
    assert len(X[0]) == 64 and all(0 <= t < 10 for t in y)
    assert len(w) == 64 * 128 + 128 + 128 * 64 + 64 + 64 * 10 + 10


def test_fresh_rows_are_bounded_for_nn_modules():
    from bench import fresh_rows

    result = fresh_rows.run(steps=30)
    row = next(r for r in result.rows if r["model"].startswith("MLP"))
    assert row["bounded"] is True and row["after"] == "3 / 30 steps"


def test_digits_row_against_scikit_learn():
    pytest.importorskip("sklearn")
    from bench import digits

    result = digits.run(quick=True)
    rows = {r["engine"]: r for r in result.rows}
    fit_row = rows["dagrad fit, backend='compiled'"]
    assert fit_row["epochs"] == 3 and 0.5 < fit_row["test accuracy"] <= 1.0
    assert rows["scikit-learn MLPClassifier"]["test accuracy"] > 0.5


def test_targets_table_has_a_verdict_column_and_says_quick():
    from bench import Result
    from bench.__main__ import targets

    rows = [{"size": "A", "engine": "fit's compiled step", "median ms": 0.1,
             "first call ms": 20.0},
            {"size": "A", "engine": "numpy by hand", "median ms": 0.09},
            {"size": "A", "engine": "PyTorch float64, 1 thread", "median ms": 0.6},
            {"size": "A", "engine": "JAX jit", "median ms": "not installed"},
            {"size": "A", "engine": "dagrad dynamic", "median ms": 10.0}]
    text = "\n".join(targets([Result("sizes", "t", [], rows)], quick=True))
    assert "| target | measured | verdict |" in text and "do not test the targets" in text
    assert "| A: compiled step >= 3x faster than PyTorch float64 (1 thread) | 6.00x" in text
    assert ("within 1.2x of hand-written numpy | 1.11x the hand-written step | "
            "not tested (--quick) |") in text  # no pass or FAIL at sizes that test nothing
    assert "| pass |" not in text and "| FAIL |" not in text
    assert "| JAX not installed | not installed |" in text
    text = "\n".join(targets([Result("sizes", "t", [], rows)]))
    assert "within 1.2x of hand-written numpy | 1.11x the hand-written step | pass |" in text
    rows[0]["median ms"] = 0.5
    text = "\n".join(targets([Result("sizes", "t", [], rows)]))
    assert "1.20x (0.5 vs 0.6 ms) | FAIL |" in text
    rows = [dict(r, size="B") for r in rows]
    text = "\n".join(targets([Result("sizes", "t", [], rows)]))
    assert "| B: compiled step not slower than PyTorch float64 (1 thread) | 1.20x" in text
    del rows[2]
    text = "\n".join(targets([Result("sizes", "t", [], rows)]))
    assert "| PyTorch not installed | not installed |" in text
