"""The benchmark suite runs at a tiny size and its engines agree (no timings asserted)."""

from __future__ import annotations

import pytest

pytest.importorskip("numpy")


def rows_by_engine(result):
    return {r["engine"]: r for r in result.rows}


def test_demo_step_every_installed_engine_gives_the_same_losses():
    from bench import MISSING, demo_step

    result = demo_step.run(quick=True, steps=2, micrograd_steps=1)
    rows = rows_by_engine(result)
    assert rows["dagrad dynamic"]["median ms"] > 0
    for name, row in rows.items():
        if row.get("median ms") == MISSING or name == "dagrad dynamic":
            continue
        assert row["max |loss - dynamic|"] < 1e-12, name
        assert row["loss @1"] == pytest.approx(rows["dagrad dynamic"]["loss @1"], abs=1e-12)
    assert "micrograd's demo step" in result.markdown()


def test_demo_initial_weights_are_micrograds():
    micrograd = pytest.importorskip("micrograd.nn")
    import random

    from bench.demo_step import SIZES, initial_weights

    random.seed(1337)
    want = [p.data for p in micrograd.MLP(2, SIZES).parameters()]
    assert initial_weights() == want


def test_chains_give_the_exact_gradient():
    from bench import chains

    result = chains.run(depths=[500, 1_500])
    dagrad = [r for r in result.rows if r["engine"] == "dagrad"]
    assert [r["grad ok"] for r in dagrad] == [True, True]
    assert chains.expected(2) == pytest.approx((0.5 * chains.C_MUL + chains.C_ADD, chains.C_MUL))


def test_memory_engines_build_the_same_graph():
    from bench import memory

    result = memory.run(n=1_000)
    rows = rows_by_engine(result)
    if "nodes" in rows.get("micrograd 0.1.0", {}):
        assert rows["dagrad"]["root"] == rows["micrograd 0.1.0"]["root"]
        assert rows["dagrad"]["sum of leaf grads"] == pytest.approx(
            rows["micrograd 0.1.0"]["sum of leaf grads"], rel=1e-12)
    assert rows["dagrad"]["bytes per node"] > 0


def test_scaling_counts_and_compiled_agreement():
    from bench import scaling

    result = scaling.run(widths=[2, 3], n=10)
    for row in result.rows:
        assert row["edges E"] > row["nodes V"] > 0
        assert row["|loss difference|"] < 1e-12


def test_hessian_matches_pytorch():
    pytest.importorskip("torch")
    from bench import hessian

    result = hessian.run(n=3)
    assert result.rows[0]["max |H - H_torch|"] < 1e-12


def test_engine_benchmark_engines_agree():
    from bench import engine as bench_engine

    result = bench_engine.run(depth=500, width=20, layers=3)
    dagrad = [r for r in result.rows if r["engine"] == "dagrad"]
    assert len(dagrad) == 2 and all(r["us per node"] > 0 for r in dagrad)
    ratio = [r for r in result.rows if r["engine"] == "dagrad / micrograd"]
    if ratio:  # micrograd installed
        assert ratio[0]["root"] == "agree" and ratio[0]["backward s"] == "grads agree"
    mg_chain = [r for r in result.rows
                if r["engine"] == "micrograd 0.1.0" and r["graph"].startswith("chain")]
    if mg_chain and mg_chain[0]["us per node"] == "fails":  # its recursion gave up
        (fwd,) = [r for r in result.rows if r["engine"] == "dagrad / micrograd, forward only"]
        assert fwd["root"] == "agree" and fwd["forward s"] > 0


def test_engine_benchmark_compares_forwards_where_micrograd_cannot_go_back():
    pytest.importorskip("micrograd")
    from bench import engine as bench_engine

    result = bench_engine.run(depth=3000, width=10, layers=2)  # 6,000 nodes deep
    rows = {(r["graph"][:5], r["engine"]): r for r in result.rows}
    assert rows["chain", "micrograd 0.1.0"]["backward s"] == "RecursionError"
    fwd = rows["chain", "dagrad / micrograd, forward only"]
    d, m = rows["chain", "dagrad"], rows["chain", "micrograd 0.1.0"]
    assert fwd["forward s"] == d["forward s"] / m["forward s"] and fwd["root"] == "agree"


_ISOLATED = """
import os, bench
seen = []
def work():
    seen.append(1)
    return {"pid": os.getpid(), "sum": sum(range(10))}
out = bench.isolated(work)
assert out["sum"] == 45 and out["pid"] != os.getpid(), out
assert seen == [], "the child's side effects leaked into the parent"
try:
    bench.isolated(lambda: 1 / 0)
except RuntimeError as e:
    assert "ZeroDivisionError: division by zero" in str(e), e
else:
    raise AssertionError("no error")
print("ok")
"""


def test_isolated_runs_in_a_forked_child_and_reports_its_errors():
    # in a fresh interpreter: this one may have torch loaded, where isolated() does not fork
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", _ISOLATED], capture_output=True, text=True,
                          check=False, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


def test_isolated_runs_in_process_when_a_threaded_library_is_loaded(monkeypatch):
    import os
    import sys

    import bench

    monkeypatch.setitem(sys.modules, "torch", sys.modules.get("torch", object()))
    assert bench.isolated(os.getpid) == os.getpid()


def test_runner_writes_a_results_file(tmp_path, monkeypatch, capsys):
    import bench.__main__ as runner

    target = tmp_path / "RESULTS.md"
    monkeypatch.setattr(runner, "RESULTS", str(target))
    assert runner.main(["--quick", "--only", "memory", "--write"]) == 0
    text = target.read_text()
    assert "| cpu |" in text and "Memory per node" in text
    assert "wrote" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        runner.main(["--only", "nonsense"])


def test_jax_one_core_pins_jaxs_threads_and_gives_the_main_thread_its_cores_back():
    """JAX's compute threads inherit one core; the main thread keeps its mask (Linux)."""
    import os
    import subprocess
    import sys

    pytest.importorskip("jax")
    if not hasattr(os, "sched_getaffinity") or len(os.sched_getaffinity(0)) < 2:
        pytest.skip("needs CPU affinity and two cores")
    code = ("import os, numpy, bench; before = os.sched_getaffinity(0); "
            "old = set(os.listdir('/proc/self/task')); jax = bench.jax_one_core(); "
            "import jax.numpy as jnp; assert float(jnp.ones(3, dtype=jnp.float64).sum()) == 3.0; "
            "new = set(os.listdir('/proc/self/task')) - old; "  # the threads JAX started
            "others = [os.sched_getaffinity(int(t)) for t in new]; "
            "print(len(others), max(map(len, others)), os.sched_getaffinity(0) == before)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=os.path.dirname(os.path.dirname(os.path.dirname(
                             os.path.abspath(__file__))))).stdout.split()
    assert int(out[0]) > 0 and out[1:] == ["1", "True"]
