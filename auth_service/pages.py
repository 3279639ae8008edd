"""HTML pages, from the small templates in templates/ filled with string.Template.

Every value put into a page goes through html.escape; the templates themselves
are trusted. No template engine: four pages do not need one. login.html is a
whole page, kept the same as content_service/site/index.html; the others share base.html.
"""

from __future__ import annotations

import html
from functools import cache
from pathlib import Path
from string import Template

TEMPLATES = Path(__file__).resolve().parent / "templates"

WRONG_CREDENTIALS = "Wrong user ID or password."
MISSING_FIELDS = "Please enter both a user ID and a password."
UNREADABLE_FORM = "The login form could not be read. Please try again."


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


def cookie_page(userid: str, seconds_left: int) -> str:
    """Greets the user and counts the session's remaining seconds down."""
    content = _template("cookie.html").substitute(
        userid=html.escape(userid), seconds_left=int(seconds_left)
    )
    return _page("Your session", content)


def forbidden_page() -> str:
    return _page("Not logged in", _template("forbidden.html").substitute())
