"""The order-history data set, generated in PostgreSQL with INSERT ... SELECT generate_series.

Shape (ids are explicit and dense, so every reference is computed, not looked up):

* 10 companies; company 1 is the measured one and holds 20% of all orders
  (2,000 at 10k orders, 200,000 at 1M); companies 2-10 share the rest.
* per company: 40 users with active memberships (#1 admin, #2 manager, #3-#40 customers),
  5 groups, 3 cost centres (every member has a default), 5 delivery locations,
  20 end customers; 1,000 products in the catalogue (VAT 25/15/12/0).
* orders: 5 lines each (distinct products, quantity 1-12, snapshot of SKU, name, price and
  VAT; order totals are the sums of the lines, VAT rounded half-up per line as
  models.money does); statuses 50% fulfilled, 35% approved, 5% each pending approval,
  rejected, cancelled (no drafts); submitted_at spread evenly over 2023-2025 (order g of N
  at 3 years * g/N, plus up to 10 minutes of jitter); one order in three for an end
  customer; numbers PO-<year>-<g:07d>, unique per company; each order has its buyer's group
  and default cost centre, an idempotency key and a content digest.

Foreign-key triggers are switched off while loading (session_replication_role = replica):
every reference is valid by construction, and check_integrity() verifies it afterwards on
the 10k set. Secondary indexes are dropped before the bulk insert and re-created from their
own definitions (pg_get_indexdef / pg_get_constraintdef) afterwards, so the resulting schema is
exactly the migrated one. Then VACUUM ANALYZE.

The database's comment records the size and the alembic revision once generation completed,
so a later run reuses a complete data set and regenerates a partial or outdated one.
"""

from __future__ import annotations

import time

import asyncpg

from bench._common import BENCH_PASSWORD

COMPANIES = 10
MEMBERS = 40  # per company
GROUPS = 5
COST_CENTRES = 3
LOCATIONS = 5
END_CUSTOMERS = 20
PRODUCTS = 1000
LINES = 5
MEASURED_COMPANY = 1
MANAGER_MEMBERSHIP = 2  # company 1, member #2 (user id = membership id)
MARKER = "procura-bench orders v1"
ORG_NUMBERS = ["923609016", "974760673", "981544315", "889640782", "971526157"]

# Company of order g: every fifth order belongs to company 1, the others to companies 2..10.
COMPANY_OF = f"(CASE WHEN g % 5 = 0 THEN 1 ELSE 2 + (g % {COMPANIES - 1}) END)"
MEMBER_OF = f"(3 + (g * 7) % {MEMBERS - 2})"  # a customer, #3..#40


