"""How an exported order is written: NDJSON (one order object a line, its lines nested, then an end
line) and CSV (one row per order line, the order's columns repeated). Values are written as the API
writes them: global ids, enum names, money as decimal strings in the order's currency, times in ISO
8601 UTC, dates as YYYY-MM-DD."""

from __future__ import annotations

import base64
import csv
import io
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import orjson

from models.location import WEEKDAYS
from models.money import MINOR_PER_MAJOR
from resolvers.changes import Position, encode_cursor
from resolvers.order_view import LineView, OrderView
from schema.relay import to_global_id

# Money as a decimal string, exactly as models.money.format_amount writes it, without a Decimal per amount
# (an export writes tens of them per order; tests compare the two).
assert MINOR_PER_MAJOR == 100


def amount(minor: int) -> str:
    sign, minor = ("-", -minor) if minor < 0 else ("", minor)
    return f"{sign}{minor // 100}.{minor % 100:02d}"


def unique_id(type_name: str, pk: int) -> str:
    """schema.relay.to_global_id without its cache, for ids an export meets once (orders, lines): a cache
    of a million entries would only churn."""
    return base64.urlsafe_b64encode(f"{type_name}:{pk}".encode()).decode().rstrip("=")


def _line(line: LineView) -> dict[str, Any]:
    return {
        "id": unique_id("OrderLine", line.id), "productId": to_global_id("Product", line.product_id),
        "sku": line.sku, "name": line.name, "unit": line.unit, "quantity": line.quantity,
        "unitPrice": amount(line.unit_price_minor), "vatRate": line.vat_rate,
        "net": amount(line.net_minor), "vat": amount(line.vat_minor),
        "gross": amount(line.net_minor + line.vat_minor), "substitutionAllowed": line.substitution_allowed,
        "returnedQuantity": line.returned_quantity,
    }


def order_document(v: OrderView) -> dict[str, Any]:
    """The NDJSON object of an order: the fields of the API's Order, money flattened to decimal strings.
    Times, dates and times of day stay objects: orjson writes them as ISO 8601 (as isoformat() does)."""
    totals = v.totals
    assert totals is not None  # fetch_orders sets them
    slot = None
    if v.slot_id is not None:
        slot = {"slotId": to_global_id("DeliverySlot", v.slot_id), "weekday": WEEKDAYS[v.slot_weekday or 0],
                "startsAt": v.slot_starts_at, "endsAt": v.slot_ends_at}
    return {
        "__typename": "Order", "id": unique_id("Order", v.id), "number": v.number, "status": v.status.name,
        "currency": v.currency, "createdAt": v.created_at, "submittedAt": v.submitted_at, "updatedAt": v.updated_at,
        "buyer": {"userId": to_global_id("User", v.buyer_id), "name": v.buyer_name, "email": v.buyer_email},
        "group": {"groupId": to_global_id("Group", v.group_id), "name": v.group_name},
        "endCustomer": None if v.end_customer_id is None else {
            "endCustomerId": to_global_id("EndCustomer", v.end_customer_id), "name": v.end_customer_name,
            "note": v.end_customer_note or ""},
        "costCentre": None if not v.cost_centre_id else {
            "costCentreId": to_global_id("CostCentre", v.cost_centre_id), "name": v.cost_centre_name,
            "code": v.cost_centre_code},
        "reference": v.reference, "poNumber": v.po_number,
        "paymentMethod": v.payment_method.upper() if v.payment_method else None,
        "delivery": {
            "locationId": to_global_id("DeliveryLocation", v.location_id) if v.location_id else None,
            "locationName": v.location_name,
            "address": {"street": v.delivery_street, "postalCode": v.delivery_postal_code,
                        "city": v.delivery_city} if v.delivery_street else None,
            "slot": slot, "date": v.delivery_date,
        },
        "totals": {
            "net": amount(totals.net), "vat": amount(totals.vat), "gross": amount(totals.gross),
            "credited": amount(v.credited_minor),
            "vatBreakdown": [{"rate": rate, "net": amount(net), "vat": amount(vat)}
                             for rate, (net, vat) in totals.vat_by_rate.items()],
        },
        "warnings": v.warnings,
        "lines": [_line(line) for line in v.lines],
    }


