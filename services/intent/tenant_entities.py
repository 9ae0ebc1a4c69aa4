"""A tenant's own entity types (its tenant file's `entities`): catalogue values and regular expressions.

A catalogue value is found where one of its names is written, ignoring case; a Latin name must stand
as whole words ("Mitte" does not match inside "Mittens"), a Chinese one anywhere. The entity's value
is the catalogue id. A regex entity's value is the matched text (its first group, when it has one).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from services.common.platform.tenant_file import EntityType
from services.intent.entities import Entity

_LATIN_EDGE = re.compile(r"^[A-Za-z0-9]|[A-Za-z0-9]$")


def _name_pattern(name: str) -> str:
    pattern = r"\s+".join(re.escape(part) for part in name.split())
    if _LATIN_EDGE.search(name):
        pattern = rf"(?<![A-Za-z0-9]){pattern}(?![A-Za-z0-9])"
    return pattern


class TenantEntities:
    """The compiled patterns of a tenant's entity types; immutable, safe to share between threads."""

    def __init__(self, types: Sequence[EntityType]) -> None:
        self._patterns: list[tuple[str, re.Pattern[str], dict[str, str]]] = []
        for entity_type in types:
            if entity_type.regex:
                self._patterns.append((entity_type.name, re.compile(entity_type.regex), {}))
                continue
            ids = {name.casefold(): value.id for value in entity_type.catalogue for name in value.names}
            names = sorted(ids, key=len, reverse=True)  # the longest name first: "Berlin Mitte" before "Mitte"
            if names:
                alternation = "|".join(_name_pattern(name) for name in names)
                self._patterns.append((entity_type.name, re.compile(alternation, re.IGNORECASE), ids))

    def find(self, text: str) -> list[Entity]:
        found = []
        for name, pattern, ids in self._patterns:
            for match in pattern.finditer(text):
                if match.end() == match.start():
                    continue
                if ids:
                    value = ids.get(" ".join(match.group(0).split()).casefold(), match.group(0))
                else:
                    value = match.group(1) if pattern.groups and match.group(1) else match.group(0)
                found.append(Entity(name, match.group(0), value, match.start(), match.end()))
        return sorted(found, key=lambda e: (e.start, e.end))
