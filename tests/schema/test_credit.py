"""Company credit and invoice payment end to end: the default limit, the operator's limit and
payments, orders refused above the available credit, outstanding through the order's life,
who reads it; applying for invoice payment and the operator's decision."""

from __future__ import annotations

from models import Role
from schema.relay import to_global_id
from tests.spend_helpers import (
    CREDIT_FIELDS,
    audit_rows,
    call,
    cart,
    code_of,
    company_credit,
    create_product,
    credit_row,
    fill_cart,
    ok,
    operator,
    orders_of,
    place_order,
    placed,
    rule,
    spend_tenant,
    submit,
    tier,
)

PRICE = 100_00
PENDING = "{ pendingInvoiceApplications { id companyId status message } }"


def figures(credit: dict) -> tuple[str, str, str]:
    return credit["creditLimit"]["amount"], credit["outstanding"]["amount"], credit["available"]["amount"]


async def test_the_default_credit_limit_is_300_000_nok(api, services):
    st = await spend_tenant(api, [Role.ADMIN])
    assert services.settings.default_credit_limit == 300_000_00
    credit = await company_credit(api, st[Role.ADMIN].token)
    assert credit["companyId"] == st.tenant.gid
    assert credit["creditLimit"] == {"amount": "300000.00", "currency": "NOK"}
    assert figures(credit) == ("300000.00", "0.00", "300000.00")
    assert (credit["invoiceEnabled"], credit["latestApplication"]) == (False, None)


async def test_the_default_comes_from_the_setting_and_is_enforced(api, services, monkeypatch):
    monkeypatch.setattr(services.settings, "default_credit_limit", 250_00)
    st = await spend_tenant(api, [Role.ADMIN, Role.CUSTOMER])
    goods = await create_product(services, net_minor=80_00)
    assert figures(await company_credit(api, st[Role.ADMIN].token)) == ("250.00", "0.00", "250.00")
    await placed(api, st[Role.CUSTOMER], goods)
    await placed(api, st[Role.CUSTOMER], goods)
    assert await credit_row(services, st.company_id) == (250_00, 2 * PRICE)
    result = await place_order(api, st[Role.CUSTOMER], goods)
    assert (result["__typename"], result["code"]) == ("MutationError", "CREDIT_LIMIT_EXCEEDED")


async def test_an_order_above_the_available_credit_is_refused_and_nothing_is_written(api, services):
    st = await spend_tenant(api, [Role.ADMIN, Role.CUSTOMER])
    op = await operator(api)
    buyer = st[Role.CUSTOMER]
    await ok(api, "setCreditLimit", {"companyId": st.tenant.gid, "creditLimit": "350.00"}, op.token)
    goods = await create_product(services, net_minor=80_00)
    await placed(api, buyer, goods, 3)
    result = await place_order(api, buyer, goods, 1)
    assert (result["code"], result["message"]) == (
        "CREDIT_LIMIT_EXCEEDED", "The order is above the company's available credit")
    assert await orders_of(services, st.company_id) == {"approved": 1}
    assert (await cart(api, buyer))["status"] == "DRAFT"
    assert await credit_row(services, st.company_id) == (350_00, 3 * PRICE)
    assert figures(await company_credit(api, st[Role.ADMIN].token)) == ("350.00", "300.00", "50.00")
    # An order that fits the remaining 50.00 exactly goes through.
    await ok(api, "updateCartLine", {"productId": goods, "quantity": 0}, buyer.token)
    await fill_cart(api, buyer, await create_product(services, net_minor=40_00))
    assert (await submit(api, buyer))["order"]["status"] == "APPROVED"
    assert figures(await company_credit(api, st[Role.ADMIN].token)) == ("350.00", "350.00", "0.00")


