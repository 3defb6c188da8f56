"""An approval email's Approve and Reject links in headless Chromium: an order is placed through the API, the
approval email arrives by SMTP, the test opens its link, reads the order, confirms, and sees the result; a
rejection needs a reason (the browser's validation, and the server's when that is bypassed).

Run with `make browser-test` (or `PROCURA_BROWSER_TEST=1 .venv/bin/python -m pytest tests/browser`).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from http import HTTPStatus

import pytest

from tests.browser.test_link_pages import (
    DEMO_PASSWORD,
    TIMEOUT_MS,
    Watched,
    admin_session,
    graphql,
    screenshot,
    sign_in,
)

APPROVER_EMAIL, BUYER_EMAIL = "approver@demo.procura.test", "manager@demo.procura.test"
PRODUCTS = "{ products(first: 100) { edges { node { id unitPrice { amount } } } } }"
ADD = """mutation($input: AddToCartInput!) { addToCart(input: $input) {
  __typename ... on MutationError { code message } } }"""
SUBMIT = """mutation($input: SubmitOrderInput!) { submitOrder(input: $input) {
  __typename ... on OrderPayload { order { id number status } } ... on MutationError { code message } } }"""
ORDER = "query($id: ID!) { order(id: $id) { status } }"


@pytest.fixture
def tab(browser_context, server) -> Iterator[Watched]:
    page = browser_context.new_page()
    page.set_viewport_size({"width": 1024, "height": 768})
    yield Watched(page)
    page.close()


def waiting_order(server, mailbox) -> tuple[dict, dict[str, str], str]:
    """The demo manager places an order above the demo rule's 2 000 NOK: the order, the Approve and Reject links
    of its approval email to the demo approver, and an administrator's access token (to follow the order)."""
    token, _ = admin_session(server)
    login = sign_in(server, BUYER_EMAIL, DEMO_PASSWORD)
    assert login["__typename"] == "AuthPayload", login
    buyer = login["accessToken"]
    before = len([e for e in mailbox.envelopes if e.rcpt_tos == [APPROVER_EMAIL]])
    products = [e["node"] for e in graphql(server, PRODUCTS, token=buyer)["products"]["edges"]]
    product = max(products, key=lambda p: float(p["unitPrice"]["amount"]))
    quantity = int(2_500 // float(product["unitPrice"]["amount"])) + 1
    added = graphql(server, ADD, {"input": {"productId": product["id"], "quantity": quantity}}, token=buyer)
    assert added["addToCart"]["__typename"] == "OrderPayload", added
    submitted = graphql(server, SUBMIT, {"input": {"idempotencyKey": secrets.token_hex(8)}}, token=buyer)
    order = submitted["submitOrder"]
    assert order["__typename"] == "OrderPayload" and order["order"]["status"] == "PENDING_APPROVAL", order
    message = mailbox.wait_for(APPROVER_EMAIL, before + 1)[-1]
    text = message.get_body(preferencelist=("plain",)).get_content()
    links = dict(re.findall(r"^(Approve|Reject): +(\S+/approval\?token=\S+)", text, re.M))
    assert set(links) == {"Approve", "Reject"}, text
    assert all(link.startswith(f"{server.base_url}/approval?token=") for link in links.values())
    return order["order"], links, token


def test_an_approve_link_from_the_email_shows_the_order_and_approves_on_confirmation(server, mailbox, tab):
    from playwright.sync_api import expect

    order, links, token = waiting_order(server, mailbox)
    page = tab.page
    response = page.goto(links["Approve"], wait_until="load")
    assert response is not None and response.status == 200
    assert response.headers["referrer-policy"] == "no-referrer" and response.headers["cache-control"] == "no-store"
    expect(page).to_have_url(f"{server.base_url}/approval", timeout=TIMEOUT_MS)  # the token left the address bar
    expect(page.get_by_role("heading", level=1)).to_have_text("Approve order")
    waiting = re.compile(rf"^Order {order['number']} of [0-9]+\.[0-9]{{2}} NOK waits for your decision")
    expect(page.get_by_text(waiting)).to_be_visible()
    expect(page.get_by_text("Orders above 2 000 NOK, tier 1")).to_be_visible()
    button = page.get_by_role("button", name=f"Approve order {order['number']}")
    expect(button).to_be_visible()
    # Opening it decided nothing.
    assert graphql(server, ORDER, {"id": order["id"]}, token=token)["order"]["status"] == "PENDING_APPROVAL"
    fits_page(page, 320)
    screenshot(page, "approval-link-320.png")
    fits_page(page, 1024)
    screenshot(page, "approval-link-1024.png")

    page.get_by_label("Comment (optional)").fill("Looks right")
    button.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Approved", timeout=TIMEOUT_MS)
    expect(page.get_by_role("status")).to_have_text(f"You approved order {order['number']}.")
    screenshot(page, "approval-link-approved.png")
    # Tier 1 is decided; the demo rule's tier 2 waits for the administrators now.
    assert graphql(server, ORDER, {"id": order["id"]}, token=token)["order"]["status"] == "PENDING_APPROVAL"

    # The same link again: the page says it was used, and offers no form.
    page.goto(links["Approve"], wait_until="load")
    expect(page.get_by_role("heading", level=1)).to_have_text("Already decided", timeout=TIMEOUT_MS)
    expect(page.get_by_role("alert")).to_contain_text(f"You already approved order {order['number']}")
    expect(page.locator("form")).to_have_count(0)
    forgive_document_status(tab, 409)
    tab.check_clean()


def test_a_reject_link_requires_a_reason_in_the_browser_and_on_the_server(server, mailbox, tab):
    from playwright.sync_api import expect

    order, links, token = waiting_order(server, mailbox)
    page = tab.page
    page.goto(links["Reject"], wait_until="load")
    expect(page.get_by_role("heading", level=1)).to_have_text("Reject order", timeout=TIMEOUT_MS)
    reason = page.get_by_label("Reason for rejecting (required)")
    button = page.get_by_role("button", name=f"Reject order {order['number']}")

    # The browser's validation: an empty reason is not sent.
    button.click()
    assert reason.evaluate("element => element.validity.valueMissing") is True
    expect(page.get_by_role("heading", level=1)).to_have_text("Reject order")
    assert graphql(server, ORDER, {"id": order["id"]}, token=token)["order"]["status"] == "PENDING_APPROVAL"

    # Past the browser's check (a blank reason), the server refuses it and shows the form again.
    reason.fill("   ")
    reason.evaluate("element => element.removeAttribute('required')")
    button.click()
    expect(page.locator("#reason-error")).to_have_text("Give a reason for the rejection.", timeout=TIMEOUT_MS)
    expect(page.get_by_label("Reason for rejecting (required)")).to_have_attribute("aria-invalid", "true")
    assert graphql(server, ORDER, {"id": order["id"]}, token=token)["order"]["status"] == "PENDING_APPROVAL"
    screenshot(page, "approval-link-reason-required.png")

    page.get_by_label("Reason for rejecting (required)").fill("Not in this quarter's <plan> & budget")
    page.get_by_role("button", name=f"Reject order {order['number']}").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Rejected", timeout=TIMEOUT_MS)
    expect(page.get_by_role("status")).to_have_text(
        f"You rejected order {order['number']}. The buyer is told, with your reason.")
    assert graphql(server, ORDER, {"id": order["id"]}, token=token)["order"]["status"] == "REJECTED"
    forgive_document_status(tab, 422)
    tab.check_clean()


def forgive_document_status(tab, status: int) -> None:
    """Chromium reports a page served with an error status (409 already decided, 422 reason missing) as a console
    error; that status is the page's own answer. The page's assets never answer 409 or 422."""
    tab.errors = [error for error in tab.errors
                  if error != f"Failed to load resource: the server responded with a status of {status} "
                              f"({HTTPStatus(status).phrase})"]


def fits_page(page, width: int) -> None:
    """Nothing is wider than the window: no sideways scrolling, the button and the reason fully on screen."""
    page.set_viewport_size({"width": width, "height": 700 if width < 500 else 768})
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    for selector in ("h1", "form.decision-form button[type=submit]", "#reason"):
        box = page.locator(selector).bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width, (selector, box)
