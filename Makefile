# armbp — every target works on a fresh clone with only Python 3.10+ and make.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
# One stamp per set of extras: `make lab` installs what JupyterLab needs, `make test`
# what every test needs (the browser tests drive JupyterLab and the Voila app too).
LAB_STAMP  := $(VENV)/.installed-lab
APP_STAMP  := $(VENV)/.installed-app
TEST_STAMP := $(VENV)/.installed-test
# JupyterLab refuses to start as root (every Docker image) unless told.
ALLOW_ROOT := $(if $(filter 0,$(shell id -u 2>/dev/null)),--allow-root,)

.PHONY: kvm lab test lint test-suite test-pythons notebooks student demo bench clean app wheel

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(LAB_STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[lab]'
	touch $@

$(APP_STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[app]'
	touch $@

$(TEST_STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[test,lab,app,browser,lint]'
	touch $@ $(LAB_STAMP) $(APP_STAMP)

lab: $(LAB_STAMP)
	$(VENV)/bin/jupyter lab notebooks/00-start-here.ipynb --ServerApp.ip=127.0.0.1 $(ALLOW_ROOT)

# The ESR explorer and the debugger view as a Voila app, on 127.0.0.1 and a free port
# (printed); Ctrl-C stops it.
app: $(APP_STAMP)
	$(PY) -m armbp.app

# Every test: the lint checks, the full suite (lessons through nbval, browser, the installed wheel) on the
# venv's Python, then the unit suite on every Python 3.10-3.13 the machine has.
test: lint test-suite test-pythons

# The committed rule set (pyproject.toml [tool.ruff]), the formatter and the type checker.
LINTED := armbp tests benchmarks notebooks/conftest.py notebooks/execute.py setup.py
lint: $(TEST_STAMP)
	$(VENV)/bin/ruff check $(LINTED)
	$(VENV)/bin/ruff format --check $(LINTED)
	$(VENV)/bin/mypy

# The lessons through nbval, in a pytest run of their own: each re-executed and compared
# with its stored outputs (host addresses and the like sanitized, images skipped: see the cfg).
NBVAL := --nbval --nbval-current-env --nbval-sanitize-with=notebooks/nbval-sanitize.cfg

test-suite: $(TEST_STAMP)
	$(PY) -m pytest
	$(PY) -m pytest $(NBVAL) notebooks

test-pythons:
	$(PYTHON) .ci/test-pythons

# Re-execute every lesson in place (after a change in armbp alters what one prints).
notebooks: $(TEST_STAMP)
	$(PY) notebooks/execute.py

# Real Linux KVM inside qemu-system-aarch64 (needs qemu-system-arm and apt): boots the lab,
# prints KVM's capabilities and every model-vs-kernel scenario. Packages are cached in
# ~/.cache/armbp/kvm (ARMBP_KVM_CACHE to move it).
kvm: | $(PY)
	$(PY) -m pip install --quiet -e .
	$(VENV)/bin/armbp kvm

# The lessons to hand out, in build/student/: no stored worked solutions (a learner who runs
# a solution cell still gets its answer); files already there are never overwritten.
student: | $(PY)
	PYTHONPATH=. $(PY) -m armbp notebooks --student build/student

demo: $(LAB_STAMP)
	$(VENV)/bin/armbp demo

bench: $(TEST_STAMP)
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

# The wheel, lessons and app notebook inside, in dist/: `pip install dist/armbp-*.whl[lab]`.
wheel: | $(PY)
	$(PY) -m pip wheel --quiet --no-deps --wheel-dir dist .

clean:
	rm -rf $(VENV) .venv-pythons build dist *.egg-info .pytest_cache .hypothesis
