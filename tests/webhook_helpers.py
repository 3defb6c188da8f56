"""Webhook tests: a real HTTP receiver that verifies every request with the standardwebhooks library,
the GraphQL documents of the webhook API, and running the dispatcher and the delivery jobs."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from sqlalchemy import select, update
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from models import FeedPosition, Job, JobStatus, OrderChange, WebhookDelivery
from models.base import utcnow
from resolvers.webhook_dispatch import DELIVER_KIND, POSITION, dispatch
from tests.factories import Api, Member
from worker.runner import run_due_jobs as run_worker_jobs

ERR = "... on MutationError { code message field }"
ATTEMPT = "attemptedAt responseCode error durationMs"
DELIVERY = (f"id endpointId messageId eventType status createdAt attemptCount lastResponseCode lastError "
            f"nextAttemptAt deliveredAt payload attempts {{ {ATTEMPT} }}")
ENDPOINT = ("id url description events enabled disabledReason consecutiveFailures previousSecretExpiresAt "
            "createdAt updatedAt")
SECRET_RESULT = f"__typename ... on WebhookSecretPayload {{ secret webhookEndpoint {{ {ENDPOINT} }} }} {ERR}"
ENDPOINT_RESULT = f"__typename ... on WebhookEndpointPayload {{ webhookEndpoint {{ {ENDPOINT} }} }} {ERR}"
DELETE_RESULT = f"__typename ... on DeleteWebhookEndpointPayload {{ deletedId }} {ERR}"
DELIVERY_RESULT = f"__typename ... on WebhookDeliveryPayload {{ delivery {{ {DELIVERY} }} }} {ERR}"
ENDPOINTS = f"""query($first: Int! = 50, $deliveries: Int! = 20) {{ webhookEndpoints(first: $first) {{
  edges {{ cursor node {{ {ENDPOINT} deliveries(first: $deliveries) {{ edges {{ cursor node {{ {DELIVERY} }} }}
  pageInfo {{ hasNextPage endCursor }} }} }} }} pageInfo {{ hasNextPage endCursor }} }} }}"""
ALL_EVENTS = ["ORDER_SUBMITTED", "ORDER_APPROVAL_REQUESTED", "ORDER_APPROVED", "ORDER_REJECTED", "ORDER_CANCELLED",
              "ORDER_FULFILLED", "ORDER_RETURNED"]
WORKER = "test-worker"


# --- the receiver ------------------------------------------------------------------------------------------

@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    verified_by: list[str]  # the secrets (of those the receiver knows) whose signature it carries

    @property
    def json(self) -> dict:
        return json.loads(self.body)

    @property
    def message_id(self) -> str:
        return self.headers["webhook-id"]


@dataclass
class Receiver:
    """A real HTTP server on 127.0.0.1 (or `host`) in a thread. Every request is verified with
    `standardwebhooks.Webhook(secret).verify(body, headers)` against each secret it knows; it answers
    `status` (or what `answer` says for the request's number)."""

    secrets: list[str] = field(default_factory=list)
    status: int = 204
    host: str = "127.0.0.1"
    answer: Callable[[int], int] | None = None
    received: list[Received] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None

    def url(self, path: str = "/hooks") -> str:
        assert self._server is not None
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self._server.server_address[1]}{path}"

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                headers = {name.lower(): value for name, value in self.headers.items()}
                verified = []
                for secret in receiver.secrets:
                    try:
                        Webhook(secret).verify(body, headers)
                        verified.append(secret)
                    except WebhookVerificationError:
                        pass
                receiver.received.append(Received(self.path, headers, body, verified))
                status = receiver.answer(len(receiver.received)) if receiver.answer else receiver.status
                self.send_response(status)
                self.send_header("content-length", "0")
                if 300 <= status < 400:
                    self.send_header("location", receiver.url("/elsewhere"))
                self.end_headers()

            def log_message(self, format, *args) -> None:
                pass

        server_class = ThreadingHTTPServer
        if ":" in self.host:
            class IPv6Server(ThreadingHTTPServer):
                address_family = socket.AF_INET6
            server_class = IPv6Server
        self._server = server_class((self.host, 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def types(self) -> list[str]:
        return [r.json["type"] for r in self.received]


# --- the API -------------------------------------------------------------------------------------------------

async def mutate(api: Api, name: str, input_type: str, selection: str, input: dict, member: Member) -> dict:
    body = await api.mutate(name, input_type, selection, input, member.token)
    assert "errors" not in body, body
    return body["data"][name]


async def create_endpoint(api: Api, admin: Member, url: str, events: list[str] | None = None,
                          description: str | None = "ERP") -> dict:
    """The payload of a successful createWebhookEndpoint: {"secret", "webhookEndpoint"}."""
    result = await mutate(api, "createWebhookEndpoint", "CreateWebhookEndpointInput", SECRET_RESULT,
                          {"url": url, "events": events or ALL_EVENTS, "description": description}, admin)
    assert result["__typename"] == "WebhookSecretPayload", result
    return result


async def endpoints(api: Api, member: Member, deliveries: int = 20) -> list[dict]:
    data = await api.query(ENDPOINTS, {"deliveries": deliveries}, member.token)
    return [edge["node"] for edge in data["webhookEndpoints"]["edges"]]


async def deliveries_of(api: Api, member: Member, endpoint_id: str) -> list[dict]:
    """An endpoint's deliveries, newest first (read through node(id:))."""
    query = f"""query($id: ID!) {{ node(id: $id) {{ ... on WebhookEndpoint {{
      deliveries(first: 100) {{ edges {{ node {{ {DELIVERY} }} }} }} }} }} }}"""
    endpoint = (await api.query(query, {"id": endpoint_id}, member.token))["node"]
    return [edge["node"] for edge in endpoint["deliveries"]["edges"]]


# --- the worker's part -------------------------------------------------------------------------------------

async def run_due_jobs(services) -> int:
    """Run every due delivery attempt, as the worker does (worker.runner); returns how many ran."""
    return await run_worker_jobs(services, WORKER, kinds=[DELIVER_KIND], schedule=False)


async def dispatch_committed(services, timeout: float = 20.0) -> int:
    """Dispatch until every change committed so far has been read: on PostgreSQL a change is read once it
    is settled, which a transaction still running anywhere on the server (another test process's database
    included: transaction ids are the server's) may hold back for a moment. Returns deliveries created."""
    async with services.db.read_sessions() as session:
        last = (await session.execute(
            select(OrderChange.txid, OrderChange.id).order_by(OrderChange.txid.desc(), OrderChange.id.desc())
            .limit(1))).first()
    created = await dispatch(services)
    deadline = time.monotonic() + timeout
    while last is not None:
        async with services.db.read_sessions() as session:
            position = (await session.execute(
                select(FeedPosition.txid, FeedPosition.change_id).where(FeedPosition.name == POSITION))).first()
        if position is not None and tuple(position) >= tuple(last):
            break
        assert time.monotonic() < deadline, f"changes up to {tuple(last)} were not dispatched within {timeout} s"
        await asyncio.sleep(0.02)
        created += await dispatch(services)
    return created


async def deliver(services) -> int:
    """Dispatch every committed change, then make every due attempt; returns how many jobs ran."""
    await dispatch_committed(services)
    ran = await run_due_jobs(services)
    await services.mailer.drain()
    return ran


async def make_retries_due(services) -> int:
    """Advance the clock for the delivery jobs: every pending one is due now. Returns how many."""
    async with services.db.transaction() as session:
        result = await session.execute(
            update(Job).where(Job.kind == DELIVER_KIND, Job.status == JobStatus.PENDING.value)
            .values(run_at=utcnow()))
        return result.rowcount


async def pending_delivery_jobs(services) -> list[Job]:
    async with services.db.read_sessions() as session:
        return list((await session.scalars(select(Job).where(
            Job.kind == DELIVER_KIND, Job.status == JobStatus.PENDING.value).order_by(Job.id))).all())


async def stored_deliveries(services) -> list[WebhookDelivery]:
    async with services.db.read_sessions() as session:
        return list((await session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id))).all())
