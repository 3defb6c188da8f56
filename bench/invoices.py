"""Invoice run benchmark on PostgreSQL: 1,000 companies with 10,000 and 100,000 fulfilled orders paid by invoice
(3 lines each, booked to 2 cost centres per company, so 2,000 invoices per run), the run's time and its peak
memory. Goal: memory flat in the number of orders (the peak at 100,000 orders at most 1.25 times the peak at
10,000), since the run streams companies and orders in batches and holds one invoice's lines at a time.

Each measurement runs the real invoice run (`invoicing.run.run_invoicing`: selection, numbering, EHF built and
validated against both rule sets, statements, webhooks' outbox) in a fresh process, so its peak resident memory
(ru_maxrss) is its own; the rule sets are compiled before the clock and the memory baseline start. Between
measurements the database is put back as it was (invoices deleted, orders uninvoiced, the counter at 0). The
sizes are measured in interleaved rounds; medians with minimum and maximum.

    .venv/bin/python bench/invoices.py [--database-url postgresql+asyncpg://root@127.0.0.1:5432] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import asyncpg

from bench._common import (
    DEFAULT_SERVER_URL,
    asyncpg_dsn,
    bench_settings,
    create_database,
    database_url,
    median,
    migrate,
)

COMPANIES = 1000
COST_CENTRES = 2
PRODUCTS = 100
LINES = 3
SIZES = (10_000, 100_000)
RUN_DATE = date(2026, 12, 1)
MEMORY_GOAL = 1.25
MARKER = "procura-bench invoices v1"


def _data_sql(orders: int) -> str:
    per_company = orders // COMPANIES
    return f"""
INSERT INTO users (id, email, first_name, last_name, password_hash, is_operator, created_at)
SELECT c, 'buyer' || c || '@bench.example', 'Buyer', 'No. ' || c, '!', false, now()
FROM generate_series(1, {COMPANIES}) c;
INSERT INTO companies (id, name, country, org_number, currency, street, postal_code, city, contact_email,
                       created_at, updated_at, order_payment_method, invoice_enabled, invoice_days)
SELECT c, 'Bench Company ' || c || ' AS', 'NO', (ARRAY['923609016', '974760673', '981544315'])[1 + c % 3], 'NOK',
       'Storgata ' || c, '0150', 'Oslo', 'post' || c || '@bench.example', now(), now(), 'invoice', true, '[1, 15]'
FROM generate_series(1, {COMPANIES}) c;
INSERT INTO groups (id, company_id, name, created_at)
SELECT c, c, 'Buyers', now() FROM generate_series(1, {COMPANIES}) c;
INSERT INTO memberships (id, company_id, user_id, group_id, role, status, payment_methods, created_at, updated_at)
SELECT c, c, c, c, 'customer', 'active', '["invoice"]', now(), now() FROM generate_series(1, {COMPANIES}) c;
INSERT INTO cost_centres (id, company_id, name, code, street, postal_code, city, active, created_at, invoice_reference)
SELECT (c - 1) * {COST_CENTRES} + k, c, 'Unit ' || k, 'CC-' || k, 'Omsorgsveien ' || k, '0150', 'Oslo', true, now(),
       'Ref unit ' || k
FROM generate_series(1, {COMPANIES}) c, generate_series(1, {COST_CENTRES}) k;
INSERT INTO products (id, sku, name, description, unit, category, unit_price_minor, currency, vat_rate, active,
                      search_text, created_at, updated_at)
SELECT i, 'SKU-' || i, 'Product ' || i, '', 'pcs', 'Bench', 100 + (i * 7919) % 50000, 'NOK',
       (ARRAY[25, 15, 12, 0])[1 + i % 4], true, 'product ' || i, now(), now()
FROM generate_series(1, {PRODUCTS}) i;
INSERT INTO orders (id, company_id, buyer_id, group_id, status, number, currency, reference, po_number,
                    delivery_street, delivery_postal_code, delivery_city, payment_method, cost_centre_id, warnings,
                    net_minor, vat_minor, gross_minor, credited_minor, created_at, submitted_at, updated_at)
SELECT g, 1 + (g - 1) / {per_company}, 1 + (g - 1) / {per_company}, 1 + (g - 1) / {per_company}, 'fulfilled',
       'PO-2026-' || lpad(g::text, 7, '0'), 'NOK', 'Ref ' || g, 'PO' || g, 'Storgata 1', '0150', 'Oslo', 'invoice',
       ((g - 1) / {per_company}) * {COST_CENTRES} + 1 + g % {COST_CENTRES}, '[]', 0, 0, 0, 0,
       timestamptz '2026-11-01', timestamptz '2026-11-01', timestamptz '2026-11-02'
FROM generate_series(1, {orders}) g;
INSERT INTO order_lines (id, order_id, product_id, quantity, substitution_allowed, sku, name, unit,
                         unit_price_minor, vat_rate, net_minor, vat_minor, returned_quantity)
