"""The ASGI application: GraphQL (with an offline GraphiQL), the pages of emailed links, health and readiness probes."""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from datetime import timedelta
from importlib.resources import files

import structlog
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

import exports
import pages
from models.db import Database
from policies.authorizer import Authorizer
from resolvers.change_broker import ChangeBroker
from resolvers.context import Services
from resolvers.jobs import worker_health
from resolvers.mail import Mailer
from resolvers.security import AccessTokens, Passwords
from schema import build_schema
from schema.context import Context
from schema.input_policy import decode_request_json
from schema.websocket import SocketContext, SocketHandler
from settings import Settings

GRAPHIQL_ASSETS = files("graphene_django_graphiql_static") / "static" / "graphene_django_graphiql_static"
GRAPHIQL_PAGE = (files("schema") / "graphiql.html").read_text()


class RequestBodyLimit:
    """Refuses a request body above `max_bytes` with 413 before it is read whole: at once when its
    Content-Length says so, else (a chunked body) as soon as what has arrived passes the limit.
    What arrived (at most the limit) is handed to the app unchanged."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            return await self.refuse(scope, receive, send)
        received: list[Message] = []
        size, more = 0, True
        while more:
            message = await receive()
            received.append(message)
            size += len(message.get("body", b""))
            if size > self.max_bytes:
                return await self.refuse(scope, receive, send)
            more = message["type"] == "http.request" and message.get("more_body", False)

        async def replay() -> Message:
            return received.pop(0) if received else await receive()

        await self.app(scope, replay, send)

    async def refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        message = f"The request body is larger than {self.max_bytes} bytes"
        body = {"data": None, "errors": [{"message": message, "extensions": {"code": "REQUEST_TOO_LARGE"}}]}
        # Connection: close, so that the server stops reading the rest of the body.
        await JSONResponse(body, status_code=413, headers={"Connection": "close"})(scope, receive, send)


def edge_middleware(settings: Settings) -> list[Middleware]:
    """The client's address from a trusted proxy's X-Forwarded-For (TRUSTED_PROXIES, none by default:
    the right-most address not of a trusted proxy), then the body limit."""
    middleware = [Middleware(RequestBodyLimit, max_bytes=settings.max_request_bytes)]
    if settings.trusted_proxies:
        trusted = [str(network) for network in settings.trusted_proxies]
        middleware.insert(0, Middleware(ProxyHeadersMiddleware, trusted_hosts=trusted))
    return middleware


def configure_logging(settings: Settings) -> None:
    renderer = structlog.processors.JSONRenderer() if settings.is_production else structlog.dev.ConsoleRenderer()
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars, structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True), structlog.processors.format_exc_info, renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
    )


def build_services(settings: Settings) -> Services:
    db = Database.connect(settings.database_url, busy_timeout_ms=settings.sqlite_busy_timeout_ms)
    return Services(
        settings=settings, db=db, authorizer=Authorizer(),
        passwords=Passwords(time_cost=settings.argon2_time_cost, memory_cost=settings.argon2_memory_cost,
                            parallelism=settings.argon2_parallelism),
        tokens=AccessTokens(secret=settings.jwt_secret, issuer=settings.jwt_issuer, audience=settings.jwt_audience,
                            ttl=timedelta(minutes=settings.access_token_minutes)),
        mailer=Mailer(db, smtp_url=settings.smtp_url, sender=settings.mail_from,
                      retry_seconds=settings.mail_retry_seconds),
        broker=ChangeBroker(db, settings.database_url, poll_seconds=settings.subscription_poll_seconds),
    )


class ProcuraGraphQL(GraphQL[Context, None]):
    # graphql-transport-ws with authentication in connection_init (schema/websocket.py).
    graphql_transport_ws_handler_class = SocketHandler

    def __init__(self, services: Services, **kwargs) -> None:
        super().__init__(**kwargs)
        self.services = services

    async def get_context(self, request: Request | WebSocket, response: Response | WebSocket) -> Context:
        if not isinstance(request, Request):
            # A WebSocket: who calls is learnt from its connection_init, which replaces this context.
            return SocketContext.for_bearer(self.services, None, request.client.host if request.client else "unknown")
        return Context.for_request(self.services, request, response if isinstance(response, Response) else None)

    async def render_graphql_ide(self, request: Request) -> HTMLResponse:
        return HTMLResponse(GRAPHIQL_PAGE)

    def decode_json(self, data: str | bytes) -> object:
        return decode_request_json(data)


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or Settings()
    settings.check_production_safety()
    configure_logging(settings)
    services = build_services(settings)
    graphql = ProcuraGraphQL(
        services, schema=build_schema(settings), graphql_ide=None if settings.is_production else "graphiql",
        allow_queries_via_get=True,
        # The current protocol only (the legacy graphql-ws is off), which also keeps HTTP streaming
        # (multipart and SSE subscriptions) off: subscriptions run over the WebSocket only.
        subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,), max_subscriptions_per_connection=20,
    )

    async def healthz(_: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def readyz(_: Request) -> JSONResponse:
        try:
            async with services.db.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        except Exception as exc:  # any failure to reach the database means not ready
            return JSONResponse({"status": "unavailable", "database": type(exc).__name__}, status_code=503)
        # The worker's heartbeat is reported, not required: without a worker the API still answers (mail waits,
        # webhooks queue up), and taking every API process out of a load balancer would not bring it back.
        try:
            worker = await worker_health(services.db, stale_after=timedelta(seconds=settings.worker_stale_seconds))
        except Exception as exc:
            worker = {"status": "unknown", "error": type(exc).__name__}
        return JSONResponse({"status": "ok", "database": services.db.dialect, "worker": worker})

    @asynccontextmanager
    async def lifespan(_app: Starlette):
        await services.broker.start()
        yield
        await services.broker.stop()
        await services.mailer.drain()
        await services.db.dispose()

    async def no_favicon(_: Request) -> Response:
        return Response(status_code=204)  # browsers ask for one; an empty answer beats a logged 404

    routes = [
        Route("/healthz", healthz), Route("/readyz", readyz), Route("/favicon.ico", no_favicon),
        Route("/graphql", graphql, methods=["GET", "POST"]), WebSocketRoute("/graphql", graphql),
        *pages.routes(),  # the pages emailed links open (in production too)
        # GET /export/orders.ndjson and .csv (README "Bulk export"), /export/transactions.csv and
        # /export/invoices/{id}.xml and .pdf (README "Invoicing").
        *exports.routes(),
    ]
    if not settings.is_production:
        routes.append(Mount("/graphiql-assets", StaticFiles(directory=str(GRAPHIQL_ASSETS)), name="graphiql-assets"))
    app = Starlette(routes=routes, lifespan=lifespan, middleware=edge_middleware(settings))
    app.state.services = services
    return app
