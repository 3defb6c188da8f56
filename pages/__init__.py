"""The pages that emailed links open: set a password, reset it, accept an invitation.

A package of its own rather than part of `schema/`: these are HTML routes for people, not GraphQL, and
they are clients of the API like any other (their script calls `/graphql` with fetch from the browser),
so nothing here reaches into resolvers or models. They are served in production too. The exception is
the page of an approval email's links (`approval.py`): it shows the order and decides on the server.

The token stays where the link put it: the page holds it in a hidden field (autoescaped) and its
script drops it from the address bar and history on load. Script and styles are files served by the
app, so the pages carry a Content-Security-Policy without 'unsafe-inline'; `Referrer-Policy:
no-referrer` keeps the token out of any Referer header, and `no-store` out of caches.
"""

from __future__ import annotations

from dataclasses import dataclass

from jinja2 import Environment, PackageLoader
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

ASSETS_PATH = "/pages-assets"

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; "
        "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}

_templates = Environment(loader=PackageLoader("pages", "templates"), autoescape=True, auto_reload=False)


@dataclass(frozen=True)
class PasswordPage:
    """The words that tell a welcome (set password) link from a reset link; the form is the same."""

    title: str
    intro: str
    submit: str
    done: str
    expired: str


SET_PASSWORD = PasswordPage(
    title="Choose your password",
    intro="An account on Procura was made for you. Choose the password you will sign in with.",
    submit="Set password",
    done="Your password is set. Sign in to Procura with your email address and this password.",
    expired="Ask for a new link with “Forgot password” where you sign in to Procura.",
)
RESET_PASSWORD = PasswordPage(
    title="Choose a new password",
    intro="Choose a new password for your Procura account.",
    submit="Change password",
    done="Your password is changed, and you are signed out everywhere. Sign in with the new password.",
    expired="Ask for a new link with “Forgot password” where you sign in to Procura.",
)


def render_page(template: str, *, status_code: int = 200, **context) -> HTMLResponse:
    """A page with the pages' security headers (pages.approval renders its own context)."""
    html = _templates.get_template(template).render(assets=ASSETS_PATH, **context)
    return HTMLResponse(html, status_code=status_code, headers=SECURITY_HEADERS)


def _render(template: str, request: Request, **context) -> HTMLResponse:
    token = request.query_params.get("token", "")
    html = _templates.get_template(template).render(token=token, assets=ASSETS_PATH, **context)
    return HTMLResponse(html, headers=SECURITY_HEADERS)


async def set_password(request: Request) -> HTMLResponse:
    return _render("password.html", request, page=SET_PASSWORD)


async def reset_password(request: Request) -> HTMLResponse:
    return _render("password.html", request, page=RESET_PASSWORD)


async def accept_invitation(request: Request) -> HTMLResponse:
    return _render("accept_invitation.html", request)


def routes() -> list[BaseRoute]:
    """The link pages and their script and styles (`StaticFiles(packages=...)` works from an installed wheel)."""
    from pages import approval  # it renders with render_page, defined above

    return [
        Route("/approval", approval.open_link, methods=["GET"]),  # HEAD too (Starlette adds it to GET)
        Route("/approval", approval.confirm, methods=["POST"]),
        Route("/set-password", set_password, methods=["GET"]),
        Route("/reset-password", reset_password, methods=["GET"]),
        Route("/accept-invitation", accept_invitation, methods=["GET"]),
        Mount(ASSETS_PATH, StaticFiles(packages=[("pages", "static")]), name="pages-assets"),
    ]
