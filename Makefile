# minqing — `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help
UV ?= uv
PG_TEST_URL ?= postgresql+asyncpg://postgres@127.0.0.1:5432/test
CLUSTER_PG_URL ?= postgresql+asyncpg://postgres@127.0.0.1:5432/cluster
CLUSTER_REDIS_URL ?= redis://127.0.0.1:6379/9
CLUSTER_ENV = MINQING_CLUSTER_POSTGRES_URL=$(CLUSTER_PG_URL) MINQING_CLUSTER_REDIS_URL=$(CLUSTER_REDIS_URL)

help: ## show this help
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}'

bootstrap: ## install uv, Debian packages (only what is missing) and the Python environment
	@bash scripts/bootstrap.sh

demo: bootstrap ## fresh-machine command 1: DB + demo community + bot + WeChat simulator (prints the URL)
	$(UV) run minqing nlu train
	$(UV) run minqing voice prepare
	$(UV) run minqing demo

test: bootstrap lint ## fresh-machine command 2: lint, types, import contracts, the whole suite, then Rasa (RASA=0 skips it)
	$(CLUSTER_ENV) MINQING_TEST_POSTGRES_URL=$(PG_TEST_URL) $(UV) run pytest -q
	@if [ "$${RASA:-1}" != "0" ]; then $(MAKE) rasa-ci; else echo "make test: RASA=0, Rasa install/train/evaluate skipped"; fi

test-fast: ## the test suite on SQLite only, no lint
	$(UV) run pytest -q -m "not postgres and not e2e and not cluster"

bench-load: ## WeChat-like load on real gateways: SQLite, then PostgreSQL `loadbench` + Redis DB 7 (2 workers)
	-@psql -h 127.0.0.1 -U postgres -c "create database loadbench" >/dev/null 2>&1
	$(UV) run python -m bench.load --setup sqlite --rates $(or $(rates),50,100,200,400) --duration $(or $(duration),20) --json var/loadbench/sqlite.json
	$(UV) run python -m bench.load --setup postgres --rates $(or $(rates),50,100,200,400) --duration $(or $(duration),20) --json var/loadbench/postgres.json
	$(UV) run python -m bench.load.report var/loadbench/sqlite.json var/loadbench/postgres.json

chaos: ## multi-worker + chaos suite: 2 gateways, 2 schedulers, simulator, DB proxy on PostgreSQL + Redis (~3 min)
	$(CLUSTER_ENV) MINQING_CLUSTER_LOG_DIR=var/cluster-logs $(UV) run pytest tests/cluster -q -m cluster

lint: ## ruff, ruff format --check, mypy --strict, import-linter
	$(UV) run ruff check .
	$(UV) run ruff format --check .
	$(UV) run mypy
	$(UV) run lint-imports

format: ## apply ruff fixes and formatting
	$(UV) run ruff check --fix .
	$(UV) run ruff format .

serve: ## run the gateway only (expects a migrated database)
	$(UV) run minqing serve

simulator: ## run the simulator only
	$(UV) run minqing simulator

migrate: ## upgrade the database to the newest migration
	$(UV) run minqing db upgrade

migration: ## create a migration: make migration name="add something"
	$(UV) run alembic revision --autogenerate -m "$(name)"

nlu-train: ## train the embedded NLU model from data/nlu
	$(UV) run minqing nlu train

nlu-evaluate: ## held-out evaluation, written to docs/nlu-evaluation.md
	$(UV) run minqing nlu evaluate --write docs/nlu-evaluation.md

rasa-install: ## Rasa 3.6 in its own Python 3.10 venv (.venv-rasa, ~3 GB; skipped when up to date)
	bash scripts/rasa.sh install

rasa-train: rasa-install ## rasa train nlu on data/nlu into var/rasa/models (split=train: held-out excluded)
	bash scripts/rasa.sh train --split $(or $(split),all)

rasa-serve: rasa-install ## rasa run --enable-api on 127.0.0.1:5005 with the newest model
	bash scripts/rasa.sh serve --split $(or $(split),all)

compose-check: ## validate docker/compose.yml with the real `docker compose config` (no Docker engine needed)
	bash scripts/validate_compose.sh

rasa-ci: ## install, train (train split), serve, evaluate both engines and run the live Rasa tests
	bash scripts/rasa.sh ci

rasa-evaluate: rasa-install ## train Rasa on the train split, serve it, both engines side by side into docs/benchmarks.md
	bash scripts/rasa.sh evaluate

.PHONY: help bootstrap demo test test-fast chaos bench-load lint format serve simulator migrate migration nlu-train nlu-evaluate
.PHONY: rasa-install rasa-train rasa-serve rasa-evaluate rasa-ci compose-check
