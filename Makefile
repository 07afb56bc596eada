# Every target sets itself up: a venv with pinned dependencies, created on first use.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
DEPS := $(VENV)/.stamp-deps
PORT ?= 8000
STAGE ?= dev
export PORT

CHROMIUM := /usr/bin/chromium

.PHONY: run test check lint typecheck token bench clean browser

$(DEPS): requirements.txt requirements-dev.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV) >&2
	@$(PY) -m pip install -q --disable-pip-version-check -r requirements-dev.txt >&2
	@touch $@

# The browser test drives Debian's Chromium (Playwright cannot download a browser here).
$(CHROMIUM):
	@SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	$$SUDO apt-get update -qq >&2 && \
	DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >&2

browser: $(CHROMIUM)

run: $(DEPS)  ## API on 127.0.0.1:$(PORT) against an embedded moto server
	$(PY) scripts/run_local.py

test: $(DEPS) $(CHROMIUM)  ## every test: unit, functional (moto over HTTP), end-to-end
	$(PY) -m pytest $(PYTEST_ARGS)

check: lint typecheck  ## ruff + mypy

lint: $(DEPS)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(DEPS)
	$(VENV)/bin/mypy

token: $(DEPS)  ## make token USER=alice: a local-stage bearer token, alone on stdout
	@$(PY) scripts/mint_token.py $(USER)

bench: $(DEPS)  ## DynamoDB calls, items read and latency per operation
	$(PY) bench/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
