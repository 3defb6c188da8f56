"""Order history on PostgreSQL at 10,000 and 1,000,000 orders: server time, the floor, memory.

    .venv/bin/python bench/orders.py [--sizes 10000,1000000] [--database-url postgresql+asyncpg://root@127.0.0.1:5432]
                                     [--runs 30] [--warmup 5] [--regenerate] [--check] [--profile FILE]

For each size it uses its own database (procura_bench_10k, procura_bench_1m, ...), created,
migrated with cli.upgrade_database and loaded by bench/_orders_data.py with bulk SQL the
first time, and reused afterwards (see that module for the data set's shape).

A manager of the measured company (company 1: 20% of all orders) asks for
`orders(first: 50)` with lines, buyer, group, end customer and gross total, for two pages:
page 1, and a deep page reached with a keyset cursor built for an old row (after 49,950
rows: page 1,000; at sizes where the company has fewer orders, its last full page).

(a) server: the request POSTed through the real ASGI app (httpx.ASGITransport, app.create_app
    with a real access token for an auth_sessions row); the time from the ASGI call to the
    last body chunk, median over --runs after --warmup. `client` adds httpx.
(b) floor = graphql + sql.
    graphql: the same query executed by plain graphql-core (a schema built from the API's
    SDL, default resolvers) over the response data already in memory as dicts, plus the
    JSON encoding of the result: the least a server completing every field with graphql-core
    spends.
    sql: the exact statements the request issued (captured with before_cursor_execute),
    replayed with the same parameters on a raw asyncpg connection (prepared statements).
(c) peak: tracemalloc peak above the starting point around one request (median of 5).
(d) generic: the server time with graphql-core's own completion instead of the compiled plans of
    schema/execution.py (PlainTreeExecutor.compiled_completion off); before timing, the script
    checks that both answer exactly the same.

All of them are measured in the same interleaved rounds (so that machine noise and drift hit
every figure alike), each after a gc.collect() (so that a collection is paid by whoever made
the garbage).

Goals: server within 1.2x of the floor; the 1,000,000-order page within 1.25x of the
10,000-order page.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import sys
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import asyncpg
import httpx
from graphql import ExecutionResult, execute, parse
from graphql import build_schema as build_sdl_schema
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from bench import _orders_data as data
from bench._common import (
    DEFAULT_SERVER_URL,
    AsgiTimer,
    asyncpg_dsn,
    bench_settings,
    create_database,
    database_url,
    issue_token,
    median,
    migrate,
    peak_kib,
    profile_requests,
)

PAGE_SIZE = 50
DEEP_PAGE = 1000
QUERY = """
query History($first: Int!, $after: String) {
  orders(first: $first, after: $after) {
    edges {
      cursor
      node {
        id number submittedAt
        buyer { name }
        group { name }
        endCustomer { name note }
        lines { sku name quantity unitPrice { amount } net { amount } }
        totals { gross { amount } }
      }
    }
    pageInfo { hasNextPage endCursor }
  }
}
"""


def database_name(size: int) -> str:
    if size % 1_000_000 == 0:
        return f"procura_bench_{size // 1_000_000}m"
    if size % 1_000 == 0:
        return f"procura_bench_{size // 1_000}k"
    return f"procura_bench_{size}"


@dataclass
class Config:
    size: int
    page: int
    skipped: int  # rows of the history before this page
    client: httpx.AsyncClient
    timer: AsgiTimer
    token: str
    variables: dict
    first_id: int | None
    dsn: str
    engine: AsyncEngine
    server_ms: list[float] = field(default_factory=list)
    client_ms: list[float] = field(default_factory=list)
    generic_ms: list[float] = field(default_factory=list)
    response: dict = field(default_factory=dict)  # the sanity request's answer, compared against later
    statements: list[tuple[str, tuple]] = field(default_factory=list)
    graphql_ms: float = 0.0
    sql_ms: float = 0.0
    peak_kib: float = 0.0

    @property
    def label(self) -> str:
        return f"{self.size:,} p{self.page}"


async def prepare(server: str, size: int, *, regenerate: bool, check: bool) -> tuple[str, str]:
    """The database URL of this size, generated if needed; and a note on how long generation took."""
    name = database_name(size)
    url = database_url(server, name)
    dsn = asyncpg_dsn(url)
    created = await create_database(server, name)
    seconds = None if created or regenerate else await data.completed_in(dsn, size)
    if seconds is not None:
        note = f"reused {name} (generated earlier in {seconds:.1f} s)"
    else:
        print(f"  generating {name}: {size:,} orders x {data.LINES} lines ...", file=sys.stderr)
        started = time.perf_counter()
        await create_database(server, name, drop=True)
        await migrate(url)
        migrated = time.perf_counter() - started
        load = await data.generate(dsn, size, log=lambda line: print(line, file=sys.stderr))
        note = (f"generated {name} in {time.perf_counter() - started:.1f} s "
                f"(create + migrate {migrated:.1f} s, bulk load + indexes + vacuum analyze {load:.1f} s)")
        check = check or size <= 100_000
    if check:
        started = time.perf_counter()
        failures = await data.check_integrity(dsn)
        if failures:
            raise SystemExit(f"{name}: integrity check failed: {failures}")
        note += f"; integrity checked in {time.perf_counter() - started:.1f} s"
    print(f"  {note}", file=sys.stderr)
    return url, note


async def history_position(dsn: str, skipped: int) -> tuple:
    """(submitted_at, id) of the row after which a page starts, in the manager's history order, and the
    id of the page's first row (found once here with OFFSET, to check the cursor page against)."""
    connection = await asyncpg.connect(dsn)
    try:
        rows = await connection.fetch(
            "SELECT submitted_at, id FROM orders WHERE company_id = $1 AND status <> 'draft' "
            "ORDER BY submitted_at DESC, id DESC OFFSET $2 LIMIT 2", data.MEASURED_COMPANY, skipped - 1)
    finally:
        await connection.close()
    return (rows[0]["submitted_at"], rows[0]["id"]), rows[1]["id"]


