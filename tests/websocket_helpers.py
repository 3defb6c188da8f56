"""Real servers and a real WebSocket client for the subscription tests: the application served by
uvicorn on a free port (in this process, lifespan and all, or as a second server process), and the
graphql-transport-ws protocol spoken by hand with the `websockets` client."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import uvicorn
from starlette.applications import Starlette
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from settings import Settings

PROJECT_ROOT = Path(__file__).resolve().parents[1]
PROTOCOL = "graphql-transport-ws"
DEADLINE = 30.0  # seconds any awaited event may take before the test fails (the machine may be busy)


async def until(condition: Callable[[], bool], what: str, deadline: float = DEADLINE) -> None:
    """Poll `condition` until it holds; fail after `deadline` seconds."""
    end = time.monotonic() + deadline
    while not condition():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


@asynccontextmanager
async def serving(app: Starlette) -> AsyncIterator[str]:
    """Serve `app` with uvicorn in this process on a free port (its lifespan runs: the change broker
    starts); yields the host:port."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, lifespan="on", log_level="warning"))
    task = asyncio.create_task(server.serve())
    await until(lambda: server.started or task.done(), "uvicorn to start")
    if task.done():
        task.result()  # raises what stopped it
        raise AssertionError("uvicorn stopped before it started")
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@asynccontextmanager
async def server_process(settings: Settings) -> AsyncIterator[str]:
    """A second server process (`uvicorn app:create_app --factory`) on the same database with the same
    secrets; yields its host:port once it answers /healthz."""
    port = free_port()
    env = {**os.environ, "DATABASE_URL": settings.database_url, "PROCURA_ENV": settings.procura_env,
           "JWT_SECRET": settings.jwt_secret, "ARGON2_TIME_COST": str(settings.argon2_time_cost),
           "ARGON2_MEMORY_COST": str(settings.argon2_memory_cost),
           "ARGON2_PARALLELISM": str(settings.argon2_parallelism),
           "SUBSCRIPTION_POLL_SECONDS": str(settings.subscription_poll_seconds)}
    env.pop("SMTP_URL", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "app:create_app", "--factory", "--host", "127.0.0.1", "--port", str(port),
         "--log-level", "warning"], cwd=PROJECT_ROOT, env=env)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            end = time.monotonic() + DEADLINE
            while True:
                assert process.poll() is None, "the second server process exited"
                try:
                    if (await http.get("/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < end, "the second server process did not start"
                await asyncio.sleep(0.05)
        yield f"127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=DEADLINE)


class GraphQLSocket:
    """One graphql-transport-ws connection, spoken by hand: connection_init, subscribe, next, complete."""

    def __init__(self, connection: ClientConnection) -> None:
        self.connection = connection

    async def send(self, message: dict) -> None:
        await self.connection.send(json.dumps(message))

    async def receive(self, deadline: float = DEADLINE) -> dict:
        return json.loads(await asyncio.wait_for(self.connection.recv(), deadline))

    async def init(self, payload: dict | None) -> dict:
        """Send connection_init with `payload`; the server's answer (connection_ack when accepted)."""
        await self.send({"type": "connection_init", **({"payload": payload} if payload is not None else {})})
        return await self.receive()

    async def subscribe(self, operation_id: str, query: str, variables: dict | None = None) -> None:
        await self.send({"id": operation_id, "type": "subscribe",
                         "payload": {"query": query, "variables": variables or {}}})

    async def complete(self, operation_id: str) -> None:
        await self.send({"id": operation_id, "type": "complete"})

    async def next_data(self, operation_id: str, deadline: float = DEADLINE) -> dict:
        """The data of the next message, which must be a `next` for `operation_id` without errors."""
        message = await self.receive(deadline)
        assert message["type"] == "next" and message["id"] == operation_id, message
        assert "errors" not in message["payload"], message
        return message["payload"]["data"]

    async def closed(self, deadline: float = DEADLINE) -> tuple[int, str]:
        """Wait until the server closes the connection (nothing else may arrive first): its code and reason."""
        try:
            message = await asyncio.wait_for(self.connection.recv(), deadline)
        except ConnectionClosed as closed:
            assert closed.rcvd is not None, closed
            return closed.rcvd.code, closed.rcvd.reason
        raise AssertionError(f"expected the connection to close, got {message!r}")


@asynccontextmanager
async def graphql_socket(address: str, token: str | None = None, *, origin: str | None = None,
                         ) -> AsyncIterator[GraphQLSocket]:
    """A connection to ws://address/graphql; with `token`, initialised (and acknowledged) with it."""
    headers = {"Origin": origin} if origin else None
    async with connect(f"ws://{address}/graphql", subprotocols=[PROTOCOL], additional_headers=headers,  # type: ignore[list-item]
                       open_timeout=DEADLINE) as connection:
        client = GraphQLSocket(connection)
        if token is not None:
            assert await client.init({"Authorization": f"Bearer {token}"}) == {"type": "connection_ack"}
        yield client
