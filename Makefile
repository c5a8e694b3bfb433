# dagrad: the two commands a newcomer runs are `make demo` and `make test`.
# Both set everything up first: a .venv, the Python packages, Graphviz's `dot`.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
DEMO_OUT ?= runs/demo

.PHONY: demo test lint bench figures notebooks graphviz venv clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# The stamps re-run pip when pyproject.toml changes.
$(VENV)/.demo-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[plots,speed,progress]'
	touch $@

$(VENV)/.test-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test,plots,speed,progress,dev]'
	touch $@ $(VENV)/.demo-installed

venv: $(VENV)/.demo-installed

# Graphviz's `dot` renders the pictures. Installed with apt when we are root;
# otherwise say how, and go on (tests that need it skip, the demo skips the SVG).
graphviz:
	@if command -v dot >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "Installing Graphviz (dot) with apt-get..."; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq graphviz >/dev/null; \
	else \
	  echo "NOTE: Graphviz's 'dot' program is missing, so graphs cannot be rendered."; \
	  echo "      Install it with: sudo apt-get install graphviz   (Debian/Ubuntu)"; \
	  echo "                       brew install graphviz           (macOS)"; \
	  echo "                       conda install -c conda-forge graphviz"; \
	fi

demo: $(VENV)/.demo-installed graphviz
	$(BIN)/python -m nn.train --dataset moons --out $(DEMO_OUT)

# pytest exits 5 when it collects no test: treat that as a failure to notice,
# but not as a crash of the set-up.
test: $(VENV)/.test-installed graphviz
	$(BIN)/python -m pytest; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests"; exit 1; fi; exit $$rc

lint: $(VENV)/.test-installed
	$(BIN)/ruff check .

bench: $(VENV)/.test-installed
	$(BIN)/python -m bench

# The picture in the README, drawn by the command line it documents.
figures: $(VENV)/.demo-installed graphviz
	$(BIN)/dagrad-draw "tanh(x1*w1 + x2*w2 + b)" --set x1=2 x2=0 w1=-3 w2=1 \
	  b=6.8813735870195432 --flow -o notebooks/figures/neuron.svg

# Rebuild and re-execute every notebook from its source in notebooks/src/.
notebooks: $(VENV)/.test-installed graphviz
	$(BIN)/python notebooks/build.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache runs
