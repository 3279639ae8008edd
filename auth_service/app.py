"""The Starlette application: login, logout, the proxy's /verify, the cookie page, health."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Route

from auth_service import pages
from auth_service.config import Settings
from auth_service.metrics import Metrics
from auth_service.passwords import Check, Passwords
from auth_service.regulation import Attempt, Regulator
from auth_service.security import (
    Gate,
    client_address,
    cross_site,
    html_headers,
    is_https,
)
from auth_service.sessions import (
    COOKIE_NAME,
    SECURE_COOKIE_NAME,
    SessionSigner,
    Signed,
    cookie_values,
    new_session_id,
)
from auth_service.store import Store, StoreError
from auth_service.users import USERID_RE, Accounts

log = logging.getLogger("gatehouse.auth")

# A login form is a few dozen bytes; anything much bigger is not one.
MAX_FORM_BODY = 16 * 1024
# How often expired sessions, ended bans and attempts too old to count are dropped.
PURGE_INTERVAL = 60.0
# A login waiting for the attempts in flight (regulation.py) gives up after this long.
MAX_ADMISSION_WAIT = 30.0

# Responses that depend on the session (or set it) must never be cached by a
# browser or an intermediary, or one user's page could be shown to another.
NO_STORE = {"Cache-Control": "no-store"}
HTML_HEADERS = {**NO_STORE, **html_headers(pages.SCRIPTS)}

# The more telling reason wins when the proxy sends two session values.
_REASONS = ("missing", "invalid", "expired", "revoked")


class Wakeup:
    """Lets logins waiting for the regulator sleep until another login settles."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    async def wait(self, timeout: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._event.wait(), timeout)

    def wake(self) -> None:
        self._event.set()
        self._event = asyncio.Event()


@dataclass(frozen=True)
class Current:
    session_id: str
    userid: str
    seconds_left: int


def session_cookie(name: str, value: str, max_age: int, secure: bool) -> str:
    """The Set-Cookie value for the session (RFC 6265 section 4.1).

    Max-Age makes the browser drop it when the server will stop accepting it;
    Path=/ sends it with every request through the proxy; HttpOnly keeps it out
    of page scripts (section 4.1.2.6); SameSite=Lax stops it being sent on
    cross-site POSTs (CSRF) but keeps it on top-level links. Secure (and the
    __Host- name) only when the client came over TLS: over plain HTTP a Secure
    cookie would never be sent back. Written by hand rather than with
    Response.set_cookie to get exactly this attribute order and spelling.
    """
    attrs = "Path=/; Secure" if secure else "Path=/"
    return f"{name}={value}; Max-Age={max_age}; {attrs}; HttpOnly; SameSite=Lax"


def html(page: str, status: int = 200, headers: dict[str, str] | None = None) -> HTMLResponse:
    return HTMLResponse(page, status_code=status, headers={**HTML_HEADERS, **(headers or {})})


