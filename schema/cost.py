"""Query cost: what an operation may ask the server for, priced before it runs.

The model (README, "Limits"), after GitHub's and Shopify's: the cost of an operation is the
number of objects its response can hold at most.
- A scalar, an enum or `__typename` costs 0; an object costs 1 plus the fields it selects.
- A list costs its length times one item. A connection's `edges` has `first` items: the
  argument's value, a variable's or the argument's default, capped at the largest page
  (a larger one is refused anyway). Other lists have the length in LIST_SIZES.
- A field of an interface or union type costs as much as its most expensive member's selection.
- Introspection (`__schema`, `__type`) costs INTROSPECTION_COST, whatever it selects.
- Fields are collected the way graphql-core's executor collects them: the operation that runs,
  fragments expanded, @skip/@include applied (included when their condition cannot be read),
  fields under one response key merged and counted once.

The price of a document depends only on the values of the variables that feed a `first` or an
`if`, so it is computed once per (document, operation, those values) and kept in an LRU cache;
the parsed document is itself cached, so a query sent again costs two dictionary look-ups.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from graphql import (
    BooleanValueNode,
    DocumentNode,
    ExecutionResult,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
    is_abstract_type,
    is_leaf_type,
    is_list_type,
    is_non_null_type,
)
from graphql.execution.values import get_variable_values
from graphql.utilities.coerce_input_value import coerce_default_value
from strawberry.types import ExecutionContext

from models.approval import MAX_TIERS
from schema.document_cache import DocumentCache

CODE = "QUERY_TOO_COMPLEX"
INTROSPECTION_COST = 2_500  # a whole introspection of the schema returns about 2,400 objects
DEFAULT_LIST_SIZE = 10  # a list missing from LIST_SIZES (a test requires every list to be listed)
PRICE_CACHE_SIZE = 1024

# The length a list of objects is priced at: a bound where the domain has one, else a generous
# typical length. A connection's `edges` is priced by its `first` instead.
LIST_SIZES: dict[str, int] = {
    # Bounds the domain enforces.
    "ApprovalRule.tiers": MAX_TIERS,
    "ApprovalRuleState.tiers": MAX_TIERS,
    "OrderTotals.vatBreakdown": 5,  # one per VAT rate: 25, 15, 12, 6, 0 %
    "BulkDecisionPayload.results": 100,  # approveOrders / rejectOrders decide at most 100 orders
    # Typical lengths of lists without a bound.
    "ApiClient.secrets": 2,  # the newest, and the one it replaced while their overlap lasts
    "Order.lines": 10,
    "Invoice.lines": 20,  # an invoice gathers a half-month's order lines of one recipient
    "Invoice.vatBreakdown": 5,  # one per VAT rate, as an order's
    "Invoice.creditNotes": 2,
    "Order.timeline": 5,
    "ApprovalFlow.rules": 2,
    "QueuedOrder.budgetImpact": 3,  # the buyer's, the group's and the cost centre's budgets
    "ApprovalQueueChange.budgetImpact": 3,  # as QueuedOrder's
    "SavedCart.lines": 10,
    "DeliveryLocation.slots": 10,
    "Viewer.companies": 5,
    "MoveUsersToGroupPayload.users": 20,
    "UserCostCentresPayload.costCentres": 10,
    "Query.deliveryLocations": 20,
    "Query.savedCarts": 20,
    "Query.costCentres": 20,
    "Query.budgets": 20,
    "Query.pendingInvoiceApplications": 20,
    "Query.approvalRules": 20,
    "Query.approvalDelegations": 10,
    "WebhookDelivery.attempts": 10,  # 8 scheduled attempts, and a redelivery or two
}

INTROSPECTION_FIELDS = frozenset({"__schema", "__type"})
_ABSENT = object()  # a variable the request does not send


def too_complex(cost: int, maximum: int) -> GraphQLError:
    return GraphQLError(f"The query costs {cost}, more than the maximum of {maximum} per request.",
                        extensions={"code": CODE, "cost": cost, "maximumCost": maximum})


class _Pricer:
    """Prices one operation for given variable values."""

    def __init__(self, schema: GraphQLSchema, fragments: Mapping[str, FragmentDefinitionNode],
                 variables: Mapping[str, Any], max_page_size: int) -> None:
        self.schema, self.fragments, self.variables = schema, fragments, variables
        self.max_page_size = max_page_size

    def selection(self, object_type: GraphQLObjectType, nodes: Iterable[FieldNode | OperationDefinitionNode],
                  page: int | None = None) -> int:
        """What one object of `object_type` costs for the merged selections of `nodes`; `page` is
        the length of `edges` when the object is a connection."""
        grouped: dict[str, list[FieldNode]] = {}
        visited: set[str] = set()
        for node in nodes:
            if node.selection_set is not None:
                self._collect(object_type, node.selection_set, grouped, visited)
        return sum(self.field(object_type, fields, page) for fields in grouped.values())

    def field(self, parent: GraphQLObjectType, nodes: list[FieldNode], page: int | None) -> int:
        name = nodes[0].name.value
        if name in INTROSPECTION_FIELDS:
            return INTROSPECTION_COST
        definition = parent.fields.get(name)
        if definition is None:  # __typename (validation has refused unknown fields)
            return 0
        field_type, length = definition.type, 1
        while True:
            if is_non_null_type(field_type):
                field_type = field_type.of_type
            elif is_list_type(field_type):
                if name == "edges" and page is not None:
                    length *= page
                else:
                    length *= LIST_SIZES.get(f"{parent.name}.{name}", DEFAULT_LIST_SIZE)
                field_type = field_type.of_type
            else:
                break
        if is_leaf_type(field_type) or length == 0:
            return 0
        inner_page = self._page_size(definition, nodes[0]) if "first" in definition.args else None
        if is_abstract_type(field_type):
            members = self.schema.get_possible_types(field_type)
            item = max((self.selection(member, nodes, inner_page) for member in members), default=0)
        else:
            item = self.selection(field_type, nodes, inner_page)
        return length * (1 + item)

    def _page_size(self, definition, node: FieldNode) -> int:
        """`first` as the executor will see it: a literal, a variable's value, else the argument's default."""
        value: Any = _ABSENT
        for argument in node.arguments or ():
            if argument.name.value == "first":
                if isinstance(argument.value, IntValueNode):
                    value = int(argument.value.value)
                elif isinstance(argument.value, VariableNode):
                    value = self.variables.get(argument.value.name.value, _ABSENT)
        if not isinstance(value, int):
            value = coerce_default_value(definition.args["first"])
        return min(max(value, 0), self.max_page_size) if isinstance(value, int) else self.max_page_size

    def _collect(self, object_type: GraphQLObjectType, selection_set: SelectionSetNode,
                 grouped: dict[str, list[FieldNode]], visited: set[str]) -> None:
        for selection in selection_set.selections:
            if not self._included(selection):
                continue
            if isinstance(selection, FieldNode):
                key = selection.alias.value if selection.alias else selection.name.value
                grouped.setdefault(key, []).append(selection)
            elif isinstance(selection, InlineFragmentNode):
                if self._applies(selection.type_condition, object_type):
                    self._collect(object_type, selection.selection_set, grouped, visited)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = self.fragments.get(name)
                if name in visited or fragment is None:
                    continue
                visited.add(name)
                if self._applies(fragment.type_condition, object_type):
                    self._collect(object_type, fragment.selection_set, grouped, visited)

    def _applies(self, condition, object_type: GraphQLObjectType) -> bool:
        if condition is None:
            return True
        conditional = self.schema.get_type(condition.name.value)
        if conditional is object_type:
            return True
        return is_abstract_type(conditional) and self.schema.is_sub_type(conditional, object_type)

    def _included(self, selection) -> bool:
        for directive in selection.directives or ():
            name = directive.name.value
            if name not in ("skip", "include"):
                continue
            condition: Any = None
            for argument in directive.arguments or ():
                if argument.name.value == "if":
                    value = argument.value
                    if isinstance(value, BooleanValueNode):
                        condition = value.value
                    elif isinstance(value, VariableNode):
                        condition = self.variables.get(value.name.value)
            if condition is (name == "skip"):  # skip(if: true) or include(if: false)
                return False
        return True


def _operation(document: DocumentNode, operation_name: str | None) -> OperationDefinitionNode | None:
    """The operation graphql-core will execute, or None when it will refuse the request."""
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name is None:
        return operations[0] if len(operations) == 1 else None
    return next((o for o in operations if o.name and o.name.value == operation_name), None)


def _priced_variables(document: DocumentNode) -> tuple[str, ...]:
    """The variables whose values can change the document's price: those given to a `first` or an `if`."""
    names: set[str] = set()

    def visit(selection_set: SelectionSetNode | None) -> None:
        if selection_set is None:
            return
        for selection in selection_set.selections:
            arguments = [a for d in selection.directives or () for a in d.arguments or () if a.name.value == "if"]
            if isinstance(selection, FieldNode):
                arguments += [a for a in selection.arguments or () if a.name.value == "first"]
            names.update(a.value.name.value for a in arguments if isinstance(a.value, VariableNode))
            if isinstance(selection, FieldNode | InlineFragmentNode):
                visit(selection.selection_set)

    for definition in document.definitions:
        if isinstance(definition, (OperationDefinitionNode, FragmentDefinitionNode)):
            visit(definition.selection_set)
    return tuple(sorted(names))


