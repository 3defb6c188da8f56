"""Company card purchases and refunds in `transactions` and its CSV export: listed at authorisation (approved
ones; declined never) and refund, outside the ledger (the balance moves with the invoice); the whole account's
for invoice:read holders, API clients with INVOICES_READ and operators, a cardholder's own card's otherwise."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, time, timedelta

from sqlalchemy import update

from models import ApiScope, CardPurchase, Role
from models.base import utcnow
from schema.relay import to_global_id
from tests.factories import create_member, error_code, operator
from tests.invoicing.card_rows import card_for, card_purchase, card_refund
from tests.schema.invoice_rows import LineSpec, create_invoice, create_order
from tests.schema.test_api_clients import new_client, state

ROLES = (Role.ADMIN, Role.MANAGER, Role.CUSTOMER, Role.ORDER_APPROVER, Role.ACCOUNTANT)
QUERY = """query($from: Date!, $to: Date!, $first: Int, $after: String, $companyId: ID) {
  transactions(from: $from, to: $to, first: $first, after: $after, companyId: $companyId) {
    edges { node { kind amount { amount } balance { amount } number reference orderId invoiceId } }
    pageInfo { hasNextPage endCursor } } }"""


def at(day, hour: int) -> datetime:
    return datetime.combine(day, time(hour), UTC)


async def cards_account(api, services):
    """A buyer's card (••••1111) with a purchase of 125.00, a declined one and a refund of 25.00 on the first; a
    colleague's card (••••2222) with 80.00, invoiced with 60.00 of other goods; an order approver's card (••••3333)
    with 40.00 at 0 % VAT; the buyer's own order of 100.00; and another company's card purchase."""
    tenant = await api.tenant(ROLES)
    other = await api.tenant([Role.CUSTOMER])
    colleague = await create_member(services, tenant.company_id, tenant.group_id, Role.CUSTOMER)
    start = utcnow().date() - timedelta(days=30)
    ids = {"start": start}
    buyer = tenant[Role.CUSTOMER].membership_id
    mine = await card_for(services, tenant.company_id, buyer, last4="1111")
    theirs = await card_for(services, tenant.company_id, colleague.membership_id, last4="2222")
    approver = await card_for(services, tenant.company_id, tenant[Role.ORDER_APPROVER].membership_id, last4="3333")
    ids["order"] = await create_order(services, tenant.company_id, tenant.group_id, buyer, submitted=at(start, 9),
                                      gross_minor=100_00, reference="mine")
    ids["mine"] = await card_purchase(services, mine, 125_00, at(start, 10), store_reference="Coop Mega Storo")
    await card_purchase(services, mine, 50_00, at(start, 11), status="declined")
    ids["theirs"] = await card_purchase(services, theirs, 80_00, at(start + timedelta(days=1), 8))
    ids["approver"] = await card_purchase(services, approver, 40_00, at(start + timedelta(days=2), 8), vat_rate=0)
    ids["refund"] = await card_refund(services, ids["mine"], 25_00, at(start + timedelta(days=3), 8))
    ids["invoice"] = await create_invoice(services, tenant.company_id, issued=start + timedelta(days=5),
                                          lines=[LineSpec(112_00)])  # 140.00
    async with services.db.transaction() as session:
        await session.execute(update(CardPurchase).where(CardPurchase.id == ids["theirs"])
                              .values(invoice_id=ids["invoice"]))
    await card_purchase(services, await card_for(services, other.company_id, other[Role.CUSTOMER].membership_id,
                                                 last4="9999"), 70_00, at(start, 10))
    return tenant, other, ids


async def transactions(api, token, start, **variables) -> dict:
    return (await api.query(QUERY, {"from": start.isoformat(), "to": utcnow().date().isoformat(), **variables},
                            token))["transactions"]


def summary(page: dict) -> list[tuple]:
    return [(e["node"]["kind"], e["node"]["number"], e["node"]["amount"]["amount"],
             e["node"]["balance"]["amount"] if e["node"]["balance"] else None) for e in page["edges"]]


WHOLE = [("PURCHASE", None, "100.00", "0.00"), ("CARD_PURCHASE", "•••• 1111", "125.00", "0.00"),
         ("CARD_PURCHASE", "•••• 2222", "80.00", "0.00"), ("CARD_PURCHASE", "•••• 3333", "40.00", "0.00"),
         ("CARD_REFUND", "•••• 1111", "-25.00", "0.00"), ("INVOICE", None, "140.00", "140.00")]


def whole(page: dict) -> list[tuple]:
    return [(kind, number if kind.startswith("CARD") else None, amount, balance)
            for kind, number, amount, balance in summary(page)]


async def test_the_whole_account_lists_every_card_purchase_and_refund_outside_the_ledger(api, services):
    tenant, _, ids = await cards_account(api, services)
    page = await transactions(api, tenant[Role.ADMIN].token, ids["start"])
    assert whole(page) == WHOLE
    nodes = [edge["node"] for edge in page["edges"]]
    assert (nodes[1]["reference"], nodes[1]["orderId"], nodes[1]["invoiceId"]) == ("Coop Mega Storo", None, None)
    assert nodes[2]["invoiceId"] == to_global_id("Invoice", ids["invoice"])  # the invoice it is on
    for role in (Role.MANAGER, Role.ACCOUNTANT):
        assert whole(await transactions(api, tenant[role].token, ids["start"])) == WHOLE, role
    _, invoices = await new_client(api, tenant[Role.ADMIN].token, ApiScope.INVOICES_READ)
    assert whole(await transactions(api, invoices, ids["start"])) == WHOLE
    staff = await operator(api)
    assert whole(await transactions(api, staff.token, ids["start"], companyId=tenant.gid)) == WHOLE
    # Page by page, the same entries.
    seen, after = [], None
    while True:
        page = await transactions(api, tenant[Role.ACCOUNTANT].token, ids["start"], first=1, after=after)
        seen += whole(page)
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == WHOLE


async def test_a_cardholder_sees_their_own_card_only(api, services):
    tenant, other, ids = await cards_account(api, services)
    mine = await transactions(api, tenant[Role.CUSTOMER].token, ids["start"])
    assert summary(mine)[1:] == [("CARD_PURCHASE", "•••• 1111", "125.00", None),
                                 ("CARD_REFUND", "•••• 1111", "-25.00", None)]
    assert summary(mine)[0][0] == "PURCHASE"  # and their own order, as before
    # An order approver places no orders, but holds a card: its purchases, nothing else.
    approver = await transactions(api, tenant[Role.ORDER_APPROVER].token, ids["start"])
    assert summary(approver) == [("CARD_PURCHASE", "•••• 3333", "40.00", None)]
    # The other company's holder: their own card, never this company's.
    assert summary(await transactions(api, other[Role.CUSTOMER].token, ids["start"])) == [
        ("CARD_PURCHASE", "•••• 9999", "70.00", None)]


async def test_whole_account_readers_without_invoice_read_see_no_cards_and_the_cardless_are_refused(api, services):
    tenant = await api.tenant([Role.ADMIN, Role.ORDER_APPROVER])
    start = utcnow().date() - timedelta(days=3)
    card = await card_for(services, tenant.company_id, tenant[Role.ADMIN].membership_id)
    await card_purchase(services, card, 10_00, at(start, 10))
    _, orders = await new_client(api, tenant[Role.ADMIN].token, ApiScope.ORDERS_READ)
    assert summary(await transactions(api, orders, start)) == []
    before = await state(services)
    variables = {"from": start.isoformat(), "to": utcnow().date().isoformat()}
    assert error_code(await api.raw(QUERY, variables, tenant[Role.ORDER_APPROVER].token)) == "FORBIDDEN"
    assert await state(services) == before


async def test_the_csv_export_lists_card_purchases_and_refunds_for_whom_the_query_does(api, services, client):
    tenant, _, ids = await cards_account(api, services)
    params = {"from": ids["start"].isoformat(), "to": utcnow().date().isoformat()}

    async def rows(token: str) -> list[tuple[str, ...]]:
        response = await client.get("/export/transactions.csv", params=params,
                                    headers={"authorization": f"Bearer {token}"})
        assert response.status_code == 200, response.text
        return [(r[2], r[3], r[4], r[5], r[6]) for r in list(csv.reader(io.StringIO(response.text)))[1:]]

    assert [row for row in await rows(tenant[Role.ACCOUNTANT].token) if row[0].startswith("card")] == [
        ("card_purchase", "•••• 1111", "Coop Mega Storo", "125.00", "0.00"),
        ("card_purchase", "•••• 2222", "Coop Mega Storo", "80.00", "0.00"),
        ("card_purchase", "•••• 3333", "Coop Mega Storo", "40.00", "0.00"),
        ("card_refund", "•••• 1111", "Coop Mega Storo", "-25.00", "0.00")]
    assert [row[0] for row in await rows(tenant[Role.CUSTOMER].token)] == ["purchase", "card_purchase",
                                                                           "card_refund"]
    assert await rows(tenant[Role.ORDER_APPROVER].token) == [
        ("card_purchase", "•••• 3333", "Coop Mega Storo", "40.00", "")]