def create_app(settings: Settings, *, clock: Callable[[], float] = time.time) -> Starlette:
    """Build the app: opens (and migrates) the store, creates or refreshes the demo user."""
    store = Store.open(settings.database_url)
    passwords = Passwords(settings.argon2_time_cost, settings.argon2_memory_kib)
    passwords.prepare()
    if settings.demo_enabled:
        Accounts(store, passwords, clock).ensure(settings.demo_userid, settings.demo_password)
    regulator = Regulator(
        store, settings.login_max_retries, settings.login_find_time, settings.login_ban_time
    )
    signer = SessionSigner(settings.secret_keys, settings.session_ttl, now=clock)

    def active_sessions() -> float:
        try:
            return store.active_sessions(clock())
        except StoreError:
            return math.nan

    metrics = Metrics(active_sessions)
    waiting = Wakeup()

    def audit(userid: str, address: str, outcome: str, detail: str = "") -> None:
        """One line per login attempt; never the password. %r keeps odd ids on one line."""
        metrics.logins.labels(outcome).inc()
        log.info("login user=%r address=%s outcome=%s%s", userid, address, outcome, detail)

    def cookie_name(request: Request) -> str:
        return SECURE_COOKIE_NAME if is_https(request) else COOKIE_NAME

    async def check(value: str) -> Current | str:
        signed = signer.unsign(value)
        if not isinstance(signed, Signed):
            return signed
        stored = await run_in_threadpool(store.session, signed.session_id)
        if stored is None or stored.revoked is not None:
            return "revoked"  # logged out, or the user was removed
        if stored.expires <= clock():
            return "expired"
        return Current(signed.session_id, stored.userid, signed.seconds_left)

    async def current_session(request: Request) -> Current | str:
        """The first live session among (at most two) session cookies, or why there is none."""
        reason = "missing"
        for value in cookie_values(request.headers.getlist("cookie"), cookie_name(request)):
            result = await check(value)
            if isinstance(result, Current):
                return result
            reason = max(reason, result, key=_REASONS.index)
        return reason

    async def read_form(request: Request) -> FormData | None:
        try:
            return await request.form()
        except HTTPException as exc:
            if exc.status_code != 400:  # e.g. 413 from the body size limit
                raise
            return None

    def login_page(status: int, error: str, userid: str | None = None, **extra: str) -> Response:
        return html(pages.login_page(error, userid), status, extra)

    async def login(request: Request) -> Response:
        address = client_address(request)
        if cross_site(request):
            audit("", address, "malformed", " reason=cross-site")
            return login_page(403, pages.CROSS_SITE)
        form = await read_form(request)
        userid = form.get("userid") if form else None
        passwd = form.get("passwd") if form else None
        if form is None or isinstance(userid, UploadFile) or isinstance(passwd, UploadFile):
            audit("", address, "malformed")
            return login_page(400, pages.UNREADABLE_FORM)
        if not userid or not passwd:
            audit(userid or "", address, "malformed")
            return login_page(400, pages.MISSING_FIELDS, userid or None)
        # Ids that cannot exist are counted too (cut to the longest real one), so they
        # are no way around the regulator.
        key = userid[:64]
        attempt = await admit(key, address)
        if attempt is None:
            audit(userid, address, "malformed", " reason=busy")
            return login_page(503, pages.BUSY, userid, **{"Retry-After": "1"})
        if attempt.banned_until is not None:
            return banned(attempt, userid, address)
        valid = USERID_RE.fullmatch(userid) is not None
        encoded = await run_in_threadpool(store.password_hash, userid) if valid else None
        metrics.password_checks.inc()
        verdict = Check(False)
        try:
            verdict = await passwords.check_queued(passwd, encoded)
        finally:  # settled even if the check failed: then as a failure, never a success
            settled = await run_in_threadpool(
                regulator.finish, attempt, key, address, verdict.ok, clock()
            )
            waiting.wake()
        count_bans(settled, key, address)
        if not verdict.ok:
            # One answer for unknown users and wrong passwords, so the page does
            # not reveal which user ids exist.
            audit(userid, address, "wrong")
            return login_page(401, pages.WRONG_CREDENTIALS, userid)
        if verdict.rehash is not None and encoded is not None:
            await run_in_threadpool(store.upgrade_hash, userid, encoded, verdict.rehash, clock())
        session_id = new_session_id()
        value, issued = signer.issue(session_id)
        await run_in_threadpool(
            store.create_session,
            session_id,
            userid,
            issued,
            issued + settings.session_ttl,
            address,
            request.headers.get("user-agent", ""),
        )
        audit(userid, address, "ok")
        secure = is_https(request)
        return Response(
            status_code=303,  # See Other: the browser GETs the target
            headers={
                "Location": "/secret.html",
                "Set-Cookie": session_cookie(
                    cookie_name(request), value, settings.session_ttl, secure
                ),
                **NO_STORE,
            },
        )

    async def admit(userid: str, address: str) -> Attempt | None:
        """Ask the regulator until it admits or refuses; None if that takes too long."""
        deadline = time.monotonic() + MAX_ADMISSION_WAIT
        while True:
            attempt = await run_in_threadpool(regulator.begin, userid, address, clock())
            if not attempt.must_wait:
                return attempt
            if time.monotonic() > deadline:
                return None
            # Woken when a login here settles; the timeout covers other replicas' logins.
            await waiting.wait(0.1)

    def banned(attempt: Attempt, userid: str, address: str) -> Response:
        assert attempt.banned_until is not None
        count_bans(attempt, userid[:64], address)
        audit(userid, address, "banned")
        retry_after = max(math.ceil(attempt.banned_until - clock()), 1)
        # 429 Too Many Requests with Retry-After (RFC 6585 section 4, RFC 9110 10.2.3).
        return login_page(
            429, pages.banned_message(retry_after), userid, **{"Retry-After": str(retry_after)}
        )

    def count_bans(attempt: Attempt, userid: str, address: str) -> None:
        for kind in attempt.new_bans:
            metrics.bans.labels(kind).inc()
            subject = userid if kind == "user" else address
            log.warning(
                "ban %s=%r for %d s after %d failed logins",
                kind,
                subject,
                settings.login_ban_time,
                settings.login_max_retries,
            )

    async def verify(request: Request) -> Response:
        session = await current_session(request)
        if isinstance(session, str):
            metrics.verifications.labels(session).inc()
            return Response(status_code=401, headers={"X-Auth-Reason": session, **NO_STORE})
        metrics.verifications.labels("ok").inc()
        return Response(
            status_code=204,
            headers={
                "X-Auth-User": session.userid,
                "X-Auth-Seconds-Left": str(session.seconds_left),
                **NO_STORE,
            },
        )

    async def cookie_page(request: Request) -> Response:
        session = await current_session(request)
        if isinstance(session, str):
            ended = session in ("expired", "revoked")
            return html(pages.forbidden_page(ended), 403)
        return html(pages.cookie_page(session.userid, session.seconds_left))

    async def logout(request: Request) -> Response:
        if cross_site(request):
            return html(pages.forbidden_page(), 403)
        form = await read_form(request)
        everywhere = form is not None and form.get("everywhere") == "1"
        headers = {
            "Location": "/",
            # Max-Age=0 tells the browser to delete the cookie now (RFC 6265 5.2.2).
            "Set-Cookie": session_cookie(cookie_name(request), "", 0, is_https(request)),
            **NO_STORE,
        }
        session = await current_session(request)
        if isinstance(session, Current):
            # The store is what makes logout real: a copied cookie is refused from now
            # on (the proxy drops its cached verdict as this response passes through).
            if everywhere:
                await run_in_threadpool(store.revoke_user_sessions, session.userid, clock())
                headers["X-Auth-Revoked-User"] = session.userid
                metrics.logouts.labels("everywhere").inc()
            else:
                await run_in_threadpool(store.revoke_session, session.session_id, clock())
                metrics.logouts.labels("session").inc()
            log.info("logout user=%r everywhere=%s", session.userid, int(everywhere))
        return Response(status_code=303, headers=headers)

    async def healthz(request: Request) -> Response:
        return PlainTextResponse("ok", headers=NO_STORE)

    async def readyz(request: Request) -> Response:
        try:
            await run_in_threadpool(store.ping)
        except StoreError as exc:
            return PlainTextResponse(f"store down: {exc}\n", status_code=503, headers=NO_STORE)
        return PlainTextResponse("ok", headers=NO_STORE)

    async def metrics_endpoint(request: Request) -> Response:
        body = await run_in_threadpool(metrics.exposition)
        return Response(
            body, headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8", **NO_STORE}
        )

    async def store_down(request: Request, exc: Exception) -> Response:
        log.error("store error: %s", exc)
        return PlainTextResponse(
            "The auth store is unavailable; try again shortly.\n", 503, headers=NO_STORE
        )

    async def purge_forever() -> None:
        while True:
            await asyncio.sleep(PURGE_INTERVAL)
            try:
                now = clock()
                dropped = await run_in_threadpool(store.purge, now, now - settings.login_find_time)
            except StoreError as exc:
                log.warning("purge failed: %s", exc)
                continue
            if any(dropped.values()):
                log.info("purged %s", " ".join(f"{k}={v}" for k, v in dropped.items()))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        purger = asyncio.create_task(purge_forever())
        try:
            yield
        finally:
            purger.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await purger
            passwords.close()
            store.close()

    routes = [
        Route("/login", login, methods=["POST"], max_body_size=MAX_FORM_BODY),
        Route("/verify", verify, methods=["GET"]),
        Route("/cookie.html", cookie_page, methods=["GET"]),  # GET routes also answer HEAD
        Route("/logout", logout, methods=["POST"], max_body_size=MAX_FORM_BODY),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics_endpoint, methods=["GET"]),
    ]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(Gate, token=settings.internal_token)],
        exception_handlers={StoreError: store_down},
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.store = store
    app.state.metrics = metrics
    return app