async def company_orders(dsn: str) -> int:
    connection = await asyncpg.connect(dsn)
    try:
        return await connection.fetchval(
            "SELECT count(*) FROM orders WHERE company_id = $1 AND status <> 'draft'", data.MEASURED_COMPANY)
    finally:
        await connection.close()


async def post(config: Config, *, record: bool = False, generic: bool = False) -> dict:
    from schema.execution import PlainTreeExecutor

    PlainTreeExecutor.compiled_completion = not generic
    try:
        started = time.perf_counter_ns()
        response = await config.client.post("/graphql", json={"query": QUERY, "variables": config.variables},
                                            headers={"authorization": f"Bearer {config.token}"})
    finally:
        PlainTreeExecutor.compiled_completion = True
    if record and not generic:
        config.client_ms.append((time.perf_counter_ns() - started) / 1e6)
    if record:
        server_ms = config.timer.last_ms
        if server_ms is None:
            raise SystemExit(f"{config.label}: the ASGI timer saw no HTTP request")
        (config.generic_ms if generic else config.server_ms).append(server_ms)
    if response.status_code != 200:
        raise SystemExit(f"{config.label}: HTTP {response.status_code}: {response.text[:500]}")
    body = response.json()
    if "errors" in body:
        raise SystemExit(f"{config.label}: {body['errors']}")
    return body


async def capture_statements(config: Config) -> None:
    captured = []

    def listener(conn, cursor, statement, parameters, context, executemany):
        captured.append((statement, tuple(parameters or ())))

    sync_engine = config.engine.sync_engine
    event.listen(sync_engine, "before_cursor_execute", listener)
    try:
        await post(config)
    finally:
        event.remove(sync_engine, "before_cursor_execute", listener)
    config.statements = captured


async def run_sql(connection, config: Config) -> float:
    """The captured statements alone, in sequence on a raw asyncpg connection (prepared, as SQLAlchemy does)."""
    started = time.perf_counter_ns()
    for statement, parameters in config.statements:
        await connection.fetch(statement, *parameters)
    return (time.perf_counter_ns() - started) / 1e6


