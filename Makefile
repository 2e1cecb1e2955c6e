.PHONY: demo test lint setup bench clean

SAMPLE ?= samples/sample.pdf

# Run one real document job end to end on the embedded defaults (local Prefect API on SQLite,
# local artifact folder, SQLite ledger under ~/.reelflow).
demo:
	@./scripts/setup.sh
	.venv/bin/reelflow run $(SAMPLE)

# Lint, type check and the whole test suite (what .ci/run calls).
test:
	@./scripts/setup.sh --test
	.venv/bin/ruff check .
	.venv/bin/ruff format --check flows tasks infra
	.venv/bin/mypy
	.venv/bin/pytest -n 2

bench:
	@./scripts/setup.sh --test
	.venv/bin/python benchmarks/render_vs_bare.py

clean:
	rm -rf .venv .pytest_cache .mypy_cache .ruff_cache