def price_operation(schema: GraphQLSchema, document: DocumentNode, operation_name: str | None,
                    variables: Mapping[str, Any], max_page_size: int) -> int | None:
    """The cost of the operation that will run, or None when graphql-core will refuse to run it
    (no such operation, or a variable that feeds the price has a value of the wrong type)."""
    operation = _operation(document, operation_name)
    if operation is None:
        return None
    priced = set(_priced_variables(document))
    definitions = [d for d in operation.variable_definitions or () if d.variable.name.value in priced]
    coerced = get_variable_values(schema, definitions, dict(variables), hide_suggestions=True)
    if isinstance(coerced, list):  # errors: graphql-core reports them and runs nothing
        return None
    root = schema.get_root_type(operation.operation)
    if root is None:
        return None
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    return _Pricer(schema, fragments, coerced.coerced, max_page_size).selection(root, [operation])


def _frozen(value: Any) -> tuple[type, Any]:
    """A cache key part: the type too, since True == 1 but only one of them is a valid Int."""
    hash(value)  # TypeError for lists and objects: such requests are priced without the cache
    return type(value), value


class CostModel:
    """Prices operations, remembering the price of each document shape."""

    def __init__(self, max_page_size: int, cache_size: int = PRICE_CACHE_SIZE) -> None:
        self.max_page_size = max_page_size
        self._variables: DocumentCache[tuple[str, ...]] = DocumentCache(cache_size)
        self._prices: DocumentCache[int | None] = DocumentCache(cache_size)

    def price(self, schema: GraphQLSchema, document: DocumentNode, operation_name: str | None,
              variables: Mapping[str, Any]) -> int | None:
        names = self._variables.get(document, (), lambda: _priced_variables(document))
        try:
            key = (id(schema), operation_name, *(_frozen(variables.get(name, _ABSENT)) for name in names))
        except TypeError:
            return price_operation(schema, document, operation_name, variables, self.max_page_size)
        return self._prices.get(document, key, lambda: price_operation(
            schema, document, operation_name, variables, self.max_page_size))


