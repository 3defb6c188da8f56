"""API clients: types, queries and mutations (administrators; a client cannot manage clients)."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Annotated

import strawberry

from models import ApiClientSecret as SecretModel
from models import ApiScope as DomainScope
from resolvers import api_client as use_cases
from schema.errors import INPUT, MutationError, run_mutation
from schema.relay import Connection, Node, connection, decode_id, from_cursor, to_global_id
from schema.viewer import Person


@strawberry.enum(name="ApiScope", description=(
    "What an API client may do. Each scope is a role of the authorization policy (policies/policy.csv, "
    "`scope:<name>`); every scope also lets the client read its company's details (`company`)."))
class ApiScope(Enum):
    _value_: str  # strawberry.enum leaves each member the plain value given to its enum_value()

    ORDERS_READ = strawberry.enum_value(DomainScope.ORDERS_READ.value, description=(
        "Read every order of the company (`orders`, `order`, the order history and change feed, the export): "
        "`order:read_all`."))
    INVOICES_READ = strawberry.enum_value(DomainScope.INVOICES_READ.value, description=(
        "Read the company's invoices and credit notes (`invoices`, their EHF and PDF downloads) and the account's "
        "`transactions`: `invoice:read`."))
    CATALOGUE_READ = strawberry.enum_value(DomainScope.CATALOGUE_READ.value, description=(
        "Read the supplier's catalogue (`products`, `product`, `productCategories`): `catalogue:read`."))
    WEBHOOKS_MANAGE = strawberry.enum_value(DomainScope.WEBHOOKS_MANAGE.value, description=(
        "Manage the company's webhook endpoints: `webhook:manage`. Together with ORDERS_READ only: the events "
        "and the delivery log carry whole orders."))


assert [(s.name, s.value) for s in ApiScope] == [(s.name, s.value) for s in DomainScope]


@strawberry.type(description=(
    "A usable secret of an API client, told apart by its first characters; the secret itself is shown only "
    "when it is made."))
class ApiClientSecret:
    hint: str = strawberry.field(description="The first characters of the secret (`prc_` and four more).")
    created_at: datetime = strawberry.field(description="When the secret was made (UTC).")
    expires_at: datetime | None = strawberry.field(
        description="When it stops working (UTC): set when a newer secret replaced it; null: until replaced.")

    @classmethod
    def from_model(cls, secret: SecretModel) -> ApiClientSecret:
        return cls(hint=secret.hint, created_at=secret.created_at, expires_at=secret.expires_at)


@strawberry.type(description=(
    "A machine credential of the company for an integration (an ERP, a bookkeeping system): it calls the API "
    "with `Authorization: Bearer <secret>`, for its company only, with the rights of its scopes. "
    "`node(id:)` fetches it with `api_client:manage`."))
class ApiClient(Node):
    name: str = strawberry.field(description="What the client is for (1 to 100 characters).")
    scopes: list[ApiScope] = strawberry.field(description="What the client may do.")
    created_by: Person | None = strawberry.field(
        description="The administrator who created it (null: that account no longer exists).")
    created_at: datetime = strawberry.field(description="When it was created (UTC).")
    last_used_at: datetime | None = strawberry.field(
        description="When a request last used it (UTC, to the minute); null: never used.")
    revoked_at: datetime | None = strawberry.field(
        description="When it was revoked (UTC); null: active. A revoked client's secrets open nothing.")
    secrets: list[ApiClientSecret] = strawberry.field(
        description="Its usable secrets, newest first: one, or two while a rotation's overlap lasts.")

    @classmethod
    def from_view(cls, view: use_cases.ClientView) -> ApiClient:
        client = view.client
        return cls(
            id=to_global_id("ApiClient", client.id), name=client.name,
            scopes=[ApiScope(scope) for scope in client.scopes if scope in _KNOWN],
            created_by=Person.from_model(view.created_by) if view.created_by else None,
            created_at=client.created_at, last_used_at=client.last_used_at, revoked_at=client.revoked_at,
            secrets=[ApiClientSecret.from_model(secret) for secret in view.secrets],
        )


_KNOWN = frozenset(scope.value for scope in ApiScope)


@strawberry.input(description="A new API client.")
class CreateApiClientInput:
    name: str = strawberry.field(description="What it is for, e.g. the integration's name (1 to 100 characters).")
    scopes: list[ApiScope] = strawberry.field(description="What it may do; at least one.")


@strawberry.input(description="An API client.")
class ApiClientIdInput:
    id: strawberry.ID = strawberry.field(description="The API client.")


@strawberry.input(description="A new secret for an API client, with how long the current one keeps working.")
class RotateApiClientSecretInput:
    id: strawberry.ID = strawberry.field(description="The API client.")
    overlap_hours: int = strawberry.field(default=use_cases.DEFAULT_OVERLAP_HOURS, description=(
        f"Hours the current secret keeps working, 0 (it stops now) to {use_cases.MAX_OVERLAP_HOURS}; default "
        f"{use_cases.DEFAULT_OVERLAP_HOURS}. An older secret still in its overlap stops now."))


@strawberry.type(description="An API client and a secret just made for it.")
class ApiClientSecretPayload:
    api_client: ApiClient = strawberry.field(description="The client.")
    secret: str = strawberry.field(description=(
        "The secret (`prc_...`): shown this once and stored only as a hash. Send it as "
        "`Authorization: Bearer <secret>`; keep it like a password."))


@strawberry.type(description="The API client after the change.")
class ApiClientPayload:
    api_client: ApiClient = strawberry.field(description="The client.")


ApiClientSecretResult = Annotated[ApiClientSecretPayload | MutationError, strawberry.union(
    "ApiClientSecretResult", description="Result of createApiClient and rotateApiClientSecret.")]
ApiClientResult = Annotated[ApiClientPayload | MutationError, strawberry.union(
    "ApiClientResult", description="Result of revokeApiClient.")]


def _client_id(value: str) -> int:
    return decode_id(value, "ApiClient") or 0


def _issued(issued: use_cases.IssuedSecret) -> ApiClientSecretPayload:
    return ApiClientSecretPayload(api_client=ApiClient.from_view(issued.view), secret=issued.secret)


async def fetch_api_client(ctx, pk: int) -> ApiClient | None:
    """node(id:): with the permission of `apiClients`."""
    view = await use_cases.get_client(ctx, pk)
    return ApiClient.from_view(view) if view else None


@strawberry.type
class ApiClientQuery:
    @strawberry.field(description=(
        "The company's API clients, revoked ones included, oldest first. Requires `api_client:manage` "
        "(administrators)."))
    async def api_clients(
        self, info: strawberry.Info,
        first: Annotated[int, strawberry.argument(description="Page size, at most 100.")] = 50,
        after: Annotated[str | None, strawberry.argument(description="Cursor to start after.")] = None,
    ) -> Connection[ApiClient]:
        async with info.context.reading() as ctx:
            page = await use_cases.list_clients(ctx, first=first, after=from_cursor(after))
        return connection(page, ApiClient.from_view, key=lambda view: view.client.id)


@strawberry.type
class ApiClientMutation:
    @strawberry.mutation(description=(
        "Create an API client; the payload holds its secret, shown this once. Requires `api_client:manage` "
        "(administrators)."))
    async def create_api_client(
        self, info: strawberry.Info, input: Annotated[CreateApiClientInput, INPUT],
    ) -> ApiClientSecretResult:
        scopes = [DomainScope(scope.value) for scope in input.scopes]
        return await run_mutation(info, lambda ctx: use_cases.create_client(ctx, name=input.name, scopes=scopes),
                                  _issued)

    @strawberry.mutation(description=(
        "Revoke an API client: from the next request on, in every server process, its secrets open nothing. "
        "Final (create a new client instead). Requires `api_client:manage`."))
    async def revoke_api_client(
        self, info: strawberry.Info, input: Annotated[ApiClientIdInput, INPUT],
    ) -> ApiClientResult:
        return await run_mutation(info, lambda ctx: use_cases.revoke_client(ctx, client_id=_client_id(input.id)),
                                  lambda view: ApiClientPayload(api_client=ApiClient.from_view(view)))

    @strawberry.mutation(description=(
        "Give an API client a new secret (shown this once); the current one keeps working for `overlapHours`, "
        "so that the integration can switch without a gap. Requires `api_client:manage`."))
    async def rotate_api_client_secret(
        self, info: strawberry.Info, input: Annotated[RotateApiClientSecretInput, INPUT],
    ) -> ApiClientSecretResult:
        return await run_mutation(info, lambda ctx: use_cases.rotate_secret(
            ctx, client_id=_client_id(input.id), overlap_hours=input.overlap_hours), _issued)
