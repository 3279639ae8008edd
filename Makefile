# Gatehouse: `make run` starts everything locally, `make test` runs the whole suite.
# Both install what they need: a virtualenv with the pinned packages, and Debian
# packages (via apt-get) for the tools the tests drive.

SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

# Debian packages the tests and the benchmark drive; installed only when missing.
TEST_PACKAGES := docker-compose curl chromium fonts-liberation nginx wrk util-linux

.PHONY: run test lint format scenarios compose-config bench clean adduser system-deps certs

run: $(STAMP)
	$(PY) run.py

test: $(STAMP) system-deps
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) -m pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# The curl scenarios against a running stack (`make run` in another terminal).
scenarios:
	@for s in scenarios/[0-9]*.sh; do echo "== $$s"; bash "$$s" || exit 1; done

compose-config: system-deps
	SECRET_KEY=$${SECRET_KEY:-only-for-the-config-check} docker-compose config -q

adduser: $(STAMP)
	@test -n "$(USERID)" || { echo "usage: make adduser USERID=name" >&2; exit 2; }
	$(PY) -m auth_service adduser "$(USERID)"

$(STAMP): requirements.txt requirements-dev.txt bench/requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check \
	  -r requirements-dev.txt -r bench/requirements.txt
	touch $(STAMP)

# Gatehouse against nginx in one run (issue 4); e.g. BENCH_ARGS="--duration 5 --scenarios 1,2".
# Writes bench/results/latest.json and latest.png.
bench: $(STAMP) system-deps
	$(PY) -m bench.run $(BENCH_ARGS)

# A local CA and a localhost certificate under var/tls/ for HTTPS (README: HTTPS).
certs: $(STAMP)
	$(PY) -m proxy.devcerts var/tls

system-deps:
	@missing=""; for pkg in $(TEST_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' "$$pkg" 2>/dev/null | grep -q "ok installed" || missing="$$missing $$pkg"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing; \
	fi

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
