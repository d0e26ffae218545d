# Two commands do all the set-up on a fresh clone (Python 3.11+ and the package index assumed):
#   make serve   — install into .venv, then run `mcr serve` on an embedded SQLite file (./mcr.db)
#   make test    — install into .venv (with the test and bench extras), then run the whole test suite
VENV ?= .venv
PYTHON ?= python3
MCR_TEST_POSTGRES_URL ?= postgresql://postgres@127.0.0.1:5432/test
export MCR_TEST_POSTGRES_URL

.PHONY: install serve test bench clean

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -c constraints.txt -e '.[test,bench]'
	touch $@

install: $(VENV)/.installed

serve: install
	$(VENV)/bin/mcr serve $(ARGS)

# The suite in two parts: unit, integration and scenario tests on two processes (pytest-xdist; each
# has its own SQLite files and PostgreSQL schema), then the browser tests and the benchmarks alone,
# so their timings are not shared with other tests. `make test ARGS="tests/unit -x"` runs just that.
test: install
ifeq ($(strip $(ARGS)),)
	$(VENV)/bin/pytest -n 2 --dist loadfile tests/unit tests/integration tests/scenarios
	$(VENV)/bin/pytest tests/browser tests/benchmarks
else
	$(VENV)/bin/pytest $(ARGS)
endif

bench: install
	$(VENV)/bin/mcr bench $(ARGS)

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache
