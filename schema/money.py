"""Money as the API shows it: a decimal string amount and an ISO 4217 currency."""

from __future__ import annotations

from decimal import Decimal

import strawberry

from models.money import to_amount


@strawberry.type(description="An exact amount of money.")
class Money:
    amount: Decimal = strawberry.field(description="Decimal amount as a string, two decimals (\"1234.50\").")
    currency: str = strawberry.field(description="ISO 4217 currency code.")


def money(minor: int, currency: str) -> Money:
    return Money(amount=to_amount(minor), currency=currency)


@strawberry.type(description="VAT of one rate within a total.")
class VatAmount:
    rate: int = strawberry.field(description="VAT rate in percent.")
    net: Money = strawberry.field(description="Amount excluding VAT at this rate.")
    vat: Money = strawberry.field(description="VAT at this rate (rounded half-up per line, then summed).")
