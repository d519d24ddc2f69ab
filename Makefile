# Both targets install their own dependencies from the lock files first.
.PHONY: demo test lint bootstrap

bootstrap:
	@bash scripts/bootstrap.sh

demo: bootstrap
	.venv/bin/breakglass demo

test: bootstrap
	.venv/bin/pytest

lint: bootstrap
	.venv/bin/ruff check src tests benchmarks
	.venv/bin/ruff format --check src tests benchmarks
	.venv/bin/mypy src
