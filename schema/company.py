"""Companies: types, registration and company details."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Annotated

import strawberry

from models import Company as CompanyModel
from models.company import DEFAULT_INVOICE_DAYS, format_org_number, payment_terms_days
from models.company import Country as DomainCountry
from policies.permissions import Permission
from resolvers import approval_reminder
from resolvers import company as use_cases
from schema.errors import INPUT, MutationError, run_mutation
from schema.relay import Node, to_global_id
from schema.user import User


@strawberry.enum(description="Countries whose companies the platform serves.")
class Country(Enum):
    _value_: str  # strawberry.enum leaves each member the plain value given to its enum_value()

    NO = strawberry.enum_value("NO", description="Norway: organisasjonsnummer, NOK.")
    SE = strawberry.enum_value("SE", description="Sweden: organisationsnummer, SEK.")


@strawberry.type(description="A postal address.")
class Address:
    street: str = strawberry.field(description="Street and number.")
    postal_code: str = strawberry.field(description="Postal code.")
    city: str = strawberry.field(description="City or post town.")


@strawberry.input(description="A postal address.")
class AddressInput:
    street: str = strawberry.field(description="Street and number.")
    postal_code: str = strawberry.field(description="Postal code.")
    city: str = strawberry.field(description="City or post town.")

    def to_domain(self) -> use_cases.Address:
        return use_cases.Address(self.street, self.postal_code, self.city)


@strawberry.type(description="A buying company (a purchasing account).")
class Company(Node):
    name: str = strawberry.field(description="Registered or trading name.")
    country: Country = strawberry.field(description="Country of registration.")
    org_number: str = strawberry.field(description="Organisation number, formatted the national way.")
    currency: str = strawberry.field(description="ISO 4217 currency of the company's prices and limits.")
    address: Address = strawberry.field(description="Postal address.")
    contact_email: str = strawberry.field(description="Contact email address.")
    contact_phone: str | None = strawberry.field(description="Contact telephone number.")
    created_at: datetime = strawberry.field(description="When the company registered (UTC).")
    own_reminder_hours: strawberry.Private[int | None] = None
    invoicing: strawberry.Private[tuple[list[int], int] | None] = None

    @strawberry.field(description=(
        "Days of the month the company is invoiced (1 to 28, sorted). Null unless you see its credit "
        "(`credit:read`, platform operators)."))
    async def invoice_days(self, info: strawberry.Info) -> list[int] | None:
        return list(self.invoicing[0]) if self.invoicing and await _sees_credit(info) else None

    @strawberry.field(description=(
        "Days to pay its invoices: its own terms, else the country's (32 Norway, 30 Sweden). Null unless you see "
        "its credit (`credit:read`, platform operators)."))
    async def payment_terms_days(self, info: strawberry.Info) -> int | None:
        return self.invoicing[1] if self.invoicing and await _sees_credit(info) else None

    @strawberry.field(description=(
        "Hours a current approval step waits before its approvers are reminded (and as long again before it is "
        "offered to the administrators): the company's own period (`setApprovalReminderHours`), else the "
        "installation's APPROVAL_REMINDER_HOURS."))
    def approval_reminder_hours(self, info: strawberry.Info) -> float:
        own = self.own_reminder_hours
        return float(own) if own is not None else info.context.services.settings.approval_reminder_hours

    @classmethod
    def from_model(cls, company: CompanyModel) -> Company:
        return cls(
            id=to_global_id("Company", company.id), name=company.name, country=Country(company.country),
            org_number=format_org_number(DomainCountry(company.country), company.org_number), currency=company.currency,
            address=Address(street=company.street, postal_code=company.postal_code, city=company.city),
            contact_email=company.contact_email, contact_phone=company.contact_phone, created_at=company.created_at,
            own_reminder_hours=company.approval_reminder_hours,
            invoicing=(list(company.invoice_days or DEFAULT_INVOICE_DAYS), payment_terms_days(company)),
        )


async def _sees_credit(info: strawberry.Info) -> bool:
    """Whether the caller sees the company's credit and invoicing settings."""
    async with info.context.reading() as ctx:
        actor = ctx.actor
        if actor is not None and actor.is_operator and ctx.allows(Permission.CREDIT_MANAGE):
            return True
        return actor is not None and actor.company_id is not None and ctx.allows(Permission.CREDIT_READ)


@strawberry.input(description="The company's first administrator.")
class AdministratorInput:
    email: str = strawberry.field(description="Sign-in email address.")
    first_name: str = strawberry.field(description="First name.")
    last_name: str = strawberry.field(description="Last name.")
    password: str = strawberry.field(description="At least 10 characters. For an existing account: its password.")


