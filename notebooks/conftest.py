"""Keep pytest from importing the notebook sources as test modules.

``notebooks/src/*.py`` are notebooks in ``# %%`` cell format: importing one
runs the whole notebook. ``tests/test_notebooks.py`` executes them properly,
in a fresh kernel.
"""

collect_ignore_glob = ["src/*.py"]
