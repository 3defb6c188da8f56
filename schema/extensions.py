"""Schema extensions: error policy, query limits and cost, caches, per-request clean-up.

In production no error suggests a name ("Did you mean ...?"): validation and the coercion of
variable values run with graphql-core's `hide_suggestions`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import structlog
from graphql import ASTValidationRule, GraphQLError, validate
from graphql.validation import NoSchemaIntrospectionCustomRule
from strawberry.extensions import (
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    SchemaExtension,
)
from strawberry.schema.validation_rules.maybe_null import MaybeNullValidationRule
from strawberry.schema.validation_rules.one_of import OneOfInputValidationRule
from strawberry.types import ExecutionContext, StreamExecutionResult
from strawberry.types.graphql import OperationType

from models.errors import DomainError
from policies.errors import AccessError
from schema.cost import CostLimit, CostModel
from schema.document_cache import DocumentCache
from schema.execution import PlainTreeExecutor
from schema.input_policy import InputPolicy
from schema.rate_limit import RateLimit
from schema.websocket import SocketContext
from settings import Settings

log = structlog.get_logger("procura.graphql")
UNEXPECTED = "Unexpected error."
TRANSPORT_CODE = "WRONG_TRANSPORT"
SUBSCRIPTIONS_OVER_SOCKET = ("Subscriptions are served over a WebSocket on /graphql (the graphql-transport-ws "
                             "protocol), not over HTTP.")
ONLY_SUBSCRIPTIONS_OVER_SOCKET = ("Only subscriptions are served over the WebSocket; send queries and mutations "
                                  "over HTTP (POST /graphql).")


def is_subscription(context: ExecutionContext) -> bool:
    """Whether the operation that runs is a subscription (False while there is none: a syntax error, or
    several operations and no name)."""
    try:
        return context.graphql_document is not None and context.operation_type is OperationType.SUBSCRIPTION
    except RuntimeError:
        return False


class ErrorPolicy(SchemaExtension):
    """Access errors and a query's expected failures keep their message and get their code;
    anything unexpected is logged
    and masked. Errors raised by graphql-core itself (syntax, validation) pass as they are."""

    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        if result and result.errors:
            result.errors = [self._present(error) for error in result.errors]

    def on_stream_result(self, result: StreamExecutionResult) -> Iterator[None]:
        """Each result of a subscription, before it is sent (on_operation sees only the stream's end)."""
        errors = getattr(result, "errors", None)  # incremental-delivery frames have none
        if errors:
            result.errors = [self._present(error) for error in errors]  # type: ignore[union-attr]
        yield

    def _present(self, error: GraphQLError) -> GraphQLError:
        original = error.original_error
        if original is None or isinstance(original, GraphQLError):
            return error
        if isinstance(original, AccessError):
            return GraphQLError(str(original), error.nodes, path=error.path, extensions={"code": original.code})
        if isinstance(original, DomainError):  # a query's bad argument, such as a page size over 100
            extensions = {"code": original.code.value, "field": original.field}
            return GraphQLError(original.message, error.nodes, path=error.path, extensions=extensions)
        log.error("unexpected_error", path=error.path, exc_info=original)
        return GraphQLError(UNEXPECTED, error.nodes, path=error.path, extensions={"code": "INTERNAL_SERVER_ERROR"})


class ReleaseSessions(SchemaExtension):
    """Closes the request's read session once the operation is done; a subscription's once it has
    started, as its events are read in sessions of their own (held for its whole life, the session would
    hold a database connection; and a subscription ended by its connection's close never reaches the end
    of on_operation)."""

    async def on_execute(self):
        yield
        if is_subscription(self.execution_context):
            await self._close()

    async def on_operation(self):
        yield
        await self._close()

    async def _close(self) -> None:
        context = self.execution_context.context
        if hasattr(context, "close"):
            await context.close()


# The rules strawberry's own validate_document adds to those it is given.
STRAWBERRY_RULES = (MaybeNullValidationRule, OneOfInputValidationRule)


class Checks(SchemaExtension):
    """What is checked between parsing and execution, in one extension (every extension costs
    every request a few microseconds; this one replaces strawberry's ValidationCache and
    AddValidationRules, and adds the cost limit):
    - graphql-core's validation with our rules added, its results cached per document; in
      production no error says "Did you mean ...?", which would give away the names of fields,
      arguments, types, enum values and input fields that introspection hides (strawberry's
      ValidationCache cannot pass `hide_suggestions`);
    - the query's cost (schema/cost.py): refused above the maximum, reported when it runs."""

    def __init__(self, results: DocumentCache[list[GraphQLError]], rules: tuple[type[ASTValidationRule], ...],
                 hide_suggestions: bool, cost_limit: CostLimit) -> None:
        super().__init__()
        self.results, self.rules, self.hide_suggestions = results, rules, hide_suggestions
        self.cost_limit = cost_limit
        self.cost: int | None = None

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        schema, document, rules = context.schema._schema, context.graphql_document, context.validation_rules
        assert document is not None  # validation follows a successful parse
        context.pre_execution_errors = self.results.get(document, (id(schema), rules), lambda: validate(
            schema, document, (*rules, *self.rules, *STRAWBERRY_RULES), hide_suggestions=self.hide_suggestions))
        if not context.pre_execution_errors:
            refusal = self._transport_refusal() or self._subscription_cost_refusal()
            if refusal is not None:
                context.pre_execution_errors = [refusal]  # a new list: the cached one is shared
        yield

    def _transport_refusal(self) -> GraphQLError | None:
        """Subscriptions run over the WebSocket only, and the WebSocket runs nothing else: its context is
        shared by the connection's operations, whereas queries and mutations get one per request."""
        over_socket = isinstance(self.execution_context.context, SocketContext)
        subscription = is_subscription(self.execution_context)
        if subscription and not over_socket:
            return GraphQLError(SUBSCRIPTIONS_OVER_SOCKET, extensions={"code": TRANSPORT_CODE})
        if over_socket and not subscription:
            return GraphQLError(ONLY_SUBSCRIPTIONS_OVER_SOCKET, extensions={"code": TRANSPORT_CODE})
        return None

    def _subscription_cost_refusal(self) -> GraphQLError | None:
        """A subscription is priced per event, here: graphql-core's subscribe() would not look at a result
        that on_execute sets (strawberry skips execution for that only for queries and mutations), and a
        refusal before execution is the protocol's `error` message."""
        context = self.execution_context
        if not is_subscription(context):
            return None
        self.cost = self.cost_limit.check(context)
        if context.result is None:
            return None
        refusal, context.result = (context.result.errors or [GraphQLError(UNEXPECTED)])[0], None
        return refusal

    def on_execute(self) -> Iterator[None]:
        if not is_subscription(self.execution_context):
            self.cost = self.cost_limit.check(self.execution_context)
        yield

    def get_results(self) -> dict[str, Any]:
        if is_subscription(self.execution_context):
            return {}  # events are priced when subscribing; their results carry no cost
        return self.cost_limit.report(self.cost, self.execution_context.result)


class SubscriptionRefusals(SchemaExtension):
    """A refusal that an on_execute hook sets as the result (unstorable input, an API client's rate limit)
    is honoured by strawberry for queries and mutations only: graphql-core's subscribe() runs regardless.
    Raised here instead, it ends the subscription with the refusal, before anything runs. Placed last, so
    that every other hook has run."""

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        if is_subscription(context) and context.result is not None:
            errors = context.result.errors or [GraphQLError(UNEXPECTED)]
            raise errors[0]
        yield


class SuggestionFreeExecutor(PlainTreeExecutor):
    """Coerces variable values without suggestions (a misspelt enum value or input field in
    `variables`), as production validation does for literals."""

    @classmethod
    def build(cls, *args, **kwargs):
        return super().build(*args, **{**kwargs, "hide_suggestions": True})


def executor_for(settings: Settings) -> type[PlainTreeExecutor]:
    return SuggestionFreeExecutor if settings.is_production else PlainTreeExecutor


def extensions_for(settings: Settings) -> list:
    """Extension classes/factories (never shared instances: they are not concurrency-safe)."""
    # The limiters create their validation rule classes in __init__: built per request, the
    # rules differ every time, so a validation cache (keyed by document and rules) never hits.
    # Build the rule classes once (they are stateless) and validate with them in Checks.
    rules = (*QueryDepthLimiter(max_depth=settings.max_query_depth).validation_rules,
             *MaxAliasesLimiter(max_alias_count=settings.max_aliases).validation_rules,
             *([NoSchemaIntrospectionCustomRule] if settings.is_production else []))
    # Shared by the requests of one schema (each extension instance is per request).
    validation_results: DocumentCache[list[GraphQLError]] = DocumentCache(maxsize=512)
    cost_limit = CostLimit(CostModel(max_page_size=settings.max_page_size), maximum=settings.max_query_cost)
    return [
        ErrorPolicy,
        ReleaseSessions,
        lambda: ParserCache(maxsize=512),
        lambda: Checks(validation_results, rules, hide_suggestions=settings.is_production, cost_limit=cost_limit),
        lambda: RateLimit(cost_limit.model),  # after Checks: an operation refused there is not charged
        lambda: MaxTokensLimiter(max_token_count=settings.max_tokens),
        InputPolicy,
        SubscriptionRefusals,  # last: after every hook that may refuse an operation in on_execute
    ]
