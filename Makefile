# Both targets install their own dependencies from the lock files first.
.PHONY: demo test test-unit test-chain lint bootstrap bench-smoke

bootstrap:
	@bash scripts/bootstrap.sh

demo: bootstrap
	.venv/bin/breakglass demo

test: bootstrap
	.venv/bin/pytest

# One tier alone (tests/README.md): unit needs no chain or server and runs in under two minutes.
test-unit: bootstrap
	.venv/bin/pytest -m unit

test-chain: bootstrap
	.venv/bin/pytest -m chain

lint: bootstrap
	.venv/bin/ruff check src tests benchmarks
	.venv/bin/ruff format --check src tests benchmarks
	.venv/bin/mypy src

# Every benchmark end to end with few iterations and no targets asserted, so none can rot.
BENCHMARKS := $(sort $(wildcard benchmarks/*.py))
bench-smoke: bootstrap
	@set -e; for bench in $(BENCHMARKS); do \
		echo "== $$bench --smoke"; \
		.venv/bin/python $$bench --smoke; \
	done
