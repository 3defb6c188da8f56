"""Emailed links end to end in headless Chromium: the API sends the mail (real SMTP), the test takes the
link from the message, opens it, fills the form in as a person would, and then signs in through the API.

Run with `make browser-test` (or `PROCURA_BROWSER_TEST=1 .venv/bin/python -m pytest tests/browser`).
"""

from __future__ import annotations

import json
import secrets
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = PROJECT_ROOT / "screenshots"
ADMIN_EMAIL, DEMO_PASSWORD = "admin@demo.procura.test", "demo-password-1"
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}
LOCAL_SCHEMES = {"data", "blob", "about", "chrome-error"}
TIMEOUT_MS = 20_000

LOGIN = """mutation($email: String!, $password: String!) { login(input: {email: $email, password: $password}) {
  __typename ... on AuthPayload { accessToken } ... on MutationError { code message } } }"""
USER_RESULT = "{ __typename ... on UserPayload { user { email status } } ... on MutationError { code message field } }"
CREATE_USER = f"mutation($input: CreateUserInput!) {{ createUser(input: $input) {USER_RESULT} }}"
INVITE_USER = f"mutation($input: InviteUserInput!) {{ inviteUser(input: $input) {USER_RESULT} }}"
REQUEST_RESET = """mutation($email: String!) { requestPasswordReset(input: {email: $email}) {
  __typename ... on AcceptedPayload { message } ... on MutationError { code message } } }"""
ME = "{ me { email firstName lastName user { status group { id } } } }"


def graphql(server, query: str, variables: dict | None = None, token: str | None = None) -> dict:
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    request = urllib.request.Request(f"{server.base_url}/graphql", data=body, headers=headers, method="POST")
    with urllib.request.urlopen(request, timeout=30) as response:
        answer = json.loads(response.read())
    assert "errors" not in answer, answer
    return answer["data"]


def sign_in(server, email: str, password: str) -> dict:
    return graphql(server, LOGIN, {"email": email, "password": password})["login"]


def admin_session(server) -> tuple[str, str]:
    """An access token of the demo administrator and the id of their group."""
    login = sign_in(server, ADMIN_EMAIL, DEMO_PASSWORD)
    assert login["__typename"] == "AuthPayload", login
    token = login["accessToken"]
    return token, graphql(server, ME, token=token)["me"]["user"]["group"]["id"]


def new_address(kind: str) -> str:
    return f"{kind}-{secrets.token_hex(4)}@example.com"


class Watched:
    """A browser tab whose requests and console errors are recorded (a CSP violation is a console error)."""

    def __init__(self, page) -> None:
        self.page, self.requests, self.errors = page, [], []
        page.on("request", lambda request: self.requests.append(request.url))
        page.on("console", lambda message: message.type == "error" and self.errors.append(message.text))
        page.on("pageerror", lambda error: self.errors.append(str(error)))

    def check_clean(self) -> None:
        assert self.errors == [], f"browser console errors: {self.errors}"
        foreign = [url for url in self.requests
                   if urlsplit(url).scheme not in LOCAL_SCHEMES and urlsplit(url).hostname not in LOCAL_HOSTS]
        assert foreign == [], f"requests left localhost: {foreign}"


@pytest.fixture
def tab(browser_context, server) -> Iterator[Watched]:
    page = browser_context.new_page()
    page.set_viewport_size({"width": 1024, "height": 768})
    watched = Watched(page)
    yield watched
    page.close()


def open_link(tab: Watched, server, link: str, path: str) -> None:
    from playwright.sync_api import expect

    assert link.startswith(f"{server.base_url}/{path}?token="), link  # PUBLIC_URL follows the served port
    response = tab.page.goto(link, wait_until="load")
    assert response is not None and response.status == 200
    assert response.headers["referrer-policy"] == "no-referrer"
    # The script read the token from the page and dropped it from the address bar and history.
    expect(tab.page).to_have_url(f"{server.base_url}/{path}", timeout=TIMEOUT_MS)
    expect(tab.page.locator("form.link-form")).to_be_visible(timeout=TIMEOUT_MS)


def fits(page, width: int) -> None:
    """Nothing is wider than the window: no sideways scrolling, the button is fully on screen."""
    page.set_viewport_size({"width": width, "height": 700 if width < 500 else 768})
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    for selector in ("h1", "form.link-form button[type=submit]", "form.link-form input[type=password]"):
        box = page.locator(selector).bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width, (selector, box)


def screenshot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / name), full_page=True)


