"""Look-ahead at the query: does the client ask for a field anywhere below this one?"""

from __future__ import annotations

import strawberry
from strawberry.types.nodes import FragmentSpread, InlineFragment, SelectedField


def selects(info: strawberry.Info, name: str) -> bool:
    """Whether a field called `name` (camelCase) is selected anywhere under the current field."""
    return any(_contains(selection, name) for selection in info.selected_fields)


def _contains(selection, name: str) -> bool:
    if isinstance(selection, SelectedField) and selection.name == name:
        return True
    if isinstance(selection, (SelectedField, FragmentSpread, InlineFragment)):
        return any(_contains(child, name) for child in selection.selections)
    return False