def _reference_sql() -> str:
    c_members = f"{MEMBERS}"
    return f"""
INSERT INTO users (id, email, first_name, last_name, password_hash, is_operator, created_at)
SELECT u, 'user' || u || '@bench.example', 'First' || ((u - 1) % {c_members} + 1),
       'Company' || ((u - 1) / {c_members} + 1), $1, false, now()
FROM generate_series(1, {COMPANIES * MEMBERS}) u;

INSERT INTO companies (id, name, country, org_number, currency, street, postal_code, city, contact_email,
                       created_at, updated_at, order_payment_method, invoice_enabled)
SELECT c, 'Bench Company ' || c || ' AS', 'NO', (ARRAY{ORG_NUMBERS!r})[1 + c % {len(ORG_NUMBERS)}], 'NOK',
       'Storgata ' || c, '0150', 'Oslo', 'post' || c || '@bench.example', now(), now(), 'card', true
FROM generate_series(1, {COMPANIES}) c;

INSERT INTO groups (id, company_id, name, created_at)
SELECT (c - 1) * {GROUPS} + k, c, 'Group ' || k, now()
FROM generate_series(1, {COMPANIES}) c, generate_series(1, {GROUPS}) k;

INSERT INTO memberships (id, company_id, user_id, group_id, role, status, payment_methods, created_at, updated_at)
SELECT (c - 1) * {MEMBERS} + k, c, (c - 1) * {MEMBERS} + k, (c - 1) * {GROUPS} + 1 + k % {GROUPS},
       CASE k WHEN 1 THEN 'admin' WHEN 2 THEN 'manager' ELSE 'customer' END, 'active', '["card", "invoice"]',
       now(), now()
FROM generate_series(1, {COMPANIES}) c, generate_series(1, {MEMBERS}) k;

INSERT INTO cost_centres (id, company_id, name, code, street, postal_code, city, active, created_at)
SELECT (c - 1) * {COST_CENTRES} + k, c, 'Cost centre ' || k, 'CC-' || k, 'Storgata ' || c, '0150', 'Oslo', true, now()
FROM generate_series(1, {COMPANIES}) c, generate_series(1, {COST_CENTRES}) k;

INSERT INTO member_cost_centres (membership_id, cost_centre_id, is_default)
SELECT (c - 1) * {MEMBERS} + k, (c - 1) * {COST_CENTRES} + 1 + k % {COST_CENTRES}, true
FROM generate_series(1, {COMPANIES}) c, generate_series(1, {MEMBERS}) k;

INSERT INTO delivery_locations (id, company_id, name, street, postal_code, city, created_at)
SELECT (c - 1) * {LOCATIONS} + k, c, 'Unit ' || k, 'Omsorgsveien ' || k, '0' || (150 + k), 'Oslo', now()
FROM generate_series(1, {COMPANIES}) c, generate_series(1, {LOCATIONS}) k;

INSERT INTO end_customers (id, company_id, location_id, name, note, created_at)
SELECT (c - 1) * {END_CUSTOMERS} + j, c, (c - 1) * {LOCATIONS} + 1 + j % {LOCATIONS}, 'End customer ' || j,
       CASE WHEN j % 4 = 0 THEN '' ELSE 'Lactose intolerant, room ' || (100 + j) END, now()
FROM generate_series(1, {COMPANIES}) c, generate_series(1, {END_CUSTOMERS}) j;

INSERT INTO products (id, sku, name, description, unit, category, unit_price_minor, currency, vat_rate, active,
                      search_text, created_at, updated_at)
SELECT i, 'SKU-' || lpad(i::text, 5, '0'), 'Product ' || i, 'Bench product ' || i, 'pcs', 'Category ' || (i % 10),
       {_price('i')}, 'NOK', {_rate('i')}, true,
       lower('SKU-' || lpad(i::text, 5, '0') || ' product ' || i || ' category ' || (i % 10)), now(), now()
FROM generate_series(1, {PRODUCTS}) i;
"""


def _pid(g: str, k: str) -> str:
    """The product of line k of order g (distinct for k = 0..4: k * 197 mod 1000 differ)."""
    return f"(1 + (({g} * 13 + {k} * 197) % {PRODUCTS}))"


# Products are generated from their id, so a line's snapshot is computed, not joined.
def _price(pid: str) -> str:
    return f"(100 + ({pid} * 7919) % 50000)"


def _rate(pid: str) -> str:
    return f"((ARRAY[25, 15, 12, 0])[1 + {pid} % 4])"


def _quantity(g: str, k: str) -> str:
    return f"(1 + ({g} + {k} * 3) % 12)"


def _net(g: str, k: str) -> str:
    return f"({_price(_pid(g, k))}::bigint * {_quantity(g, k)})"


def _vat(g: str, k: str) -> str:
    """VAT rounded half-up to the minor unit, as models.money.vat_of (amounts are never negative)."""
    return f"(({_net(g, k)} * {_rate(_pid(g, k))} + 50) / 100)"


