"""CSV import of the catalogue: upsert by SKU, all or nothing.

Columns: sku, name, description, unit, category, unit_price (decimal, excluding VAT, in the
supplier's currency), vat_rate (percent), active (optional: true/false, default true).
A bad row is reported with its line number and nothing of the file is written.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from sqlalchemy import select

from models import Product
from models.errors import DomainError
from models.money import parse_amount
from resolvers.catalogue import ProductFields, apply_fields
from resolvers.context import Services

REQUIRED_COLUMNS = ("sku", "name", "unit", "category", "unit_price", "vat_rate")
TRUE_WORDS, FALSE_WORDS = {"true", "yes", "1", ""}, {"false", "no", "0"}


class ProductImportError(Exception):
    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}")
        self.line, self.message = line, message


@dataclass
class ImportResult:
    created: int
    updated: int


def _fields(row: dict[str, str], line: int) -> ProductFields:
    try:
        vat_rate = int(row["vat_rate"].strip().rstrip("%"))
    except ValueError as exc:
        raise ProductImportError(line, f"vat_rate {row['vat_rate']!r} is not a whole number") from exc
    active = (row.get("active") or "").strip().lower()
    if active not in TRUE_WORDS | FALSE_WORDS:
        raise ProductImportError(line, f"active {active!r} is not true or false")
    try:
        price = parse_amount(row["unit_price"], "unit_price")
    except DomainError as exc:
        raise ProductImportError(line, f"unit_price {row['unit_price']!r}: {exc.message}") from exc
    return ProductFields(
        sku=row["sku"], name=row["name"], description=row.get("description") or "", unit=row["unit"],
        category=row["category"], unit_price_minor=price, vat_rate=vat_rate, active=active in TRUE_WORDS,
    )


async def import_products(services: Services, content: str) -> ImportResult:
    reader = csv.DictReader(io.StringIO(content.lstrip("\ufeff")))
    missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise ProductImportError(1, f"missing column(s): {', '.join(missing)}")
    created = updated = 0
    seen: set[str] = set()
    async with services.db.transaction() as session:
        existing = {p.sku: p for p in (await session.scalars(select(Product))).all()}
        for row in reader:
            line = reader.line_num
            fields = _fields(row, line)
            product = existing.get((fields.sku or "").strip())
            if product is None:
                product = Product(currency=services.settings.supplier_currency)
            try:
                apply_fields(product, fields)
            except DomainError as exc:
                raise ProductImportError(line, f"{exc.field}: {exc.message}") from exc
            if product.sku in seen:
                raise ProductImportError(line, f"SKU {product.sku} appears twice in the file")
            seen.add(product.sku)
            if product.id is None:
                session.add(product)
                existing[product.sku] = product
                created += 1
            else:
                updated += 1
        await session.flush()
    return ImportResult(created, updated)
