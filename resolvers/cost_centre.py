"""Cost centres (invoice recipients) and which users may book to them."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Select, delete, select

from models import Company, CostCentre, MemberCostCentre, Membership
from models.errors import DomainError, ErrorCode
from policies.permissions import Permission
from policies.scopes import company_rows, company_scope, find_member
from resolvers.audit import audit
from resolvers.context import UseCaseContext
from resolvers.validation import clean_text

DEFAULT_CODE = "MAIN"


@dataclass
class CostCentreSpec:
    name: str
    code: str
    street: str
    postal_code: str
    city: str
    active: bool = True
    # The reference printed on its invoices (the recipient's own, e.g. an accounts-payable code); None: keep.
    invoice_reference: str | None = None


async def create_default_cost_centre(ctx: UseCaseContext, company: Company) -> CostCentre:
    centre = CostCentre(company_id=company.id, name=company.name, code=DEFAULT_CODE, street=company.street,
                        postal_code=company.postal_code, city=company.city)
    ctx.session.add(centre)
    await ctx.session.flush()
    return centre


async def attach_default(ctx: UseCaseContext, membership: Membership) -> None:
    """New users book to the company's first active cost centre until an administrator says otherwise."""
    centre_id = await ctx.session.scalar(company_rows(CostCentre, membership, CostCentre.id).where(
        CostCentre.active.is_(True)).order_by(CostCentre.id).limit(1))
    if centre_id is not None:
        ctx.session.add(MemberCostCentre(membership_id=membership.id, cost_centre_id=centre_id, is_default=True))
        await ctx.session.flush()


async def member_cost_centres(
    ctx: UseCaseContext, membership_ids: list[int],
) -> dict[int, list[tuple[CostCentre, bool]]]:
    rows = await ctx.session.execute(company_scope(CostCentre, ctx.actor).apply(
        select(MemberCostCentre.membership_id, CostCentre, MemberCostCentre.is_default)
        .join(CostCentre, CostCentre.id == MemberCostCentre.cost_centre_id)
        .where(MemberCostCentre.membership_id.in_(membership_ids)).order_by(CostCentre.id)))
    result: dict[int, list[tuple[CostCentre, bool]]] = {m: [] for m in membership_ids}
    for membership_id, centre, is_default in rows:
        result[membership_id].append((centre, is_default))
    return result


async def resolve_cost_centre(ctx: UseCaseContext, membership_id: int, chosen: int | None) -> int:
    """The order's cost centre: the chosen one if the buyer is attached to it, else their default."""
    attached = (await member_cost_centres(ctx, [membership_id]))[membership_id]
    active = [(c, d) for c, d in attached if c.active]
    if chosen is not None:
        if not any(c.id == chosen for c, _ in active):
            raise DomainError(ErrorCode.NOT_FOUND, "You are not attached to that cost centre", "costCentreId")
        return chosen
    default = next((c.id for c, d in active if d), active[0][0].id if active else None)
    if default is None:
        raise DomainError(ErrorCode.INVALID_INPUT, "You are attached to no cost centre; ask an administrator",
                          "costCentreId")
    return default


def _visible_cost_centres(ctx: UseCaseContext) -> Select:
    """All of the company's cost centres with `cost_centre:read`; a buyer's own otherwise."""
    actor = ctx.require_signed_in()
    if ctx.allows(Permission.COST_CENTRE_READ):
        return company_rows(CostCentre, actor)
    ctx.require(Permission.ORDER_CREATE)
    return company_rows(CostCentre, actor).join(
        MemberCostCentre, MemberCostCentre.cost_centre_id == CostCentre.id).where(
        MemberCostCentre.membership_id == actor.membership_id)


async def list_cost_centres(ctx: UseCaseContext) -> list[CostCentre]:
    return list((await ctx.session.scalars(_visible_cost_centres(ctx).order_by(CostCentre.id))).all())


