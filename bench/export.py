"""Bulk export on PostgreSQL at 10,000 and 1,000,000 orders: orders per second and the server's peak memory.

    .venv/bin/python bench/export.py [--sizes 10000,1000000] [--rounds 3] [--formats ndjson]
                                     [--database-url postgresql+asyncpg://root@127.0.0.1:5432] [--regenerate]

Data: one database per size (procura_bench_export_10k, procura_bench_export_1m), created, migrated and
loaded the first time by bench/_orders_data.py (INSERT ... SELECT generate_series: 10 companies,
orders with 5 lines each, no drafts) and reused afterwards, plus a platform operator, who sees every
company's orders: the export holds all of them.

Server: one `uvicorn app:create_app --factory --workers 1` subprocess per size, each on its own
database and port, started before the first round and kept for all of them.

Request: GET /export/orders.<format> over real HTTP (httpx, streamed: the body is counted and thrown
away as it arrives, so the client holds no more than a chunk), with the operator's access token.
Checked: every order came, and the NDJSON end line says so.

Figures, per size and format, over --rounds rounds that take the sizes in turn (so that the machine's
noise and drift hit them alike): orders per second (from sending the request to the last byte) and the
server's peak resident memory during the export (VmHWM of the server process, reset before each export
by writing 5 to /proc/<pid>/clear_refs; the server's resident size before the export is shown too).
Medians with min and max.

Goal: the peak memory exporting 1,000,000 orders at most 1.1x the peak exporting 10,000.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import asyncpg
import httpx

from bench import _orders_data as data
from bench._common import (
    DEFAULT_SERVER_URL,
    JWT_SECRET,
    asyncpg_dsn,
    bench_settings,
    create_database,
    database_url,
    issue_token,
    median,
    migrate,
)

ROOT = Path(__file__).resolve().parent.parent
GOAL = 1.1


def database_name(size: int) -> str:
    label = f"{size // 1_000_000}m" if size % 1_000_000 == 0 else f"{size // 1000}k" if size % 1000 == 0 else str(size)
    return f"procura_bench_export_{label}"


async def prepare(server: str, size: int, *, regenerate: bool) -> str:
    """The database of this size, generated when missing, outdated or asked for."""
    name = database_name(size)
    url = database_url(server, name)
    dsn = asyncpg_dsn(url)
    created = await create_database(server, name)
    seconds = None if created or regenerate else await data.completed_in(dsn, size)
    if seconds is not None:
        print(f"  reused {name} (generated earlier in {seconds:.1f} s)", file=sys.stderr)
        return url
    print(f"  generating {name}: {size:,} orders x {data.LINES} lines ...", file=sys.stderr)
    started = time.perf_counter()
    await create_database(server, name, drop=True)
    await migrate(url)
    await data.generate(dsn, size, log=lambda line: print(line, file=sys.stderr))
    print(f"  generated {name} in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return url


async def operator_token(url: str) -> str:
    """An access token of a platform operator of this database (created once)."""
    from app import build_services
    from models import User

    services = build_services(bench_settings(url))
    try:
        async with services.db.transaction() as session:
            from sqlalchemy import select

            user = await session.scalar(select(User).where(User.email == "export-bench@operator.example"))
            if user is None:
                user = User(email="export-bench@operator.example", first_name="Bench", last_name="Operator",
                            is_operator=True, password_hash="!")
                session.add(user)
                await session.flush()
            user_id = user.id
        return await issue_token(services, user_id=user_id, membership_id=None)
    finally:
        await services.db.dispose()


async def order_count(url: str) -> int:
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        return await connection.fetchval("SELECT count(*) FROM orders WHERE status <> 'draft'")
    finally:
        await connection.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    """`uvicorn app:create_app --factory --workers 1` on one database, in a subprocess."""

    def __init__(self, url: str) -> None:
        self.port = free_port()
        environment = {**os.environ, "DATABASE_URL": url, "PROCURA_ENV": "development", "JWT_SECRET": JWT_SECRET,
                       "PYTHONPATH": str(ROOT)}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "app:create_app", "--factory", "--workers", "1", "--host", "127.0.0.1",
             "--port", str(self.port), "--log-level", "warning", "--no-access-log"],
            cwd=ROOT, env=environment)
        self.base = f"http://127.0.0.1:{self.port}"

    async def ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient() as client:
            while True:
                try:
                    if (await client.get(f"{self.base}/healthz")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"the server on {self.base} did not start")
                await asyncio.sleep(0.1)

    def _status(self, field: str) -> int:
        """A VmRSS / VmHWM figure of the server process, in KiB."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
        raise RuntimeError(f"no {field} for {self.process.pid}")

    def reset_peak(self) -> int:
        Path(f"/proc/{self.process.pid}/clear_refs").write_text("5")
        return self._status("VmRSS")

    def peak(self) -> int:
        return self._status("VmHWM")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()


