"""The run is idempotent and its numbers gapless: running twice invoices nothing twice, two runs at once (two
tasks with their own sessions; on PostgreSQL also two engines, as two workers would) give every order exactly
once and the numbers 1..N, and a run that fails midway leaves no gap: the failing company is rolled back with its
numbers, the others are issued, and the next run picks up what was left."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import date

import pytest
from sqlalchemy import select

from invoicing.ehf import build_ehf
from invoicing.peppol import RuleFailure, validate_ehf
from invoicing.run import describe, run_invoicing
from models import Invoice, InvoiceRunStatus, Order
from models.db import Database
from tests.invoicing.run_helpers import documents, fulfilled, invoice_shop, last_number, product, runs
from tests.spend_helpers import order_pk

DAY = date(2026, 12, 15)


async def shops_with_orders(api, companies: int, orders: int):
    """`companies` companies with `orders` fulfilled invoice orders each (one operator fulfils them all)."""
    goods = await product(api, 10_00)
    shops = [await invoice_shop(api)]
    shops += [await invoice_shop(api, op=shops[0].op) for _ in range(companies - 1)]
    placed = {shop.company_id: [await fulfilled(api, shop, goods) for _ in range(orders)] for shop in shops}
    return shops, placed


async def invoiced_orders(services) -> dict[int, int | None]:
    async with services.db.read_sessions() as session:
        return dict((await session.execute(select(Order.id, Order.invoice_id))).all())


def fast_validate(xml: bytes) -> list[RuleFailure]:
    """The concurrency tests race on the database, not on the rule sets (validated in the other tests)."""
    return []


async def test_running_the_same_date_twice_invoices_nothing_twice(api, services):
    await shops_with_orders(api, 2, 2)
    first = await run_invoicing(services, DAY)
    before = await invoiced_orders(services)

    second = await run_invoicing(services, DAY)

    assert (first.invoices, second.invoices, second.credit_notes) == ([1, 2], [], [])
    assert await invoiced_orders(services) == before and None not in before.values()
    assert await last_number(services) == 2
    [run] = await runs(services)
    assert (run.run_date, run.invoices_issued, run.status) == (DAY, 2, InvoiceRunStatus.FINISHED.value)
    # Nor does a later date invoice them again.
    assert (await run_invoicing(services, date(2027, 1, 1))).invoices == []


async def test_two_runs_at_once_give_every_order_once_and_numbers_without_gap(api, services):
    _, placed = await shops_with_orders(api, 4, 3)

    one, two = await asyncio.gather(run_invoicing(services, DAY, validate=fast_validate),
                                    run_invoicing(services, DAY, validate=fast_validate))

    assert sorted(one.invoices + two.invoices) == [1, 2, 3, 4]
    await _each_order_once(services, placed)


async def _each_order_once(services, placed) -> None:
    issued = await documents(services)
    assert [invoice.number for invoice in issued] == list(range(1, len(issued) + 1))
    assert len(issued) == len(placed) and await last_number(services) == len(issued)
    by_order = await invoiced_orders(services)
    assert None not in by_order.values()
    for invoice in issued:
        orders = {order_id for order_id, invoice_id in by_order.items() if invoice_id == invoice.id}
        assert len(orders) == 3 and invoice.gross_minor == 3 * 12_50
    assert [run.invoices_issued for run in await runs(services)] == [len(issued)]


async def test_two_workers_with_their_own_connections_at_once(api, services, backend):
    if backend != "postgresql":
        pytest.skip("SQLite has one writer at a time; the two-task test covers it")
    _, placed = await shops_with_orders(api, 4, 3)
    other_db = Database.connect(services.settings.database_url)
    other_worker = dataclasses.replace(services, db=other_db)
    try:
        one, two = await asyncio.gather(run_invoicing(services, DAY, validate=fast_validate),
                                        run_invoicing(other_worker, DAY, validate=fast_validate))
    finally:
        await other_db.dispose()
    assert sorted(one.invoices + two.invoices) == [1, 2, 3, 4]
    await _each_order_once(services, placed)


async def test_a_refused_document_rolls_its_company_back_with_its_numbers_and_the_rest_is_issued(api, services):
    shops, placed = await shops_with_orders(api, 3, 2)
    refused_company = shops[1].company_id
    built: list[int] = []

    def refuse_the_second_company(xml: bytes) -> list[RuleFailure]:
        built.append(1)
        if len(built) == 2:  # the second company's invoice, number 2
            return [RuleFailure("BR-TEST-01", "fatal", "A test says no", "/Invoice", "cen-ubl")]
        return validate_ehf(xml)

    report = await run_invoicing(services, DAY, validate=refuse_the_second_company)

    # The second company's document took number 2 and was refused: its transaction gave the number back.
    assert report.invoices == [1, 2]
    assert report.problems == [{"companyId": refused_company, "costCentreId": shops[1].st.centre_id,
                                "kind": "invoice", "creditedInvoiceNumber": None,
                                "rules": ["BR-TEST-01: A test says no"]}]
    assert report.refused
    issued = await documents(services)
    assert [(invoice.number, invoice.company_id) for invoice in issued] == [
        (1, shops[0].company_id), (2, shops[2].company_id)]
    assert await last_number(services) == 2
    by_order = await invoiced_orders(services)
    refused_orders = {order_pk(order["id"]) for order in placed[refused_company]}
    assert all(by_order[order_id] is None for order_id in refused_orders)
    [run] = await runs(services)
    assert (run.status, run.invoices_issued, run.problems) == (InvoiceRunStatus.FAILED.value, 2, report.problems)
    assert any(line.startswith("  REFUSED invoice of company") and "BR-TEST-01" in line for line in describe(report))

    # Fixed (here: the rule sets agree again), the next pass of the date issues the rest with the next number.
    again = await run_invoicing(services, DAY)
    assert (again.invoices, again.problems) == ([3], [])
    assert [invoice.number for invoice in await documents(services)] == [1, 2, 3]
    [run] = await runs(services)
    assert (run.status, run.invoices_issued, run.problems) == (InvoiceRunStatus.FINISHED.value, 3, [])


async def test_a_document_the_rule_sets_refuse_is_never_issued(api, services):
    """A real refusal: the second company's document states a payable amount its lines do not add up to."""
    shops, _ = await shops_with_orders(api, 3, 1)

    def wrong_total_for_the_second_company(invoice, lines, company, settings, credited=None) -> bytes:
        xml = build_ehf(invoice, lines, company, settings, credited=credited)
        if company.id == shops[1].company_id:
            payable = b'<cbc:PayableAmount currencyID="NOK">'
            xml = xml.replace(payable + b"12.50<", payable + b"13.50<")
        return xml

    report = await run_invoicing(services, DAY, build=wrong_total_for_the_second_company)

    assert report.invoices == [1, 2]
    [problem] = report.problems
    assert problem["companyId"] == shops[1].company_id
    assert any(rule.startswith("BR-CO-16") for rule in problem["rules"]), problem
    assert [invoice.company_id for invoice in await documents(services)] == [shops[0].company_id,
                                                                             shops[2].company_id]
    assert await last_number(services) == 2