def test_a_welcome_link_sets_the_password(server, mailbox, tab):
    from playwright.sync_api import expect

    token, group = admin_session(server)
    email, password = new_address("welcome"), "a-long-enough-passphrase"
    created = graphql(server, CREATE_USER, {"input": {
        "firstName": "Wenche", "lastName": "Welkommen", "email": email, "groupId": group, "role": "CUSTOMER",
    }}, token=token)["createUser"]
    assert created == {"__typename": "UserPayload", "user": {"email": email, "status": "ACTIVE"}}
    link = mailbox.link(email, "set-password")
    page = tab.page

    open_link(tab, server, link, "set-password")
    expect(page.get_by_role("heading", level=1)).to_have_text("Choose your password")
    fits(page, 320)
    screenshot(page, "set-password-320.png")
    fits(page, 1024)
    screenshot(page, "set-password-1024.png")

    # A weak password: the API's typed error is shown at the field, in words, and the form stays.
    page.get_by_label("New password").fill("short")
    page.get_by_role("button", name="Set password").click()
    error = page.locator("#newPassword-error")
    expect(error).to_have_text("Choose a stronger password: use at least 10 characters.", timeout=TIMEOUT_MS)
    expect(page.get_by_label("New password")).to_have_attribute("aria-invalid", "true")
    screenshot(page, "set-password-weak.png")
    assert sign_in(server, email, "short")["code"] == "INVALID_CREDENTIALS"

    page.get_by_label("Show password").check()
    expect(page.get_by_label("New password")).to_have_attribute("type", "text")
    page.get_by_label("New password").fill(password)
    page.get_by_role("button", name="Set password").click()
    expect(page.get_by_role("status")).to_have_text(
        "Your password is set. Sign in to Procura with your email address and this password.", timeout=TIMEOUT_MS)
    expect(page.locator("form.link-form")).to_be_hidden()
    expect(error).to_be_hidden()
    screenshot(page, "set-password-done.png")

    login = sign_in(server, email, password)
    assert login["__typename"] == "AuthPayload", login
    me = graphql(server, ME, token=login["accessToken"])["me"]
    assert (me["email"], me["firstName"], me["user"]["status"]) == (email, "Wenche", "ACTIVE")

    # The same link again: spent. The page says so in words and offers no form.
    open_link(tab, server, link, "set-password")
    page.get_by_label("New password").fill("someone-elses-passphrase")
    page.get_by_role("button", name="Set password").click()
    expect(page.get_by_role("alert")).to_have_text(
        "This link has expired or has already been used. "
        "Ask for a new link with “Forgot password” where you sign in to Procura.", timeout=TIMEOUT_MS)
    expect(page.locator("form.link-form")).to_be_hidden()
    screenshot(page, "set-password-spent.png")
    assert sign_in(server, email, "someone-elses-passphrase")["code"] == "INVALID_CREDENTIALS"
    assert sign_in(server, email, password)["__typename"] == "AuthPayload"
    tab.check_clean()


def test_a_reset_link_changes_the_password(server, mailbox, tab):
    from playwright.sync_api import expect

    email, password = "customer@demo.procura.test", "kari-has-a-new-passphrase"
    before = sign_in(server, email, DEMO_PASSWORD)
    assert before["__typename"] == "AuthPayload"
    accepted = graphql(server, REQUEST_RESET, {"email": email})["requestPasswordReset"]
    assert accepted["__typename"] == "AcceptedPayload"
    link = mailbox.link(email, "reset-password")
    page = tab.page

    open_link(tab, server, link, "reset-password")
    expect(page.get_by_role("heading", level=1)).to_have_text("Choose a new password")
    fits(page, 320)
    screenshot(page, "reset-password-320.png")
    fits(page, 1024)

    page.get_by_label("New password").fill("aaaaaaaaaaaaaa")
    page.get_by_role("button", name="Change password").click()
    expect(page.locator("#newPassword-error")).to_have_text(
        "Choose a stronger password: use a less repetitive password.", timeout=TIMEOUT_MS)

    page.get_by_label("New password").fill(password)
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_role("status")).to_have_text(
        "Your password is changed, and you are signed out everywhere. Sign in with the new password.",
        timeout=TIMEOUT_MS)

    assert sign_in(server, email, DEMO_PASSWORD)["code"] == "INVALID_CREDENTIALS"
    login = sign_in(server, email, password)
    assert login["__typename"] == "AuthPayload", login
    assert graphql(server, ME, token=login["accessToken"])["me"]["email"] == email
    tab.check_clean()


def test_an_invitation_link_is_accepted(server, mailbox, tab):
    from playwright.sync_api import expect

    token, group = admin_session(server)
    email, password = new_address("invitee"), "ingrid-chooses-this-one"
    invited = graphql(server, INVITE_USER, {"input": {"email": email, "groupId": group, "role": "ORDER_APPROVER"}},
                      token=token)["inviteUser"]
    assert invited == {"__typename": "UserPayload", "user": {"email": email, "status": "INVITED"}}
    link = mailbox.link(email, "accept-invitation")
    page = tab.page

    open_link(tab, server, link, "accept-invitation")
    expect(page.get_by_role("heading", level=1)).to_have_text("Accept your invitation")
    fits(page, 320)
    screenshot(page, "accept-invitation-320.png")
    fits(page, 1024)
    screenshot(page, "accept-invitation-1024.png")

    # No first name: the API names the field, the page marks it.
    page.get_by_label("Last name").fill("Invitert")
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Accept invitation").click()
    expect(page.locator("#firstName-error")).to_have_text("This field is required.", timeout=TIMEOUT_MS)
    expect(page.get_by_label("First name")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("First name")).to_be_focused()

    page.get_by_label("First name").fill("Ingrid")
    page.get_by_role("button", name="Accept invitation").click()
    expect(page.get_by_role("status")).to_have_text(
        f"You have joined. Sign in to Procura as {email} with your password.", timeout=TIMEOUT_MS)
    expect(page.locator("#firstName-error")).to_be_hidden()

    login = sign_in(server, email, password)
    assert login["__typename"] == "AuthPayload", login
    me = graphql(server, ME, token=login["accessToken"])["me"]
    assert (me["email"], me["firstName"], me["lastName"]) == (email, "Ingrid", "Invitert")
    assert me["user"]["status"] == "ACTIVE"
    tab.check_clean()