async def export_once(server: Server, token: str, fmt: str, expected: int) -> tuple[float, int, int]:
    """One export: (seconds, peak KiB, resident KiB before); checks that every order came."""
    before = server.reset_peak()
    lines = 0
    last = b""
    started = time.perf_counter()
    url = f"{server.base}/export/orders.{fmt}"
    async with (httpx.AsyncClient(timeout=None) as client,
                client.stream("GET", url, headers={"authorization": f"Bearer {token}"}) as response):
        if response.status_code != 200:
            raise SystemExit(f"export failed: {response.status_code} {(await response.aread())[:500]!r}")
        async for chunk in response.aiter_raw():
            lines += chunk.count(b"\n")
            last = (last + chunk)[-300:]
    seconds = time.perf_counter() - started
    peak = server.peak()
    if fmt == "ndjson":
        end = last.rstrip(b"\n").rsplit(b"\n", 1)[-1]
        if lines != expected + 1 or f'"orders":{expected}'.encode() not in end:
            raise SystemExit(f"ndjson export: {lines} lines, end {end!r}; expected {expected} orders")
    elif lines != expected * data.LINES + 1:
        raise SystemExit(f"csv export: {lines} rows; expected {expected * data.LINES} and a header")
    return seconds, peak, before


def spread(values: list[float], unit: str = "", digits: int = 0) -> str:
    return f"{median(values):,.{digits}f}{unit} ({min(values):,.{digits}f}-{max(values):,.{digits}f})"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,1000000")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--formats", default="ndjson")
    parser.add_argument("--database-url", default=DEFAULT_SERVER_URL)
    parser.add_argument("--regenerate", action="store_true")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    formats = args.formats.split(",")

    servers: dict[int, Server] = {}
    tokens: dict[int, str] = {}
    counts: dict[int, int] = {}
    try:
        for size in sizes:
            url = await prepare(args.database_url, size, regenerate=args.regenerate)
            tokens[size] = await operator_token(url)
            counts[size] = await order_count(url)
            servers[size] = Server(url)
        for server in servers.values():
            await server.ready()
        results: dict[tuple[int, str], list[tuple[float, int, int]]] = {(s, f): [] for s in sizes for f in formats}
        for round_number in range(1, args.rounds + 1):
            for fmt in formats:
                for size in sizes:
                    seconds, peak, before = await export_once(servers[size], tokens[size], fmt, counts[size])
                    results[size, fmt].append((seconds, peak, before))
                    print(f"  round {round_number} {fmt} {size:,}: {counts[size] / seconds:,.0f} orders/s, "
                          f"{seconds:.1f} s, peak {peak / 1024:.1f} MiB (resident before {before / 1024:.1f} MiB)",
                          file=sys.stderr)
    finally:
        for server in servers.values():
            server.stop()

    print(f"\nExport through uvicorn (1 worker), {args.rounds} interleaved rounds; median (min-max)\n")
    print(f"{'orders':>10} {'format':>6} {'orders/s':>26} {'seconds':>22} {'peak RSS MiB':>26} {'RSS before MiB':>22}")
    for fmt in formats:
        for size in sizes:
            runs = results[size, fmt]
            rates = spread([counts[size] / s for s, _, _ in runs])
            durations = spread([s for s, _, _ in runs], digits=1)
            peaks = spread([p / 1024 for _, p, _ in runs], digits=1)
            befores = spread([b / 1024 for _, _, b in runs], digits=1)
            print(f"{counts[size]:>10,} {fmt:>6} {rates:>26} {durations:>22} {peaks:>26} {befores:>22}")
    if len(sizes) >= 2:
        small, large = min(sizes), max(sizes)
        for fmt in formats:
            ratio = median([p for _, p, _ in results[large, fmt]]) / median([p for _, p, _ in results[small, fmt]])
            verdict = "met" if ratio <= GOAL else "NOT met"
            print(f"\n{fmt}: peak memory at {counts[large]:,} orders / at {counts[small]:,} = {ratio:.3f}x "
                  f"(goal at most {GOAL}x): {verdict}")


if __name__ == "__main__":
    asyncio.run(main())
