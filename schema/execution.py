"""Compiled completion of plain result trees, on top of graphql-core's executor.

Most of a large response, such as a page of orders with their lines, is made of fields that
only read an attribute of a response object: no resolver, no arguments, no directives.
graphql-core completes each of them generically (a resolve info, the middleware, awaitable
checks, a type dispatch), which costs more than everything else a page needs. For an object
whose whole selection is made of such fields, `PlainTreeExecutor` compiles a completion plan
once per query shape (the parsed document is cached, so the plan is reused by every request
sending that query) and runs it instead: the same data, the same errors with the same paths
and locations, the same null propagation. Anything else (resolvers, arguments, directives,
interfaces and unions, @defer, middleware, awaitable values) is left to graphql-core, which
also goes on trying plans deeper down.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import structlog
from graphql import (
    FieldNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLList,
    GraphQLObjectType,
    InlineFragmentNode,
    SelectionSetNode,
    is_leaf_type,
    is_list_type,
    is_non_null_type,
    is_object_type,
    located_error,
)
from graphql.execution.collect_fields import collect_subfields
from graphql.pyutils import Path, Undefined, inspect
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.types.field import StrawberryField

log = structlog.get_logger("procura.graphql")
STRAWBERRY_FIELD = "strawberry-definition"
PLAN_CACHE_SIZE = 1024

# A completer turns a resolved value into its response value. `path` is the value's position
# as a (prev, key, typename) chain of plain tuples ending in a graphql-core Path, built only
# where an object or a list needs it; `field_path` is the position of the field that produced
# the value (a list item's is the list field's), which is what graphql-core gives is_type_of.
Completer = Callable[[Any, Any, Any, "_Run"], Any]


class _Bail(Exception):
    """An awaitable value turned up: graphql-core completes this subtree instead."""


class _Run:
    __slots__ = ("errors", "executor")

    def __init__(self, executor: PlainTreeExecutor) -> None:
        self.executor = executor
        self.errors: list[tuple[GraphQLError, Any]] = []


def _to_path(position) -> Path | None:
    if position is None or type(position) is Path:
        return position
    return Path(_to_path(position[0]), position[1], position[2])


def _path_list(position) -> list[str | int]:
    keys = []
    while position is not None:
        keys.append(position[1])
        position = position[0]
    return keys[::-1]


class Plan:
    """How to complete one object type for one set of field nodes."""

    __slots__ = ("complete", "object_type")

    def __init__(self, object_type: GraphQLObjectType, complete: Completer) -> None:
        self.object_type = object_type
        self.complete = complete

    def run(self, executor: PlainTreeExecutor, source: Any, path: Path, info) -> dict[str, Any]:
        run = _Run(executor)
        try:
            completed = self.complete(source, path, info, run)
        except _Bail:
            raise
        except Exception:
            _flush(run)  # the errors nulled below come before the one propagating out of the plan
            raise
        _flush(run)
        return completed


def _flush(run: _Run) -> None:
    add = run.executor.collected_errors.add
    for error, position in run.errors:
        add(error, _to_path(position))


class _Compiler:
    """Builds completers from an executor's schema, fragments and variables (used only
    where they cannot change the result: selections with directives are not compiled)."""

    def __init__(self, executor: PlainTreeExecutor) -> None:
        self.executor = executor

    def object_plan(self, object_type: GraphQLObjectType, field_details_list) -> Plan | None:
        nodes = [details.node for details in field_details_list]
        if any(_has_directives(node.selection_set, self.executor.fragment_definitions, set()) for node in nodes):
            return None
        complete = self.object_completer(object_type, field_details_list, root=True)
        return Plan(object_type, complete) if complete else None

    def object_completer(self, object_type: GraphQLObjectType, field_details_list, root: bool = False):
        e = self.executor
        grouped, defer_usages, _ = collect_subfields(e.schema, e.fragments, e.variable_values, e.operation, object_type,
                                                     field_details_list, e.hide_suggestions)
        if defer_usages:
            return None
        type_name = object_type.name
        # (response key, attribute or None for __typename, completer or None for a leaf, leaf coercion,
        # nullable, field nodes, field name)
        fields: list[tuple[str, str | None, Completer | None, tuple | None, bool, list[FieldNode], str]] = []
        for key, sub_details in grouped.items():
            sub_nodes = [d.node for d in sub_details]
            name = sub_nodes[0].name.value
            if name == "__typename":
                fields.append((key, None, None, None, True, sub_nodes, name))
                continue
            field_def = e.schema.get_field(object_type, name)
            if field_def is None or field_def.args or any(n.arguments for n in sub_nodes):
                return None
            attribute = _plain_attribute(field_def)
            if attribute is None:
                return None
            spec = self.value_spec(field_def.type, sub_details, object_type, name, field_def)
            if spec is None:
                return None
            complete, leaf, nullable = spec
            fields.append((key, attribute, complete, leaf, nullable, sub_nodes, name))
        field_nodes = [d.node for d in field_details_list]
        is_type_of = object_type.is_type_of
        plain_fields = tuple(fields)

        def complete_object(source, path, field_path, run):
            if is_type_of is not None:
                # What graphql-core would pass is a GraphQLResolveInfo; below the root a _LazyInfo
                # stands in for it and builds one only if the predicate reads it.
                info: Any = field_path if root else _LazyInfo(run.executor, field_details_list, field_path)
                matches = is_type_of(source, info)
                if run.executor.is_awaitable(matches):
                    raise _Bail
                if not matches:
                    raise GraphQLError(f"Expected value of type '{type_name}' but got: {inspect(source)}.", field_nodes)
            result: dict[str, Any] = {}
            for key, attribute, complete, leaf, nullable, nodes, name in plain_fields:
                if attribute is None:
                    result[key] = type_name
                    continue
                try:
                    value = getattr(source, attribute)
                    if isinstance(value, Exception):
                        raise value
                    if value is None or value is Undefined:
                        if not nullable:
                            raise TypeError(f"Cannot return null for non-nullable field {type_name}.{name}.")
                        result[key] = None
                    elif leaf is not None:
                        result[key] = _coerce_leaf(leaf, value, run)
                    else:
                        child = (path, key, type_name)
                        # value_spec gives a completer exactly when it gives no leaf; asserting it here
                        # would cost a check per field of every object of the response.
                        result[key] = complete(value, child, child, run)  # type: ignore[misc]
                except _Bail:
                    raise
                except Exception as error:
                    result[key] = _field_error(error, nodes, (path, key, type_name), nullable, run)
            return result

        return complete_object

    def value_spec(self, gql_type, field_details_list, parent_type, name, field_def):
        """(completer of a non-null value, or None for leaves; (coercion, leaf type), or None; nullable)."""
        nullable = not is_non_null_type(gql_type)
        inner = gql_type if nullable else gql_type.of_type
        if is_leaf_type(inner):
            return None, (inner.coerce_output_value, inner), nullable
        if is_list_type(inner):
            item = self.list_completer(inner, field_details_list, parent_type, name, field_def)
            return (item, None, nullable) if item else None
        if is_object_type(inner):
            complete = self.object_completer(inner, field_details_list)
            if complete is None:
                return None
            if inner.is_type_of is not None:
                complete = _with_field(complete, field_def, parent_type)
            return complete, None, nullable
        return None  # interfaces and unions: graphql-core resolves their runtime type

    def list_completer(self, list_type: GraphQLList, field_details_list, parent_type, name, field_def):
        spec = self.value_spec(list_type.of_type, field_details_list, parent_type, name, field_def)
        if spec is None:
            return None
        item_complete, leaf, item_nullable = spec
        nodes = [d.node for d in field_details_list]
        null_message = f"Cannot return null for non-nullable field {parent_type.name}.{name}."

        def complete_list(values, path, field_path, run):
            if not isinstance(values, (list, tuple)):
                raise _Bail  # generators, async iterables and other iterables: graphql-core's job
            completed: list[Any] = []
            append = completed.append
            for index, value in enumerate(values):
                try:
                    if isinstance(value, Exception):
                        raise value
                    if value is None or value is Undefined:
                        if not item_nullable:
                            raise TypeError(null_message)
                        append(None)
                    elif leaf is not None:
                        append(_coerce_leaf(leaf, value, run))
                    else:
                        position = (path, index, None)
                        append(item_complete(value, position, field_path, run))
                except _Bail:
                    raise
                except Exception as error:
                    append(_field_error(error, nodes, (path, index, None), item_nullable, run))
            return completed

        return complete_list


def _with_field(complete, field_def, parent_type):
    """Objects with an is_type_of predicate get the producing field's resolve info, as in graphql-core."""
    def complete_with_field(value, path, field_path, run):
        return complete(value, path, (field_def, parent_type, field_path), run)
    return complete_with_field


