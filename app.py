"""The ASGI application: GraphQL (with an offline GraphiQL), the pages of emailed links, health and readiness probes."""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from datetime import timedelta
from importlib.resources import files

import structlog
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from strawberry.asgi import GraphQL

import pages
from models.db import Database
from policies.authorizer import Authorizer
from resolvers.context import Services
from resolvers.mail import Mailer
from resolvers.security import AccessTokens, Passwords
from schema import build_schema
from schema.context import Context
from settings import Settings

GRAPHIQL_ASSETS = files("graphene_django_graphiql_static") / "static" / "graphene_django_graphiql_static"
GRAPHIQL_PAGE = (files("schema") / "graphiql.html").read_text()


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
        mailer=Mailer(db, smtp_url=settings.smtp_url, sender=settings.mail_from),
    )


class ProcuraGraphQL(GraphQL):
    def __init__(self, services: Services, **kwargs) -> None:
        super().__init__(**kwargs)
        self.services = services

    async def get_context(self, request: Request, response: Response) -> Context:
        return Context.for_request(self.services, request)

    async def render_graphql_ide(self, request: Request) -> HTMLResponse:
        return HTMLResponse(GRAPHIQL_PAGE)


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or Settings()
    settings.check_production_safety()
    configure_logging(settings)
    services = build_services(settings)
    graphql = ProcuraGraphQL(
        services, schema=build_schema(settings), graphql_ide=None if settings.is_production else "graphiql",
        allow_queries_via_get=True,
    )

    async def healthz(_: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def readyz(_: Request) -> JSONResponse:
        try:
            async with services.db.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        except Exception as exc:  # any failure to reach the database means not ready
            return JSONResponse({"status": "unavailable", "database": type(exc).__name__}, status_code=503)
        return JSONResponse({"status": "ok", "database": services.db.dialect})

    @asynccontextmanager
    async def lifespan(_app: Starlette):
        yield
        await services.mailer.drain()
        await services.db.dispose()

    async def no_favicon(_: Request) -> Response:
        return Response(status_code=204)  # browsers ask for one; an empty answer beats a logged 404

    routes = [
        Route("/healthz", healthz), Route("/readyz", readyz), Route("/favicon.ico", no_favicon),
        Route("/graphql", graphql, methods=["GET", "POST"]),
        *pages.routes(),  # the pages emailed links open (in production too)
    ]
    if not settings.is_production:
        routes.append(Mount("/graphiql-assets", StaticFiles(directory=str(GRAPHIQL_ASSETS)), name="graphiql-assets"))
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.services = services
    return app