def _orders_sql(total: int, start: int, stop: int) -> str:
    """Orders g in [start, stop] of `total`, with totals summed from the lines they will get."""
    company = COMPANY_OF
    member = MEMBER_OF
    net = " + ".join(_net("g", str(k)) for k in range(LINES))
    vat = " + ".join(_vat("g", str(k)) for k in range(LINES))
    return f"""
INSERT INTO orders (id, company_id, buyer_id, group_id, status, number, currency, reference, po_number,
                    end_customer_id, location_id, delivery_slot_id, delivery_date, delivery_street,
                    delivery_postal_code, delivery_city, payment_method, cost_centre_id, warnings,
                    net_minor, vat_minor, gross_minor, credited_minor, idempotency_key, content_digest,
                    created_at, submitted_at, updated_at)
SELECT g, o.c, (o.c - 1) * {MEMBERS} + o.k, (o.c - 1) * {GROUPS} + 1 + o.k % {GROUPS},
       CASE WHEN g % 20 < 10 THEN 'fulfilled' WHEN g % 20 < 17 THEN 'approved' WHEN g % 20 = 17 THEN 'pending_approval'
            WHEN g % 20 = 18 THEN 'rejected' ELSE 'cancelled' END,
       'PO-' || to_char(o.ts, 'YYYY') || '-' || lpad(g::text, 7, '0'), 'NOK', 'Ref ' || g,
       CASE WHEN g % 4 = 0 THEN 'PO' || g ELSE '' END,
       CASE WHEN o.ec THEN (o.c - 1) * {END_CUSTOMERS} + o.j END,
       CASE WHEN o.ec THEN (o.c - 1) * {LOCATIONS} + 1 + o.j % {LOCATIONS} END,
       NULL, CASE WHEN o.ec THEN (o.ts + interval '3 days')::date END,
       CASE WHEN o.ec THEN 'Omsorgsveien ' || (1 + o.j % {LOCATIONS}) ELSE 'Storgata ' || o.c END,
       CASE WHEN o.ec THEN '0' || (151 + o.j % {LOCATIONS}) ELSE '0150' END, 'Oslo', 'card',
       (o.c - 1) * {COST_CENTRES} + 1 + o.k % {COST_CENTRES}, '[]',
       o.net, o.vat, o.net + o.vat, 0, 'bench-' || g, md5(g::text),
       o.ts - interval '10 minutes', o.ts, o.ts
FROM (
    SELECT g, {company} AS c, {member} AS k, g % 3 = 0 AS ec, 1 + g % {END_CUSTOMERS} AS j,
           timestamptz '2023-01-01 00:00:00+00'
             + make_interval(secs => g::float8 * 94608000 / {total} + (g * 37) % 600) AS ts,
           {net} AS net, {vat} AS vat
    FROM generate_series({start}, {stop}) g
) o;
"""


def _lines_sql(start: int, stop: int) -> str:
    """Lines n = 5 (g - 1) + k of orders g in [start, stop], in id order (no sort, no join)."""
    g, k = f"(n / {LINES} + 1)", f"(n % {LINES})"
    pid = _pid(g, k)
    return f"""
INSERT INTO order_lines (id, order_id, product_id, quantity, substitution_allowed, sku, name, unit,
                         unit_price_minor, vat_rate, net_minor, vat_minor, returned_quantity)
SELECT n + 1, {g}, {pid}, {_quantity(g, k)}, {k} % 2 = 0, 'SKU-' || lpad({pid}::text, 5, '0'),
       'Product ' || {pid}, 'pcs', {_price(pid)}, {_rate(pid)}, {_net(g, k)}, {_vat(g, k)}, 0
FROM generate_series({(start - 1) * LINES}, {stop * LINES - 1}) n;
"""


SEQUENCES = ["users", "companies", "groups", "memberships", "cost_centres", "delivery_locations", "end_customers",
             "products", "orders", "order_lines"]


async def _secondary_indexes(connection, table: str) -> list[tuple[str, str, str | None]]:
    """(name, CREATE statement, constraint name or None) of every index but the primary key."""
    rows = await connection.fetch(
        """SELECT i.relname AS name, pg_get_indexdef(i.oid) AS indexdef, c.conname,
                  pg_get_constraintdef(c.oid) AS condef
           FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
           LEFT JOIN pg_constraint c ON c.conindid = x.indexrelid AND c.contype = 'u'
           WHERE x.indrelid = $1::regclass AND NOT x.indisprimary""", table)
    result = []
    for row in rows:
        if row["conname"]:
            add_constraint = f'ALTER TABLE {table} ADD CONSTRAINT "{row["conname"]}" {row["condef"]}'
            result.append((row["name"], add_constraint, row["conname"]))
        else:
            result.append((row["name"], row["indexdef"], None))
    return result


async def revision(connection) -> str:
    return await connection.fetchval("SELECT version_num FROM alembic_version")


