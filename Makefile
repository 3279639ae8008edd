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

.PHONY: run test lint format scenarios compose-config bench clean adduser system-deps

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
	SECRET_KEYS=only-for-the-config-check INTERNAL_TOKEN=only-for-the-config-check \
	POSTGRES_PASSWORD=only-for-the-config-check \
	  docker-compose -f docker-compose.yml -f docker-compose.ha.yml config -q

# docker-compose.yml for real, content scaled to 3: podman behind the Docker API via the
# shared sandbox script (needs root; builds its stand-in base image once). See tests/compose_e2e.py.
COMPOSE_SANDBOX ?= ../shared/compose-sandbox.sh
.PHONY: test-compose
test-compose: $(STAMP)
	COMPOSE_SANDBOX=$(COMPOSE_SANDBOX) $(PY) tests/compose_e2e.py

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

system-deps:
	@missing=""; for pkg in $(TEST_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' "$$pkg" 2>/dev/null | grep -q "ok installed" || missing="$$missing $$pkg"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing; \
	fi
# kubectl renders the Kubernetes manifests (tests/test_kubernetes.py); any kubectl will do,
# and Debian's kubernetes-client (1.20) is the fallback when none is installed.
	@command -v kubectl >/dev/null || { echo "installing Debian packages: kubernetes-client"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -qq --no-install-recommends kubernetes-client; }

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
