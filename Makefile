# The two set-up commands: `make demo` and `make test`. Each creates .venv when missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: demo test install install-test clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# torch first, pinned, so that no other requirement can pull a CUDA build.
$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed pyproject.toml
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

# The main job on the built-in synthetic cohort; rerunning resumes from the cached steps.
demo: install
	$(BIN)/vipet bench --out demo_out

# The layer contract first (pyproject [tool.importlinter]): an upward import fails in seconds.
test: install-test
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -n 2 -q

clean:
	rm -rf $(VENV) demo_out .pytest_cache
