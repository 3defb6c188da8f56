"""Typed mutation errors, and running a mutation as exactly one transaction."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from enum import Enum
from typing import TypeVar

import strawberry
from sqlalchemy.exc import IntegrityError

from models.errors import DomainError
from models.errors import ErrorCode as DomainCode
from resolvers.context import UseCaseContext
from schema.input_paths import is_mutation_input_path

CONFLICT_MESSAGE = "A concurrent change conflicted with this one; retry."


@strawberry.enum(name="ErrorCode", description="Stable machine-readable codes of expected failures.")
class ErrorCode(Enum):
    _value_: str  # strawberry.enum leaves each member the plain value given to its enum_value()

    INVALID_INPUT = strawberry.enum_value(
        "INVALID_INPUT", description="A field's value is missing, malformed or out of range.")
    NOT_FOUND = strawberry.enum_value(
        "NOT_FOUND", description="No such object in your company (objects of other companies are not found either).")
    INVALID_ORG_NUMBER = strawberry.enum_value(
        "INVALID_ORG_NUMBER", description="The organisation number fails the national format or check digits.")
    UNSUPPORTED_COUNTRY = strawberry.enum_value(
        "UNSUPPORTED_COUNTRY", description="The platform does not serve companies of this country.")
    EMAIL_TAKEN = strawberry.enum_value("EMAIL_TAKEN", description="An account with this email already exists.")
    ALREADY_MEMBER = strawberry.enum_value("ALREADY_MEMBER", description="The person already belongs to the company.")
    WEAK_PASSWORD = strawberry.enum_value(
        "WEAK_PASSWORD", description="The password is too short, too long or too repetitive.")
    INVALID_CREDENTIALS = strawberry.enum_value(
        "INVALID_CREDENTIALS",
        description="Wrong email or password (the same answer whether or not the account exists).")
    TOO_MANY_ATTEMPTS = strawberry.enum_value("TOO_MANY_ATTEMPTS", description=(
        "Too many failed sign-ins or password-reset requests for this email or client address; "
        "wait and try again."))
    INVALID_TOKEN = strawberry.enum_value(
        "INVALID_TOKEN", description="A link or refresh token is unknown, expired or already used.")
    TOKEN_REUSED = strawberry.enum_value(
        "TOKEN_REUSED", description="A spent refresh token was presented again; its whole session has been ended.")
    LAST_ADMIN = strawberry.enum_value(
        "LAST_ADMIN", description="The change would leave the company without an active administrator.")
    ROLE_NOT_ALLOWED = strawberry.enum_value(
        "ROLE_NOT_ALLOWED", description="You may not give this role or change this user.")
    SELF_ACTION = strawberry.enum_value("SELF_ACTION", description="This action cannot be applied to yourself.")
    SHARED_ACCOUNT = strawberry.enum_value(
        "SHARED_ACCOUNT", description="The person also belongs to another company; only they can change it.")
    NOT_A_MEMBER = strawberry.enum_value("NOT_A_MEMBER", description="You are not a member of that company.")
    GROUP_NAME_TAKEN = strawberry.enum_value(
        "GROUP_NAME_TAKEN", description="The company already has a group with this name.")
    GROUP_NOT_EMPTY = strawberry.enum_value("GROUP_NOT_EMPTY", description="The group still has members.")
    UNKNOWN_PERMISSION = strawberry.enum_value("UNKNOWN_PERMISSION", description="No such permission.")
    INVALID_STATE = strawberry.enum_value("INVALID_STATE", description="The object is not in a state that allows this.")
    CONFLICT = strawberry.enum_value("CONFLICT", description=CONFLICT_MESSAGE)
    INVALID_TRANSITION = strawberry.enum_value(
        "INVALID_TRANSITION", description="The order's current status does not allow this step.")
    SKU_TAKEN = strawberry.enum_value("SKU_TAKEN", description="Another product already has this SKU.")
    PRODUCT_UNAVAILABLE = strawberry.enum_value(
        "PRODUCT_UNAVAILABLE", description="The product does not exist or is no longer sold.")
    EMPTY_CART = strawberry.enum_value("EMPTY_CART", description="The cart has no lines.")
    IDEMPOTENCY_KEY_REUSED = strawberry.enum_value(
        "IDEMPOTENCY_KEY_REUSED", description="The idempotency key was already used for a different cart.")
    INVALID_DELIVERY = strawberry.enum_value(
        "INVALID_DELIVERY",
        description="The delivery slot, date or end customer does not fit (slots belong to the end customer's unit).")
    SAVED_CART_NAME_TAKEN = strawberry.enum_value(
        "SAVED_CART_NAME_TAKEN", description="You already have a saved cart with this name.")
    RETURN_EXCEEDS_QUANTITY = strawberry.enum_value(
        "RETURN_EXCEEDS_QUANTITY", description="More would be returned than was delivered.")
    PAYMENT_METHOD_NOT_ALLOWED = strawberry.enum_value(
        "PAYMENT_METHOD_NOT_ALLOWED", description="The payment method is not approved for this buyer.")
    BUDGET_EXCEEDED = strawberry.enum_value(
        "BUDGET_EXCEEDED", description="The order would take a blocking budget over its amount.")
    PURCHASE_LIMIT_EXCEEDED = strawberry.enum_value(
        "PURCHASE_LIMIT_EXCEEDED", description="The order is above your purchase limit per order or per month.")
    CREDIT_LIMIT_EXCEEDED = strawberry.enum_value(
        "CREDIT_LIMIT_EXCEEDED", description="The order is above the company's available credit.")
    SELF_APPROVAL = strawberry.enum_value("SELF_APPROVAL", description="Nobody approves or rejects their own order.")
    NOT_AN_APPROVER = strawberry.enum_value(
        "NOT_AN_APPROVER", description="You are not among the approvers the order waits for now.")
    INVOICE_NOT_APPROVED = strawberry.enum_value(
        "INVOICE_NOT_APPROVED", description="Invoice payment needs an approved application first.")
    APPLICATION_PENDING = strawberry.enum_value(
        "APPLICATION_PENDING", description="An application is already waiting for a decision.")
    NO_APPROVER = strawberry.enum_value(
        "NO_APPROVER", description="An approval tier the order needs has nobody but the buyer to decide it.")
    URL_NOT_ALLOWED = strawberry.enum_value("URL_NOT_ALLOWED", description=(
        "The webhook URL may not be called: not https, or its host resolves to a loopback, private, link-local "
        "or other non-public address (README \"Webhooks\")."))
    CHANGES_EXPIRED = strawberry.enum_value("CHANGES_EXPIRED", description=(
        "The change-feed cursor is older than the changes kept (at least 90 days): resynchronise with the "
        "export (GET /export/orders.ndjson) and continue the feed from the cursor it gives."))


assert {code.name for code in ErrorCode} >= {code.value for code in DomainCode}


@strawberry.interface(description="An expected failure, returned as data.")
class Error:
    code: ErrorCode = strawberry.field(description="Stable code to branch on.")
    message: str = strawberry.field(description="Human-readable explanation (English).")
    field: str | None = strawberry.field(description=(
        "The input field at fault, as a path into the mutation's `input`: camelCase names joined by dots, list "
        "positions as numbers (`address.city`, `tiers.0.userIds`); null when no single input field is at fault."))


@strawberry.type(description="A mutation that did not happen, and why; nothing was changed.")
class MutationError(Error):
    @classmethod
    def from_domain(cls, error: DomainError) -> MutationError:
        return cls(code=ErrorCode[error.code.value], message=error.message, field=error.field)


INPUT = strawberry.argument(description="What to do; the input type describes each field.")

T = TypeVar("T")
P = TypeVar("P")


FieldMap = Callable[[str], str | None]


def renamed(names: Mapping[str, str | None]) -> FieldMap:
    """A field map that renames the given fields and keeps the others."""
    return lambda field: names.get(field, field)


def only(*kept: str) -> FieldMap:
    """A field map for a use case that checks more than the input holds (such as the cart at
    submission): fields outside the input are reported without a field."""
    return lambda field: field if field in kept else None


class InputFieldMismatch(AssertionError):
    """A use case reported a field that is not a path into the mutation's input (tests only)."""


