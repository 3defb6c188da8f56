"""Submitting the cart: snapshot prices and totals, number the order, decide it.

Idempotent by key: a retry with the same key returns the same order; the same key with a
different cart is IDEMPOTENCY_KEY_REUSED; concurrent duplicates create one order (they
serialize on the cart row, and the (buyer, key) pair is unique).
"""

from __future__ import annotations

import hashlib
import json

from sqlalchemy import select

from models import DeliveryLocation, EndCustomer, Membership, Order, OrderLine, OrderNumberCounter, Product
from models.approval import OrderFacts, RuleCondition, applies_to
from models.base import utcnow
from models.errors import DomainError, ErrorCode
from models.money import check_order_total, line_amounts, totals_of
from models.order import format_order_number
from models.order_state import OrderEventKind, Transition
from policies.permissions import Permission
from policies.scopes import company_row, company_rows
from resolvers.approval import route_submitted_order
from resolvers.approval_rule import active_rules
from resolvers.cart import buyer_payment_method, check_delivery, check_invoice_allowed, company_of, find_cart
from resolvers.context import UseCaseContext
from resolvers.cost_centre import resolve_cost_centre
from resolvers.order_events import record_event, transition
from resolvers.order_view import OrderView, reread_order
from resolvers.spend import commit_spend
from resolvers.upsert import insert_for


async def submit_order(ctx: UseCaseContext, *, idempotency_key: str) -> OrderView:
    actor = ctx.require(Permission.ORDER_CREATE)
    key = idempotency_key.strip()
    if not 8 <= len(key) <= 100:
        raise DomainError(ErrorCode.INVALID_INPUT, "An idempotency key has 8 to 100 characters", "idempotencyKey")
    cart = await find_cart(ctx, for_update=True)
    lines = await _cart_lines(ctx, cart) if cart else []
    digest = _digest(cart, lines) if cart and lines else None
    earlier = await ctx.session.scalar(
        company_rows(Order, actor).where(Order.buyer_id == actor.membership_id, Order.idempotency_key == key))
    if earlier is not None:
        if digest is not None and digest != earlier.content_digest:
            raise DomainError(ErrorCode.IDEMPOTENCY_KEY_REUSED, "This key was used for a different cart",
                              "idempotencyKey")
        return await reread_order(ctx.session, earlier)
    if cart is None or not lines:
        raise DomainError(ErrorCode.EMPTY_CART, "The cart is empty", None)
    await _snapshot(ctx, cart, lines)
    cart.idempotency_key, cart.content_digest = key, digest
    cart.submitted_at = utcnow()
    await transition(ctx, cart, Transition.SUBMIT)
    await _control_spend(ctx, cart, actor, {product.category for _, product in lines})
    return await reread_order(ctx.session, cart)


async def _control_spend(ctx: UseCaseContext, order: Order, actor, categories: set[str]) -> None:
    """Take the commitment (budgets, purchase limits, credit), then route through approval rules."""
    rules = await active_rules(ctx, order)
    facts_base = dict(gross_minor=order.gross_minor, buyer_role=actor.role.value, group_id=order.group_id,
                      cost_centre_id=order.cost_centre_id, categories=frozenset(categories))
    limit_route = any(r.condition == RuleCondition.OVER_PURCHASE_LIMIT.value
                      and applies_to(r, OrderFacts(**facts_base, over_budgets=(), over_purchase_limit=None))
                      for r in rules)
    outcome = await commit_spend(ctx, order, limit_has_approval_route=limit_route, today=utcnow().date())
    # The company-wide counter row is locked last, so concurrent submissions hold it briefly.
    order.number = await _next_number(ctx, order.company_id)
    if outcome.warnings:
        order.warnings = outcome.warnings
        await record_event(ctx, order, OrderEventKind.WARNING, comment="; ".join(outcome.warnings), system=True)
    # A WARN budget lets the order through by definition: only REQUIRE_APPROVAL budgets count as "over budget".
    facts = OrderFacts(**facts_base, over_budgets=tuple(outcome.approval_budgets),
                       over_purchase_limit=outcome.over_purchase_limit)
    await route_submitted_order(ctx, order, facts, rules, outcome.approval_budgets)


