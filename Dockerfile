# All three Gatehouse images from one file: a shared base stage (Python, the pinned
# requirements, an unprivileged user) and one target per service. From the repository root:
#   docker build --target proxy   -t gatehouse-proxy .
#   docker build --target auth    -t gatehouse-auth .
#   docker build --target content -t gatehouse-content .
# docker-compose.yml builds them the same way. Every image runs as uid 10001 and writes
# nothing outside /tmp (and auth's /data), so it runs with a read-only root filesystem.
# A builder stage compiles the proxy's hot modules with mypyc for the proxy image, which
# gets only the compiled modules (no compiler).

FROM python:3.11-slim AS base

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

WORKDIR /app

# The dependencies come first, so this layer stays cached while only the code changes.
# /data is the auth service's store (its SQLite file); it belongs to the service user so
# that a named volume mounted there starts out writable by it (Docker and podman copy the
# mount point's ownership into a new volume). The other services never touch it.
COPY requirements.txt ./
RUN pip install --no-cache-dir -r requirements.txt \
    && groupadd --gid 10001 gatehouse \
    && useradd --uid 10001 --gid gatehouse --no-create-home \
       --home-dir /nonexistent --shell /usr/sbin/nologin gatehouse \
    && install -d -o gatehouse -g gatehouse -m 0750 /data

# Numeric, so that Kubernetes' runAsNonRoot can check it without reading /etc/passwd.
USER 10001:10001

# The proxy's hot modules compiled with mypyc (proxy/compiled.py: about 1.3x the requests per
# second). From base, so that it is the very Python the proxy runs: a build is used only while
# its manifest names the running interpreter's sys.version and the SHA-256 of the sources next
# to it. Root again for apt-get; only /app/build/mypyc leaves this stage, so neither gcc nor
# mypy ships. gcc does not bring the C library's headers (libc6-dev is only recommended).
# python:3.11-slim has Python's headers (/usr/local/include); a Python from Debian packages
# (as in the stand-in for it in ../shared/compose-sandbox.sh) has them only with python3-dev,
# so that is installed only where Python.h is missing: on python:3.11-slim it would just add a
# second Python.
FROM base AS builder
USER root
COPY requirements-build.txt ./
RUN headers=$(python -c 'import os, sysconfig; print("" if os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")) else "python3-dev")') \
    && apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
       gcc libc6-dev $headers \
    && rm -rf /var/lib/apt/lists/* \
    && pip install --no-cache-dir -r requirements-build.txt
COPY proxy/ ./proxy/
RUN python -c 'from proxy import compiled; compiled.build()'

# The code is owned by root and only readable by the service user: no service writes it.
# The healthchecks ask /healthz with the standard library (the image has no curl).

FROM base AS proxy
COPY proxy/ ./proxy/
# The compiled modules, owned by root like the code. PROXY_COMPILED=1: if they do not load
# (a build for another Python or other sources), the proxy refuses to start and says why
# rather than running slower unnoticed; PROXY_COMPILED=0 runs the Python modules.
COPY --from=builder /app/build/mypyc/ ./build/mypyc/
# The admin listener (/healthz, /readyz, /metrics) must listen beyond loopback so a
# published port or a kubelet probe reaches it; publish it on 127.0.0.1 only.
ENV PROXY_HOST=0.0.0.0 \
    PROXY_PORT=10080 \
    PROXY_ADMIN_HOST=0.0.0.0 \
    PROXY_ADMIN_PORT=10081 \
    PROXY_COMPILED=1
EXPOSE 10080 10081
HEALTHCHECK --interval=5s --timeout=3s --start-period=10s --retries=3 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PROXY_ADMIN_PORT', '10081'), timeout=2)"
CMD ["python", "-m", "proxy"]

FROM base AS auth
COPY auth_service/ ./auth_service/
# No demo account unless one is asked for: a well-known password must not ship in an image.
ENV AUTH_BIND=0.0.0.0 \
    AUTH_PORT=8001 \
    AUTH_DATABASE_URL=sqlite:////data/auth.db \
    DEMO_PASSWORD=""
EXPOSE 8001
HEALTHCHECK --interval=5s --timeout=3s --start-period=10s --retries=3 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('AUTH_PORT', '8001'), timeout=2)"
CMD ["python", "-m", "auth_service"]

FROM base AS content
COPY content_service/ ./content_service/
ENV CONTENT_BIND=0.0.0.0 \
    CONTENT_PORT=8002
EXPOSE 8002
HEALTHCHECK --interval=5s --timeout=3s --start-period=10s --retries=3 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('CONTENT_PORT', '8002'), timeout=2)"
CMD ["python", "-m", "content_service"]
