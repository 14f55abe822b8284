# sealgate: `make run` serves the demo on http://127.0.0.1:8000, `make test` runs every test.
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench clean setup screenshots schemathesis image-test

$(STAMP): pyproject.toml constraints.txt scripts/bootstrap.sh scripts/packages.sh
	scripts/bootstrap.sh
	touch $@

setup: $(STAMP)

run: $(STAMP)
	$(BIN)/sealgate db upgrade
	$(BIN)/sealgate ca init --if-missing
	$(BIN)/sealgate demo
	$(BIN)/sealgate serve

test: $(STAMP) lint
	scripts/packages.sh chromium  # the browser tests drive Debian's Chromium
	$(BIN)/pytest -n 2 --dist loadgroup

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .
	$(BIN)/lint-imports

schemathesis: $(STAMP)  # generated requests against `sealgate serve` on the demo, as an applicant and an administrator (also in make test)
	$(BIN)/pytest -q tests/api/test_schemathesis.py

screenshots: $(STAMP)  # every page at 375 px and desktop width, from the browser tests' journeys
	scripts/packages.sh chromium
	SEALGATE_SCREENSHOTS=$(CURDIR)/docs/screenshots $(BIN)/pytest -q tests/web/test_browser.py

image-test: $(STAMP)  # the Dockerfile built with podman on a base image made from Debian's packages, run under chroot (root)
	scripts/image/test.sh

bench: $(STAMP)
	scripts/packages.sh wrk
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