class _LazyInfo:
    """The resolve info graphql-core would give is_type_of, built only if the predicate reads it
    (strawberry's own predicates never do)."""

    __slots__ = ("_args", "_info")

    def __init__(self, *args) -> None:
        self._args = args
        self._info = None

    def __getattr__(self, name: str):
        if self._info is None:
            executor, field_details_list, (field_def, parent_type, field_path) = self._args
            nodes = [d.node for d in field_details_list]
            self._info = executor.build_resolve_info(field_def, nodes, parent_type, _to_path(field_path))
        return getattr(self._info, name)


def _coerce_leaf(leaf: tuple, value, run: _Run):
    coerce, leaf_type = leaf
    try:
        coerced = coerce(value)
    except Exception:
        if run.executor.is_awaitable(value):
            raise _Bail from None
        raise
    if coerced is None or coerced is Undefined:
        raise TypeError(f"Expected `{inspect(leaf_type)}.coerce_output_value({inspect(value)})` to return"
                        f" non-nullable value, returned: {inspect(coerced)}")
    return coerced


def _field_error(error: Exception, nodes, position, nullable: bool, run: _Run):
    """graphql-core's handle_field_error: locate; null a nullable position, else propagate."""
    located = located_error(error, nodes, _path_list(position))
    if not nullable:
        raise located
    run.errors.append((located, position))
    return None


