"""Card purchases on the company's invoice, and card refunds on its credit notes (README "The invoice run").

A card purchase's amount is gross, VAT included; an invoice line states a net amount and a VAT rate, and the
document's VAT is computed per rate on the sum of its lines' nets (`document_totals`, EN 16931). The rule:

- a purchase is invoiced at net = round(gross x 100 / (100 + rate)), half up to the øre, quantity 1 at that unit
  price; the invoice's total is `document_totals`' figure. Over several purchases at one rate, VAT computed on the
  summed nets can differ from the sum of the gross amounts by an øre or two (each purchase's net is within half
  an øre of its exact net): the invoice is what the company owes, as for orders.
- a purchase partly refunded before invoicing is invoiced at what is left (net of the gross left).
- a refund of an invoiced purchase is credited at net(gross left before it) - net(gross left after it): the
  credits of a purchase add up to exactly the net it was invoiced at, so a fully refunded purchase is fully
  credited whatever its refunds' sizes.
"""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from models import InvoiceLine

UNIT = "pcs"


def net_of(gross_minor: int, vat_rate: int) -> int:
    """The net amount of a gross amount at a VAT rate, rounded half up to the minor unit."""
    return int((Decimal(gross_minor) * 100 / (100 + vat_rate)).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def card_label(last4: str) -> str:
    return f"Card •••• {last4}"


def holder_name(row: Any) -> str:
    return f"{row.first_name or ''} {row.last_name or ''}".strip()


def _describe(row: Any, when: datetime, what: str = "") -> str:
    parts = [f"{what}{card_label(row.last4)}", holder_name(row), row.store_reference, when.date().isoformat()]
    return ", ".join(part for part in parts if part)[:200]


def purchase_line(row: Any) -> InvoiceLine | None:
    """The invoice line of a card purchase (CardPurchase columns with the card's last4 and the holder's name), at
    what is left of it after refunds; None when nothing is left."""
    gross = row.amount_minor - (row.refunded_minor or 0)
    if gross <= 0:
        return None
    net = net_of(gross, row.vat_rate)
    return InvoiceLine(
        card_purchase_id=row.id, sku="", name=_describe(row, row.authorized_at), unit=UNIT, quantity=1,
        unit_price_minor=net, vat_rate=row.vat_rate, net_minor=net, order_number="",
        order_reference=card_label(row.last4), po_number="", buyer_name=holder_name(row), end_customer_name="",
        delivered_on=row.authorized_at.date())


def refund_line(row: Any, refunded_before: int) -> InvoiceLine:
    """The credit note line of a refund of an invoiced purchase; `refunded_before`: the purchase's earlier refunds."""
    left = row.amount_minor - refunded_before
    net = net_of(left, row.vat_rate) - net_of(max(left - row.refund_amount_minor, 0), row.vat_rate)
    return InvoiceLine(
        card_purchase_id=row.purchase_id, card_refund_id=row.refund_id,
        sku="", name=_describe(row, row.authorized_at, "Refund, "), unit=UNIT, quantity=1,
        unit_price_minor=net, vat_rate=row.vat_rate, net_minor=net, order_number="",
        order_reference=card_label(row.last4), po_number="", buyer_name=holder_name(row), end_customer_name="",
        delivered_on=row.authorized_at.date())


def card_line_order(line: InvoiceLine) -> tuple[str, str, Any, int]:
    """Card lines together per card and holder (the PDF heads each group), oldest purchase first."""
    return line.order_reference, line.buyer_name, line.delivered_on, line.card_purchase_id or 0


def is_card_line(line: InvoiceLine) -> bool:
    return line.card_purchase_id is not None or line.card_refund_id is not None
