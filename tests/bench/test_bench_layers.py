"""bench/layers.py runs at its quick size and its engines agree (no timings asserted)."""

from __future__ import annotations

import pytest

pytest.importorskip("numpy")
pytest.importorskip("sklearn")


def test_layers_bench_quick_runs_and_compiled_histories_equal_dynamic():
    from bench import layers

    result = layers.run(quick=True)
    assert result.name == "layers" and result.notes  # --quick says its sizes test nothing
    rows = {r["measurement"]: r["figure"] for r in result.rows}
    assert rows["CNN on digits: rows per epoch"] == "336"
    assert float(rows["CNN same history: epoch-1 loss, largest relative difference"]) <= 1e-9
    assert float(rows["GRU same history: epoch 1-2 losses, largest relative difference"]) <= 1e-9
    assert rows["CNN compiled vs dynamic (target >= 20x)"].endswith("x")
