# Two commands on a fresh machine:  `make run` opens the app, `make test` runs every test.
# Both create .venv, install the project with its test extra, and make sure the system
# libraries Qt needs are present (installing them with apt-get on Debian/Ubuntu).

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: run test lint format qt-libs examples clean

run: $(STAMP) qt-libs
	$(PY) main.py

test: lint qt-libs
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest

# The house rules: ruff's lint rules and format, and core's import floors (pyproject.toml).
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports --no-cache

format: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

qt-libs:
	@sh scripts/ensure-qt-libs.sh

examples: $(STAMP)
	$(PY) tools/make_examples.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