async def completed_in(dsn: str, size: int) -> float | None:
    """Seconds the complete data set of this size and revision took to generate; None when there is none."""
    connection = await asyncpg.connect(dsn)
    try:
        comment = await connection.fetchval(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = current_database()")
        head = await revision(connection)
        prefix = f"{MARKER} size={size} revision={head} seconds="
        return float(comment[len(prefix):]) if comment and comment.startswith(prefix) else None
    except (asyncpg.UndefinedTableError, ValueError):
        return None
    finally:
        await connection.close()


async def generate(dsn: str, size: int, *, log=print) -> float:
    """Load the data set into a freshly migrated database; returns the seconds it took."""
    from resolvers.security import Passwords

    password_hash = await Passwords(time_cost=1, memory_cost=1024, parallelism=1).hash(BENCH_PASSWORD)
    started = time.perf_counter()
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute("SET session_replication_role = replica; SET synchronous_commit = off; SET jit = off; "
                                 "SET maintenance_work_mem = '256MB'; SET work_mem = '64MB'")
        async with connection.transaction():
            # asyncpg cannot bind parameters in a multi-statement script: insert the hash as a literal.
            await connection.execute(_reference_sql().replace("$1", "'" + password_hash.replace("'", "''") + "'"))
            dropped = {}
            for table in ("orders", "order_lines"):
                dropped[table] = await _secondary_indexes(connection, table)
                for name, _, constraint in dropped[table]:
                    await connection.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{constraint}"' if constraint
                                             else f'DROP INDEX "{name}"')
        chunk = 250_000
        for start in range(1, size + 1, chunk):
            stop = min(size, start + chunk - 1)
            t0 = time.perf_counter()
            await connection.execute(_orders_sql(size, start, stop))
            await connection.execute(_lines_sql(start, stop))
            log(f"    orders {start:,}-{stop:,} with lines: {time.perf_counter() - t0:.1f} s")
        t0 = time.perf_counter()
        for indexes in dropped.values():
            for _, create, _ in indexes:
                await connection.execute(create)
        for table in SEQUENCES:
            await connection.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
        log(f"    indexes re-created: {time.perf_counter() - t0:.1f} s")
        await connection.execute("SET session_replication_role = origin")
        t0 = time.perf_counter()
        await connection.execute("VACUUM (ANALYZE) ")
        log(f"    vacuum analyze: {time.perf_counter() - t0:.1f} s")
        head = await revision(connection)
        name = await connection.fetchval("SELECT current_database()")
        seconds = time.perf_counter() - started
        await connection.execute(
            f"COMMENT ON DATABASE \"{name}\" IS '{MARKER} size={size} revision={head} seconds={seconds:.1f}'")
    finally:
        await connection.close()
    return seconds


async def check_integrity(dsn: str) -> list[str]:
    """Every foreign key of the loaded tables holds, and order totals equal their lines (a list of failures)."""
    checks = {
        "orders.buyer_id":
            "SELECT count(*) FROM orders o LEFT JOIN memberships m ON m.id = o.buyer_id"
            " WHERE m.id IS NULL OR m.company_id <> o.company_id",
        "orders.group_id":
            "SELECT count(*) FROM orders o LEFT JOIN groups x ON x.id = o.group_id"
            " WHERE x.id IS NULL OR x.company_id <> o.company_id",
        "orders.end_customer_id":
            "SELECT count(*) FROM orders o LEFT JOIN end_customers x ON x.id = o.end_customer_id"
            " WHERE o.end_customer_id IS NOT NULL"
            " AND (x.id IS NULL OR x.company_id <> o.company_id OR x.location_id <> o.location_id)",
        "orders.cost_centre_id":
            "SELECT count(*) FROM orders o LEFT JOIN member_cost_centres x"
            " ON x.membership_id = o.buyer_id AND x.cost_centre_id = o.cost_centre_id"
            " WHERE x.membership_id IS NULL",
        "order_lines.order_id":
            "SELECT count(*) FROM order_lines l LEFT JOIN orders o ON o.id = l.order_id WHERE o.id IS NULL",
        "order_lines.product_id":
            "SELECT count(*) FROM order_lines l LEFT JOIN products p ON p.id = l.product_id WHERE p.id IS NULL",
        "order_lines snapshot":
            "SELECT count(*) FROM order_lines l JOIN products p ON p.id = l.product_id"
            " WHERE l.sku <> p.sku OR l.name <> p.name OR l.unit_price_minor <> p.unit_price_minor"
            " OR l.vat_rate <> p.vat_rate OR l.net_minor <> l.unit_price_minor * l.quantity",
        "orders totals":
            "SELECT count(*) FROM orders o JOIN (SELECT order_id, sum(net_minor) n, sum(vat_minor) v, count(*) c"
            " FROM order_lines GROUP BY order_id) l ON l.order_id = o.id"
            " WHERE l.n <> o.net_minor OR l.v <> o.vat_minor OR o.gross_minor <> o.net_minor + o.vat_minor"
            " OR l.c <> 5",
    }
    connection = await asyncpg.connect(dsn)
    try:
        failures = []
        for name, query in checks.items():
            bad = await connection.fetchval(query)
            if bad:
                failures.append(f"{name}: {bad} rows")
        return failures
    finally:
        await connection.close()