def _input_field(info: strawberry.Info, error: DomainError, fields: FieldMap | None) -> str | None:
    """The field of an error as a path into the mutation's input: use cases report the fields of
    the input they serve; a mutation whose input is shaped differently maps them (`fields`).
    In tests, a field that is still not a path into the input fails the request."""
    field = error.field
    if field is not None and fields is not None:
        field = fields(field)
    if (field is not None and info.context.services.settings.procura_env == "test"
            and not is_mutation_input_path(info.schema._schema, info.field_name, field)):
        raise InputFieldMismatch(f"{info.field_name} reported field {field!r}, which is not a path into its input")
    return field


async def run_mutation(
    info: strawberry.Info, use_case: Callable[[UseCaseContext], Awaitable[T]], present: Callable[[T], P],
    *, fields: FieldMap | None = None,
) -> P | MutationError:
    """Run one use case in one write transaction: committed when it succeeds, rolled back
    (with the error returned as data) when it fails; mail goes out only after commit.
    `fields` maps the fields a use case reports to paths into this mutation's input."""
    context = info.context
    async with context.services.db.write_sessions() as session:
        await session.begin()
        use_case_context = UseCaseContext(
            services=context.services, session=session, actor=await context.actor_in(session),
            client_address=context.client_address,
        )
        try:
            payload = present(await use_case(use_case_context))
        except DomainError as error:
            await (session.commit() if error.persist else session.rollback())
            return MutationError(code=ErrorCode[error.code.value], message=error.message,
                                 field=_input_field(info, error, fields))
        except IntegrityError:
            await session.rollback()
            return MutationError(code=ErrorCode.CONFLICT, message=CONFLICT_MESSAGE, field=None)
        except BaseException:
            await session.rollback()
            raise
        await session.commit()
    context.services.mailer.deliver_soon(use_case_context.queued_mail)
    context.services.broker.committed()  # live subscriptions read what this committed (SQLite has no NOTIFY)
    return payload