async def test_outstanding_follows_the_orders_and_payments(api, services):
    st = await spend_tenant(api)
    op = await operator(api)
    buyer, admin = st[Role.CUSTOMER], st[Role.ADMIN].token
    goods = await create_product(services, net_minor=80_00)
    await rule(api, st, name="Above 250", condition="TOTAL_ABOVE", threshold="250.00", tiers=[tier("ORDER_APPROVER")])

    kept = await placed(api, buyer, goods, 2)  # approved at once
    rejected = await placed(api, buyer, goods, 3)  # waits for approval
    cancelled = await placed(api, buyer, goods, 4)  # waits for approval
    assert (kept["status"], rejected["status"], cancelled["status"]) == (
        "APPROVED", "PENDING_APPROVAL", "PENDING_APPROVAL")
    assert (await credit_row(services, st.company_id))[1] == 9 * PRICE

    await ok(api, "rejectOrder", {"id": rejected["id"], "comment": "Too much"}, st[Role.ORDER_APPROVER].token)
    assert (await credit_row(services, st.company_id))[1] == 6 * PRICE
    await ok(api, "cancelOrder", {"id": cancelled["id"], "reason": "Changed my mind"}, buyer.token)
    assert (await credit_row(services, st.company_id))[1] == 2 * PRICE

    await ok(api, "fulfilOrder", {"id": kept["id"]}, op.token)
    assert (await credit_row(services, st.company_id))[1] == 2 * PRICE  # fulfilment does not pay
    await ok(api, "recordReturn", {"orderId": kept["id"], "lineId": kept["lines"][0]["id"], "quantity": 1}, op.token)
    assert (await credit_row(services, st.company_id))[1] == PRICE

    paid = await ok(api, "registerPayment", {"companyId": st.tenant.gid, "amount": "60.00"}, op.token)
    assert figures(paid["credit"]) == ("300000.00", "40.00", "299960.00")
    too_much = await call(api, "registerPayment", {"companyId": st.tenant.gid, "amount": "40.01"}, op.token)
    assert (too_much["code"], too_much["field"]) == ("INVALID_INPUT", "amount")
    nothing = await call(api, "registerPayment", {"companyId": st.tenant.gid, "amount": "0"}, op.token)
    assert (nothing["code"], nothing["field"]) == ("INVALID_INPUT", "amount")
    assert figures(await company_credit(api, admin)) == ("300000.00", "40.00", "299960.00")


async def test_the_operator_sets_the_credit_limit(api, services):
    st = await spend_tenant(api, [Role.ADMIN, Role.CUSTOMER])
    op = await operator(api)
    goods = await create_product(services, net_minor=80_00)
    await placed(api, st[Role.CUSTOMER], goods, 2)
    changed = await ok(api, "setCreditLimit", {"companyId": st.tenant.gid, "creditLimit": "150.00"}, op.token)
    # Lowering the limit below what is owed leaves nothing available, and refuses the next order.
    assert figures(changed["credit"]) == ("150.00", "200.00", "0.00")
    assert (await place_order(api, st[Role.CUSTOMER], goods))["code"] == "CREDIT_LIMIT_EXCEEDED"
    await ok(api, "setCreditLimit", {"companyId": st.tenant.gid, "creditLimit": "1000000.00"}, op.token)
    assert (await submit(api, st[Role.CUSTOMER]))["order"]["status"] == "APPROVED"
    assert await credit_row(services, st.company_id) == (1_000_000_00, 3 * PRICE)
    entries = [(e.entity, e.action, e.before, e.after, e.actor_user_id)
               for e in await audit_rows(services, st.company_id) if e.entity == "credit"]
    assert entries == [
        ("credit", "limit", {"credit_limit_minor": 300_000_00}, {"credit_limit_minor": 150_00}, op.user_id),
        ("credit", "limit", {"credit_limit_minor": 150_00}, {"credit_limit_minor": 1_000_000_00}, op.user_id),
    ]