async def _cart_lines(ctx: UseCaseContext, cart: Order) -> list[tuple[OrderLine, Product]]:
    rows = await ctx.session.execute(
        select(OrderLine, Product).join(Product, Product.id == OrderLine.product_id)
        .where(OrderLine.order_id == cart.id).order_by(OrderLine.id)
    )
    return [(line, product) for line, product in rows]


def _digest(cart: Order, lines: list[tuple[OrderLine, Product]]) -> str:
    content = {
        "lines": [[line.product_id, line.quantity, line.substitution_allowed] for line, _ in lines],
        "details": [cart.reference, cart.po_number, cart.end_customer_id, cart.delivery_slot_id,
                    cart.delivery_date.isoformat() if cart.delivery_date else None, cart.payment_method],
    }
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


async def _snapshot(ctx: UseCaseContext, cart: Order, lines: list[tuple[OrderLine, Product]]) -> None:
    """Freeze prices, VAT, delivery and payment: later catalogue changes do not alter the order."""
    for index, (line, product) in enumerate(lines):
        if not product.active:
            raise DomainError(ErrorCode.PRODUCT_UNAVAILABLE,
                              f"{product.name} ({product.sku}) is no longer sold; remove it", f"lines.{index}")
        amounts = line_amounts(product.unit_price_minor, line.quantity, product.vat_rate)
        line.sku, line.name, line.unit = product.sku, product.name, product.unit
        line.unit_price_minor, line.vat_rate = product.unit_price_minor, product.vat_rate
        line.net_minor, line.vat_minor = amounts.net, amounts.vat
    totals = totals_of((line_amounts(line.unit_price_minor, line.quantity, line.vat_rate), line.vat_rate)
                       for line, _ in lines)
    check_order_total(totals)  # before anything is flushed: the amounts may not fit their columns
    cart.net_minor, cart.vat_minor, cart.gross_minor = totals.net, totals.vat, totals.gross
    buyer = await company_row(ctx.session, Membership, cart.buyer_id, cart)
    cart.group_id = buyer.group_id
    cart.cost_centre_id = await resolve_cost_centre(ctx, buyer.id, cart.cost_centre_id)
    await check_delivery(ctx, cart, final=True, today=utcnow().date())
    company = await company_of(ctx, cart.company_id)
    if cart.end_customer_id is not None:
        location = await company_row(ctx.session, DeliveryLocation, cart.location_id, cart)
        cart.delivery_street, cart.delivery_postal_code = location.street, location.postal_code
        cart.delivery_city = location.city
        cart.payment_method = company.order_payment_method
        check_invoice_allowed(company, cart.payment_method)
        customer = await company_row(ctx.session, EndCustomer, cart.end_customer_id, cart)
        customer.last_ordered_at = utcnow()
    else:
        cart.delivery_street, cart.delivery_postal_code = company.street, company.postal_code
        cart.delivery_city = company.city
        cart.payment_method = buyer_payment_method(cart.payment_method, buyer.payment_methods)
        check_invoice_allowed(company, cart.payment_method)
    await ctx.session.flush()


async def _next_number(ctx: UseCaseContext, company_id: int) -> str:
    """PO-<year>-<sequence>, sequential per company and year, safe under concurrency (upsert)."""
    year = utcnow().year
    statement = (
        insert_for(ctx.session)(OrderNumberCounter).values(company_id=company_id, year=year, last_number=1)
        .on_conflict_do_update(index_elements=["company_id", "year"],
                               set_={"last_number": OrderNumberCounter.last_number + 1})
        .returning(OrderNumberCounter.last_number)
    )
    sequence = (await ctx.session.execute(statement)).scalar_one()
    return format_order_number(year, sequence)


