"""Company credit and invoice payment applications."""

from __future__ import annotations

from datetime import date, datetime
from enum import Enum
from typing import Annotated

import strawberry

from models import InvoiceApplication as ApplicationModel
from models.money import parse_amount
from resolvers import credit as use_cases
from resolvers.payment import RegisteredPayment as RegisteredPaymentResult
from schema.errors import INPUT, MutationError, run_mutation
from schema.money import Money, money
from schema.relay import Node, decode_id, optional_id, to_global_id


@strawberry.enum(description="Where an application for invoice payment stands.")
class ApplicationStatus(Enum):
    PENDING = strawberry.enum_value("pending", description="Waiting for the platform operator.")
    APPROVED = strawberry.enum_value("approved", description="Approved: invoice is a payment method.")
    REJECTED = strawberry.enum_value("rejected", description="Rejected.")


@strawberry.type(description="An application for invoice payment.")
class InvoiceApplication(Node):
    company_id: strawberry.ID = strawberry.field(description="The applying company.")
    status: ApplicationStatus = strawberry.field(description="Status.")
    message: str = strawberry.field(description="The company's message.")
    decision_note: str = strawberry.field(description="The operator's note.")
    created_at: datetime = strawberry.field(description="When it was made (UTC).")
    decided_at: datetime | None = strawberry.field(description="When it was decided (UTC).")

    @classmethod
    def from_model(cls, a: ApplicationModel) -> InvoiceApplication:
        return cls(id=to_global_id("InvoiceApplication", a.id), company_id=to_global_id("Company", a.company_id),
                   status=ApplicationStatus(a.status), message=a.message, decision_note=a.decision_note,
                   created_at=a.created_at, decided_at=a.decided_at)


@strawberry.type(description="A company's credit account.")
class CompanyCredit:
    company_id: strawberry.ID = strawberry.field(description="The company.")
    credit_limit: Money = strawberry.field(description="Credit limit set by the platform operator.")
    outstanding: Money = strawberry.field(
        description="What the company owes: submitted orders not rejected or cancelled, less returns and payments.")
    available: Money = strawberry.field(description="Credit limit less outstanding; orders above it are refused.")
    invoice_enabled: bool = strawberry.field(description="Whether invoice is an approved payment method.")
    latest_application: InvoiceApplication | None = strawberry.field(
        description="The latest application for invoice payment.")


def credit_from_status(s: use_cases.CreditStatus) -> CompanyCredit:
    return CompanyCredit(
        company_id=to_global_id("Company", s.company_id), credit_limit=money(s.credit_limit_minor, s.currency),
        outstanding=money(s.outstanding_minor, s.currency), available=money(s.available_minor, s.currency),
        invoice_enabled=s.invoice_enabled,
        latest_application=InvoiceApplication.from_model(s.latest_application) if s.latest_application else None,
    )


@strawberry.input(description="Apply for invoice payment.")
class ApplyForInvoiceInput:
    message: str = strawberry.field(default="", description="Anything the operator should know.")


@strawberry.input(description="The operator's decision on an application.")
class DecideInvoiceApplicationInput:
    id: strawberry.ID = strawberry.field(description="The application.")
    approve: bool = strawberry.field(description="Approve (true) or reject (false).")
    note: str = strawberry.field(default="", description="Note to the company.")


@strawberry.input(description="A company's credit limit.")
class SetCreditLimitInput:
    company_id: strawberry.ID = strawberry.field(description="The company.")
    credit_limit: str = strawberry.field(description="New limit, decimal string.")


@strawberry.input(description=(
    "A payment received from a company: name the invoice it pays by its `kid` (or `invoiceId`), or the company "
    "for a payment on the account without an invoice."))
class RegisterPaymentInput:
    company_id: strawberry.ID | None = strawberry.field(default=None, description=(
        "The company; optional when `kid` or `invoiceId` names the invoice (then it must be the invoice's company)."))
    amount: str = strawberry.field(description="Amount paid, decimal string.")
    kid: str | None = strawberry.field(default=None, description=(
        "The payment's KID as the bank reports it: the invoice with this KID is paid (an invalid check digit is "
        "INVALID_INPUT, an unknown KID NOT_FOUND)."))
    invoice_id: strawberry.ID | None = strawberry.field(default=None, description=(
        "The invoice paid, when the payment carries no KID."))
    received_on: date | None = strawberry.field(default=None, description=(
        "When the money was received (not in the future); default today (UTC)."))


