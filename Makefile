# The two commands of the README, the inner loop (make check), and the steps they are made of.
# Every step is idempotent.
.PHONY: demo test check lint lint-imports ruff-check ruff-format mypy install install-dev \
	stack-up stack-down models knowledge services-up services-down down

PY := .venv/bin/python
VENV_BIN := .venv/bin
CS_SHARED_DATA ?= ../shared/data
DEMO_TENANT := demo-retail
PYTEST := HF_HUB_OFFLINE=1 $(PY) -X faulthandler -m pytest -q -p no:cacheprovider
# The tests that need neither the local stack nor a trained model, the LLM or the sentence encoder.
FAST_TESTS := -m "not stack and not models"

# The linters, one make target each; make lint runs them all.
LINT_PATHS := services tests bench deploy
LINT_IMPORTS := $(VENV_BIN)/lint-imports
RUFF_CHECK := $(VENV_BIN)/ruff check $(LINT_PATHS)
RUFF_FORMAT := $(VENV_BIN)/ruff format --check $(LINT_PATHS)
# mypy checks what [tool.mypy] files names in pyproject.toml (common, gateway, cli)
MYPY := $(VENV_BIN)/mypy
# Runs every linter even when one fails, so one run shows every problem; fails when any failed.
run_linters = status=0; $(foreach linter,LINT_IMPORTS RUFF_CHECK RUFF_FORMAT MYPY,echo '$($(linter))'; $($(linter)) || status=1;) exit $$status

## make demo: install what the demo runs on, start Kafka, FerretDB and the four services, run a scripted conversation
demo: stack-up models knowledge services-up
	HF_HUB_OFFLINE=1 $(PY) deploy/local/demo.py

## make test: install everything incl. the lint and test tools, start Kafka and FerretDB, run the linters,
## then the whole test suite (unit, integration, e2e, deploy) even when a linter failed; fails if either did
test: install-dev stack-up models
	@status=0; ($(run_linters)) || status=1; $(PYTEST) tests || status=1; exit $$status

## make check: the inner loop (under 2 minutes once installed): the same linters, and the tests that need
## neither the stack nor a model. Starts nothing, builds no model.
check: install-dev
	@status=0; ($(run_linters)) || status=1; $(PYTEST) $(FAST_TESTS) tests || status=1; exit $$status

lint: install-dev
	@$(run_linters)

lint-imports: install-dev
	$(LINT_IMPORTS)

ruff-check: install-dev
	$(RUFF_CHECK)

ruff-format: install-dev
	$(RUFF_FORMAT)

mypy: install-dev
	$(MYPY)

## what the demo runs on: .venv from requirements.lock, the Kafka jars, FerretDB
install:
	bash deploy/local/install.sh

## the lint and test tools: requirements-dev.lock, buf, the deployment-check tools
install-dev: install
	bash deploy/local/install.sh --dev

stack-up: install
	bash deploy/local/stack.sh up

stack-down:
	bash deploy/local/stack.sh down

models: install
	bash deploy/local/models.sh

## the demo tenant's knowledge base (a customer-facing help centre in English and Chinese, the fictional
## Lumen Outfitters of bench/data/helpcentre; re-running changes nothing unless the files did) and persona
knowledge: stack-up
	$(PY) -m services.cli kb ingest --only --tenant $(DEMO_TENANT) bench/data/helpcentre/kb
	$(PY) -m services.cli tenants persona --tenant $(DEMO_TENANT) --brand "Lumen Outfitters" \
		--business "an outdoor-gear retailer" --business-zh "一家户外用品零售商"

services-up: stack-up models
	bash deploy/local/services.sh up

services-down:
	bash deploy/local/services.sh down

## make down: stop the services and the stack (data kept; deploy/local/stack.sh down --wipe deletes it)
down: services-down stack-down
