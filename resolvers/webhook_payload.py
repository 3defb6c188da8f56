"""The body of a webhook: what a receiver gets for one event (README "Webhooks" documents it).

    {"type": "order.approved", "timestamp": "2026-12-01T15:21:03.123456+00:00",
     "data": {"order": {...}, "change": {...}}}

`type` is the event, `timestamp` when the change happened (UTC). `data.change` is the entry of the
order's timeline that the event reports: its `id` is the OrderChange of the change feed (`orderChanges`,
`node(id:)`), then kind, status before and after, comment, when, and by whom;
`data.order` is the order when the delivery was made, shortly after the change: fields named as the
API's `Order`, ids the API's global ids, amounts decimal strings with their currency (`{"amount":
"1234.50", "currency": "NOK"}`), statuses and kinds as the API's enum names. A later change may already
show in `data.order` (an order approved a moment after its submission is APPROVED in both events);
`data.change` always says what this event was.
"""

from __future__ import annotations

import base64
from datetime import datetime

from models.money import format_amount
from models.webhook import WebhookEvent
from resolvers.order_view import EventView, LineView, OrderView


def global_id(type_name: str, pk: int) -> str:
    """The API's global id (schema.relay.to_global_id, which resolvers may not import; a test compares them)."""
    return base64.urlsafe_b64encode(f"{type_name}:{pk}".encode()).decode().rstrip("=")


def _money(minor: int, currency: str) -> dict:
    return {"amount": format_amount(minor), "currency": currency}


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _enum(value: str | None) -> str | None:
    """A stored status or kind ("pending_approval") as the API's enum name ("PENDING_APPROVAL")."""
    return value.upper() if value else None


def _line(line: LineView, currency: str) -> dict:
    return {
        "id": global_id("OrderLine", line.id), "productId": global_id("Product", line.product_id), "sku": line.sku,
        "name": line.name, "unit": line.unit, "quantity": line.quantity,
        "unitPrice": _money(line.unit_price_minor, currency), "vatRate": line.vat_rate,
        "net": _money(line.net_minor, currency), "vat": _money(line.vat_minor, currency),
        "gross": _money(line.net_minor + line.vat_minor, currency), "returnedQuantity": line.returned_quantity,
    }


def order_data(view: OrderView) -> dict:
    c = view.currency
    return {
        "id": global_id("Order", view.id), "number": view.number, "status": _enum(view.status.value),
        "reference": view.reference, "poNumber": view.po_number, "paymentMethod": _enum(view.payment_method),
        "buyer": {"userId": global_id("User", view.buyer_id), "name": view.buyer_name, "email": view.buyer_email},
        "group": {"groupId": global_id("Group", view.group_id), "name": view.group_name},
        "costCentre": None if view.cost_centre_id is None else {
            "costCentreId": global_id("CostCentre", view.cost_centre_id), "name": view.cost_centre_name,
            "code": view.cost_centre_code},
        "endCustomer": None if view.end_customer_id is None else {
            "endCustomerId": global_id("EndCustomer", view.end_customer_id), "name": view.end_customer_name},
        "delivery": {
            "locationId": global_id("DeliveryLocation", view.location_id) if view.location_id else None,
            "address": {"street": view.delivery_street, "postalCode": view.delivery_postal_code,
                        "city": view.delivery_city} if view.delivery_street else None,
            "date": view.delivery_date.isoformat() if view.delivery_date else None,
        },
        "createdAt": _time(view.created_at), "submittedAt": _time(view.submitted_at),
        "updatedAt": _time(view.updated_at), "warnings": list(view.warnings),
        "totals": {"net": _money(view.net_minor, c), "vat": _money(view.vat_minor, c),
                   "gross": _money(view.net_minor + view.vat_minor, c), "credited": _money(view.credited_minor, c)},
        "lines": [_line(line, c) for line in view.lines],
    }


def change_data(change_id: int, event: EventView) -> dict:
    return {
        "id": global_id("OrderChange", change_id), "kind": _enum(event.kind), "fromStatus": _enum(event.from_status),
        "toStatus": _enum(event.to_status),
        "comment": event.comment, "at": _time(event.created_at),
        "actorId": global_id("Person", event.actor_user_id) if event.actor_user_id else None,
    }


def order_event_payload(event_type: WebhookEvent, order: OrderView, change_id: int, entry: EventView) -> dict:
    """The body for the change `change_id` (the OrderChange of the feed), whose timeline entry is `entry`."""
    return {"type": event_type.value, "timestamp": _time(entry.created_at),
            "data": {"order": order_data(order), "change": change_data(change_id, entry)}}