async def ndjson(batches: AsyncIterator[list[OrderView]], cursor: Position) -> AsyncIterator[bytes]:
    """One order object a line, then the end line: {"__typename": "ExportEnd", "orders": <count>,
    "feedCursor": <cursor>}. A stream without the end line was cut off."""
    count = 0
    async for views in batches:
        yield b"".join([orjson.dumps(order_document(view), option=orjson.OPT_APPEND_NEWLINE) for view in views])
        count += len(views)
    yield orjson.dumps({"__typename": "ExportEnd", "orders": count, "feedCursor": encode_cursor(cursor)}) + b"\n"


CSV_COLUMNS = (
    "order_id", "order_number", "status", "currency", "created_at", "submitted_at", "updated_at",
    "buyer_id", "buyer_name", "buyer_email", "group_id", "group_name", "end_customer_id", "end_customer_name",
    "cost_centre_id", "cost_centre_code", "cost_centre_name", "reference", "po_number", "payment_method",
    "delivery_location_id", "delivery_location_name", "delivery_street", "delivery_postal_code", "delivery_city",
    "delivery_date", "order_net", "order_vat", "order_gross", "order_credited",
    "line_id", "product_id", "sku", "name", "unit", "quantity", "unit_price", "vat_rate", "line_net", "line_vat",
    "line_gross", "substitution_allowed", "returned_quantity",
)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _text(value: str | None) -> str:
    """Free text as a cell that a spreadsheet does not run as a formula (a leading ' disarms =, +, -, @)."""
    if not value:
        return ""
    return "'" + value if value.startswith(_FORMULA_START) else value


def _time(value: datetime | None) -> str:
    return value.isoformat() if value is not None else ""


def _order_cells(v: OrderView) -> list[Any]:
    totals = v.totals
    assert totals is not None
    return [
        unique_id("Order", v.id), v.number, v.status.name, v.currency, _time(v.created_at),
        _time(v.submitted_at), _time(v.updated_at), to_global_id("User", v.buyer_id), _text(v.buyer_name),
        _text(v.buyer_email), to_global_id("Group", v.group_id), _text(v.group_name),
        to_global_id("EndCustomer", v.end_customer_id) if v.end_customer_id else "", _text(v.end_customer_name),
        to_global_id("CostCentre", v.cost_centre_id) if v.cost_centre_id else "", _text(v.cost_centre_code),
        _text(v.cost_centre_name), _text(v.reference), _text(v.po_number),
        v.payment_method.upper() if v.payment_method else "",
        to_global_id("DeliveryLocation", v.location_id) if v.location_id else "", _text(v.location_name),
        _text(v.delivery_street), _text(v.delivery_postal_code), _text(v.delivery_city),
        v.delivery_date.isoformat() if v.delivery_date else "", amount(totals.net), amount(totals.vat),
        amount(totals.gross), amount(v.credited_minor),
    ]


def _line_cells(line: LineView) -> list[Any]:
    return [
        unique_id("OrderLine", line.id), to_global_id("Product", line.product_id), _text(line.sku),
        _text(line.name), _text(line.unit), line.quantity, amount(line.unit_price_minor), line.vat_rate,
        amount(line.net_minor), amount(line.vat_minor), amount(line.net_minor + line.vat_minor),
        "true" if line.substitution_allowed else "false", line.returned_quantity,
    ]


_NO_LINE = [""] * 13


async def csv_rows(batches: AsyncIterator[list[OrderView]]) -> AsyncIterator[bytes]:
    """A header row, then one row per order line (an order without lines: one row with empty line cells).
    RFC 4180: comma-separated, CRLF line ends, quoted where needed, UTF-8."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    yield buffer.getvalue().encode()
    async for views in batches:
        buffer.seek(0)
        buffer.truncate()
        for view in views:
            order = _order_cells(view)
            writer.writerows([order + _line_cells(line) for line in view.lines] or [order + _NO_LINE])
        yield buffer.getvalue().encode()
