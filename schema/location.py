"""Delivery locations (units), their slots, and end customers."""

from __future__ import annotations

from datetime import datetime, time
from enum import Enum
from typing import Annotated

import strawberry

from models import DeliveryLocation as LocationModel
from models import DeliverySlot as SlotModel
from models import EndCustomer as EndCustomerModel
from models.location import WEEKDAYS
from resolvers import location as use_cases
from schema.company import Address, AddressInput
from schema.errors import INPUT, MutationError, run_mutation
from schema.relay import Connection, Node, connection, decode_id, from_cursor, optional_id, to_global_id


@strawberry.enum(name="Weekday", description="Day of the week.")
class Weekday(Enum):
    _value_: int  # strawberry.enum leaves each member the plain value given to its enum_value()

    MONDAY = strawberry.enum_value(0, description="Monday")
    TUESDAY = strawberry.enum_value(1, description="Tuesday")
    WEDNESDAY = strawberry.enum_value(2, description="Wednesday")
    THURSDAY = strawberry.enum_value(3, description="Thursday")
    FRIDAY = strawberry.enum_value(4, description="Friday")
    SATURDAY = strawberry.enum_value(5, description="Saturday")
    SUNDAY = strawberry.enum_value(6, description="Sunday")


assert [(day.name, day.value) for day in Weekday] == [(name, index) for index, name in enumerate(WEEKDAYS)]


@strawberry.type(description="A weekly delivery window that a unit offers.")
class DeliverySlot(Node):
    weekday: Weekday = strawberry.field(description="Day of the week.")
    starts_at: time = strawberry.field(description="Start of the window (local time of the unit).")
    ends_at: time = strawberry.field(description="End of the window (local time of the unit).")

    @classmethod
    def from_model(cls, slot: SlotModel) -> DeliverySlot:
        return cls(id=to_global_id("DeliverySlot", slot.id), weekday=Weekday(slot.weekday), starts_at=slot.starts_at,
                   ends_at=slot.ends_at)


@strawberry.type(description="A delivery location (unit) of the company.")
class DeliveryLocation(Node):
    name: str = strawberry.field(description="Name of the unit.")
    address: Address = strawberry.field(description="Delivery address; orders for its end customers go here.")
    slots: list[DeliverySlot] = strawberry.field(description="The delivery windows the unit offers.")

    @classmethod
    def from_model(cls, location: LocationModel) -> DeliveryLocation:
        return cls(id=to_global_id("DeliveryLocation", location.id), name=location.name,
                   address=Address(street=location.street, postal_code=location.postal_code, city=location.city),
                   slots=[DeliverySlot.from_model(s) for s in location.slots])


@strawberry.type(description="An end customer (consignee), such as a care recipient, belonging to a unit.")
class EndCustomer(Node):
    name: str = strawberry.field(description="Name.")
    note: str = strawberry.field(description="Note that follows every order, e.g. \"lactose intolerant\".")
    location_id: strawberry.ID = strawberry.field(description="The unit the end customer belongs to.")
    ordered: bool = strawberry.field(description="Whether an order has been placed for the end customer (\"Ordered\").")
    last_ordered_at: datetime | None = strawberry.field(description="When the last order was placed for them (UTC).")

    @classmethod
    def from_model(cls, customer: EndCustomerModel) -> EndCustomer:
        return cls(id=to_global_id("EndCustomer", customer.id), name=customer.name, note=customer.note,
                   location_id=to_global_id("DeliveryLocation", customer.location_id),
                   ordered=customer.last_ordered_at is not None, last_ordered_at=customer.last_ordered_at)


@strawberry.input(description="A delivery window.")
class DeliverySlotInput:
    weekday: Weekday = strawberry.field(description="Day of the week.")
    starts_at: time = strawberry.field(description="Start, e.g. 08:00.")
    ends_at: time = strawberry.field(description="End, after the start.")


