"""Paths into a mutation's input, as `MutationError.field` names them.

A path is the camelCase field names from the input object down, joined by dots, with the
position in a list as a number: `address.city`, `tiers.0.userIds`, `lines.2.quantity`.
"""

from __future__ import annotations

from functools import lru_cache

from graphql import GraphQLInputObjectType, GraphQLInputType, GraphQLList, GraphQLSchema, get_nullable_type


def is_input_path(input_type: GraphQLInputType, path: str) -> bool:
    """Whether `path` names a field (or a list element) of `input_type`."""
    current: GraphQLInputType = input_type
    for part in path.split("."):
        nullable = get_nullable_type(current)
        if isinstance(nullable, GraphQLList):
            if not part.isdigit():
                return False
            current = nullable.of_type
        elif isinstance(nullable, GraphQLInputObjectType):
            field = nullable.fields.get(part)
            if field is None:
                return False
            current = field.type
        else:
            return False
    return True


@lru_cache(maxsize=1024)
def is_mutation_input_path(schema: GraphQLSchema, mutation: str, path: str) -> bool:
    """Whether `path` is a path into the `input` argument of the root mutation field `mutation`."""
    field = schema.mutation_type.fields[mutation] if schema.mutation_type else None
    argument = field.args.get("input") if field else None
    return argument is not None and is_input_path(argument.type, path)
