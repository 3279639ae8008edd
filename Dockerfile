# All three Gatehouse images from one file: a shared base stage (Python, the pinned
# requirements, an unprivileged user) and one target per service. From the repository root:
#   docker build --target proxy   -t gatehouse-proxy .
#   docker build --target auth    -t gatehouse-auth .
#   docker build --target content -t gatehouse-content .
# docker-compose.yml builds them the same way. Every image runs as uid 10001 and writes
# nothing outside /tmp (and auth's /data), so it runs with a read-only root filesystem.

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

# The code is owned by root and only readable by the service user: no service writes it.
# The healthchecks ask /healthz with the standard library (the image has no curl).

FROM base AS proxy
COPY proxy/ ./proxy/
# The admin listener (/healthz, /readyz, /metrics) must listen beyond loopback so a
# published port or a kubelet probe reaches it; publish it on 127.0.0.1 only.
ENV PROXY_HOST=0.0.0.0 \
    PROXY_PORT=10080 \
    PROXY_ADMIN_HOST=0.0.0.0 \
    PROXY_ADMIN_PORT=10081
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
