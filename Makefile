# The two commands of the README, and the steps they are made of. Every step is idempotent.
.PHONY: demo test install stack-up stack-down models knowledge services-up services-down down

PY := .venv/bin/python
CS_SHARED_DATA ?= ../shared/data
DEMO_TENANT := demo-retail

## make demo: install everything, start Kafka, FerretDB and the four services, run a scripted conversation
demo: stack-up models knowledge services-up
	HF_HUB_OFFLINE=1 $(PY) deploy/local/demo.py

## make test: install everything, start Kafka and FerretDB, run the whole test suite (unit, integration, e2e)
test: stack-up models
	HF_HUB_OFFLINE=1 $(PY) -X faulthandler -m pytest tests -q -p no:cacheprovider

install:
	bash deploy/local/install.sh

stack-up: install
	bash deploy/local/stack.sh up

stack-down:
	bash deploy/local/stack.sh down

models: install
	bash deploy/local/models.sh

## the demo tenant's knowledge base (the ABCD guidelines; re-running changes nothing unless the file did) and persona
knowledge: stack-up
	$(PY) -m services.cli kb ingest --tenant $(DEMO_TENANT) $(CS_SHARED_DATA)/abcd/guidelines.json
	$(PY) -m services.cli tenants persona --tenant $(DEMO_TENANT) --brand AcmeBrands \
		--business "an online clothing retailer" --business-zh "一家网上服装店"

services-up: stack-up models
	bash deploy/local/services.sh up

services-down:
	bash deploy/local/services.sh down

## make down: stop the services and the stack (data kept; deploy/local/stack.sh down --wipe deletes it)
down: services-down stack-down
