"""The rate limit of API clients, as a schema extension (resolvers/rate_limit.py keeps the bucket).

Between validation and execution, a request made with an API client's secret is priced by the same
cost model as the query-cost limit (a cached price: two dictionary look-ups) and charged; the one
statement of the charge also authenticates the client, whose actor then serves the whole request.
A client whose bucket is empty gets, before anything runs, HTTP 429 with `Retry-After` and

    {"data": null, "errors": [{"message": "...", "extensions": {"code": "RATE_LIMITED",
      "retryAfterSeconds": 3, "cost": 2502, "remaining": 120}}]}

(429 is what HTTP clients and proxies already back off on; the request was refused before it
reached GraphQL execution, like a body refused with 413.) Every response to a client that ran
carries `extensions.rateLimit {cost remaining capacity refillPerSecond}`. People signed in with an
access token are not limited by this: their requests are bounded by the query-cost limit.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from graphql import ExecutionResult, GraphQLError
from strawberry.extensions import SchemaExtension

from resolvers import rate_limit
from schema.context import Context
from schema.cost import CostModel

CODE = "RATE_LIMITED"


def rate_limited(charge: rate_limit.Charge, budget: rate_limit.Budget) -> GraphQLError:
    return GraphQLError(
        f"Rate limit exceeded: this request costs {charge.cost} points and the API client has {charge.remaining} "
        f"left (it holds {budget.capacity} and gains {budget.refill_per_second} a second). "
        f"Retry in {charge.retry_after_seconds} seconds.",
        extensions={"code": CODE, "retryAfterSeconds": charge.retry_after_seconds, "cost": charge.cost,
                    "remaining": charge.remaining})


class RateLimit(SchemaExtension):
    """Charges an API client's request its query cost before it runs (see the module's text)."""

    def __init__(self, model: CostModel) -> None:
        super().__init__()
        self.model = model
        self.charge: rate_limit.Charge | None = None
        self.budget: rate_limit.Budget | None = None

    async def on_execute(self) -> AsyncIterator[None]:
        execution = self.execution_context
        context = execution.context
        if (isinstance(context, Context) and context.client_secret_digest is not None
                and execution.result is None and execution.graphql_document is not None):
            cost = self.model.price(execution.schema._schema, execution.graphql_document, execution.operation_name,
                                    execution.variables or {})
            self.budget = budget = rate_limit.budget_of(context.services)
            async with context.read_session() as session:
                self.charge = charge = await rate_limit.charge(context.services, context.client_secret_digest, cost,
                                                               budget, session)
            if charge.limited:
                execution.result = ExecutionResult(data=None, errors=[rate_limited(charge, budget)])
                if context.response is not None:
                    context.response.status_code = 429
                    context.response.headers["Retry-After"] = str(charge.retry_after_seconds)
            else:
                context.use_client(charge.actor)
        yield

    def get_results(self) -> dict[str, Any]:
        charge, budget = self.charge, self.budget
        if charge is None or budget is None or (charge.actor is None and not charge.limited):
            return {}
        return {"rateLimit": {"cost": 0 if charge.limited else charge.cost, "remaining": charge.remaining,
                              "capacity": budget.capacity, "refillPerSecond": budget.refill_per_second}}
