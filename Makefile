# Two commands on a fresh machine:  `make run` opens the app, `make test` runs every test.
# Both create .venv, install the project with its test extra, and make sure the system
# libraries Qt needs are present (installing them with apt-get on Debian/Ubuntu).

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: run test qt-libs examples clean

run: $(STAMP) qt-libs
	$(PY) main.py

test: $(STAMP) qt-libs
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest

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