@strawberry.input(description="Registration of a company.")
class RegisterCompanyInput:
    country: Country = strawberry.field(description="Country of registration; decides the currency.")
    org_number: str = strawberry.field(description="Organisation number; check digits are verified.")
    name: str = strawberry.field(description="Company name.")
    address: AddressInput = strawberry.field(description="Postal address.")
    contact_email: str = strawberry.field(description="Contact email address.")
    contact_phone: str | None = strawberry.field(default=None, description="Contact telephone number.")
    administrator: AdministratorInput = strawberry.field(description="The first administrator.")


@strawberry.type(description="A registered company and its first administrator.")
class RegisterCompanyPayload:
    company: Company = strawberry.field(description="The new company.")
    administrator: User = strawberry.field(description="Its first administrator; sign in with `login`.")
    other_accounts_on_org_number: int = strawberry.field(
        description="How many accounts already existed on this organisation number (several are allowed)."
    )
    notice: str | None = strawberry.field(description="Information for the registrant, such as existing accounts.")


@strawberry.input(description="Changes to the company's details; omitted fields stay as they are.")
class UpdateCompanyInput:
    name: str | None = strawberry.field(default=None, description="Company name.")
    address: AddressInput | None = strawberry.field(default=None, description="Postal address.")
    contact_email: str | None = strawberry.field(default=None, description="Contact email address.")
    contact_phone: str | None = strawberry.field(default=None, description="Contact telephone number.")


@strawberry.input(description="The company's own approval reminder period.")
class SetApprovalReminderHoursInput:
    hours: int | None = strawberry.field(description=(
        "Hours from 1 to 720; null returns to the installation's APPROVAL_REMINDER_HOURS."))


@strawberry.type(description="The company after the change.")
class UpdateCompanyPayload:
    company: Company = strawberry.field(description="The company.")


RegisterCompanyResult = Annotated[
    RegisterCompanyPayload | MutationError,
    strawberry.union("RegisterCompanyResult", description="Result of registerCompany."),
]
UpdateCompanyResult = Annotated[
    UpdateCompanyPayload | MutationError,
    strawberry.union("UpdateCompanyResult", description="Result of updateCompany."),
]


def _registered(result: use_cases.RegisteredCompany) -> RegisterCompanyPayload:
    others = result.other_accounts_on_org_number
    notice = (
        f"{others} other account(s) exist on this organisation number; this registration is a separate account."
        if others else None
    )
    return RegisterCompanyPayload(
        company=Company.from_model(result.company), administrator=User.from_model(result.administrator),
        other_accounts_on_org_number=others, notice=notice,
    )


@strawberry.type
class CompanyQuery:
    @strawberry.field(description="The company the caller acts for. Requires `company:read` (every role).")
    async def company(self, info: strawberry.Info) -> Company:
        async with info.context.reading() as ctx:
            return Company.from_model(await use_cases.current_company(ctx))


@strawberry.type
class CompanyMutation:
    @strawberry.mutation(description="Register a company and its first administrator. Open to anyone.")
    async def register_company(
        self, info: strawberry.Info, input: Annotated[RegisterCompanyInput, INPUT],
    ) -> RegisterCompanyResult:
        return await run_mutation(info, lambda ctx: use_cases.register_company(
            ctx, country=DomainCountry(input.country.value), org_number=input.org_number, name=input.name,
            address=input.address.to_domain(), contact_email=input.contact_email, contact_phone=input.contact_phone,
            admin_email=input.administrator.email, admin_first_name=input.administrator.first_name,
            admin_last_name=input.administrator.last_name, admin_password=input.administrator.password,
        ), _registered)

    @strawberry.mutation(description="Change the company's details. Requires `company:update` (administrators).")
    async def update_company(
        self, info: strawberry.Info, input: Annotated[UpdateCompanyInput, INPUT],
    ) -> UpdateCompanyResult:
        return await run_mutation(info, lambda ctx: use_cases.update_company(
            ctx, name=input.name, address=input.address.to_domain() if input.address else None,
            contact_email=input.contact_email, contact_phone=input.contact_phone,
        ), lambda company: UpdateCompanyPayload(company=Company.from_model(company)))

    @strawberry.mutation(description=(
        "Set how long an approval step waits before its approvers are reminded (and as long again before the "
        "administrators are offered it); audited. Requires `company:update` (administrators)."))
    async def set_approval_reminder_hours(
        self, info: strawberry.Info, input: Annotated[SetApprovalReminderHoursInput, INPUT],
    ) -> UpdateCompanyResult:
        return await run_mutation(info, lambda ctx: approval_reminder.set_reminder_hours(ctx, hours=input.hours),
                                  lambda company: UpdateCompanyPayload(company=Company.from_model(company)))
