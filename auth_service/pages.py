"""HTML pages, from the small templates in templates/ filled with string.Template.

Every value put into a page goes through html.escape; the templates themselves
are trusted. No template engine: four pages do not need one. login.html is a
whole page, kept the same as content_service/site/index.html; the others share base.html.
The cookie page's one script is inlined and allowed by its hash in the CSP (`SCRIPTS`).
"""

from __future__ import annotations

import html
from functools import cache
from pathlib import Path
from string import Template

from auth_service.security import script_hash

TEMPLATES = Path(__file__).resolve().parent / "templates"

WRONG_CREDENTIALS = "Wrong user ID or password."
MISSING_FIELDS = "Please enter both a user ID and a password."
UNREADABLE_FORM = "The login form could not be read. Please try again."
BUSY = "Too many logins at once right now. Please try again in a moment."
CROSS_SITE = "This form was sent from another site, so it was refused. Log in here."
NOT_LOGGED_IN = "Your session cookie is missing or invalid."
SESSION_ENDED = "Your session has expired; log in again."


@cache
def _template(name: str) -> Template:
    return Template((TEMPLATES / name).read_text(encoding="utf-8"))


def _page(title: str, content: str) -> str:
    return _template("base.html").substitute(title=html.escape(title), content=content)


def login_page(error: str | None = None, userid: str | None = None) -> str:
    """The login page, with an error message above the form if given.

    The same page as the content service's index.html (login.html mirrors it), so a
    failed login looks like the page the user came from plus the alert. A user ID
    typed before is kept and the cursor goes to the password, the field to retype.
    """
    error_html = _template("error.html").substitute(message=html.escape(error)) if error else ""
    return _template("login.html").substitute(
        error=error_html,
        userid_value=f' value="{html.escape(userid)}"' if userid else "",
        userid_focus="" if userid else " autofocus",
        passwd_focus=" autofocus" if userid else "",
    )


def banned_message(seconds: int) -> str:
    minutes, rest = divmod(max(seconds, 1), 60)
    wait = f"{minutes} min {rest} s" if minutes else f"{rest} s"
    return (
        "Too many failed logins for this user ID or from this address. "
        f"Logins are paused: try again in {wait}."
    )


COUNTDOWN_SCRIPT = (TEMPLATES / "countdown.js").read_text(encoding="utf-8")
SCRIPTS = script_hash(COUNTDOWN_SCRIPT)  # the CSP script-src of every page


def cookie_page(userid: str, seconds_left: int) -> str:
    """Greets the user and counts the session's remaining seconds down."""
    content = _template("cookie.html").substitute(
        userid=html.escape(userid), seconds_left=int(seconds_left), script=COUNTDOWN_SCRIPT
    )
    return _page("Your session", content)


def forbidden_page(ended: bool = False) -> str:
    """No session: never had one, or it expired or was revoked (`ended`)."""
    title = "Session ended" if ended else "Not logged in"
    message = SESSION_ENDED if ended else NOT_LOGGED_IN
    return _page(title, _template("forbidden.html").substitute(title=title, message=message))
