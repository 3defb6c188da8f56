"""Money as the API shows it: a decimal string amount and an ISO 4217 currency."""

from __future__ import annotations

from decimal import Decimal
from functools import lru_cache

import strawberry

from models.money import to_amount


@strawberry.type(description="An exact amount of money.")
class Money:
    amount: Decimal = strawberry.field(description="Decimal amount as a string, two decimals (\"1234.50\").")
    currency: str = strawberry.field(description="ISO 4217 currency code.")


@lru_cache(maxsize=8192)
def money(minor: int, currency: str) -> Money:
    """Money values are immutable, and a page repeats many (unit prices, zero credits): share them."""
    return Money(amount=to_amount(minor), currency=currency)


@strawberry.type(description="VAT of one rate within a total.")
class VatAmount:
    rate: int = strawberry.field(description="VAT rate in percent.")
    net: Money = strawberry.field(description="Amount excluding VAT at this rate.")
    vat: Money = strawberry.field(description="VAT at this rate (rounded half-up per line, then summed).")
