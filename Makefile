# armbp — every target works on a fresh clone with only Python 3.10+ and make.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp

.PHONY: lab test notebooks demo bench clean app

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,lab,browser]'
	touch $(STAMP)

lab: $(STAMP)
	$(VENV)/bin/jupyter lab notebooks/00-start-here.ipynb

# The ESR explorer and the debugger view as a Voila app, on 127.0.0.1 and a free port
# (printed); Ctrl-C stops it.
app: $(STAMP)
	$(PY) -m armbp.app

test: $(STAMP)
	$(PY) -m pytest

# Re-execute every lesson in place (after a change in armbp alters what one prints).
notebooks: $(STAMP)
	$(PY) notebooks/execute.py

demo: $(STAMP)
	$(VENV)/bin/armbp demo

bench: $(STAMP)
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis
