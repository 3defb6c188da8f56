"""A company's invoicing settings: the days of the month it is invoiced, and its payment terms."""

from __future__ import annotations

from models import Company
from models.errors import DomainError, ErrorCode
from policies.permissions import Permission
from resolvers.audit import audit
from resolvers.context import UseCaseContext

MAX_INVOICE_DAY = 28  # every month has the day: an invoice date is never skipped
MAX_PAYMENT_TERMS_DAYS = 120


def clean_invoice_days(days: list[int]) -> list[int]:
    """One or more distinct days of 1 to 28, sorted; INVALID_INPUT otherwise."""
    if not days:
        raise DomainError(ErrorCode.INVALID_INPUT, "Give at least one invoice day", "invoiceDays")
    if any(not 1 <= day <= MAX_INVOICE_DAY for day in days):
        raise DomainError(ErrorCode.INVALID_INPUT,
                          f"Invoice days are days of the month from 1 to {MAX_INVOICE_DAY}", "invoiceDays")
    if len(set(days)) != len(days):
        raise DomainError(ErrorCode.INVALID_INPUT, "Give each invoice day once", "invoiceDays")
    return sorted(days)


async def set_company_invoicing(
    ctx: UseCaseContext, *, company_id: int, invoice_days: list[int], payment_terms_days: int | None,
) -> Company:
    ctx.services.authorizer.require_operator(ctx.actor, Permission.CREDIT_MANAGE)
    days = clean_invoice_days(invoice_days)
    if payment_terms_days is not None and not 1 <= payment_terms_days <= MAX_PAYMENT_TERMS_DAYS:
        raise DomainError(ErrorCode.INVALID_INPUT, f"Payment terms are 1 to {MAX_PAYMENT_TERMS_DAYS} days",
                          "paymentTermsDays")
    company = await ctx.session.get(Company, company_id, with_for_update=True)
    if company is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No such company", "companyId")
    before = {"invoice_days": list(company.invoice_days), "payment_terms_days": company.payment_terms_days}
    company.invoice_days, company.payment_terms_days = days, payment_terms_days
    await ctx.session.flush()
    await audit(ctx, "company", company.id, "invoicing", company_id=company.id, before=before,
                after={"invoice_days": days, "payment_terms_days": payment_terms_days})
    return company
