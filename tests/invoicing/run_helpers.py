"""Set-up for the invoice run tests: a company paying by invoice, orders placed, fulfilled and returned through
the API (the operator's fulfilOrder and recordReturn), payments, and reading what a run issued."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import select

from models import Company, Invoice, InvoiceLine, InvoiceNumberCounter, InvoiceRun, Membership, Order, Payment, Role
from tests.factories import Api, Member
from tests.spend_helpers import SpendTenant, add_member, create_product, ok, operator, order_pk, placed, spend_tenant

SWEDISH_ORG_NUMBER = "5560360793"


@dataclass
class Shop:
    st: SpendTenant
    op: Member  # the platform operator who fulfils and records returns

    @property
    def company_id(self) -> int:
        return self.st.company_id

    @property
    def buyer(self) -> Member:
        return self.st[Role.CUSTOMER]


async def invoice_shop(api: Api, *, country: str = "NO", op: Member | None = None, **company) -> Shop:
    """A company approved for invoice payment whose members pay by invoice."""
    st = await spend_tenant(api, [Role.ADMIN, Role.CUSTOMER])
    async with api.services.db.transaction() as session:
        row = await session.get_one(Company, st.company_id)
        row.invoice_enabled = True
        if country == "SE":
            row.country, row.org_number, row.currency = "SE", SWEDISH_ORG_NUMBER, "SEK"
        for name, value in company.items():
            setattr(row, name, value)
        for member in st.tenant.members.values():
            (await session.get_one(Membership, member.membership_id)).payment_methods = ["invoice"]
    return Shop(st, op or await operator(api))


async def card_buyer(api: Api, shop: Shop) -> Member:
    member = await add_member(api, shop.st)
    async with api.services.db.transaction() as session:
        (await session.get_one(Membership, member.membership_id)).payment_methods = ["card"]
    return member


async def fulfilled(api: Api, shop: Shop, product_gid: str, quantity: int = 1, *, buyer: Member | None = None,
                    **cart) -> dict:
    """An order placed by the buyer and fulfilled by the operator."""
    order = await placed(api, buyer or shop.buyer, product_gid, quantity, **cart)
    assert order["status"] == "APPROVED", order
    return (await ok(api, "fulfilOrder", {"id": order["id"]}, shop.op.token))["order"]


async def give_back(api: Api, shop: Shop, order: dict, quantity: int, line: int = 0) -> None:
    await ok(api, "recordReturn", {"orderId": order["id"], "lineId": order["lines"][line]["id"],
                                   "quantity": quantity}, shop.op.token)


async def product(api: Api, net_minor: int, vat_rate: int = 25) -> str:
    return await create_product(api.services, net_minor=net_minor, vat_rate=vat_rate)


async def pay(services, company_id: int, amount_minor: int, received_on: date) -> int:
    async with services.db.transaction() as session:
        payment = Payment(company_id=company_id, amount_minor=amount_minor, currency="NOK", received_on=received_on)
        session.add(payment)
        await session.flush()
        return payment.id


async def documents(services, company_id: int | None = None) -> list[Invoice]:
    """Issued invoices and credit notes, in number order."""
    async with services.db.read_sessions() as session:
        query = select(Invoice).order_by(Invoice.number)
        if company_id is not None:
            query = query.where(Invoice.company_id == company_id)
        return list((await session.scalars(query)).all())


async def lines_of(services, invoice_id: int) -> list[InvoiceLine]:
    async with services.db.read_sessions() as session:
        return list((await session.scalars(select(InvoiceLine).where(InvoiceLine.invoice_id == invoice_id)
                                           .order_by(InvoiceLine.id))).all())


async def invoice_of(services, order_gid: str) -> int | None:
    async with services.db.read_sessions() as session:
        return await session.scalar(select(Order.invoice_id).where(Order.id == order_pk(order_gid)))


async def runs(services) -> list[InvoiceRun]:
    async with services.db.read_sessions() as session:
        return list((await session.scalars(select(InvoiceRun).order_by(InvoiceRun.run_date))).all())


async def last_number(services) -> int:
    async with services.db.read_sessions() as session:
        return await session.scalar(select(InvoiceNumberCounter.last_number).where(InvoiceNumberCounter.id == 1)) or 0
