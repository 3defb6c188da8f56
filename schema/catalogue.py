"""The catalogue: products, search, and the operator's product management."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from models import Product as ProductModel
from models.money import parse_amount
from resolvers import catalogue as use_cases
from schema.errors import INPUT, MutationError, run_mutation
from schema.money import Money, money
from schema.relay import Connection, Node, connection, decode_id, from_cursor, to_global_id


@strawberry.type(description="A product of the supplier's catalogue.")
class Product(Node):
    sku: str = strawberry.field(description="Stock keeping unit, unique.")
    name: str = strawberry.field(description="Name.")
    description: str = strawberry.field(description="Description.")
    unit: str = strawberry.field(description="Sales unit (piece, pack, kg, ...).")
    category: str = strawberry.field(description="Category.")
    unit_price: Money = strawberry.field(description="Price per unit excluding VAT, in the supplier's currency.")
    vat_rate: int = strawberry.field(description="VAT rate in percent (25, 15, 12, 6 or 0).")
    active: bool = strawberry.field(description="Whether the product is sold; inactive ones cannot be ordered.")
    updated_at: datetime = strawberry.field(description="Last change (UTC).")

    @classmethod
    def from_model(cls, p: ProductModel) -> Product:
        return cls(id=to_global_id("Product", p.id), sku=p.sku, name=p.name, description=p.description, unit=p.unit,
                   category=p.category, unit_price=money(p.unit_price_minor, p.currency), vat_rate=p.vat_rate,
                   active=p.active, updated_at=p.updated_at)


@strawberry.input(description="A product's fields; on update, omitted fields stay as they are.")
class ProductInput:
    sku: str | None = strawberry.field(default=None, description="Unique SKU (required on create).")
    name: str | None = strawberry.field(default=None, description="Name (required on create).")
    description: str | None = strawberry.field(default=None, description="Description.")
    unit: str | None = strawberry.field(default=None, description="Sales unit (required on create).")
    category: str | None = strawberry.field(default=None, description="Category (required on create).")
    unit_price: str | None = strawberry.field(
        default=None, description="Price per unit excluding VAT, decimal string (required on create).")
    vat_rate: int | None = strawberry.field(
        default=None, description="VAT rate in percent: 25, 15, 12, 6 or 0 (required on create).")
    active: bool | None = strawberry.field(default=None, description="Whether the product is sold.")

    def to_domain(self) -> use_cases.ProductFields:
        price = parse_amount(self.unit_price, "unitPrice") if self.unit_price is not None else None
        return use_cases.ProductFields(self.sku, self.name, self.description, self.unit, self.category, price,
                                       self.vat_rate, self.active)


@strawberry.input(description="Changes to a product.")
class UpdateProductInput:
    id: strawberry.ID = strawberry.field(description="The product.")
    fields: ProductInput = strawberry.field(description="The fields to change; set `active: false` to deactivate.")


@strawberry.type(description="The product after the change.")
class ProductPayload:
    product: Product = strawberry.field(description="The product.")


ProductResult = Annotated[
    ProductPayload | MutationError, strawberry.union("ProductResult", description="Result of a product change.")
]


@strawberry.type
class CatalogueQuery:
    @strawberry.field(
        description="Search the catalogue by words and category. Requires `catalogue:read` (every role, operators, "
                    "API clients with CATALOGUE_READ).")
    async def products(
        self, info: strawberry.Info,
        search: Annotated[str | None, strawberry.argument(
            description="Words that must all appear in SKU, name, description or category.")] = None,
        category: Annotated[str | None, strawberry.argument(description="Only this category.")] = None,
        include_inactive: Annotated[bool, strawberry.argument(
            description="Operators only: include products no longer sold.")] = False,
        first: Annotated[int, strawberry.argument(description="Page size, at most 100.")] = 50,
        after: Annotated[str | None, strawberry.argument(description="Cursor to start after.")] = None,
    ) -> Connection[Product]:
        async with info.context.reading() as ctx:
            page = await use_cases.search_products(ctx, text=search, category=category,
                                                   include_inactive=include_inactive, first=first,
                                                   after=from_cursor(after))
        return connection(page, Product.from_model)

    @strawberry.field(description="One product, or null. Requires `catalogue:read`.")
    async def product(
        self, info: strawberry.Info, id: Annotated[strawberry.ID, strawberry.argument(description="Global id.")],
    ) -> Product | None:
        async with info.context.reading() as ctx:
            product = await use_cases.get_product(ctx, decode_id(id, "Product") or 0)
        return Product.from_model(product) if product else None

    @strawberry.field(description="The categories of products on sale. Requires `catalogue:read`.")
    async def product_categories(self, info: strawberry.Info) -> list[str]:
        async with info.context.reading() as ctx:
            return await use_cases.categories(ctx)


def _payload(product: ProductModel) -> ProductPayload:
    return ProductPayload(product=Product.from_model(product))


@strawberry.type
class CatalogueMutation:
    @strawberry.mutation(description="Add a product. Platform operators only (`catalogue:manage`).")
    async def create_product(self, info: strawberry.Info, input: Annotated[ProductInput, INPUT]) -> ProductResult:
        return await run_mutation(info, lambda ctx: use_cases.create_product(ctx, input.to_domain()), _payload)

    @strawberry.mutation(description="Change or deactivate a product. Platform operators only (`catalogue:manage`).")
    async def update_product(self, info: strawberry.Info, input: Annotated[UpdateProductInput, INPUT]) -> ProductResult:
        return await run_mutation(info, lambda ctx: use_cases.update_product(
            ctx, decode_id(input.id, "Product") or 0, input.fields.to_domain()), _payload,
            fields=lambda field: field if field == "id" else f"fields.{field}")