async def test_invalid_credit_changes_are_refused(api, services):
    st = await spend_tenant(api, [Role.ADMIN])
    op = await operator(api)
    result = await call(api, "setCreditLimit", {"companyId": st.tenant.gid, "creditLimit": "-1.00"}, op.token)
    assert (result["code"], result["field"]) == ("INVALID_INPUT", "creditLimit")
    result = await call(api, "setCreditLimit", {"companyId": to_global_id("Company", 999_999), "creditLimit": "1.00"},
                        op.token)
    assert (result["code"], result["field"]) == ("NOT_FOUND", "companyId")
    assert figures(await company_credit(api, st[Role.ADMIN].token)) == ("300000.00", "0.00", "300000.00")


async def test_company_users_cannot_change_credit(api, services):
    st = await spend_tenant(api)
    for role in Role:
        token = st[role].token
        limit = {"companyId": st.tenant.gid, "creditLimit": "999999.00"}
        assert code_of(await call(api, "setCreditLimit", limit, token)) == "FORBIDDEN"
        payment = {"companyId": st.tenant.gid, "amount": "1.00"}
        assert code_of(await call(api, "registerPayment", payment, token)) == "FORBIDDEN"
    assert await credit_row(services, st.company_id) is None
    assert figures(await company_credit(api, st[Role.ADMIN].token)) == ("300000.00", "0.00", "300000.00")


async def test_admins_and_managers_read_the_credit_and_others_do_not(api, services):
    st = await spend_tenant(api)
    for role in (Role.ADMIN, Role.MANAGER):
        assert figures(await company_credit(api, st[role].token)) == ("300000.00", "0.00", "300000.00")
    for role in (Role.CUSTOMER, Role.ORDER_APPROVER):
        body = await api.raw(f"{{ companyCredit {{ {CREDIT_FIELDS} }} }}", token=st[role].token)
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    op = await operator(api)
    body = await api.raw("{ companyCredit { companyId } }", token=op.token)
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_credit_is_per_company(api, services):
    st = await spend_tenant(api, [Role.ADMIN, Role.CUSTOMER])
    other = await spend_tenant(api, [Role.ADMIN])
    await placed(api, st[Role.CUSTOMER], await create_product(services, net_minor=80_00))
    assert figures(await company_credit(api, other[Role.ADMIN].token)) == ("300000.00", "0.00", "300000.00")
    assert figures(await company_credit(api, st[Role.ADMIN].token)) == ("300000.00", "100.00", "299900.00")


# --- invoice payment --------------------------------------------------------------------------


async def invoice_buyer(api, st):
    buyer = st[Role.CUSTOMER]
    await ok(api, "updateUser", {"id": buyer.gid, "paymentMethods": ["CARD", "INVOICE"]}, st[Role.ADMIN].token)
    return buyer


async def test_invoice_payment_needs_an_approved_application(api, services):
    st = await spend_tenant(api, [Role.ADMIN, Role.CUSTOMER])
    op = await operator(api)
    buyer = await invoice_buyer(api, st)
    goods = await create_product(services, net_minor=80_00)

    result = await place_order(api, buyer, goods, paymentMethod="INVOICE")
    assert (result["code"], result["field"]) == ("INVOICE_NOT_APPROVED", None)
    assert await orders_of(services, st.company_id) == {}

    applied = await ok(api, "applyForInvoice", {"message": "Monthly invoice, please"}, st[Role.ADMIN].token)
    application = applied["credit"]["latestApplication"]
    assert (application["status"], application["message"]) == ("PENDING", "Monthly invoice, please")
    assert applied["credit"]["invoiceEnabled"] is False
    again = await call(api, "applyForInvoice", {"message": "Again"}, st[Role.ADMIN].token)
    assert again["code"] == "APPLICATION_PENDING"
    assert (await submit(api, buyer))["code"] == "INVOICE_NOT_APPROVED"  # still pending

    pending = (await api.query(PENDING, token=op.token))["pendingInvoiceApplications"]
    assert [(a["id"], a["companyId"], a["status"]) for a in pending] == [(application["id"], st.tenant.gid, "PENDING")]
    decided = await ok(api, "decideInvoiceApplication", {"id": application["id"], "approve": True, "note": "Welcome"},
                       op.token)
    assert decided["credit"]["invoiceEnabled"] is True
    latest = decided["credit"]["latestApplication"]
    assert (latest["status"], latest["decisionNote"]) == ("APPROVED", "Welcome")
    assert (await api.query(PENDING, token=op.token))["pendingInvoiceApplications"] == []

    order = (await submit(api, buyer))["order"]
    assert order["status"] == "APPROVED"
    assert (await api.query("query($id: ID!) { order(id: $id) { paymentMethod } }", {"id": order["id"]},
                            buyer.token))["order"]["paymentMethod"] == "INVOICE"
    again = await call(api, "decideInvoiceApplication", {"id": application["id"], "approve": False}, op.token)
    assert again["code"] == "INVALID_STATE"
    assert (await call(api, "applyForInvoice", {}, st[Role.ADMIN].token))["code"] == "INVALID_STATE"