def _plain_attribute(field_def) -> str | None:
    """The attribute a field reads when its resolver is strawberry's plain attribute access."""
    resolve = field_def.resolve
    field = (field_def.extensions or {}).get(STRAWBERRY_FIELD)
    if not getattr(resolve, "_is_default", False) or not isinstance(field, StrawberryField):
        return None
    if not field.is_basic_field or type(field).get_result is not StrawberryField.get_result:
        return None
    if field.default_resolver is not getattr:
        return None
    return field.python_name


def _has_directives(selection_set: SelectionSetNode | None, fragments: dict, seen: set[str]) -> bool:
    if selection_set is None:
        return False
    for selection in selection_set.selections:
        if selection.directives:
            return True
        if isinstance(selection, FieldNode | InlineFragmentNode):
            if _has_directives(selection.selection_set, fragments, seen):
                return True
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            if name in seen:
                continue
            seen.add(name)
            fragment = fragments.get(name)
            if fragment is None or fragment.directives or _has_directives(fragment.selection_set, fragments, seen):
                return True
    return False


# Plans outlive requests: keyed by the object type and the identity of the field nodes (the
# parsed document is cached and reused), holding the nodes so that an id cannot be reused
# by another node while its entry exists.
_plans: OrderedDict[tuple, tuple[list, Plan | None]] = OrderedDict()


def _cached_plan(executor: PlainTreeExecutor, object_type: GraphQLObjectType, field_details_list) -> Plan | None:
    nodes = [d.node for d in field_details_list]
    key = (object_type, *map(id, nodes))
    entry = _plans.get(key)
    if entry is not None:
        _plans.move_to_end(key)
        return entry[1]
    try:
        plan = _Compiler(executor).object_plan(object_type, field_details_list)
    except Exception:  # a shape the compiler does not foresee: graphql-core answers it, and we hear of it
        log.exception("plan_compilation_failed", type=object_type.name)
        plan = None
    _plans[key] = (nodes, plan)
    if len(_plans) > PLAN_CACHE_SIZE:
        _plans.popitem(last=False)
    return plan


class PlainTreeExecutor(StrawberryGraphQLCoreExecutionContext):
    """graphql-core's executor, completing plain subtrees with compiled plans."""

    compiled_completion = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        manager = self.middleware_manager
        self._plans_enabled = (self.compiled_completion and self.error_propagation
                               and (manager is None or not manager.middlewares))
        self._request_plans: dict[int, tuple[Any, Plan | None]] = {}

    def complete_object_value(self, return_type, field_details_list, info, path, result, position_context):
        if self._plans_enabled and position_context is None:
            entry = self._request_plans.get(id(field_details_list))
            if entry is None or entry[0] is not field_details_list:
                incremental = any(d.defer_usage or d.fragment_variable_values for d in field_details_list)
                plan = None if incremental else _cached_plan(self, return_type, field_details_list)
                entry = (field_details_list, plan)
                self._request_plans[id(field_details_list)] = entry
            plan = entry[1]
            if plan is not None:
                try:
                    return plan.run(self, result, path, info)
                except _Bail:
                    pass
        return super().complete_object_value(return_type, field_details_list, info, path, result, position_context)


class GenericExecutor(PlainTreeExecutor):
    """graphql-core's completion everywhere (for comparison in tests and benchmarks)."""

    compiled_completion = False
