"""Date, DateTime and Time as the API reads them: one strict ISO 8601 form each, ASCII digits only.

Strawberry's own scalars accept whatever Python's `fromisoformat` and dateutil accept (naive
date-times, week dates, "20260131") and answer a bad value in Python's words. These replace them
for the whole schema (`SCALAR_OVERRIDES`), so every argument and input field of these types is
checked once, before any resolver runs. A date-time must carry its offset and is normalised to
UTC; refusals are coercion errors with code INVALID_INPUT and a message of the API's own.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime, time
from typing import Any

from graphql import GraphQLError, StringValueNode, ValueNode
from strawberry.types.scalar import ScalarDefinition

INVALID_INPUT = {"code": "INVALID_INPUT"}

DATE_MESSAGE = "Date must be an ISO 8601 calendar date, such as 2026-01-31"
DATE_TIME_MESSAGE = ("DateTime must be an ISO 8601 date-time with a time zone offset, "
                     "such as 2026-01-31T09:30:00Z or 2026-01-31T10:30:00+01:00")
DATE_TIME_RANGE_MESSAGE = "DateTime must lie between 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z"
TIME_MESSAGE = "Time must be an ISO 8601 time of day without an offset, such as 09:30 or 09:30:00"

# [0-9], never \d: \d also matches other scripts' digits ("٢٠٢٦").
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_TIME = r"[0-9]{2}:[0-9]{2}(?::[0-9]{2}(?P<fraction>\.[0-9]{1,9})?)?"
_DATE_TIME = re.compile(
    rf"(?P<date>[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}})[Tt ](?P<time>{_TIME})(?P<offset>[Zz]|[+-][0-9]{{2}}:[0-9]{{2}})")
_TIME_OF_DAY = re.compile(_TIME)


class InputValueError(GraphQLError):
    """A value the API refuses to read, in the API's words, with code INVALID_INPUT."""

    def __init__(self, message: str, node: ValueNode | None = None) -> None:
        super().__init__(message, node, extensions=dict(INVALID_INPUT))


def _truncated_fraction(text: str, fraction: str | None) -> str:
    """Python reads at most microseconds: nanosecond clients' extra digits are dropped, not refused."""
    return text.replace(fraction, fraction[:7]) if fraction and len(fraction) > 7 else text


def parse_date(value: object) -> date:
    if not isinstance(value, str) or not _DATE.fullmatch(value):
        raise InputValueError(DATE_MESSAGE)
    try:
        return date.fromisoformat(value)
    except ValueError:  # a day that does not exist, such as 2026-02-30
        raise InputValueError(DATE_MESSAGE) from None


def parse_date_time(value: object) -> datetime:
    match = _DATE_TIME.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise InputValueError(DATE_TIME_MESSAGE)
    offset = "+00:00" if match["offset"] in "Zz" else match["offset"]
    text = f"{match['date']}T{_truncated_fraction(match['time'], match['fraction'])}{offset}"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:  # no such day, hour or offset
        raise InputValueError(DATE_TIME_MESSAGE) from None
    try:
        return parsed.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00:00+01:00 is before the first representable instant
        raise InputValueError(DATE_TIME_RANGE_MESSAGE) from None


def parse_time(value: object) -> time:
    match = _TIME_OF_DAY.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise InputValueError(TIME_MESSAGE)
    try:
        return time.fromisoformat(_truncated_fraction(match[0], match["fraction"]))
    except ValueError:
        raise InputValueError(TIME_MESSAGE) from None


def _literal(parse: Callable[[object], Any]) -> Callable[..., Any]:
    """Literals are parsed like variable values, and a refusal points at the literal."""
    def parse_literal(node: ValueNode, _variables: dict[str, Any] | None = None) -> Any:
        try:
            return parse(node.value if isinstance(node, StringValueNode) else None)
        except InputValueError as error:
            raise InputValueError(error.message, node) from None
    return parse_literal


def _isoformat(value: date | datetime | time) -> str:
    return value.isoformat()


DATE = ScalarDefinition(
    name="Date", description="A calendar date, ISO 8601: 2026-01-31.", specified_by_url=None,
    serialize=_isoformat, parse_value=parse_date, parse_literal=_literal(parse_date),
)
DATE_TIME = ScalarDefinition(
    name="DateTime",
    description="An instant, ISO 8601 with a time zone offset (2026-01-31T09:30:00Z, 2026-01-31T10:30:00+01:00); "
                "read up to microseconds and answered in UTC.",
    specified_by_url=None, serialize=_isoformat, parse_value=parse_date_time, parse_literal=_literal(parse_date_time),
)
TIME = ScalarDefinition(
    name="Time", description="A time of day without an offset, ISO 8601: 09:30 or 09:30:00.", specified_by_url=None,
    serialize=_isoformat, parse_value=parse_time, parse_literal=_literal(parse_time),
)

SCALAR_OVERRIDES: dict[object, ScalarDefinition] = {date: DATE, datetime: DATE_TIME, time: TIME}