SELECT n, o, p, q, true, 'SKU-' || p, 'Product ' || p, 'pcs', price, rate, price * q, (price * q * rate + 50) / 100, 0
FROM (SELECT n, 1 + (n - 1) / {LINES} AS o, 1 + (n * 37) % {PRODUCTS} AS p, 1 + n % 7 AS q,
             100 + ((1 + (n * 37) % {PRODUCTS}) * 7919) % 50000 AS price,
             (ARRAY[25, 15, 12, 0])[1 + (1 + (n * 37) % {PRODUCTS}) % 4] AS rate
      FROM generate_series(1, {orders * LINES}) n) l;
UPDATE orders o SET net_minor = s.net, vat_minor = s.vat, gross_minor = s.net + s.vat
FROM (SELECT order_id, sum(net_minor) AS net, sum(vat_minor) AS vat FROM order_lines GROUP BY order_id) s
WHERE s.order_id = o.id;
"""


RESET_SQL = """
UPDATE orders SET invoice_id = NULL WHERE invoice_id IS NOT NULL;
DELETE FROM webhook_deliveries; DELETE FROM invoice_lines; DELETE FROM payments; DELETE FROM invoices;
DELETE FROM invoice_runs; UPDATE invoice_number_counter SET last_number = 0;
"""


async def prepare(server: str, orders: int, *, regenerate: bool) -> str:
    name = f"procura_bench_invoices_{orders // 1000}k"
    url = database_url(server, name)
    created = await create_database(server, name, drop=regenerate)
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        comment = None if created else await connection.fetchval(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = current_database()")
        head = await connection.fetchval("SELECT version_num FROM alembic_version") if comment else None
        if comment == f"{MARKER} orders={orders} revision={head}":
            print(f"  reused {name}", file=sys.stderr)
            return url
    finally:
        await connection.close()
    print(f"  generating {name}: {COMPANIES:,} companies, {orders:,} orders x {LINES} lines", file=sys.stderr)
    await create_database(server, name, drop=True)
    await migrate(url)
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        async with connection.transaction():
            await connection.execute(_data_sql(orders))
        for table in ("users", "companies", "groups", "memberships", "cost_centres", "products", "orders",
                      "order_lines"):
            await connection.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
        await connection.execute("VACUUM (ANALYZE)")
        head = await connection.fetchval("SELECT version_num FROM alembic_version")
        await connection.execute(f"COMMENT ON DATABASE \"{name}\" IS '{MARKER} orders={orders} revision={head}'")
    finally:
        await connection.close()
    return url


async def reset(url: str) -> None:
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        async with connection.transaction():
            await connection.execute(RESET_SQL)
        await connection.execute("VACUUM (ANALYZE) orders, invoices, invoice_lines")
    finally:
        await connection.close()


async def measure(url: str) -> dict[str, float]:
    """One invoice run in this process: seconds, documents, and resident memory before and at its peak."""
    from app import build_services
    from invoicing.peppol import compile_rule_sets
    from invoicing.run import run_invoicing

    services = build_services(bench_settings(url))
    compile_rule_sets()
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    report = await run_invoicing(services, RUN_DATE)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    await services.db.dispose()
    if report.problems or report.missing_settings:
        raise SystemExit(f"the run refused documents: {report.problems or report.missing_settings}")
    return {"seconds": seconds, "invoices": len(report.invoices), "baseline_mib": baseline / 1024,
            "peak_mib": peak / 1024}


def measure_in_a_process(url: str) -> dict[str, float]:
    out = subprocess.run([sys.executable, __file__, "--measure", url], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def spread(values: list[float], digits: int = 1) -> str:
    return f"{median(values):.{digits}f} (min {min(values):.{digits}f}, max {max(values):.{digits}f})"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=DEFAULT_SERVER_URL)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--regenerate", action="store_true")
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(await measure(args.measure)))
        return
    urls = {size: await prepare(args.database_url, size, regenerate=args.regenerate) for size in SIZES}
    results: dict[int, list[dict[str, float]]] = {size: [] for size in SIZES}
    for round_number in range(1, args.rounds + 1):
        for size in SIZES:  # interleaved: every round measures every size once
            await reset(urls[size])
            result = measure_in_a_process(urls[size])
            results[size].append(result)
            print(f"  round {round_number}, {size:,} orders: {result['seconds']:.1f} s, "
                  f"{result['invoices']:,} invoices, peak {result['peak_mib']:.0f} MiB", file=sys.stderr)
    print(f"Invoice run, {COMPANIES:,} companies, PostgreSQL, {args.rounds} interleaved rounds "
          "(median, min, max):")
    for size in SIZES:
        rows = results[size]
        per_second = [size / row["seconds"] for row in rows]
        print(f"  {size:>7,} orders: {spread([row['seconds'] for row in rows])} s, "
              f"{spread(per_second, 0)} orders/s, {rows[0]['invoices']:,} invoices; "
              f"peak RSS {spread([row['peak_mib'] for row in rows], 0)} MiB "
              f"(before the run {spread([row['baseline_mib'] for row in rows], 0)} MiB)")
    small, large = (median([row["peak_mib"] for row in results[size]]) for size in SIZES)
    ratio = large / small
    print(f"Goal: peak memory flat in the number of orders (100,000 vs 10,000: at most {MEMORY_GOAL}x): "
          f"{ratio:.2f}x, {'met' if ratio <= MEMORY_GOAL else 'NOT met'}")


if __name__ == "__main__":
    asyncio.run(main())
