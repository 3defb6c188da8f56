"""Tenant scope in one place: policies/scopes.py decides which rows of a company-owned table a
statement may touch, and tests/tenant_guard.py (installed for every test) fails a test in which a
request runs a statement on such a table without a scope. These tests check the classification of
the tables, the guard's verdict on statements of every shape the use cases build, and that the guard
does fail when the scope is taken out of one statement of a real request."""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy import insert, select, text, update
from sqlalchemy.orm import aliased

import models
from models import (
    Budget,
    CreditAccount,
    DeliveryLocation,
    DeliverySlot,
    Membership,
    Order,
    OrderApprovalStep,
    OrderLine,
    Role,
)
from policies.actor import Actor
from policies.scopes import (
    COMPANY_OWNED,
    NOT_COMPANY_OWNED,
    OWNED_THROUGH_PARENT,
    company_rows,
    company_update,
    cross_company,
    eligible_step,
    order_shape_scope,
    person_companies,
    visible_orders,
)
from resolvers import location
from resolvers.order_history import OrderSort, _page_statement
from resolvers.order_view import PAGE_COLUMNS, page_rows
from tests.tenant_guard import TenantGuard, unscoped_tables

ADMIN = Actor(user_id=1, session_id=1, membership_id=1, company_id=7, role=Role.ADMIN, restricted=frozenset(),
              is_operator=False)
PROJECT = Path(__file__).resolve().parents[2]


class _Authorizer:
    """Allows everything: the statements' shapes are what is under test here, not the decisions."""

    def allows(self, actor, permission) -> bool:
        return True


# --- which tables are company-owned ---------------------------------------------------------------------------

def test_every_table_is_company_owned_owned_through_a_parent_or_no_company_data():
    tables = set(models.Base.metadata.tables)
    assert {name for name in tables if "company_id" in models.Base.metadata.tables[name].c} == COMPANY_OWNED
    classes = [COMPANY_OWNED, set(OWNED_THROUGH_PARENT), NOT_COMPANY_OWNED]
    assert set().union(*classes) == tables, "a new table must be classified in policies/scopes.py"
    assert sum(len(c) for c in classes) == len(tables), "a table is in exactly one class"
    for child, parent in OWNED_THROUGH_PARENT.items():
        assert parent in COMPANY_OWNED or parent in OWNED_THROUGH_PARENT
        assert parent in {key.column.table.name for key in models.Base.metadata.tables[child].foreign_keys}


def test_the_use_cases_never_compare_company_ids_themselves():
    """The linter half of the rule: a company condition written inline in a use case or the schema
    is how a forgotten one gets in. policies/scopes.py writes them all."""
    inline = re.compile(r"\b[A-Z]\w*\.company_id\s*[!=]=|\.c\.company_id\s*[!=]=")
    found = [f"{path.relative_to(PROJECT)}:{number}: {line.strip()}"
             for folder in ("resolvers", "schema", "demo") for path in sorted((PROJECT / folder).rglob("*.py"))
             for number, line in enumerate(path.read_text().splitlines(), 1) if inline.search(line)]
    assert found == []


# --- the guard's verdict on statements -------------------------------------------------------------------------

def test_a_statement_built_on_a_scope_passes():
    assert unscoped_tables(company_rows(Budget, ADMIN).where(Budget.id == 1)) == set()
    assert unscoped_tables(company_rows(Membership, ADMIN, Membership.id, Membership.role)) == set()
    assert unscoped_tables(company_update(CreditAccount, ADMIN).values(outstanding_minor=0)) == set()
    assert unscoped_tables(visible_orders(ADMIN, _Authorizer()).apply(select(Order))) == set()


def test_a_statement_without_a_scope_is_caught_whatever_its_shape():
    assert unscoped_tables(select(Budget).where(Budget.id == 1)) == {"budgets"}
    assert unscoped_tables(select(Membership.group_id).where(Membership.group_id == 3)) == {"memberships"}
    assert unscoped_tables(update(CreditAccount).values(outstanding_minor=0)) == {"credit_accounts"}
    assert unscoped_tables(select(aliased(Budget))) == {"budgets"}
    slot_of_a_location = select(DeliverySlot).join(DeliveryLocation, DeliveryLocation.id == DeliverySlot.location_id)
    assert unscoped_tables(slot_of_a_location) == {"delivery_locations"}


