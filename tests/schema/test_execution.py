"""Compiled completion of plain subtrees gives exactly what graphql-core's own completion gives:
the same data, the same errors (message, path, locations) and the same null propagation, for
well-formed and broken response objects alike; and it is really used where it applies."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal
from enum import Enum
from typing import NewType

import pytest
import strawberry
from strawberry.schema.config import StrawberryConfig

from schema import execution
from schema.execution import GenericExecutor, PlainTreeExecutor


@strawberry.interface
class Named:
    name: str


@strawberry.enum
class Colour(Enum):
    RED = "red"
    BLUE = "blue"


Code = NewType("Code", str)
CODE_SCALAR = strawberry.scalar(name="Code", description="A code that cannot always be shown.",
                                serialize=lambda value: None if value == "secret" else value, parse_value=str)


@strawberry.type
class Part(Named):
    count: int
    price: Decimal
    colour: Colour
    made_at: datetime
    note: str | None
    code: Code | None
    tags: list[str]
    optional_tags: list[str | None] | None


@strawberry.type
class Crate:
    label: str
    parts: list[Part]
    loose: list[Part] | None
    first: Part | None
    required: Part


class Exploding:
    """Quacks like a Crate (which has no is_type_of) but fails on reading `label`."""

    def __init__(self, crate: Crate) -> None:
        self._crate = crate

    def __getattr__(self, name: str):
        if name == "label":
            raise RuntimeError("label unavailable")
        return getattr(self._crate, name)


class NotAPart:
    name = "impostor"


def part(name: str = "bolt", **changes) -> Part:
    values = dict(name=name, count=3, price=Decimal("12.50"), colour=Colour.RED,
                  made_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), note=None, code="A1", tags=["a", "b"],
                  optional_tags=["x", None])
    values.update(changes)
    return Part(**values)


def crate(label: str = "c1", **changes) -> Crate:
    values = dict(label=label, parts=[part("p1"), part("p2", note="fragile")], loose=None, first=part("f"),
                  required=part("r"))
    values.update(changes)
    return Crate(**values)


async def _awaitable_label() -> str:
    return "awaited"


CASES = {
    "well_formed": lambda: [crate("c1"), crate("c2", loose=[part("l1")], first=None), None],
    "null_in_non_null_item": lambda: [crate(parts=[part(), None]), crate("ok")],
    "null_in_non_null_field": lambda: [crate(required=None), crate("ok")],
    "null_leaf_in_non_null_field": lambda: [crate(first=part(name=None)), crate(loose=[part(name=None)])],
    "int_out_of_range": lambda: [crate(parts=[part(count=2**40)])],
    "wrong_leaf_type": lambda: [crate(parts=[part(colour="green", tags=["a", 7])])],
    "scalar_coerced_to_null": lambda: [crate(parts=[part(code="secret")], first=part(code="secret"))],
    "exception_value": lambda: [crate(first=part(note=ValueError("no note")))],
    "raising_attribute": lambda: [Exploding(crate()), crate("ok")],
    "wrong_object_type": lambda: [crate(first=NotAPart()), crate(parts=[NotAPart()])],
    "null_in_nullable_list_items": lambda: [crate(parts=[part(optional_tags=[None, "y", None])])],
    "tuple_and_generator_lists": lambda: [crate(parts=(part("t1"),), loose=(p for p in [part("g1")]))],
}


@strawberry.type
class Query:
    @strawberry.field
    def crates(self, case: str) -> list[Crate | None]:
        return CASES[case]()

    @strawberry.field
    async def later(self, case: str) -> list[Crate | None]:
        await asyncio.sleep(0)
        return CASES[case]()

    @strawberry.field
    def awaitable_attribute(self) -> Crate:
        return crate(label=_awaitable_label())


def _schema(executor) -> strawberry.Schema:
    return strawberry.Schema(query=Query, types=[Part], execution_context_class=executor,
                             config=StrawberryConfig(scalar_map={Code: CODE_SCALAR}))


PLAIN = _schema(PlainTreeExecutor)
GENERIC = _schema(GenericExecutor)

SELECTION = """
  label
  parts { name count price colour madeAt note code tags optionalTags __typename }
  loose { name count }
  first { ...PartFields }
  required { name ... on Part { count tags } }
"""
FRAGMENT = "fragment PartFields on Part { name count note code colour }"


def _outcome(result):
    errors = [error.formatted for error in result.errors or []]
    return result.data, errors


async def _both(query: str, variables: dict | None = None):
    plain = await PLAIN.execute(query, variable_values=variables)
    generic = await GENERIC.execute(query, variable_values=variables)
    return _outcome(plain), _outcome(generic)


@pytest.fixture
def plan_runs(monkeypatch) -> list:
    runs = []
    original = execution.Plan.run

    def counting(self, *args):
        runs.append(self)
        return original(self, *args)

    monkeypatch.setattr(execution.Plan, "run", counting)
    return runs


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("field", ["crates", "later"])
async def test_a_compiled_plan_answers_exactly_like_graphql_core(case, field, plan_runs):
    query = f"query {{ {field}(case: \"{case}\") {{ {SELECTION} }} }} {FRAGMENT}"
    plain, generic = await _both(query)
    assert plain == generic
    assert plan_runs, "the plain subtrees were completed by graphql-core, not by a plan"


async def test_null_propagation_and_error_paths_are_graphql_cores(plan_runs):
    query = '{ crates(case: "null_in_non_null_item") { label parts { name } } }'
    (data, errors), expected = await _both(query)
    assert (data, errors) == expected
    assert data == {"crates": [None, {"label": "ok", "parts": [{"name": "p1"}, {"name": "p2"}]}]}
    assert errors[0]["message"] == "Cannot return null for non-nullable field Crate.parts."
    assert errors[0]["path"] == ["crates", 0, "parts", 1]
    assert errors[0]["locations"] == [{"line": 1, "column": 49}]


async def test_aliases_merged_fields_and_typename(plan_runs):
    query = """{ crates(case: "well_formed") {
        a: label label __typename
        parts { name } parts { count n: name }
        first { ... on Named { name } ... on Part { __typename colour } }
    } }"""
    plain, generic = await _both(query)
    assert plain == generic
    assert plain[0]["crates"][0]["parts"][0] == {"name": "p1", "count": 3, "n": "p1"}
    assert plan_runs


async def test_selections_with_directives_are_left_to_graphql_core_and_plans_go_on_below(plan_runs):
    query = 'query ($with: Boolean!) { crates(case: "well_formed") { label parts @include(if: $with) { name } } }'
    for flag in (True, False):
        plain, generic = await _both(query, {"with": flag})
        assert plain == generic
    assert {plan.object_type.name for plan in plan_runs} == {"Part"}  # the crates' parts, when included


async def test_an_awaitable_attribute_falls_back_and_is_awaited(plan_runs):
    plain, generic = await _both("{ awaitableAttribute { label parts { name } } }")
    assert plain == generic
    assert plain[0]["awaitableAttribute"]["label"] == "awaited"
    assert plan_runs  # tried, then handed back to graphql-core


async def test_a_plan_that_cannot_be_compiled_leaves_the_answer_to_graphql_core(monkeypatch, plan_runs):
    def broken(self, object_type, field_details_list):
        raise RuntimeError("unforeseen shape")

    monkeypatch.setattr(execution._Compiler, "object_plan", broken)
    query = '{ crates(case: "well_formed") { uniquelyAliasedLabel: label parts { name } } }'
    plain, generic = await _both(query)
    assert plain == generic and not plain[1]
    assert plain[0]["crates"][0]["uniquelyAliasedLabel"] == "c1"
    assert not plan_runs
