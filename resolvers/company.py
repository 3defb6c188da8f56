"""Registering a company with its first administrator, and keeping its details."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from models import Company, Country, Group, Membership, MembershipStatus, Role, User
from models.company import CURRENCY_BY_COUNTRY, format_org_number, validate_org_number
from models.errors import DomainError, ErrorCode
from models.group import DEFAULT_GROUP_NAME
from models.user import normalize_email
from policies.permissions import Permission
from policies.scopes import company_rows, load_member
from resolvers.audit import audit
from resolvers.context import UseCaseContext
from resolvers.cost_centre import attach_default, create_default_cost_centre
from resolvers.mail import queue_mail
from resolvers.security import check_password_strength
from resolvers.spend import ensure_credit_account
from resolvers.throttle import password_matches
from resolvers.validation import clean_email, clean_text


@dataclass
class Address:
    street: str
    postal_code: str
    city: str


@dataclass
class RegisteredCompany:
    company: Company
    administrator: Membership
    other_accounts_on_org_number: int


async def register_company(
    ctx: UseCaseContext, *, country: Country, org_number: str, name: str, address: Address,
    contact_email: str, contact_phone: str | None, admin_email: str, admin_first_name: str,
    admin_last_name: str, admin_password: str,
) -> RegisteredCompany:
    compact = validate_org_number(country, org_number)
    company = Company(
        name=clean_text(name, "name", 200), country=country.value, org_number=compact,
        currency=CURRENCY_BY_COUNTRY[country], contact_email=clean_email(contact_email, "contactEmail", ctx.settings),
        contact_phone=clean_text(contact_phone, "contactPhone", 40, required=False),
        **_address_columns(address),
    )
    admin = await _first_administrator(ctx, admin_email, admin_first_name, admin_last_name, admin_password)
    existing = list((await ctx.session.scalars(
        select(Company).where(Company.country == country.value, Company.org_number == compact).order_by(Company.id)
    )).all())
    company.created_by_id = admin.id
    group = Group(name=DEFAULT_GROUP_NAME)
    ctx.session.add(company)
    await ctx.session.flush()
    group.company_id = company.id
    ctx.session.add(group)
    await ctx.session.flush()
    membership = Membership(
        company_id=company.id, user_id=admin.id, group_id=group.id, role=Role.ADMIN.value,
        status=MembershipStatus.ACTIVE.value, payment_methods=["card"],
    )
    ctx.session.add(membership)
    await ctx.session.flush()
    await create_default_cost_centre(ctx, company)
    await attach_default(ctx, membership)
    await ensure_credit_account(ctx, company.id)
    await _confirm_registration(ctx, company, admin, existing)
    return RegisteredCompany(company, await load_member(ctx.session, membership), len(existing))


async def _first_administrator(ctx: UseCaseContext, email: str, first: str, last: str, password: str) -> User:
    """A new person, or an existing one who proves it with their password (several accounts)."""
    email = clean_email(email, "administrator.email", ctx.settings)
    existing = await ctx.session.scalar(select(User).where(User.email == normalize_email(email)))
    if existing is not None:
        if not await password_matches(ctx, existing, password, "administrator.email"):
            raise DomainError(
                ErrorCode.EMAIL_TAKEN,
                "This email already has an account: give that account's password to register another company with it",
                "administrator.email", persist=True,
            )
        return existing
    check_password_strength(password, "administrator.password")
    user = User(
        email=email, first_name=clean_text(first, "administrator.firstName", 100),
        last_name=clean_text(last, "administrator.lastName", 100),
        password_hash=await ctx.services.passwords.hash(password),
    )
    ctx.session.add(user)
    await ctx.session.flush()
    return user


def _address_columns(address: Address) -> dict:
    return {
        "street": clean_text(address.street, "address.street", 200),
        "postal_code": clean_text(address.postal_code, "address.postalCode", 20),
        "city": clean_text(address.city, "address.city", 100),
    }


async def current_company(ctx: UseCaseContext) -> Company:
    actor = ctx.require(Permission.COMPANY_READ)
    return await ctx.session.get_one(Company, actor.company_id)


async def update_company(
    ctx: UseCaseContext, *, name: str | None, address: Address | None, contact_email: str | None,
    contact_phone: str | None,
) -> Company:
    actor = ctx.require(Permission.COMPANY_UPDATE)
    company = await ctx.session.get_one(Company, actor.company_id, with_for_update=True)
    if name is not None:
        company.name = clean_text(name, "name", 200)
    if address is not None:
        for column, value in _address_columns(address).items():
            setattr(company, column, value)
    if contact_email is not None:
        company.contact_email = clean_email(contact_email, "contactEmail", ctx.settings)
    if contact_phone is not None:
        company.contact_phone = clean_text(contact_phone, "contactPhone", 40, required=False)
    await ctx.session.flush()
    return company


async def _confirm_registration(ctx: UseCaseContext, company: Company, admin: User, existing: list[Company]) -> None:
    """The registrant gets a confirmation. A second account on an organisation number is allowed and
    only informs (DOMAIN.md): every existing account's administrators are emailed and it goes into
    their audit log. The registrant learns that other accounts exist, never which or whose."""
    number = format_org_number(Country(company.country), company.org_number)
    separate = (
        f"\nThis organisation number already had {len(existing)} purchasing account(s) on Procura. Yours is a new, "
        "separate account: its users, orders, budgets and credit are its own. The administrators of the existing "
        "account(s) have been told of this registration.\n"
    ) if existing else ""
    await queue_mail(
        ctx, to=admin.email, subject=f"{company.name} is registered on Procura",
        body=(f"Hello {admin.full_name or admin.email},\n\nA new purchasing account, {company.name} "
              f"(organisation number {number}), is registered on Procura, with you as its administrator.\n{separate}\n"
              f"Sign in here: {ctx.settings.public_url}\n"),
    )
    for other in existing:
        await audit(ctx, "company", other.id, "new_account_on_org_number", company_id=other.id, actor_user_id=admin.id,
                    after={"org_number": number, "new_account": company.name, "registered_by": admin.email})
        admins = await ctx.session.scalars(
            company_rows(Membership, other, User.email).join(User, User.id == Membership.user_id)
            .where(Membership.role == Role.ADMIN.value, Membership.status == MembershipStatus.ACTIVE.value)
            .order_by(Membership.id))
        for email in admins.all():
            await queue_mail(
                ctx, to=email, subject=f"A new purchasing account on organisation number {number}",
                body=(f"Hello,\n\nA new purchasing account, {company.name}, was registered on Procura with the "
                      f"organisation number {number}, which your account {other.name} has too. Several accounts on "
                      f"one organisation number are allowed: the new one is separate, and nothing of {other.name} is "
                      f"shared with it or changed.\n\nIt was registered by {admin.full_name or admin.email} "
                      f"<{admin.email}>.\n"
                      "If you do not recognise this registration, contact Procura's customer service.\n"),
            )