def test_a_scoped_statement_covers_its_subqueries_and_joins():
    scoped = company_rows(Order, ADMIN).where(
        Order.id.in_(select(OrderApprovalStep.order_id).where(eligible_step(ADMIN)))).join(
        Membership, Membership.id == Order.buyer_id)
    assert unscoped_tables(scoped) == set()


def test_an_unscoped_subquery_is_caught_inside_a_statement_on_a_child_table():
    used = select(Order.delivery_slot_id).where(Order.delivery_slot_id.is_not(None))
    assert unscoped_tables(update(DeliverySlot).where(DeliverySlot.id.in_(used)).values(retired_at=None)) == {"orders"}
    scoped_used = company_rows(Order, ADMIN, Order.delivery_slot_id)
    scoped = update(DeliverySlot).where(DeliverySlot.id.in_(scoped_used)).values(retired_at=None)
    assert unscoped_tables(scoped) == set()


def test_rows_joined_to_a_page_picked_through_a_scope_pass():
    """The order history picks a page from `orders` through the scope, then joins buyer, group, end customer..."""
    members_shape = ("members", True, True, True)
    assert unscoped_tables(_page_statement(OrderSort.SUBMITTED_AT_DESC, members_shape, (), True)) == set()
    unscoped_page = select(*PAGE_COLUMNS).limit(10)
    assert unscoped_tables(page_rows(unscoped_page, lambda c: (c.id,))) == {
        "orders", "memberships", "end_customers", "cost_centres", "groups", "delivery_locations"}


def test_children_inserts_and_cross_company_statements_pass():
    assert unscoped_tables(select(OrderLine).where(OrderLine.order_id == 5)) == set()
    assert unscoped_tables(insert(Budget).values(company_id=7, name="x")) == set()
    assert unscoped_tables(person_companies(1)) == set()
    assert unscoped_tables(cross_company(select(Budget), "a reason")) == set()


def test_sql_written_as_text_is_judged_by_the_tables_it_names():
    assert unscoped_tables(text("UPDATE budgets SET active = false")) == {"budgets"}
    assert unscoped_tables("SELECT count(*) FROM Orders JOIN memberships ON true") == {"orders", "memberships"}
    assert unscoped_tables(text("SELECT 1 FROM products")) == set()
    assert unscoped_tables(cross_company(text("SELECT count(*) FROM budgets"), "a reason")) == set()
    assert unscoped_tables("BEGIN IMMEDIATE") == set()
    assert order_shape_scope(("company",)).name == visible_orders(ADMIN, _Authorizer()).name


# --- the guard fails a real request that runs a statement without its scope ---------------------------------------

LOCATIONS = "{ deliveryLocations { name } }"


async def _two_companies_with_a_location_each(api):
    own, other = await api.tenant(roles=(Role.ADMIN,)), await api.tenant(roles=(Role.ADMIN,))
    async with api.services.db.transaction() as session:
        for tenant, name in ((own, "Own unit"), (other, "Other company's unit")):
            session.add(DeliveryLocation(company_id=tenant.company_id, name=name, street="Gate 1", postal_code="0150",
                                         city="Oslo"))
    return own


async def test_the_guard_passes_the_scoped_request(api, tenant_guard: TenantGuard):
    own = await _two_companies_with_a_location_each(api)
    data = await api.query(LOCATIONS, token=own[Role.ADMIN].token)
    assert data["deliveryLocations"] == [{"name": "Own unit"}]
    assert tenant_guard.violations == []


async def test_the_guard_fails_a_request_whose_statement_lost_its_scope(api, tenant_guard: TenantGuard, monkeypatch):
    own = await _two_companies_with_a_location_each(api)

    def without_scope(model, company, *columns):  # company_rows with the company condition taken out
        return select(*(columns or (model,))).select_from(model)

    monkeypatch.setattr(location, "company_rows", without_scope)
    data = await api.query(LOCATIONS, token=own[Role.ADMIN].token)
    assert data["deliveryLocations"] == [{"name": "Own unit"}, {"name": "Other company's unit"}]  # the leak
    caught = tenant_guard.take()  # taken here, so that this test itself passes
    assert [violation.tables for violation in caught] == [("delivery_locations",)]
    assert caught[0].source.startswith("resolvers/location.py:"), caught[0].source
    assert "(list_locations)" in caught[0].source and "schema/location.py" in caught[0].source, caught[0].source
    assert "FROM delivery_locations ORDER BY delivery_locations.id" in caught[0].sql
