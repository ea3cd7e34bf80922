"""Additions to moto's table descriptions (DescribeTable, and every reply built from
Table.describe): each extension sees the table and the description moto made, in the order
they were added."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from moto.dynamodb.models.table import Table

Extension = Callable[[Table, dict[str, Any]], None]

_extensions: list[Extension] = []


def extend(extension: Extension) -> None:
    """Add ``extension`` (once), patching Table.describe the first time."""
    if not _extensions:
        original = Table.describe

        def describe(self: Table, base_key: str = "TableDescription") -> dict[str, Any]:
            result = original(self, base_key)
            for each in _extensions:
                each(self, result[base_key])
            return result

        Table.describe = describe  # type: ignore[method-assign]
    if extension not in _extensions:
        _extensions.append(extension)