class CostLimit:
    """The check of every request: price the operation about to run and refuse it above the
    maximum (QUERY_TOO_COMPLEX) before anything runs; report the cost of what runs in the
    response's `extensions.cost`. Shared by the requests of one schema (it keeps no request state)."""

    def __init__(self, model: CostModel, maximum: int) -> None:
        self.model, self.maximum = model, maximum

    def check(self, context: ExecutionContext) -> int | None:
        """The cost of an operation allowed to run; None when it was refused (context.result is
        then the error) or when graphql-core will refuse it anyway."""
        if context.graphql_document is None or context.result is not None:
            return None
        cost = self.model.price(context.schema._schema, context.graphql_document, context.operation_name,
                                context.variables or {})
        if cost is not None and cost > self.maximum:
            context.result = ExecutionResult(data=None, errors=[too_complex(cost, self.maximum)])
            return None
        return cost

    def report(self, cost: int | None, result) -> dict[str, Any]:
        if cost is None or not _executed(result):
            return {}
        return {"cost": {"requestedQueryCost": cost, "maximumQueryCost": self.maximum}}


def _executed(result) -> bool:
    """Whether the executor ran: it returns data, or field errors (with a path) when it nulled the root."""
    if result is None:
        return False
    return result.data is not None or any(error.path for error in result.errors or ())