async def test_a_rejected_application_leaves_invoice_off_and_may_be_made_again(api, services):
    st = await spend_tenant(api, [Role.ADMIN, Role.CUSTOMER])
    op = await operator(api)
    buyer = await invoice_buyer(api, st)
    application = (await ok(api, "applyForInvoice", {}, st[Role.ADMIN].token))["credit"]["latestApplication"]
    rejected = await ok(api, "decideInvoiceApplication",
                        {"id": application["id"], "approve": False, "note": "Too new"}, op.token)
    assert rejected["credit"]["invoiceEnabled"] is False
    assert rejected["credit"]["latestApplication"]["status"] == "REJECTED"
    result = await place_order(api, buyer, await create_product(services, net_minor=80_00), paymentMethod="INVOICE")
    assert result["code"] == "INVOICE_NOT_APPROVED"
    second = await ok(api, "applyForInvoice", {"message": "Second try"}, st[Role.ADMIN].token)
    assert second["credit"]["latestApplication"]["status"] == "PENDING"
    assert second["credit"]["latestApplication"]["id"] != application["id"]


async def test_only_administrators_apply_and_only_operators_decide(api, services):
    st = await spend_tenant(api)
    for role in (Role.MANAGER, Role.ORDER_APPROVER, Role.CUSTOMER):
        assert code_of(await call(api, "applyForInvoice", {}, st[role].token)) == "FORBIDDEN", role
    application = (await ok(api, "applyForInvoice", {}, st[Role.ADMIN].token))["credit"]["latestApplication"]
    for role in Role:
        result = await call(api, "decideInvoiceApplication", {"id": application["id"], "approve": True}, st[role].token)
        assert code_of(result) == "FORBIDDEN", role
        body = await api.raw(PENDING, token=st[role].token)
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    credit = await company_credit(api, st[Role.ADMIN].token)
    assert (credit["invoiceEnabled"], credit["latestApplication"]["status"]) == (False, "PENDING")
    op = await operator(api)
    missing = await call(api, "decideInvoiceApplication",
                         {"id": to_global_id("InvoiceApplication", 99_999), "approve": True}, op.token)
    assert missing["code"] == "NOT_FOUND"


async def test_amounts_beyond_32_bits_are_stored_exactly(api, services):
    """Money is stored as 64-bit minor units: 50 million kroner (5 billion øre) survives both databases."""
    st = await spend_tenant(api, [Role.ADMIN, Role.CUSTOMER])
    op = await operator(api)
    changed = await ok(api, "setCreditLimit", {"companyId": st.tenant.gid, "creditLimit": "50000000.25"}, op.token)
    assert changed["credit"]["creditLimit"]["amount"] == "50000000.25"
    assert (await credit_row(services, st.company_id))[0] == 5_000_000_025
