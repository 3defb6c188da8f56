"""Request input refused before anything runs, and typed coercion errors.

No database stores every Python string: PostgreSQL refuses the NUL character in text and JSON,
and no driver can encode an unpaired surrogate (JSON lets a client send "\\ud800"; so does a
GraphQL string escape). Rather than guard each argument, one check reads every variable value
and every string literal of the operation before execution and answers with INVALID_INPUT, the
code a query's other bad arguments get, naming the offending input as a path (`input.email`).

graphql-core rewraps a scalar's refusal of a variable value ("Variable '$input' has invalid
value at .submittedFrom: ...") and drops its extensions; the same code is put back here.
And JSON too deeply nested for the parser is a malformed body (`decode_request_json`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from graphql import (
    ArgumentNode,
    DocumentNode,
    ExecutionResult,
    GraphQLError,
    ListValueNode,
    Node,
    ObjectFieldNode,
    StringValueNode,
    VariableDefinitionNode,
)
from strawberry.extensions import SchemaExtension

from schema.scalars import INVALID_INPUT

UNSTORABLE_TEXT = re.compile("[\x00\ud800-\udfff]")
UNSTORABLE_TEXT_MESSAGE = "Text may not contain the NUL character (U+0000) or unpaired surrogates (U+D800 to U+DFFF)"


class InputPolicy(SchemaExtension):
    """Refuses unstorable text in variables and literals; gives coerced-variable errors their code."""

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        found = _unstorable_variable(context.variables) or _unstorable_literal(context.query, document)
        if found is not None:
            path, node = found
            node = node or _variable_definition(document, path.partition(".")[0])
            error = GraphQLError(UNSTORABLE_TEXT_MESSAGE, node, extensions={**INVALID_INPUT, "field": path})
            context.result = ExecutionResult(data=None, errors=[error])  # Strawberry then skips execution
        yield

    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        if result and result.errors:
            result.errors = [_with_original_code(error) for error in result.errors]


def decode_request_json(data: str | bytes) -> object:
    """A request body or `variables` parameter: JSON nested deeper than the parser's stack is a
    parse error (HTTP 400, as for any malformed body), not a RecursionError and a 500."""
    try:
        return json.loads(data)
    except RecursionError:
        raise json.JSONDecodeError("Nested too deeply", "", 0) from None


def _with_original_code(error: GraphQLError) -> GraphQLError:
    original = error.original_error
    if error.extensions or not isinstance(original, GraphQLError) or not original.extensions:
        return error
    return GraphQLError(error.message, error.nodes, error.source, error.positions, error.path, original,
                        extensions=original.extensions)


def _unstorable_variable(variables: Any) -> tuple[str, Node | None] | None:
    """The path of the first string (value or key) that no database stores. Iterative: variables
    may nest as deep as the JSON parser allows, deeper than the stack left here."""
    pending: list[tuple[Any, tuple[str, ...]]] = [(variables, ())]
    while pending:
        value, path = pending.pop()
        if isinstance(value, str):
            if UNSTORABLE_TEXT.search(value):
                return ".".join(path), None
        elif isinstance(value, dict):
            for key, item in reversed(value.items()):
                pending += [(item, (*path, str(key))), (key, path)]
        elif isinstance(value, list):
            pending += [(item, (*path, str(index))) for index, item in reversed(list(enumerate(value)))]
    return None


def _variable_definition(document: DocumentNode | None, name: str) -> Node | None:
    """Where the operation declares a variable, for the error's location."""
    for definition in document.definitions if document else ():
        for variable in getattr(definition, "variable_definitions", None) or ():
            if variable.variable.name.value == name:
                return variable
    return None


def _unstorable_literal(query: str | None, document: DocumentNode | None) -> tuple[str, Node | None] | None:
    # A literal holds such a character only if the source does, or spells it with an escape.
    if document is None or query is None or ("\\" not in query and not UNSTORABLE_TEXT.search(query)):
        return None
    for path, node in _string_literals(document):
        if UNSTORABLE_TEXT.search(node.value):
            return ".".join(path), node
    return None


def _string_literals(document: DocumentNode) -> Iterator[tuple[tuple[str, ...], StringValueNode]]:
    """Every string literal of a document with its input path: argument, then fields and list indexes."""
    pending: list[tuple[Node, tuple[str, ...]]] = [(document, ())]
    while pending:
        node, path = pending.pop()
        if isinstance(node, StringValueNode):
            yield path, node
            continue
        if isinstance(node, ArgumentNode):
            path = (node.name.value,)
        elif isinstance(node, ObjectFieldNode):
            path = (*path, node.name.value)
        elif isinstance(node, VariableDefinitionNode):  # a default value
            path = (node.variable.name.value,)
        children: list[tuple[Node, tuple[str, ...]]] = []
        for key in node.keys:
            child = getattr(node, key, None)
            if isinstance(child, Node):
                children.append((child, path))
            elif isinstance(child, (tuple, list)):
                in_list = isinstance(node, ListValueNode)
                children += [(item, (*path, str(index)) if in_list else path)
                             for index, item in enumerate(child) if isinstance(item, Node)]
        pending += reversed(children)
