# Gatehouse: `make run` starts everything locally, `make test` runs the whole suite.
# Each installs what it needs: `make run` the pinned runtime packages into a virtualenv,
# `make test` also the test and bench ones, and Debian packages (via apt-get) for the tools
# the tests drive.

SHELL := /bin/bash
# The distribution's CPython 3.11 first, where it can make a virtualenv (ensurepip: Debian's
# python3-venv): Debian builds it with PGO and LTO, which a pyenv build lacks unless asked.
# Scenario 4 of `make bench`, same code, one session: 6,850 req/s against 5,903 (proxy CPU
# 110 against 132 µs a request).
PYTHON ?= $(shell for p in /usr/bin/python3.11 "$$(command -v python3.11)" "$$(command -v python3)"; do \
  [ -x "$$p" ] && "$$p" -c "import ensurepip" 2>/dev/null && { echo "$$p"; break; }; done)
VENV := .venv
PY := $(VENV)/bin/python
# Stamps: `make run` needs the runtime packages (and mypyc, to compile the proxy's hot
# modules: BUILD_STAMP); `make test` adds the test and bench ones.
RUN_STAMP := $(VENV)/.installed-run
DEV_STAMP := $(VENV)/.installed-dev
BUILD_STAMP := $(VENV)/.installed-build
# Everything installed: for the targets that need more than `make run` does.
STAMP := $(DEV_STAMP)

# Debian packages the tests and the benchmark drive; installed only when missing.
# postgresql: the auth store suite runs against a real server too (tests/auth_service).
# gcc and python3-dev: mypyc's C compiler and Python's headers (`make compiled`).
# python3-venv: lets Debian's python3.11 make the venv (see PYTHON); `make test` installs the
# Debian packages before it makes the venv.
TEST_PACKAGES := docker-compose curl chromium fonts-liberation nginx wrk util-linux postgresql \
  gcc python3-dev python3-venv
# `make bench-instructions` only: kept out of TEST_PACKAGES so `make test` installs no valgrind.
INSTRUCTIONS_PACKAGES := nginx valgrind

# $(call apt-missing,PACKAGES): apt-get install those of PACKAGES that are not installed.
define apt-missing
	@missing=""; for pkg in $(1); do \
	  dpkg-query -W -f='$${Status}' "$$pkg" 2>/dev/null | grep -q "ok installed" || missing="$$missing $$pkg"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing; \
	fi
endef

.PHONY: run test compiled lint format scenarios scenarios-https compose-config bench bench-bruteforce bench-instructions clean adduser system-deps certs

# Without a C compiler the build fails, and the proxy runs its Python modules instead.
run: $(RUN_STAMP)
	$(MAKE) --no-print-directory compiled || echo "make run: no compiled modules; the proxy runs as pure Python"
	$(PY) run.py

# The whole suite against the compiled modules, then the proxy's unit tests in pure Python:
# both must work.
test: system-deps $(DEV_STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(MAKE) --no-print-directory compiled
	PROXY_COMPILED=1 $(PY) -m pytest
	PROXY_COMPILED=0 $(PY) -m pytest -q tests/proxy

# Builds when the sources' SHA-256 differ from the last build's (mtimes can lie after a
# checkout); a no-op otherwise.
compiled: $(BUILD_STAMP)
	$(PY) -c 'from proxy import compiled; compiled.build_if_stale()'

lint: $(DEV_STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: $(DEV_STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# The curl scenarios against a running stack (`make run` in another terminal). Give them the
# stack's settings as you gave them to `make run` (environment or make variables both reach
# the scripts): PROXY_HOST, PROXY_PORT (or BASE_URL), SESSION_TTL, KEEPALIVE_TIMEOUT,
# KEEPALIVE_MAX, DEMO_USERID, DEMO_PASSWORD; e.g. `PROXY_PORT=20080 SESSION_TTL=5 make scenarios`.
scenarios:
	@for s in scenarios/0[1-6]-*.sh; do echo "== $$s"; bash "$$s" || exit 1; done

# Scenario 7 needs a stack with TLS (README: HTTPS): `make certs`, then run the stack with
# PROXY_TLS_CERT/PROXY_TLS_KEY set, then this.
scenarios-https:
	bash scenarios/07-https.sh

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

# Asks for the password twice; with PASSWORD_STDIN=1 reads one line from stdin instead
# (`echo "$$PW" | make adduser USERID=alice PASSWORD_STDIN=1`).
adduser: $(RUN_STAMP)
	@test -n "$(USERID)" || { echo "usage: make adduser USERID=name [PASSWORD_STDIN=1]" >&2; exit 2; }
	@$(PY) -m auth_service adduser "$(USERID)" $(if $(filter 1,$(PASSWORD_STDIN)),--password-stdin)

$(RUN_STAMP): requirements.txt
	@test -x $(PY) || test -n "$(PYTHON)" || { echo "make: no Python 3.11 that can make a virtualenv (Debian: apt-get install python3.11-venv; or PYTHON=/path/to/python3.11)" >&2; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $(RUN_STAMP)

$(BUILD_STAMP): $(RUN_STAMP) requirements-build.txt
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-build.txt
	touch $(BUILD_STAMP)

$(DEV_STAMP): $(RUN_STAMP) requirements-dev.txt requirements-build.txt bench/requirements.txt
	$(PY) -m pip install --quiet --disable-pip-version-check \
	  -r requirements-dev.txt -r bench/requirements.txt
	touch $(DEV_STAMP)

# Gatehouse against nginx in one run (issue 4); e.g. BENCH_ARGS="--duration 5 --scenarios 1,2".
# Writes bench/results/latest.json and latest.png.
bench: $(DEV_STAMP) system-deps
	$(PY) -m bench.run $(BENCH_ARGS)

# Callgrind's instruction count per proxied request, scenario 4's setup (our proxy under
# valgrind, twice); writes bench/results/instructions.json. E.g. BENCH_ARGS="--requests 100,1100".
bench-instructions: $(STAMP)
	$(call apt-missing,$(INSTRUCTIONS_PACKAGES))
	$(PY) -m bench.instructions $(BENCH_ARGS)

# Brute force against the login through the proxy (issue 10); writes bench/results/bruteforce.json.
bench-bruteforce: $(STAMP)
	$(PY) -m bench.bruteforce $(BENCH_ARGS)

# A local CA and a localhost certificate under var/tls/ for HTTPS (README: HTTPS).
certs: $(STAMP)
	$(PY) -m proxy.devcerts var/tls

system-deps:
	$(call apt-missing,$(TEST_PACKAGES))
# kubectl renders the Kubernetes manifests (tests/test_kubernetes.py); any kubectl will do,
# and Debian's kubernetes-client (1.20) is the fallback when none is installed.
	@command -v kubectl >/dev/null || { echo "installing Debian packages: kubernetes-client"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -qq --no-install-recommends kubernetes-client; }

clean:
	rm -rf $(VENV) build .pytest_cache .ruff_cache .hypothesis
