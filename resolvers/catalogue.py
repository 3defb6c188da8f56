"""The catalogue: buyers search it; platform operators keep it."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from models import Product
from models.errors import DomainError, ErrorCode
from models.money import check_vat_rate
from policies.actor import Actor
from policies.errors import Forbidden
from policies.permissions import Permission
from resolvers.context import UseCaseContext
from resolvers.pagination import Page, keyset_page
from resolvers.validation import clean_text


@dataclass
class ProductFields:
    """What an operator may set on a product; None leaves a field as it is (on update)."""

    sku: str | None = None
    name: str | None = None
    description: str | None = None
    unit: str | None = None
    category: str | None = None
    unit_price_minor: int | None = None
    vat_rate: int | None = None
    active: bool | None = None


def require_catalogue_read(ctx: UseCaseContext) -> Actor:
    """The catalogue is the platform's, not a company's: operators read it outside any company too."""
    actor = ctx.require_signed_in()
    if not ctx.allows(Permission.CATALOGUE_READ):
        raise Forbidden(f"You do not have permission to do this (requires {Permission.CATALOGUE_READ.value})")
    return actor


async def search_products(
    ctx: UseCaseContext, *, text: str | None, category: str | None, include_inactive: bool, first: int,
    after: int | None,
) -> Page[Product]:
    actor = require_catalogue_read(ctx)
    query = select(Product)
    if not (include_inactive and ctx.services.authorizer.allows(actor, Permission.CATALOGUE_MANAGE)):
        query = query.where(Product.active.is_(True))
    if category:
        query = query.where(Product.category == category)
    for word in (text or "").lower().split()[:8]:
        query = query.where(Product.search_text.contains(word, autoescape=True))
    return await keyset_page(ctx.session, query, Product.id, first=first, after=after,
                             maximum=ctx.settings.max_page_size)


async def get_product(ctx: UseCaseContext, product_id: int) -> Product | None:
    require_catalogue_read(ctx)
    return await ctx.session.get(Product, product_id)


async def categories(ctx: UseCaseContext) -> list[str]:
    require_catalogue_read(ctx)
    rows = await ctx.session.scalars(
        select(Product.category).where(Product.active.is_(True)).distinct().order_by(Product.category))
    return list(rows)


def apply_fields(product: Product, fields: ProductFields, *, field_prefix: str = "") -> None:
    """Validate and set the given fields (shared by the API and the CSV import)."""
    if fields.sku is not None:
        sku = clean_text(fields.sku, f"{field_prefix}sku", 64)
        if " " in sku:
            raise DomainError(ErrorCode.INVALID_INPUT, "A SKU has no spaces", f"{field_prefix}sku")
        product.sku = sku
    if fields.name is not None:
        product.name = clean_text(fields.name, f"{field_prefix}name", 200)
    if fields.description is not None:
        product.description = (fields.description or "").strip()[:5000]
    if fields.unit is not None:
        product.unit = clean_text(fields.unit, f"{field_prefix}unit", 20)
    if fields.category is not None:
        product.category = clean_text(fields.category, f"{field_prefix}category", 100)
    if fields.unit_price_minor is not None:
        if fields.unit_price_minor < 0:
            raise DomainError(ErrorCode.INVALID_INPUT, "A price cannot be negative", f"{field_prefix}unitPrice")
        product.unit_price_minor = fields.unit_price_minor
    if fields.vat_rate is not None:
        product.vat_rate = check_vat_rate(fields.vat_rate, f"{field_prefix}vatRate")
    if fields.active is not None:
        product.active = fields.active
    product.refresh_search_text()


async def _ensure_sku_free(ctx: UseCaseContext, sku: str, except_id: int | None = None) -> None:
    query = select(Product.id).where(Product.sku == sku)
    if except_id is not None:
        query = query.where(Product.id != except_id)
    with ctx.session.no_autoflush:  # the product's new SKU must not be flushed before the check
        taken = await ctx.session.scalar(query)
    if taken is not None:
        raise DomainError(ErrorCode.SKU_TAKEN, f"SKU {sku} is already used", "sku")


async def create_product(ctx: UseCaseContext, fields: ProductFields) -> Product:
    ctx.services.authorizer.require_operator(ctx.actor, Permission.CATALOGUE_MANAGE)
    required = {"sku": "sku", "name": "name", "unit": "unit", "category": "category", "unit_price_minor": "unitPrice",
                "vat_rate": "vatRate"}
    for name, input_field in required.items():
        if getattr(fields, name) is None:
            raise DomainError(ErrorCode.INVALID_INPUT, "This field is required", input_field)
    product = Product(currency=ctx.settings.supplier_currency, description="", active=True)
    apply_fields(product, fields)
    await _ensure_sku_free(ctx, product.sku)
    ctx.session.add(product)
    await ctx.session.flush()
    return product


async def update_product(ctx: UseCaseContext, product_id: int, fields: ProductFields) -> Product:
    ctx.services.authorizer.require_operator(ctx.actor, Permission.CATALOGUE_MANAGE)
    product = await ctx.session.get(Product, product_id, with_for_update=True)
    if product is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No such product", "id")
    apply_fields(product, fields)
    await _ensure_sku_free(ctx, product.sku, except_id=product.id)
    await ctx.session.flush()
    return product
