"""Company credit (set by the platform operator) and the application for invoice payment."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import select

from models import Company, CreditAccount, InvoiceApplication
from models.base import utcnow
from models.credit import ApplicationStatus
from models.errors import DomainError, ErrorCode
from policies.permissions import Permission
from policies.scopes import company_rows, cross_company
from resolvers import payment
from resolvers.audit import audit
from resolvers.context import UseCaseContext
from resolvers.payment import RegisteredPayment
from resolvers.spend import ensure_credit_account

# Platform operators decide the applications of every company.
OPERATORS = "platform operators decide every company's application"


@dataclass
class CreditStatus:
    company_id: int
    currency: str
    credit_limit_minor: int
    outstanding_minor: int
    invoice_enabled: bool
    latest_application: InvoiceApplication | None

    @property
    def available_minor(self) -> int:
        return max(self.credit_limit_minor - self.outstanding_minor, 0)


async def credit_status(ctx: UseCaseContext, company: Company) -> CreditStatus:
    account = await ctx.session.scalar(company_rows(CreditAccount, company))
    application = await ctx.session.scalar(
        company_rows(InvoiceApplication, company).order_by(InvoiceApplication.id.desc()).limit(1))
    limit = account.credit_limit_minor if account else ctx.settings.default_credit_limit
    return CreditStatus(company.id, ctx.settings.supplier_currency, limit, account.outstanding_minor if account else 0,
                        company.invoice_enabled, application)


async def my_company_credit(ctx: UseCaseContext) -> CreditStatus:
    actor = ctx.require(Permission.CREDIT_READ)
    return await credit_status(ctx, await ctx.session.get_one(Company, actor.company_id))


async def apply_for_invoice(ctx: UseCaseContext, *, message: str) -> CreditStatus:
    actor = ctx.require(Permission.COMPANY_UPDATE)
    company = await ctx.session.get_one(Company, actor.company_id, with_for_update=True)
    if company.invoice_enabled:
        raise DomainError(ErrorCode.INVALID_STATE, "Invoice payment is already approved", None)
    pending = await ctx.session.scalar(company_rows(InvoiceApplication, company, InvoiceApplication.id).where(
        InvoiceApplication.status == ApplicationStatus.PENDING.value))
    if pending is not None:
        raise DomainError(ErrorCode.APPLICATION_PENDING, "An application is already waiting for a decision", None)
    application = InvoiceApplication(company_id=company.id, message=(message or "").strip()[:2000],
                                     applied_by_id=actor.user_id)
    ctx.session.add(application)
    await ctx.session.flush()
    await audit(ctx, "invoice_application", application.id, "apply")
    return await credit_status(ctx, company)


async def decide_invoice_application(
    ctx: UseCaseContext, *, application_id: int, approve: bool, note: str,
) -> CreditStatus:
    actor = ctx.services.authorizer.require_operator(ctx.actor, Permission.CREDIT_MANAGE)
    application = await ctx.session.scalar(cross_company(
        select(InvoiceApplication).where(InvoiceApplication.id == application_id).with_for_update(), OPERATORS))
    if application is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No such application", "id")
    if application.status != ApplicationStatus.PENDING.value:
        raise DomainError(ErrorCode.INVALID_STATE, "The application was already decided", "id")
    application.status = (ApplicationStatus.APPROVED if approve else ApplicationStatus.REJECTED).value
    application.decided_by_id, application.decided_at = actor.user_id, utcnow()
    application.decision_note = (note or "").strip()[:2000]
    company = await ctx.session.get_one(Company, application.company_id, with_for_update=True)
    company.invoice_enabled = company.invoice_enabled or approve
    await ctx.session.flush()
    await audit(ctx, "invoice_application", application.id, application.status, company_id=company.id,
                after={"note": application.decision_note})
    return await credit_status(ctx, company)


async def set_credit_limit(ctx: UseCaseContext, *, company_id: int, credit_limit_minor: int) -> CreditStatus:
    ctx.services.authorizer.require_operator(ctx.actor, Permission.CREDIT_MANAGE)
    if credit_limit_minor < 0:
        raise DomainError(ErrorCode.INVALID_INPUT, "A credit limit cannot be negative", "creditLimit")
    company = await ctx.session.get(Company, company_id)
    if company is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No such company", "companyId")
    await ensure_credit_account(ctx, company.id)
    account = (await ctx.session.scalars(company_rows(CreditAccount, company).with_for_update())).one()
    before = account.credit_limit_minor
    account.credit_limit_minor = credit_limit_minor
    await ctx.session.flush()
    await audit(ctx, "credit", company.id, "limit", company_id=company.id,
                before={"credit_limit_minor": before}, after={"credit_limit_minor": credit_limit_minor})
    return await credit_status(ctx, company)


async def register_payment(
    ctx: UseCaseContext, *, company_id: int | None, amount_minor: int, kid: str | None = None,
    invoice_id: int | None = None, received_on: date | None = None,
) -> tuple[CreditStatus, RegisteredPayment]:
    """A payment received from the company lowers what it owes; naming a KID or an invoice, it pays that invoice
    (resolvers/payment.py)."""
    registered = await payment.register_payment(ctx, company_id=company_id, amount_minor=amount_minor, kid=kid,
                                                invoice_id=invoice_id, received_on=received_on)
    return await credit_status(ctx, registered.company), registered


async def get_application(ctx: UseCaseContext, application_id: int) -> InvoiceApplication | None:
    """An application the caller may see: any, for operators who decide them (`credit:manage`); their
    own company's, for members who see its credit (`credit:read`)."""
    actor = ctx.require_signed_in()
    if actor.is_operator and ctx.allows(Permission.CREDIT_MANAGE):
        query = cross_company(select(InvoiceApplication), OPERATORS)
    else:
        ctx.require(Permission.CREDIT_READ)
        query = company_rows(InvoiceApplication, actor)
    return await ctx.session.scalar(query.where(InvoiceApplication.id == application_id))


async def pending_applications(ctx: UseCaseContext) -> list[InvoiceApplication]:
    ctx.services.authorizer.require_operator(ctx.actor, Permission.CREDIT_MANAGE)
    query = cross_company(select(InvoiceApplication), OPERATORS).where(
        InvoiceApplication.status == ApplicationStatus.PENDING.value)
    return list((await ctx.session.scalars(query.order_by(InvoiceApplication.id))).all())