async def get_cost_centre(ctx: UseCaseContext, cost_centre_id: int) -> CostCentre | None:
    """A cost centre the caller may see (all of the company's with `cost_centre:read`, else their own), or None."""
    return await ctx.session.scalar(_visible_cost_centres(ctx).where(CostCentre.id == cost_centre_id))


def _snapshot(c: CostCentre) -> dict:
    return {"name": c.name, "code": c.code, "street": c.street, "postal_code": c.postal_code, "city": c.city,
            "active": c.active, "invoice_reference": c.invoice_reference}


async def save_cost_centre(ctx: UseCaseContext, *, cost_centre_id: int | None, spec: CostCentreSpec) -> CostCentre:
    actor = ctx.require(Permission.COST_CENTRE_MANAGE)
    code = clean_text(spec.code, "code", 40).upper()
    clash = company_rows(CostCentre, actor, CostCentre.id).where(CostCentre.code == code)
    if cost_centre_id is not None:
        clash = clash.where(CostCentre.id != cost_centre_id)
    if await ctx.session.scalar(clash) is not None:
        raise DomainError(ErrorCode.INVALID_INPUT, f"Another cost centre has the code {code}", "code")
    before = None
    if cost_centre_id is None:
        centre = CostCentre(company_id=actor.company_id)
        ctx.session.add(centre)
    else:
        centre = await ctx.session.scalar(
            company_rows(CostCentre, actor).where(CostCentre.id == cost_centre_id).with_for_update())
        if centre is None:
            raise DomainError(ErrorCode.NOT_FOUND, "No such cost centre", "id")
        before = _snapshot(centre)
    centre.name, centre.code = clean_text(spec.name, "name", 200), code
    centre.street = clean_text(spec.street, "invoiceAddress.street", 200)
    centre.postal_code = clean_text(spec.postal_code, "invoiceAddress.postalCode", 20)
    centre.city = clean_text(spec.city, "invoiceAddress.city", 100)
    centre.active = spec.active
    if spec.invoice_reference is not None:
        centre.invoice_reference = clean_text(spec.invoice_reference, "invoiceReference", 200, required=False) or ""
    elif before is None:
        centre.invoice_reference = ""
    await ctx.session.flush()
    await audit(ctx, "cost_centre", centre.id, "create" if before is None else "update", before=before,
                after=_snapshot(centre))
    return centre


async def set_user_cost_centres(
    ctx: UseCaseContext, *, membership_id: int, cost_centre_ids: list[int], default_id: int | None,
) -> Membership:
    actor = ctx.require(Permission.COST_CENTRE_MANAGE)
    member = await find_member(ctx.session, actor, membership_id, for_update=True)
    if member is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No such user", "userId")
    ids = list(dict.fromkeys(cost_centre_ids))
    found = set((await ctx.session.scalars(
        company_rows(CostCentre, actor, CostCentre.id).where(CostCentre.id.in_(ids)))).all())
    if found != set(ids):
        raise DomainError(ErrorCode.NOT_FOUND, "No such cost centre", "costCentreIds")
    # A given default is checked even when it is 0 (an id of no cost centre) or the list is empty.
    default = (ids[0] if ids else None) if default_id is None else default_id
    if default is not None and default not in found:
        raise DomainError(ErrorCode.INVALID_INPUT, "The default must be one of the user's cost centres", "defaultId")
    before = sorted((await member_cost_centres(ctx, [member.id]))[member.id], key=lambda p: p[0].id)
    await ctx.session.execute(delete(MemberCostCentre).where(MemberCostCentre.membership_id == member.id))
    ctx.session.add_all(MemberCostCentre(membership_id=member.id, cost_centre_id=i, is_default=i == default)
                        for i in ids)
    await ctx.session.flush()
    await audit(ctx, "user", member.id, "cost_centres",
                before={"cost_centres": [c.id for c, _ in before],
                        "default": next((c.id for c, d in before if d), None)},
                after={"cost_centres": ids, "default": default})
    return member
