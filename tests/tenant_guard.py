"""The tenant-scope check: fails a test in which a request runs a statement on a company-owned
table without a scope from policies/scopes.py.

tests/conftest.py installs it for the whole suite. While a request goes through the ASGI app (every
test request does, through httpx's ASGI transport), each statement it runs is walked:

- through the session (`do_orm_execute`: ORM and Core statements, reads and writes). Relationship
  loads and refreshes of a loaded row are skipped: they start from a row read through a scope.
- directly on a connection (`before_execute`: the plain-row read models). Only SELECTs and SQL
  written as text are checked there; the other statements on a connection are the unit of work
  writing back rows the session holds (the use cases' own INSERT, UPDATE and DELETE statements go
  through the session).

A SELECT, UPDATE or DELETE in the statement (the statement itself, or a subquery) is scoped when
it carries SCOPE_OPTION, when a statement around it is scoped (a scoped statement's subqueries and
joins are its business), or when it reads from a scoped subquery (a page picked through a scope,
then joined). A company-owned table that an unscoped one touches is a violation. INSERTs name their
company in their values and are not checked. SQL written as text is judged by the company-owned
tables it names.
"""

from __future__ import annotations

import re
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import greenlet
import httpx
from sqlalchemy import Delete, Engine, Insert, Select, Update, event
from sqlalchemy.orm import ORMExecuteState, Session
from sqlalchemy.sql.elements import ClauseElement, ColumnClause, TextClause
from sqlalchemy.sql.selectable import AliasedReturnsRows, CompoundSelect, TableClause

from policies.scopes import COMPANY_OWNED, SCOPE_OPTION

_PROJECT = Path(__file__).resolve().parent.parent
_STATEMENTS = (Select, CompoundSelect, Update, Delete, Insert)
_NAMED_IN_TEXT = {name: re.compile(rf"\b{name}\b", re.IGNORECASE) for name in COMPANY_OWNED}


def unscoped_tables(statement: ClauseElement | str) -> set[str]:
    """The company-owned tables that `statement` touches outside any scope (empty when it is scoped).
    SQL written as text is judged by the tables it names."""
    if isinstance(statement, str | TextClause):
        text = statement if isinstance(statement, str) else statement.text
        return set() if _scoped(statement) else {name for name, word in _NAMED_IN_TEXT.items() if word.search(text)}
    found: set[str] = set()
    _visit(statement, False, found)
    return found


def _scoped(statement: ClauseElement | str) -> bool:
    return isinstance(statement, (*_STATEMENTS, TextClause)) and SCOPE_OPTION in statement.get_execution_options()


def _visit(statement: ClauseElement, covered: bool, found: set[str]) -> None:
    tables, nested, reads_scoped = _scan(statement)
    covered = covered or _scoped(statement) or reads_scoped
    if not covered and not isinstance(statement, Insert):
        found |= tables & COMPANY_OWNED
    for inner in nested:
        _visit(inner, covered, found)


def _scan(statement: ClauseElement) -> tuple[set[str], list[ClauseElement], bool]:
    """The tables one statement touches itself, the statements nested in it, and whether it reads
    from a scoped subquery."""
    tables: set[str] = set()
    nested: list[ClauseElement] = []
    reads_scoped = False
    seen: set[int] = set()
    stack = list(statement.get_children())
    while stack:
        element = stack.pop()
        if not isinstance(element, ClauseElement) or id(element) in seen:
            continue
        seen.add(id(element))
        if isinstance(element, _STATEMENTS):
            nested.append(element)
            continue
        if isinstance(element, TableClause):
            tables.add(element.name)
            continue
        if isinstance(element, AliasedReturnsRows) and isinstance(element.element, _STATEMENTS):
            reads_scoped |= _scoped(element.element)
        if isinstance(element, ColumnClause) and element.table is not None:
            stack.append(element.table)
        stack.extend(element.get_children())
    return tables, nested, reads_scoped


@dataclass(frozen=True)
class Violation:
    tables: tuple[str, ...]
    sql: str
    source: str  # the project's innermost frame that ran the statement

    def __str__(self) -> str:
        return f"{', '.join(self.tables)} without a company scope, run at {self.source}:\n    {self.sql}"


@dataclass
class _Request:
    through_session: set[int] = field(default_factory=set)  # statements the session has already seen


_request: ContextVar[_Request | None] = ContextVar("tenant_guard_request", default=None)


class TenantGuard:
    def __init__(self) -> None:
        self.violations: list[Violation] = []

    def take(self) -> list[Violation]:
        """The violations recorded so far, which then count as handled."""
        taken, self.violations = self.violations, []
        return taken

    def check(self, statement: Any) -> None:
        tables = unscoped_tables(statement)
        if tables:
            self.violations.append(Violation(tuple(sorted(tables)), " ".join(str(statement).split()), _source()))

    def _on_session_execute(self, state: ORMExecuteState) -> None:
        request = _request.get()
        if request is None:
            return
        request.through_session.add(id(state.statement))
        if not (state.is_relationship_load or state.is_column_load):
            self.check(state.statement)

    def _on_connection_execute(self, conn, statement, multiparams, params, execution_options) -> None:
        request = _request.get()
        if request is None or not isinstance(statement, (Select, CompoundSelect, TextClause, str)):
            return
        if id(statement) not in request.through_session:
            self.check(statement)

    @contextmanager
    def installed(self) -> Iterator[TenantGuard]:
        """Listen to every session and engine, and mark each request sent through httpx's ASGI transport."""
        send = httpx.ASGITransport.handle_async_request

        async def handle_async_request(transport, request):
            token = _request.set(_Request())
            try:
                return await send(transport, request)
            finally:
                _request.reset(token)

        event.listen(Session, "do_orm_execute", self._on_session_execute)
        event.listen(Engine, "before_execute", self._on_connection_execute)
        httpx.ASGITransport.handle_async_request = handle_async_request  # type: ignore[method-assign]
        try:
            yield self
        finally:
            httpx.ASGITransport.handle_async_request = send  # type: ignore[method-assign]
            event.remove(Engine, "before_execute", self._on_connection_execute)
            event.remove(Session, "do_orm_execute", self._on_session_execute)


def _stack() -> list[traceback.FrameSummary]:
    """The stack, through the greenlet in which SQLAlchemy runs a statement to the coroutines that awaited it."""
    summaries = list(traceback.extract_stack())
    current = greenlet.getcurrent()
    while current.parent is not None and current.parent.gr_frame is not None:
        current = current.parent
        summaries = list(traceback.extract_stack(current.gr_frame)) + summaries
    return summaries


def _source() -> str:
    """The innermost frames of the project's own code (the use case, and what called it)."""
    frames = []
    for frame in reversed(_stack()):
        path = Path(frame.filename)
        if not path.is_relative_to(_PROJECT) or ".venv" in path.parts or path.name in ("tenant_guard.py", "db.py"):
            continue
        frames.append(f"{path.relative_to(_PROJECT)}:{frame.lineno} ({frame.name})")
        if len(frames) == 3:
            break
    return " <- ".join(frames) or "?"
