"""The Starlette application: login, logout, the proxy's /verify and the cookie page."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Route

from auth_service import pages
from auth_service.config import Settings
from auth_service.sessions import COOKIE_NAME, Session, SessionManager, cookie_values
from auth_service.users import UserStore

# A login form is a few dozen bytes; anything much bigger is not one.
MAX_LOGIN_BODY = 16 * 1024

# Responses that depend on the session (or set it) must never be cached by a
# browser or an intermediary, or one user's page could be shown to another.
NO_STORE = {"Cache-Control": "no-store"}


def session_cookie(value: str, max_age: int) -> str:
    """The Set-Cookie value for the session (RFC 6265 section 4.1).

    Max-Age makes the browser drop it when the server will stop accepting it;
    Path=/ sends it with every request through the proxy; HttpOnly keeps it out
    of page scripts (section 4.1.2.6); SameSite=Lax stops it being sent on
    cross-site POSTs (CSRF) but keeps it on top-level links. No Secure attribute:
    Gatehouse is served over plain HTTP and Secure cookies would never be sent.
    Written by hand rather than with Response.set_cookie to get exactly this
    attribute order and spelling.
    """
    return f"{COOKIE_NAME}={value}; Max-Age={max_age}; Path=/; HttpOnly; SameSite=Lax"


def create_app(settings: Settings) -> Starlette:
    """Build the app; creates or refreshes the demo user if one is configured."""
    users = UserStore(settings.users_file)
    if settings.demo_enabled:
        users.ensure_user(settings.demo_userid, settings.demo_password)
    sessions = SessionManager(settings.secret_key, settings.session_ttl)

    def current_session(request: Request) -> Session | None:
        for value in cookie_values(request.headers.getlist("cookie")):
            if session := sessions.verify(value):
                return session
        return None

    def login_response(status: int, error: str, userid: str | None = None) -> HTMLResponse:
        page = pages.login_page(error, userid)
        return HTMLResponse(page, status_code=status, headers=NO_STORE)

    async def login(request: Request) -> Response:
        try:
            form = await request.form()
        except HTTPException as exc:
            if exc.status_code != 400:  # e.g. 413 from the body size limit
                raise
            return login_response(400, pages.UNREADABLE_FORM)
        userid, passwd = form.get("userid"), form.get("passwd")
        if isinstance(userid, UploadFile) or isinstance(passwd, UploadFile):
            return login_response(400, pages.UNREADABLE_FORM)
        if not userid or not passwd:
            return login_response(400, pages.MISSING_FIELDS, userid or None)
        # scrypt takes tens of milliseconds: keep it off the event loop.
        if not await run_in_threadpool(users.verify, userid, passwd):
            # One answer for unknown users and wrong passwords, so the page does
            # not reveal which user ids exist.
            return login_response(401, pages.WRONG_CREDENTIALS, userid)
        return Response(
            status_code=303,  # See Other: the browser GETs the target
            headers={
                "Location": "/secret.html",
                "Set-Cookie": session_cookie(sessions.issue(userid), settings.session_ttl),
                **NO_STORE,
            },
        )

    async def verify(request: Request) -> Response:
        session = current_session(request)
        if session is None:
            return Response(status_code=401, headers=NO_STORE)
        return Response(
            status_code=204,
            headers={
                "X-Auth-User": session.userid,
                "X-Auth-Seconds-Left": str(session.seconds_left),
                **NO_STORE,
            },
        )

    async def cookie_page(request: Request) -> Response:
        session = current_session(request)
        if session is None:
            return HTMLResponse(pages.forbidden_page(), status_code=403, headers=NO_STORE)
        return HTMLResponse(
            pages.cookie_page(session.userid, session.seconds_left), headers=NO_STORE
        )

    async def logout(request: Request) -> Response:
        # Max-Age=0 tells the browser to delete the cookie now (RFC 6265 section
        # 5.2.2). The signed value itself stays valid until its TTL runs out;
        # with a 30 s default that is accepted rather than keeping server state.
        return Response(
            status_code=303,
            headers={"Location": "/", "Set-Cookie": session_cookie("", 0), **NO_STORE},
        )

    async def healthz(request: Request) -> Response:
        return PlainTextResponse("ok", headers=NO_STORE)

    routes = [
        Route("/login", login, methods=["POST"], max_body_size=MAX_LOGIN_BODY),
        Route("/verify", verify, methods=["GET"]),
        Route("/cookie.html", cookie_page, methods=["GET"]),  # GET routes also answer HEAD
        Route("/logout", logout, methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
    ]
    app = Starlette(routes=routes)
    app.state.settings = settings
    app.state.users = users
    app.state.sessions = sessions
    return app