def run_graphql(config: Config, floor_schema, document) -> float:
    """Plain graphql-core over the response data already in memory, plus JSON encoding."""
    started = time.perf_counter_ns()
    result = execute(floor_schema, document, root_value=config.response["data"], variable_values=config.variables)
    assert isinstance(result, ExecutionResult)  # default resolvers over dicts: never awaitable
    json.dumps({"data": result.data})
    return (time.perf_counter_ns() - started) / 1e6


async def time_rounds(configs: list[Config], floor_schema, document, runs: int, warmup: int) -> None:
    """Every measurement of every configuration (the server with compiled completion, the server with
    graphql-core's, and both parts of the floor) in the same interleaved rounds, so that the machine's
    noise and drift hit them alike."""
    for config in configs:
        result = execute(floor_schema, document, root_value=config.response["data"], variable_values=config.variables)
        if not isinstance(result, ExecutionResult):
            raise SystemExit(f"{config.label}: the floor schema completed asynchronously")
        if result.errors or result.data != config.response["data"]:
            raise SystemExit(f"{config.label}: the floor does not reproduce the response: {result.errors}")
        if await post(config, generic=True) != config.response:
            raise SystemExit(f"{config.label}: graphql-core's completion answers differently from the compiled one")
    connections = {config.dsn: await asyncpg.connect(config.dsn) for config in configs}
    samples: dict[int, tuple[list[float], list[float]]] = {id(config): ([], []) for config in configs}
    try:
        for index in range(warmup + runs):
            for config in configs:
                record = index >= warmup
                # Each measurement starts with no garbage of the previous one: a collection it
                # triggers is then its own.
                gc.collect()
                await post(config, record=record)
                gc.collect()
                await post(config, record=record, generic=True)
                gc.collect()
                sql = await run_sql(connections[config.dsn], config)
                gc.collect()
                gql = run_graphql(config, floor_schema, document)
                if record:
                    samples[id(config)][0].append(gql)
                    samples[id(config)][1].append(sql)
    finally:
        for connection in connections.values():
            await connection.close()
    for config in configs:
        gql_samples, sql_samples = samples[id(config)]
        config.graphql_ms, config.sql_ms = median(gql_samples), median(sql_samples)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,1000000", help="comma-separated numbers of orders")
    parser.add_argument("--database-url", default=DEFAULT_SERVER_URL,
                        help="PostgreSQL server (SQLAlchemy URL; a database name in it is ignored)")
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--regenerate", action="store_true", help="drop and generate the databases again")
    parser.add_argument("--check", action="store_true",
                        help="verify the data set's integrity (always after generating <= 100k)")
    parser.add_argument("--profile", metavar="FILE", help="cProfile 30 requests of the first size's page 1 into FILE")
    args = parser.parse_args()
    sizes = [int(s.replace("_", "")) for s in args.sizes.split(",")]

    from app import create_app
    from schema import build_schema
    from schema.relay import to_global_id, to_keyset_cursor

    notes, apps, configs = {}, [], []
    for size in sizes:
        url, notes[size] = await prepare(args.database_url, size, regenerate=args.regenerate, check=args.check)
        app = create_app(bench_settings(url))
        services = app.state.services
        apps.append(app)
        timer = AsgiTimer(app)
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=timer, client=("198.51.100.7", 50000)),
                                   base_url="http://bench")
        token = await issue_token(services, user_id=data.MANAGER_MEMBERSHIP, membership_id=data.MANAGER_MEMBERSHIP)
        dsn = asyncpg_dsn(url)
        total = await company_orders(dsn)
        deep_skip = min((DEEP_PAGE - 1) * PAGE_SIZE, (total // PAGE_SIZE - 1) * PAGE_SIZE)
        for skipped in (0, deep_skip):
            after = first_id = None
            if skipped:
                (submitted_at, pk), first_id = await history_position(dsn, skipped)
                after = to_keyset_cursor(submitted_at, pk)
            configs.append(Config(size, skipped // PAGE_SIZE + 1, skipped, client, timer, token,
                                  {"first": PAGE_SIZE, "after": after}, first_id, dsn, services.db.engine))
        notes[size] += f"; company 1 has {total:,} orders ({total // PAGE_SIZE:,} pages of {PAGE_SIZE})"

    # Sanity: each page is full, and a deep page starts right after the row its cursor names.
    for config in configs:
        body = await post(config)
        edges = body["data"]["orders"]["edges"]
        if len(edges) != PAGE_SIZE or any(len(e["node"]["lines"]) != data.LINES for e in edges):
            raise SystemExit(f"{config.label}: expected {PAGE_SIZE} orders of {data.LINES} lines")
        if config.first_id is not None and edges[0]["node"]["id"] != to_global_id("Order", config.first_id):
            raise SystemExit(f"{config.label}: the cursor page does not start at order {config.first_id}")
        config.response = body

    floor_schema = build_sdl_schema(build_schema(bench_settings("postgresql+asyncpg://x/y")).as_str())
    document = parse(QUERY)
    for config in configs:
        await capture_statements(config)
    print(f"  timing {len(configs)} configurations: {args.warmup} warm-up + {args.runs} interleaved rounds",
          file=sys.stderr)
    await time_rounds(configs, floor_schema, document, args.runs, args.warmup)
    for config in configs:
        config.peak_kib = await peak_kib(partial(post, config))
    if args.profile:
        await profile_requests(partial(post, configs[0]), configs[0].label, args.profile)

    print()
    print(f"Order history, orders(first: {PAGE_SIZE}) as a manager of the whole company; "
          f"medians of {args.runs} runs, ms")
    for size in sizes:
        print(f"  {size:>9,} orders: {notes[size]}")
    header = (f"{'size':>10} {'page':>5} {'skipped':>8} {'server':>8} {'client':>8} {'floor':>7} {'= gql':>7}"
              f" {'+ sql':>6} {'stmts':>5} {'server/floor':>12} {'peak KiB':>9} {'generic':>8} {'generic/floor':>13}")
    print(header)
    for c in configs:
        floor = c.graphql_ms + c.sql_ms
        print(f"{c.size:>10,} {c.page:>5,} {c.skipped:>8,} {median(c.server_ms):>8.2f} {median(c.client_ms):>8.2f}"
              f" {floor:>7.2f} {c.graphql_ms:>7.2f} {c.sql_ms:>6.2f} {len(c.statements):>5}"
              f" {median(c.server_ms) / floor:>11.2f}x"
              f" {c.peak_kib:>9,.0f} {median(c.generic_ms):>8.2f} {median(c.generic_ms) / floor:>12.2f}x")
    by_key = {(c.size, c.skipped == 0): c for c in configs}
    small, large = sizes[0], sizes[-1]
    print()
    for first_page, name in ((True, "page 1"), (False, "deep page")):
        a, b = by_key[(small, first_page)], by_key[(large, first_page)]
        print(f"{name:>9}: {large:,} / {small:,} orders = {median(b.server_ms) / median(a.server_ms):.2f}x server"
              f" ({median(b.server_ms):.2f} / {median(a.server_ms):.2f} ms), sql {b.sql_ms / a.sql_ms:.2f}x")
    for size in sizes:
        a, b = by_key[(size, True)], by_key[(size, False)]
        print(f"{size:>10,}: page {b.page:,} / page 1 = {median(b.server_ms) / median(a.server_ms):.2f}x server")
    worst_floor = max(median(c.server_ms) / (c.graphql_ms + c.sql_ms) for c in configs)
    worst_size = max(median(by_key[(large, p)].server_ms) / median(by_key[(small, p)].server_ms) for p in (True, False))
    print(f"goal server <= 1.2x floor: {'met' if worst_floor <= 1.2 else 'NOT met'} (worst {worst_floor:.2f}x)")
    print(f"goal {large:,}-order page <= 1.25x {small:,}-order page: {'met' if worst_size <= 1.25 else 'NOT met'}"
          f" (worst {worst_size:.2f}x)")

    for client in {c.client for c in configs}:
        await client.aclose()
    for app in apps:
        await app.state.services.mailer.drain()
        await app.state.services.db.dispose()


if __name__ == "__main__":
    asyncio.run(main())
