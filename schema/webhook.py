"""Webhook endpoints, their delivery log, and the mutations that manage them (README "Webhooks")."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Annotated

import strawberry
from graphql import FieldNode, FragmentSpreadNode, InlineFragmentNode, SelectionSetNode, VariableNode, value_from_ast
from strawberry.scalars import JSON
from strawberry.types.nodes import get_variable_values

from models import WebhookAttempt as AttemptModel
from models import WebhookDelivery as DeliveryModel
from models import WebhookEndpoint as EndpointModel
from models.webhook import WebhookEvent
from resolvers import webhook as use_cases
from resolvers import webhook_delivery as delivery_use_cases
from resolvers.pagination import Page
from schema.errors import INPUT, MutationError, run_mutation
from schema.relay import Connection, Node, connection, decode_id, from_cursor, to_global_id

PERMISSION = "Requires `webhook:manage` (administrators, and API clients with the WEBHOOKS_MANAGE scope)."
DEFAULT_DELIVERIES = 20


@strawberry.enum(description=(
    "An event an endpoint may subscribe to. The payload's `type` is its wire name, given with each value."))
class WebhookEventType(Enum):
    _value_: str  # strawberry.enum leaves each member the plain value given to its enum_value()

    ORDER_SUBMITTED = strawberry.enum_value(
        "order.submitted", description="`order.submitted`: a buyer submitted an order.")
    ORDER_APPROVAL_REQUESTED = strawberry.enum_value(
        "order.approval_requested", description="`order.approval_requested`: an order waits for approval.")
    ORDER_APPROVED = strawberry.enum_value(
        "order.approved", description="`order.approved`: an order was approved (by its last tier, or at once).")
    ORDER_REJECTED = strawberry.enum_value("order.rejected", description="`order.rejected`: an order was rejected.")
    ORDER_CANCELLED = strawberry.enum_value(
        "order.cancelled", description="`order.cancelled`: an order was cancelled before approval.")
    ORDER_FULFILLED = strawberry.enum_value(
        "order.fulfilled", description="`order.fulfilled`: the supplier delivered an order.")
    ORDER_RETURNED = strawberry.enum_value(
        "order.returned", description="`order.returned`: goods of a delivered order were returned and credited.")
    INVOICE_ISSUED = strawberry.enum_value("invoice.issued", description=(
        "`invoice.issued`: an invoice was issued to the company (needs `invoice:read`, as every invoice event)."))
    INVOICE_PAID = strawberry.enum_value(
        "invoice.paid", description="`invoice.paid`: payments (with credit notes) now cover an invoice.")
    INVOICE_OVERDUE = strawberry.enum_value(
        "invoice.overdue", description="`invoice.overdue`: an invoice was not paid by its due date.")
    CREDIT_NOTE_ISSUED = strawberry.enum_value(
        "credit_note.issued", description="`credit_note.issued`: a credit note was issued for returned goods.")


assert [(e.name, e.value) for e in WebhookEventType] == [(e.name, e.value) for e in WebhookEvent]


@strawberry.enum(description="Where a delivery stands.")
class WebhookDeliveryStatus(Enum):
    _value_: str

    PENDING = strawberry.enum_value("pending", description="An attempt is due or scheduled (`nextAttemptAt`).")
    SUCCEEDED = strawberry.enum_value("succeeded", description="The endpoint answered 2xx.")
    FAILED = strawberry.enum_value(
        "failed", description="Every scheduled attempt failed, or the endpoint was disabled meanwhile.")


@strawberry.type(description="One attempt to deliver: when, and what the endpoint answered.")
class WebhookAttempt:
    attempted_at: datetime = strawberry.field(description="When it was made (UTC).")
    response_code: int | None = strawberry.field(
        description="The HTTP status the endpoint answered; null when no answer came (see `error`).")
    error: str | None = strawberry.field(description="Why it failed (no answer, refused address, a non-2xx status).")
    duration_ms: int = strawberry.field(description="How long it took, in milliseconds.")

    @classmethod
    def from_model(cls, a: AttemptModel) -> WebhookAttempt:
        return cls(attempted_at=a.attempted_at, response_code=a.response_code, error=a.error,
                   duration_ms=a.duration_ms)


@strawberry.type(description="One event sent (or to be sent) to one endpoint, with its attempts.")
class WebhookDelivery(Node):
    endpoint_id: strawberry.ID = strawberry.field(description="The WebhookEndpoint it goes to.")
    message_id: str = strawberry.field(description=(
        "The `webhook-id` header: the same on every attempt and redelivery; receivers drop duplicates by it."))
    event_type: WebhookEventType = strawberry.field(description="The event.")
    status: WebhookDeliveryStatus = strawberry.field(description="Where it stands.")
    created_at: datetime = strawberry.field(description="When the event was queued for this endpoint (UTC).")
    attempt_count: int = strawberry.field(description="Attempts made so far.")
    last_response_code: int | None = strawberry.field(description="The HTTP status of the last attempt, if any.")
    last_error: str | None = strawberry.field(description="Why the last attempt failed, if it did.")
    next_attempt_at: datetime | None = strawberry.field(description="When the next attempt is due, while pending.")
    delivered_at: datetime | None = strawberry.field(description="When it was delivered (a 2xx answer).")
    payload: JSON = strawberry.field(description="The body sent, as JSON (README \"Webhooks\" describes it).")
    attempts: list[WebhookAttempt] = strawberry.field(description="Every attempt, oldest first.")

    @classmethod
    def from_model(cls, d: DeliveryModel, attempts: list[AttemptModel]) -> WebhookDelivery:
        return cls(
            id=to_global_id("WebhookDelivery", d.id), endpoint_id=to_global_id("WebhookEndpoint", d.endpoint_id),
            message_id=d.message_id, event_type=WebhookEventType(d.event_type),
            status=WebhookDeliveryStatus(d.status), created_at=d.created_at, attempt_count=d.attempts,
            last_response_code=d.last_response_code, last_error=d.last_error, next_attempt_at=d.next_attempt_at,
            delivered_at=d.delivered_at, payload=JSON(d.payload),
            attempts=[WebhookAttempt.from_model(a) for a in attempts],
        )


DeliveryPages = dict[tuple[int, str | None], Connection[WebhookDelivery]]


@strawberry.type(description="An address the company's events are POSTed to, signed by the Standard Webhooks scheme.")
class WebhookEndpoint(Node):
    url: str = strawberry.field(description="Where events are POSTed (https in production).")
    description: str = strawberry.field(description="What it is for, in the company's words.")
    events: list[WebhookEventType] = strawberry.field(description="The events it receives.")
    enabled: bool = strawberry.field(description="Whether events are sent to it.")
    disabled_reason: str | None = strawberry.field(
        description="Why it is disabled: by the company, or automatically after failing for more than a day.")
    consecutive_failures: int = strawberry.field(description="Failed attempts in a row since the last success.")
    previous_secret_expires_at: datetime | None = strawberry.field(
        description="After a rotation: until when the previous secret still signs alongside the new one.")
    created_at: datetime = strawberry.field(description="When it was created (UTC).")
    updated_at: datetime = strawberry.field(description="When it was last changed (UTC).")
    pk: strawberry.Private[int]
    loaded: strawberry.Private[DeliveryPages]

    @strawberry.field(description="Its delivery log, newest first.")
    async def deliveries(
        self, info: strawberry.Info,
        first: Annotated[int, strawberry.argument(description="Page size, at most 100.")] = DEFAULT_DELIVERIES,
        after: Annotated[str | None, strawberry.argument(description="Cursor to start after.")] = None,
    ) -> Connection[WebhookDelivery]:
        page = self.loaded.get((first, after))
        if page is not None:  # loaded with the list it is part of (webhookEndpoints)
            return page
        return (await _delivery_connections(info, [self.pk], first, after))[self.pk]

    @classmethod
    def from_model(cls, e: EndpointModel, loaded: DeliveryPages | None = None) -> WebhookEndpoint:
        return cls(
            id=to_global_id("WebhookEndpoint", e.id), url=e.url, description=e.description,
            events=[WebhookEventType(event) for event in e.events], enabled=e.enabled,
            disabled_reason=e.disabled_reason, consecutive_failures=e.consecutive_failures,
            previous_secret_expires_at=e.previous_secret_expires_at, created_at=e.created_at,
            updated_at=e.updated_at, pk=e.id, loaded=loaded or {},
        )


async def _delivery_connections(
    info: strawberry.Info, endpoint_ids: list[int], first: int, after: str | None,
) -> dict[int, Connection[WebhookDelivery]]:
    """A page of deliveries for each endpoint, with their attempts: two statements for all of them."""
    async with info.context.reading() as ctx:
        pages = await delivery_use_cases.delivery_pages(ctx, endpoint_ids, first=first, after=from_cursor(after))
        attempts = await delivery_use_cases.attempts_of(ctx, [d for page in pages.values() for d in page.items])
    return {pk: connection(page, lambda d: WebhookDelivery.from_model(d, attempts.get(d.id, [])))
            for pk, page in pages.items()}


def _deliveries_arguments(info: strawberry.Info) -> set[tuple[int, str | None]]:
    """The (first, after) of every `deliveries` selected under the current field, coerced by graphql-core
    as the field itself will receive them (literals, variables, defaults)."""
    raw = info._raw_info
    variables = get_variable_values(raw)  # already coerced
    definition = raw.schema.get_type("WebhookEndpoint").fields["deliveries"]  # type: ignore[union-attr]
    found: set[tuple[int, str | None]] = set()

    def walk(selection_set: SelectionSetNode | None) -> None:
        for selection in selection_set.selections if selection_set else ():
            if isinstance(selection, FieldNode) and selection.name.value == "deliveries":
                arguments = {name: argument.default_value for name, argument in definition.args.items()}
                for argument in selection.arguments or ():
                    name, value = argument.name.value, argument.value
                    if not isinstance(value, VariableNode):
                        arguments[name] = value_from_ast(value, definition.args[name].type)
                    elif value.name.value in variables:  # an absent variable leaves the default
                        arguments[name] = variables[value.name.value]
                found.add((arguments["first"], arguments["after"]))
            elif isinstance(selection, (FieldNode, InlineFragmentNode)):
                walk(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                walk(raw.fragments[selection.name.value].selection_set)

    for node in raw.field_nodes:
        walk(node.selection_set)
    return found


async def endpoint_connection(info: strawberry.Info, page: Page[EndpointModel]) -> Connection[WebhookEndpoint]:
    """The endpoints of a page, with the delivery logs the query selects loaded for all of them at once."""
    ids = [endpoint.id for endpoint in page.items]
    loaded: dict[int, DeliveryPages] = {pk: {} for pk in ids}
    for first, after in _deliveries_arguments(info) if ids else ():
        for pk, deliveries in (await _delivery_connections(info, ids, first, after)).items():
            loaded[pk][(first, after)] = deliveries
    return connection(page, lambda e: WebhookEndpoint.from_model(e, loaded[e.id]))


# --- inputs and payloads --------------------------------------------------------------------------------

@strawberry.input(description="A new webhook endpoint.")
class CreateWebhookEndpointInput:
    url: str = strawberry.field(description=(
        "Where to POST events: https, on a public address in production (README \"Webhooks\"), at most 2000 "
        "characters."))
    events: list[WebhookEventType] = strawberry.field(description="The events to send (at least one).")
    description: str | None = strawberry.field(default=None, description="What it is for (at most 200 characters).")


@strawberry.input(description="Changes to a webhook endpoint; omitted fields stay as they are.")
class UpdateWebhookEndpointInput:
    id: strawberry.ID = strawberry.field(description="The endpoint.")
    url: str | None = strawberry.field(default=None, description="New address (checked as at creation).")
    events: list[WebhookEventType] | None = strawberry.field(default=None, description="Replaces the events.")
    description: str | None = strawberry.field(default=None, description="New description.")
    enabled: bool | None = strawberry.field(default=None, description=(
        "Disable (false) or enable (true) it; enabling starts its count of failures afresh."))


@strawberry.input(description="A webhook endpoint to delete, with its delivery log.")
class DeleteWebhookEndpointInput:
    id: strawberry.ID = strawberry.field(description="The endpoint.")


@strawberry.input(description="A webhook endpoint whose signing secret to replace.")
class RotateWebhookSecretInput:
    id: strawberry.ID = strawberry.field(description="The endpoint.")


@strawberry.input(description="A delivery to send again.")
class RedeliverWebhookInput:
    delivery_id: strawberry.ID = strawberry.field(description="The WebhookDelivery.")


@strawberry.type(description="The endpoint and its signing secret, shown this once.")
class WebhookSecretPayload:
    webhook_endpoint: WebhookEndpoint = strawberry.field(description="The endpoint.")
    secret: str = strawberry.field(description=(
        "The signing secret (`whsec_` and base64, the Standard Webhooks format): store it now, it is never shown "
        "again. Verify each request with it (e.g. `standardwebhooks.Webhook(secret).verify(body, headers)`)."))


@strawberry.type(description="The endpoint after the change.")
class WebhookEndpointPayload:
    webhook_endpoint: WebhookEndpoint = strawberry.field(description="The endpoint.")


@strawberry.type(description="The endpoint was deleted.")
class DeleteWebhookEndpointPayload:
    deleted_id: strawberry.ID = strawberry.field(description="Global id of the deleted endpoint.")


@strawberry.type(description="The delivery, with a new attempt queued now.")
class WebhookDeliveryPayload:
    delivery: WebhookDelivery = strawberry.field(description="The delivery.")


CreateWebhookEndpointResult = Annotated[WebhookSecretPayload | MutationError, strawberry.union(
    "CreateWebhookEndpointResult", description="Result of createWebhookEndpoint.")]
RotateWebhookSecretResult = Annotated[WebhookSecretPayload | MutationError, strawberry.union(
    "RotateWebhookSecretResult", description="Result of rotateWebhookSecret.")]
UpdateWebhookEndpointResult = Annotated[WebhookEndpointPayload | MutationError, strawberry.union(
    "UpdateWebhookEndpointResult", description="Result of updateWebhookEndpoint.")]
DeleteWebhookEndpointResult = Annotated[DeleteWebhookEndpointPayload | MutationError, strawberry.union(
    "DeleteWebhookEndpointResult", description="Result of deleteWebhookEndpoint.")]
RedeliverWebhookResult = Annotated[WebhookDeliveryPayload | MutationError, strawberry.union(
    "RedeliverWebhookResult", description="Result of redeliverWebhook.")]


def _events(events: list[WebhookEventType] | None) -> list[WebhookEvent] | None:
    return None if events is None else [WebhookEvent(event.value) for event in events]


def _secret_payload(result: tuple[EndpointModel, str]) -> WebhookSecretPayload:
    endpoint, secret = result
    return WebhookSecretPayload(webhook_endpoint=WebhookEndpoint.from_model(endpoint), secret=secret)


@strawberry.type
class WebhookQuery:
    @strawberry.field(description=f"The company's webhook endpoints, oldest first. {PERMISSION}")
    async def webhook_endpoints(
        self, info: strawberry.Info,
        first: Annotated[int, strawberry.argument(description="Page size, at most 100.")] = 50,
        after: Annotated[str | None, strawberry.argument(description="Cursor to start after.")] = None,
    ) -> Connection[WebhookEndpoint]:
        async with info.context.reading() as ctx:
            page = await use_cases.list_endpoints(ctx, first=first, after=from_cursor(after))
        return await endpoint_connection(info, page)


@strawberry.type
class WebhookMutation:
    @strawberry.mutation(description=f"Add an endpoint; its signing secret is returned this once. {PERMISSION}")
    async def create_webhook_endpoint(
        self, info: strawberry.Info, input: Annotated[CreateWebhookEndpointInput, INPUT],
    ) -> CreateWebhookEndpointResult:
        return await run_mutation(info, lambda ctx: use_cases.create_endpoint(
            ctx, url=input.url, events=_events(input.events) or [], description=input.description), _secret_payload)

    @strawberry.mutation(description=f"Change, disable or enable an endpoint. {PERMISSION}")
    async def update_webhook_endpoint(
        self, info: strawberry.Info, input: Annotated[UpdateWebhookEndpointInput, INPUT],
    ) -> UpdateWebhookEndpointResult:
        return await run_mutation(info, lambda ctx: use_cases.update_endpoint(
            ctx, endpoint_id=decode_id(input.id, "WebhookEndpoint") or 0, url=input.url, events=_events(input.events),
            description=input.description, enabled=input.enabled),
            lambda e: WebhookEndpointPayload(webhook_endpoint=WebhookEndpoint.from_model(e)))

    @strawberry.mutation(description=f"Delete an endpoint and its delivery log. {PERMISSION}")
    async def delete_webhook_endpoint(
        self, info: strawberry.Info, input: Annotated[DeleteWebhookEndpointInput, INPUT],
    ) -> DeleteWebhookEndpointResult:
        return await run_mutation(
            info, lambda ctx: use_cases.delete_endpoint(ctx, endpoint_id=decode_id(input.id, "WebhookEndpoint") or 0),
            lambda pk: DeleteWebhookEndpointPayload(deleted_id=to_global_id("WebhookEndpoint", pk)))

    @strawberry.mutation(description=(
        "Replace an endpoint's signing secret; the new one is returned this once. The previous secret keeps signing "
        f"alongside it for 24 hours (two signatures in `webhook-signature`), so the receiver can switch. {PERMISSION}"))
    async def rotate_webhook_secret(
        self, info: strawberry.Info, input: Annotated[RotateWebhookSecretInput, INPUT],
    ) -> RotateWebhookSecretResult:
        return await run_mutation(
            info, lambda ctx: use_cases.rotate_secret(ctx, endpoint_id=decode_id(input.id, "WebhookEndpoint") or 0),
            _secret_payload)

    @strawberry.mutation(description=(
        "Send a delivery again now, with the same `webhook-id`; if it fails, the back-off goes on from the attempts "
        f"made. The endpoint must be enabled. {PERMISSION}"))
    async def redeliver_webhook(
        self, info: strawberry.Info, input: Annotated[RedeliverWebhookInput, INPUT],
    ) -> RedeliverWebhookResult:
        async def use_case(ctx):
            delivery = await delivery_use_cases.redeliver(
                ctx, delivery_id=decode_id(input.delivery_id, "WebhookDelivery") or 0)
            return delivery, (await delivery_use_cases.attempts_of(ctx, [delivery])).get(delivery.id, [])
        return await run_mutation(
            info, use_case, lambda result: WebhookDeliveryPayload(delivery=WebhookDelivery.from_model(*result)))


async def fetch_webhook_endpoint(ctx, pk: int) -> WebhookEndpoint | None:
    """node(id:): with the permission of `webhookEndpoints`."""
    endpoint = await use_cases.get_endpoint(ctx, pk)
    return WebhookEndpoint.from_model(endpoint) if endpoint else None


async def fetch_webhook_delivery(ctx, pk: int) -> WebhookDelivery | None:
    """node(id:): with the permission of `webhookEndpoints`, whose `deliveries` list it."""
    delivery = await delivery_use_cases.get_delivery(ctx, pk)
    if delivery is None:
        return None
    return WebhookDelivery.from_model(delivery, (await delivery_use_cases.attempts_of(ctx, [delivery])).get(pk, []))