@strawberry.type(description="What a registered payment paid.")
class RegisteredPayment:
    invoice_id: strawberry.ID | None = strawberry.field(
        description="The Invoice the payment was matched to; null for a payment on the account.")
    applied: Money = strawberry.field(description="What went to the invoice (at most what it still owed).")
    unapplied: Money = strawberry.field(description=(
        "What stayed on the account without an invoice: the whole payment without an invoice, or what it paid "
        "beyond the invoice; the next invoice's statement counts it."))
    received_on: date = strawberry.field(description="When the money was received.")


@strawberry.type(description="The credit account after the change.")
class CreditPayload:
    credit: CompanyCredit = strawberry.field(description="The credit account.")
    payment: RegisteredPayment | None = strawberry.field(
        default=None, description="The payment registered (registerPayment only; null for other changes).")


CreditResult = Annotated[
    CreditPayload | MutationError, strawberry.union("CreditResult", description="Result of a credit change.")
]


def _payload(status) -> CreditPayload:
    return CreditPayload(credit=credit_from_status(status))


def _company(value: str) -> int:
    return decode_id(value, "Company") or 0


def _payment_payload(result: tuple[use_cases.CreditStatus, RegisteredPaymentResult]) -> CreditPayload:
    status, p = result
    return CreditPayload(credit=credit_from_status(status), payment=RegisteredPayment(
        invoice_id=to_global_id("Invoice", p.invoice_id) if p.invoice_id else None,
        applied=money(p.applied_minor, p.currency), unapplied=money(p.unapplied_minor, p.currency),
        received_on=p.received_on))


@strawberry.type
class CreditQuery:
    @strawberry.field(description=(
        "The company's credit: limit, outstanding, available. Requires `credit:read` (administrators, managers)."))
    async def company_credit(self, info: strawberry.Info) -> CompanyCredit:
        async with info.context.reading() as ctx:
            return credit_from_status(await use_cases.my_company_credit(ctx))

    @strawberry.field(
        description="Applications for invoice payment awaiting a decision. Platform operators only (`credit:manage`).")
    async def pending_invoice_applications(self, info: strawberry.Info) -> list[InvoiceApplication]:
        async with info.context.reading() as ctx:
            return [InvoiceApplication.from_model(a) for a in await use_cases.pending_applications(ctx)]


@strawberry.type
class CreditMutation:
    @strawberry.mutation(description="Apply for invoice payment. Requires `company:update` (administrators).")
    async def apply_for_invoice(
        self, info: strawberry.Info, input: Annotated[ApplyForInvoiceInput, INPUT],
    ) -> CreditResult:
        return await run_mutation(info, lambda ctx: use_cases.apply_for_invoice(ctx, message=input.message), _payload)

    @strawberry.mutation(
        description="Approve or reject an application for invoice payment. Platform operators only (`credit:manage`).")
    async def decide_invoice_application(
        self, info: strawberry.Info, input: Annotated[DecideInvoiceApplicationInput, INPUT],
    ) -> CreditResult:
        return await run_mutation(info, lambda ctx: use_cases.decide_invoice_application(
            ctx, application_id=decode_id(input.id, "InvoiceApplication") or 0, approve=input.approve,
            note=input.note), _payload)

    @strawberry.mutation(description="Set a company's credit limit. Platform operators only (`credit:manage`).")
    async def set_credit_limit(
        self, info: strawberry.Info, input: Annotated[SetCreditLimitInput, INPUT],
    ) -> CreditResult:
        return await run_mutation(info, lambda ctx: use_cases.set_credit_limit(
            ctx, company_id=_company(input.company_id),
            credit_limit_minor=parse_amount(input.credit_limit, "creditLimit")), _payload)

    @strawberry.mutation(
        description=(
            "Register a payment received from a company; with a `kid` (or `invoiceId`) it pays that invoice, and "
            "what it pays beyond the invoice stays on the account. It lowers the outstanding credit by the whole "
            "amount. Platform operators only (`credit:manage`)."))
    async def register_payment(
        self, info: strawberry.Info, input: Annotated[RegisterPaymentInput, INPUT],
    ) -> CreditResult:
        return await run_mutation(info, lambda ctx: use_cases.register_payment(
            ctx, company_id=optional_id(input.company_id, "Company"), amount_minor=parse_amount(input.amount, "amount"),
            kid=input.kid, invoice_id=optional_id(input.invoice_id, "Invoice"),
            received_on=input.received_on), _payment_payload)
