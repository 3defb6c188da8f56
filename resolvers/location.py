"""Delivery locations (units) with their slots, and end customers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import selectinload

from models import DeliveryLocation, DeliverySlot, EndCustomer, Order
from models.base import utcnow
from models.errors import DomainError, ErrorCode
from policies.permissions import Permission
from policies.scopes import company_rows, company_scope
from resolvers.context import UseCaseContext
from resolvers.pagination import Page, keyset_page
from resolvers.validation import clean_text


@dataclass
class SlotSpec:
    weekday: int
    starts_at: time
    ends_at: time


def _check_slots(slots: list[SlotSpec]) -> None:
    for index, slot in enumerate(slots):
        if not 0 <= slot.weekday <= 6 or slot.starts_at >= slot.ends_at:
            raise DomainError(ErrorCode.INVALID_INPUT, "A slot needs a weekday and a start before its end",
                              f"slots.{index}")


async def list_locations(ctx: UseCaseContext) -> list[DeliveryLocation]:
    actor = ctx.require(Permission.LOCATION_READ)
    query = (company_rows(DeliveryLocation, actor).options(selectinload(DeliveryLocation.slots))
             .order_by(DeliveryLocation.id))
    return list((await ctx.session.scalars(query)).all())


async def find_location(ctx: UseCaseContext, location_id: int, *, for_update: bool = False) -> DeliveryLocation | None:
    actor = ctx.require(Permission.LOCATION_READ)
    query = (company_rows(DeliveryLocation, actor).where(DeliveryLocation.id == location_id)
             .options(selectinload(DeliveryLocation.slots)))
    if for_update:
        query = query.with_for_update(of=DeliveryLocation)
    return await ctx.session.scalar(query)


async def find_slot(ctx: UseCaseContext, slot_id: int) -> DeliverySlot | None:
    """A delivery slot of one of the company's locations, or None."""
    actor = ctx.require(Permission.LOCATION_READ)
    return await ctx.session.scalar(company_scope(DeliveryLocation, actor).apply(
        select(DeliverySlot).join(DeliveryLocation, DeliveryLocation.id == DeliverySlot.location_id)
        .where(DeliverySlot.id == slot_id)
    ))


async def save_location(
    ctx: UseCaseContext, *, location_id: int | None, name: str, street: str, postal_code: str, city: str,
    slots: list[SlotSpec] | None,
) -> DeliveryLocation:
    actor = ctx.require(Permission.LOCATION_MANAGE)
    location: DeliveryLocation | None
    if location_id is None:
        location = DeliveryLocation(company_id=actor.company_id)
        ctx.session.add(location)
    else:
        location = await find_location(ctx, location_id, for_update=True)
        if location is None:
            raise DomainError(ErrorCode.NOT_FOUND, "No such delivery location", "id")
    location.name = clean_text(name, "name", 200)
    location.street = clean_text(street, "address.street", 200)
    location.postal_code = clean_text(postal_code, "address.postalCode", 20)
    location.city = clean_text(city, "address.city", 100)
    await ctx.session.flush()
    if slots is not None:
        _check_slots(slots)
        # Slots that orders chose are retired (kept for their history); the others are deleted.
        await ctx.session.execute(update(DeliverySlot).where(
            DeliverySlot.location_id == location.id, DeliverySlot.retired_at.is_(None),
            DeliverySlot.id.in_(select_used_slots(location)),
        ).values(retired_at=utcnow()))
        await ctx.session.execute(delete(DeliverySlot).where(
            DeliverySlot.location_id == location.id, DeliverySlot.id.not_in(select_used_slots(location)),
        ))
        ctx.session.add_all(
            DeliverySlot(location_id=location.id, weekday=s.weekday, starts_at=s.starts_at, ends_at=s.ends_at)
            for s in slots)
        await ctx.session.flush()
    if location_id is not None:
        return await _reloaded(ctx, location.id)
    created = await find_location(ctx, location.id)
    assert created is not None  # written by this transaction
    return created


def select_used_slots(location: DeliveryLocation):
    """The slots that the company's orders chose (its locations' slots are chosen by its orders only)."""
    return company_rows(Order, location, Order.delivery_slot_id).where(Order.delivery_slot_id.is_not(None))


async def _reloaded(ctx: UseCaseContext, location_id: int) -> DeliveryLocation:
    query = (company_rows(DeliveryLocation, ctx.actor).where(DeliveryLocation.id == location_id)
             .options(selectinload(DeliveryLocation.slots)).execution_options(populate_existing=True))
    return await ctx.session.scalar(query)


async def list_end_customers(
    ctx: UseCaseContext, *, location_id: int | None, search: str | None, first: int, after: int | None,
) -> Page[EndCustomer]:
    actor = ctx.require(Permission.LOCATION_READ)
    query = company_rows(EndCustomer, actor)
    if location_id is not None:
        query = query.where(EndCustomer.location_id == location_id)
    if search:
        query = query.where(func.lower(EndCustomer.name).contains(search.strip().lower(), autoescape=True))
    return await keyset_page(ctx.session, query, EndCustomer.id, first=first, after=after,
                             maximum=ctx.settings.max_page_size)


async def find_end_customer(ctx: UseCaseContext, end_customer_id: int) -> EndCustomer | None:
    actor = ctx.require(Permission.LOCATION_READ)
    return await ctx.session.scalar(
        company_rows(EndCustomer, actor).where(EndCustomer.id == end_customer_id)
    )


async def save_end_customer(
    ctx: UseCaseContext, *, end_customer_id: int | None, name: str, note: str | None, location_id: int,
) -> EndCustomer:
    actor = ctx.require(Permission.LOCATION_MANAGE)
    if await find_location(ctx, location_id) is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No such delivery location", "locationId")
    customer: EndCustomer | None
    if end_customer_id is None:
        customer = EndCustomer(company_id=actor.company_id)
        ctx.session.add(customer)
    else:
        customer = await find_end_customer(ctx, end_customer_id)
        if customer is None:
            raise DomainError(ErrorCode.NOT_FOUND, "No such end customer", "id")
    customer.name = clean_text(name, "name", 200)
    customer.note = (note or "").strip()[:1000]
    customer.location_id = location_id
    await ctx.session.flush()
    return customer
