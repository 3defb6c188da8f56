"""Request input refused before anything runs, and typed coercion errors.

No database stores every Python string: PostgreSQL refuses the NUL character in text and JSON,
and no driver can encode an unpaired surrogate (JSON lets a client send "\\ud800"; so does a
GraphQL string escape). Rather than guard each argument, one check reads every variable value
and every string literal of the operation before execution and answers with INVALID_INPUT, the
code a query's other bad arguments get, naming the offending input as a path (`input.email`).

graphql-core rewraps a scalar's refusal of a variable value ("Variable '$input' has invalid
value at .submittedFrom: ...") and drops its extensions; the same code is put back here.
"""

from __future__ import annotations

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


def _with_original_code(error: GraphQLError) -> GraphQLError:
    original = error.original_error
    if error.extensions or not isinstance(original, GraphQLError) or not original.extensions:
        return error
    return GraphQLError(error.message, error.nodes, error.source, error.positions, error.path, original,
                        extensions=original.extensions)


def _unstorable_variable(value: Any, path: tuple[str, ...] = ()) -> tuple[str, Node | None] | None:
    if isinstance(value, str):
        return (".".join(path), None) if UNSTORABLE_TEXT.search(value) else None
    if isinstance(value, dict):
        for key, item in value.items():
            found = _unstorable_variable(key, path) or _unstorable_variable(item, (*path, str(key)))
            if found:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            if found := _unstorable_variable(item, (*path, str(index))):
                return found
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
    for path, node in _string_literals(document, ()):
        if UNSTORABLE_TEXT.search(node.value):
            return ".".join(path), node
    return None


def _string_literals(node: Node, path: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], StringValueNode]]:
    """Every string literal of a document with its input path: argument, then fields and list indexes."""
    if isinstance(node, StringValueNode):
        yield path, node
        return
    if isinstance(node, ArgumentNode):
        path = (node.name.value,)
    elif isinstance(node, ObjectFieldNode):
        path = (*path, node.name.value)
    elif isinstance(node, VariableDefinitionNode):  # a default value
        path = (node.variable.name.value,)
    for key in node.keys:
        child = getattr(node, key, None)
        if isinstance(child, Node):
            yield from _string_literals(child, path)
        elif isinstance(child, (tuple, list)):
            for index, item in enumerate(child):
                if isinstance(item, Node):
                    yield from _string_literals(item, (*path, str(index)) if isinstance(node, ListValueNode) else path)
