"""Schema extensions: error policy, query limits, caches, per-request clean-up."""

from __future__ import annotations

from collections.abc import Iterator

import structlog
from graphql import GraphQLError
from graphql.validation import NoSchemaIntrospectionCustomRule
from strawberry.extensions import (
    AddValidationRules, MaxAliasesLimiter, MaxTokensLimiter, ParserCache, QueryDepthLimiter, SchemaExtension,
    ValidationCache,
)

from models.errors import DomainError
from policies.errors import AccessError
from schema.input_policy import InputPolicy
from settings import Settings

log = structlog.get_logger("procura.graphql")
UNEXPECTED = "Unexpected error."


class ErrorPolicy(SchemaExtension):
    """Access errors and a query's expected failures keep their message and get their code;
    anything unexpected is logged
    and masked. Errors raised by graphql-core itself (syntax, validation) pass as they are."""

    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        if result and result.errors:
            result.errors = [self._present(error) for error in result.errors]

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
    """Closes the request's read session once the operation is done."""

    async def on_operation(self):
        yield
        context = self.execution_context.context
        if hasattr(context, "close"):
            await context.close()


def extensions_for(settings: Settings) -> list:
    """Extension classes/factories (never shared instances: they are not concurrency-safe)."""
    # The limiters create their validation rule classes in __init__: built per request, the
    # rules differ every time, so ValidationCache (keyed by document and rules) never hits.
    # Build the rule classes once (they are stateless) and add them with one extension.
    limits = [*QueryDepthLimiter(max_depth=settings.max_query_depth).validation_rules,
              *MaxAliasesLimiter(max_alias_count=settings.max_aliases).validation_rules]
    extensions = [
        ErrorPolicy,
        ReleaseSessions,
        lambda: ParserCache(maxsize=512),
        lambda: ValidationCache(maxsize=512),
        lambda: AddValidationRules(limits),
        lambda: MaxTokensLimiter(max_token_count=settings.max_tokens),
        InputPolicy,
    ]
    if settings.is_production:
        extensions.append(lambda: AddValidationRules([NoSchemaIntrospectionCustomRule]))
    return extensions