async def test_a_run_that_breaks_midway_keeps_what_it_issued_and_the_next_run_finishes(api, services):
    shops, _ = await shops_with_orders(api, 3, 1)
    calls: list[int] = []

    def break_on_the_third(xml: bytes) -> list[RuleFailure]:
        calls.append(1)
        if len(calls) == 3:
            raise ConnectionError("the validator went away")
        return []

    with pytest.raises(ConnectionError):
        await run_invoicing(services, DAY, validate=break_on_the_third)

    assert [invoice.number for invoice in await documents(services)] == [1, 2]
    assert (await runs(services))[0].status == InvoiceRunStatus.RUNNING.value
    report = await run_invoicing(services, DAY, validate=fast_validate)
    assert report.invoices == [3]
    assert {invoice.company_id for invoice in await documents(services)} == {shop.company_id for shop in shops}
    assert (await runs(services))[0].status == InvoiceRunStatus.FINISHED.value


async def test_the_invoice_number_is_unique_in_the_database(api, services):
    await shops_with_orders(api, 1, 1)
    await run_invoicing(services, DAY, validate=fast_validate)
    [invoice] = await documents(services)
    with pytest.raises(Exception, match=r"(?i)unique|duplicate"):
        async with services.db.transaction() as session:
            copy = Invoice(**{column.key: getattr(invoice, column.key) for column in Invoice.__table__.columns
                              if column.key not in ("id", "kid")})
            session.add(copy)
