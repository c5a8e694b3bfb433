"""``import nn`` loads no optional package and never viz; the training module loads lazily."""

import subprocess
import sys

OPTIONAL = ("viz", "torch", "numpy", "tqdm", "matplotlib", "graphviz")


def loaded_after(code: str) -> list[str]:
    probe = (f"{code}; import sys; "
             f"print(' '.join(m for m in {OPTIONAL!r} if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.split()


def test_import_nn_loads_no_optional_package():
    assert loaded_after("import nn; nn.MLP(2, [3, 1], rng=0)([1.0, 2.0]).backward()") == []


def test_dynamic_training_loads_no_optional_package_when_quiet():
    code = ("import nn; X, y = nn.make_moons(20, rng=0); "
            "nn.fit(nn.MLP(2, [3, 1], rng=0), X, y, epochs=2, verbose=False, backend='dynamic')")
    assert loaded_after(code) == []


def test_default_training_loads_numpy_alone_for_the_compiled_path():
    code = ("import nn; X, y = nn.make_moons(20, rng=0); "
            "nn.fit(nn.MLP(2, [3, 1], rng=0), X, y, epochs=2, verbose=False)")
    try:
        import numpy  # noqa: F401
    except ImportError:
        assert loaded_after(code) == []
    else:
        assert loaded_after(code) == ["numpy"]


def test_nn_train_is_imported_on_first_use():
    assert loaded_after("import nn, sys; assert 'nn.train' not in sys.modules; nn.fit") == []
