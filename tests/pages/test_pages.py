"""The pages of emailed links over HTTP: served (in production too), their security headers, their
assets served by the app itself, and a hostile query string escaped. The forms themselves are driven
in headless Chromium by tests/browser/test_link_pages.py."""

from __future__ import annotations

import re

import pytest

from tests.conftest import test_settings as make_settings

PAGES = {
    "/set-password": ("Choose your password", ["newPassword"]),
    "/reset-password": ("Choose a new password", ["newPassword"]),
    "/accept-invitation": ("Accept your invitation", ["firstName", "lastName", "password"]),
}
SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; "
        "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "x-content-type-options": "nosniff",
    "cache-control": "no-store",
}
TOKEN = "Zm9vYmFyLWJhei1xdXV4LTEyMzQ1Njc4OTAtYWJjZGVmZ2g"
HOSTILE = "\"'><script>alert(1)</script><img src=x onerror=alert(2)>"
HOSTILE_ESCAPED = "&#34;&#39;&gt;&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;"


@pytest.mark.parametrize("path", PAGES)
async def test_a_link_page_is_served_with_its_form_and_security_headers(client, path):
    heading, fields = PAGES[path]

    response = await client.get(path, params={"token": TOKEN})

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert {name: response.headers.get(name) for name in SECURITY_HEADERS} == SECURITY_HEADERS
    html = response.text
    assert f"<h1>{heading}</h1>" in html
    assert f'<input type="hidden" name="token" value="{TOKEN}">' in html
    for field in fields:  # every input has a label tied to it
        assert f'<label for="{field}">' in html
        assert f'<input id="{field}" name="{field}"' in html
    # Script and styles are the app's own files: no inline code, nothing from elsewhere.
    assert re.findall(r"<script[^>]*>", html) == ['<script src="/pages-assets/pages.js" defer>']
    assert re.findall(r"<link[^>]*>", html) == ['<link rel="stylesheet" href="/pages-assets/pages.css">']
    assert " style=" not in html and "<style" not in html
    assert re.search(r"<[^>]*\son\w+=", html) is None  # no inline event handlers either
    assert "//" not in html  # no absolute or protocol-relative address


@pytest.mark.parametrize("path", PAGES)
async def test_a_hostile_query_string_is_escaped(client, path):
    response = await client.get(path, params={"token": HOSTILE, "x": "<b>"})

    assert response.status_code == 200
    html = response.text
    assert f'<input type="hidden" name="token" value="{HOSTILE_ESCAPED}">' in html
    assert "<script>alert" not in html and "<img" not in html and "onerror=alert(2)>" not in html
    assert "<b>" not in html and "&lt;b&gt;" not in html  # other parameters are not shown at all


@pytest.mark.parametrize("path", PAGES)
async def test_a_link_without_a_token_says_so_and_shows_no_form(client, path):
    response = await client.get(path)

    assert response.status_code == 200
    assert response.headers["referrer-policy"] == "no-referrer"
    assert "This link is incomplete. Open it again from your email" in response.text
    assert "<form" not in response.text


@pytest.mark.parametrize("path", PAGES)
async def test_a_link_page_takes_no_post(client, path):
    # Without its script the form would post itself here: nothing is done with what it carries.
    response = await client.post(path, params={"token": TOKEN}, data={"newPassword": "a-long-passphrase"})

    assert response.status_code == 405
    assert "a-long-passphrase" not in response.text


@pytest.mark.parametrize(("asset", "content_type", "needle"), [
    ("pages.js", "text/javascript; charset=utf-8", 'history.replaceState(null, "", window.location.pathname)'),
    ("pages.css", "text/css; charset=utf-8", ".card {"),
])
async def test_the_pages_assets_are_served_by_the_app(client, asset, content_type, needle):
    response = await client.get(f"/pages-assets/{asset}")

    assert response.status_code == 200
    assert response.headers["content-type"] == content_type
    assert needle in response.text


async def test_an_unknown_asset_is_not_found(client):
    assert (await client.get("/pages-assets/../settings.py")).status_code == 404
    assert (await client.get("/pages-assets/missing.js")).status_code == 404


class TestInProduction:
    """The pages are for people who got an email: unlike GraphiQL, production serves them."""

    @pytest.fixture
    def settings(self, database_url):
        return make_settings(database_url, procura_env="production")

    @pytest.mark.parametrize("path", PAGES)
    async def test_the_pages_and_their_assets_are_served(self, client, path):
        page = await client.get(path, params={"token": TOKEN})
        script = await client.get("/pages-assets/pages.js")

        assert (page.status_code, script.status_code) == (200, 200)
        assert page.headers["content-security-policy"] == SECURITY_HEADERS["content-security-policy"]
        assert (await client.get("/graphiql-assets/graphiql.min.js")).status_code == 404
