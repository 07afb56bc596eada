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

.PHONY: run test check lint typecheck token bench chaos clean browser fuzz package deploy

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

FUZZ_EXAMPLES ?= 1000
fuzz: $(DEPS)  ## longer, random schemathesis run: FUZZ_EXAMPLES cases per operation (make test: 200, fixed seed)
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) FUZZ_RANDOM=1 $(PY) -m pytest tests/security/test_fuzz.py -o timeout=0 $(PYTEST_ARGS)

check: lint typecheck  ## ruff + mypy

lint: $(DEPS)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(DEPS)
	$(VENV)/bin/mypy

token: $(DEPS)  ## make token USER=alice: a local-stage bearer token, alone on stdout
	@$(PY) scripts/mint_token.py $(USER)

bench: $(DEPS)  ## DynamoDB calls, items read and latency per operation (versions: bench/RESULTS_VERSIONS.md)
	$(PY) bench/run.py $(BENCH_ARGS)
	$(PY) bench/versions.py $(VERSIONS_BENCH_ARGS)

CHAOS_SECONDS ?= 180
CHAOS_CLIENTS ?= 8
CHAOS_SEED ?= 1
chaos: $(DEPS)  ## soak under injected faults, then check storage against every answer (CHAOS_SECONDS, CHAOS_CLIENTS, CHAOS_SEED, CHAOS_FAULTS=0)
	CHAOS_SECONDS=$(CHAOS_SECONDS) CHAOS_CLIENTS=$(CHAOS_CLIENTS) CHAOS_SEED=$(CHAOS_SEED) \
		$(PY) scripts/chaos.py $(CHAOS_ARGS)

# --- AWS: one stack per stage (docs/DEPLOY.md) -------------------------------------
STACK ?= vidpipe-manifests-$(STAGE)
PACKAGE_DIR := build/$(STAGE)
# Deploy-time parameters, passed on only when set (an existing stack keeps its values).
DEPLOY_PARAMS := $(strip \
	$(if $(JWT_ISSUER),JwtIssuer=$(JWT_ISSUER)) \
	$(if $(JWT_AUDIENCE),JwtAudience=$(JWT_AUDIENCE)) \
	$(if $(JWKS_URL),JwksUrl=$(JWKS_URL)) \
	$(if $(CURSOR_SECRET),CursorSecret=$(CURSOR_SECRET)))

package: $(DEPS)  ## make package STAGE=dev: SAM template + deployment.zip in build/$(STAGE)/package (no AWS needed)
	$(PY) -m infra.package --stage $(STAGE) --out $(PACKAGE_DIR)

deploy: package  ## make deploy STAGE=dev ARTIFACT_BUCKET=... [JWT_ISSUER=... JWT_AUDIENCE=... CURSOR_SECRET=...]
	@test -n "$(ARTIFACT_BUCKET)" || { echo "set ARTIFACT_BUCKET=<an S3 bucket for the code zip>" >&2; exit 2; }
	aws cloudformation package --template-file $(PACKAGE_DIR)/package/sam.json \
		--s3-bucket $(ARTIFACT_BUCKET) --s3-prefix $(STACK) --output-template-file $(PACKAGE_DIR)/packaged.json --use-json
	aws cloudformation deploy --template-file $(PACKAGE_DIR)/packaged.json --stack-name $(STACK) \
		--capabilities CAPABILITY_IAM CAPABILITY_AUTO_EXPAND --no-fail-on-empty-changeset \
		$(if $(DEPLOY_PARAMS),--parameter-overrides $(DEPLOY_PARAMS))
	aws cloudformation describe-stacks --stack-name $(STACK) --query "Stacks[0].Outputs" --output table

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