@strawberry.input(description="A delivery location; on update, `id` names it and `slots` replaces the offer.")
class DeliveryLocationInput:
    id: strawberry.ID | None = strawberry.field(default=None, description="The location to change; omit to create one.")
    name: str = strawberry.field(description="Name of the unit.")
    address: AddressInput = strawberry.field(description="Delivery address.")
    slots: list[DeliverySlotInput] | None = strawberry.field(
        default=None, description="Delivery windows (omit to keep).")


@strawberry.input(description="An end customer; on update, `id` names them.")
class EndCustomerInput:
    id: strawberry.ID | None = strawberry.field(
        default=None, description="The end customer to change; omit to create one.")
    name: str = strawberry.field(description="Name.")
    note: str | None = strawberry.field(default=None, description="Note that follows every order.")
    location_id: strawberry.ID = strawberry.field(description="The unit they belong to.")


@strawberry.type(description="The location after the change.")
class DeliveryLocationPayload:
    location: DeliveryLocation = strawberry.field(description="The location.")


@strawberry.type(description="The end customer after the change.")
class EndCustomerPayload:
    end_customer: EndCustomer = strawberry.field(description="The end customer.")


LocationResult = Annotated[
    DeliveryLocationPayload | MutationError,
    strawberry.union("DeliveryLocationResult", description="Result of saveDeliveryLocation."),
]
EndCustomerResult = Annotated[
    EndCustomerPayload | MutationError, strawberry.union("EndCustomerResult", description="Result of saveEndCustomer.")
]


@strawberry.type
class LocationQuery:
    @strawberry.field(description="The company's delivery locations with their slots. Requires `location:read`.")
    async def delivery_locations(self, info: strawberry.Info) -> list[DeliveryLocation]:
        async with info.context.reading() as ctx:
            return [DeliveryLocation.from_model(location) for location in await use_cases.list_locations(ctx)]

    @strawberry.field(description="The company's end customers. Requires `location:read`.")
    async def end_customers(
        self, info: strawberry.Info,
        location_id: Annotated[strawberry.ID | None, strawberry.argument(description="Only this unit's.")] = None,
        search: Annotated[str | None, strawberry.argument(description="Part of the name.")] = None,
        first: Annotated[int, strawberry.argument(description="Page size, at most 100.")] = 50,
        after: Annotated[str | None, strawberry.argument(description="Cursor to start after.")] = None,
    ) -> Connection[EndCustomer]:
        async with info.context.reading() as ctx:
            page = await use_cases.list_end_customers(
                ctx, location_id=optional_id(location_id, "DeliveryLocation"), search=search, first=first,
                after=from_cursor(after))
        return connection(page, EndCustomer.from_model)


@strawberry.type
class LocationMutation:
    @strawberry.mutation(description="Create or change a delivery location and its slots. Requires `location:manage`.")
    async def save_delivery_location(
        self, info: strawberry.Info, input: Annotated[DeliveryLocationInput, INPUT],
    ) -> LocationResult:
        slots = None if input.slots is None else [
            use_cases.SlotSpec(s.weekday.value, s.starts_at, s.ends_at) for s in input.slots]
        return await run_mutation(info, lambda ctx: use_cases.save_location(
            ctx, location_id=optional_id(input.id, "DeliveryLocation"), name=input.name, street=input.address.street,
            postal_code=input.address.postal_code, city=input.address.city, slots=slots,
        ), lambda location: DeliveryLocationPayload(location=DeliveryLocation.from_model(location)))

    @strawberry.mutation(description="Create or change an end customer. Requires `location:manage`.")
    async def save_end_customer(
        self, info: strawberry.Info, input: Annotated[EndCustomerInput, INPUT],
    ) -> EndCustomerResult:
        return await run_mutation(info, lambda ctx: use_cases.save_end_customer(
            ctx, end_customer_id=optional_id(input.id, "EndCustomer"), name=input.name, note=input.note,
            location_id=decode_id(input.location_id, "DeliveryLocation") or 0,
        ), lambda customer: EndCustomerPayload(end_customer=EndCustomer.from_model(customer)))
