.PHONY: demo test image bench clean

SAMPLE ?= samples/sample.pdf

# Run one real document job end to end on the embedded defaults (local Prefect API on SQLite,
# local artifact folder, SQLite ledger under ~/.reelflow).
demo:
	@./scripts/setup.sh
	.venv/bin/reelflow run $(SAMPLE)

# Lint, type check and the whole test suite (what .ci/run calls). The Docker pool tests need the
# engine and an image built from this checkout: both steps are idempotent and cached.
# Screenshots the browser test takes (the Prefect UI) are kept in test-artifacts/.
test:
	@./scripts/setup.sh --test
	bash scripts/docker-engine.sh
	bash infra/deploy/docker/build-image.sh
	.venv/bin/ruff check .
	.venv/bin/ruff format --check flows tasks infra
	.venv/bin/mypy
	TEST_ARTIFACTS_DIR="$${TEST_ARTIFACTS_DIR:-$(CURDIR)/test-artifacts}" .venv/bin/pytest -n 2

# The Docker worker image (starts a bridge-less Docker engine first when none runs).
image:
	bash scripts/docker-engine.sh
	bash infra/deploy/docker/build-image.sh

bench:
	@./scripts/setup.sh --test
	.venv/bin/python benchmarks/render_vs_bare.py
	.venv/bin/python benchmarks/runner_overhead.py

clean:
	rm -rf .venv .pytest_cache .mypy_cache .ruff_cache
