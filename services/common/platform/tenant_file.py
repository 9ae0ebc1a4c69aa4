"""A tenant's own intents, entity types, queues and routing: the file `cs tenants apply` reads.

The format is documented in docs/tenant-file.md (YAML, or JSON, which YAML reads too). Every
problem is reported at once, each with the line and the field it is about
("acme.yaml:14: intents[2].examples: 3 examples; an intent needs 5 to 20"), so an operator fixes
the file in one pass. Every value is read as the text written: an example "no" stays "no" and
hours 09:00 stay "09:00" (YAML 1.1 would make them false and 540).

The parsed file is stored with the tenant's model version (`to_doc`), and the generator and the
gateway read the routing part back (`TenantRules.from_doc`) without this parser.
"""

from __future__ import annotations

import pathlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from services.common.platform.business_hours import BusinessHours, HoursError

MIN_EXAMPLES, MAX_EXAMPLES = 5, 20
MAX_INTENTS = 200
MAX_EXAMPLE_CHARS = 500
MAX_FILE_BYTES = 1_000_000
OUT_OF_SCOPE = "out_of_scope"
INTENT_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")
# No dots: a tenant queue's topic is escalations.<tenant>.<queue>, and the last dot must separate the two.
QUEUE_NAME = re.compile(r"[a-z][a-z0-9_-]{0,39}")
ENTITY_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")
# Entity types the intent worker finds by itself; a tenant type of the same name would be ambiguous.
BUILTIN_ENTITY_TYPES = frozenset({"order_number", "email", "phone", "amount", "date", "product"})
LANGUAGES = ("en", "zh")
_TOP_LEVEL = {"tenant", "default_language", "intents", "out_of_scope_examples", "entities", "queues", "routing"}


@dataclass(frozen=True)
class TenantIntent:
    name: str
    examples: tuple[str, ...]
    description: str = ""


@dataclass(frozen=True)
class CatalogueValue:
    """One value of a catalogue entity type: its id and the names customers write for it."""

    id: str
    names: tuple[str, ...]


@dataclass(frozen=True)
class EntityType:
    name: str
    catalogue: tuple[CatalogueValue, ...] = ()
    regex: str = ""


@dataclass(frozen=True)
class TenantQueue:
    name: str
    hours: BusinessHours | None = None  # None: always staffed


@dataclass(frozen=True)
class TenantRules:
    """What routing needs from a tenant file: its queues, which intent goes where, what always escalates.

    Stored beside the tenant's model version; the gateway (which queues exist) and the generator
    (where a conversation goes) read it back with `from_doc`.
    """

    version: int
    queues: tuple[TenantQueue, ...]
    intent_queues: dict[str, str]
    always_escalate: tuple[str, ...]
    default_queue: str
    default_language: str = "en"

    def queue(self, name: str) -> TenantQueue | None:
        return next((q for q in self.queues if q.name == name), None)

    def to_doc(self) -> dict:
        return {
            "version": self.version,
            "queues": [{"name": q.name, "hours": q.hours.to_doc() if q.hours else None} for q in self.queues],
            "intent_queues": dict(self.intent_queues),
            "always_escalate": list(self.always_escalate),
            "default_queue": self.default_queue,
            "default_language": self.default_language,
        }

    @classmethod
    def from_doc(cls, doc: dict) -> TenantRules:
        return cls(
            int(doc.get("version", 0)),
            tuple(
                TenantQueue(q["name"], BusinessHours.from_doc(q["hours"]) if q.get("hours") else None)
                for q in doc.get("queues", [])
            ),
            dict(doc.get("intent_queues", {})),
            tuple(doc.get("always_escalate", [])),
            doc.get("default_queue", ""),
            doc.get("default_language", "en"),
        )


@dataclass(frozen=True)
class TenantFile:
    tenant: str
    intents: tuple[TenantIntent, ...]
    out_of_scope_examples: tuple[str, ...] = ()
    entities: tuple[EntityType, ...] = ()
    queues: tuple[TenantQueue, ...] = ()
    intent_queues: dict[str, str] = field(default_factory=dict)
    always_escalate: tuple[str, ...] = ()
    default_queue: str = ""
    default_language: str = "en"

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(i.name for i in self.intents)

    def rules(self, version: int) -> TenantRules:
        return TenantRules(
            version,
            self.queues,
            dict(self.intent_queues),
            self.always_escalate,
            self.default_queue,
            self.default_language,
        )

    def to_doc(self) -> dict:
        """The whole file as stored with its model version (what `cs tenants retrain` trains from again)."""
        return {
            "tenant": self.tenant,
            "default_language": self.default_language,
            "intents": [
                {"name": i.name, "description": i.description, "examples": list(i.examples)} for i in self.intents
            ],
            "out_of_scope_examples": list(self.out_of_scope_examples),
            "entities": [
                {
                    "name": e.name,
                    "regex": e.regex,
                    "catalogue": [{"id": v.id, "names": list(v.names)} for v in e.catalogue],
                }
                for e in self.entities
            ],
            **{k: v for k, v in self.rules(0).to_doc().items() if k != "version"},
        }

    @classmethod
    def from_doc(cls, doc: dict) -> TenantFile:
        rules = TenantRules.from_doc(doc)
        return cls(
            doc["tenant"],
            tuple(TenantIntent(i["name"], tuple(i["examples"]), i.get("description", "")) for i in doc["intents"]),
            tuple(doc.get("out_of_scope_examples", [])),
            tuple(
                EntityType(
                    e["name"],
                    tuple(CatalogueValue(v["id"], tuple(v["names"])) for v in e.get("catalogue", [])),
                    e.get("regex", ""),
                )
                for e in doc.get("entities", [])
            ),
            rules.queues,
            rules.intent_queues,
            rules.always_escalate,
            rules.default_queue,
            rules.default_language,
        )


@dataclass(frozen=True)
class Problem:
    line: int
    path: str
    message: str


class TenantFileError(ValueError):
    """Everything wrong with a tenant file, one problem per line of the message, each with its line number."""

    def __init__(self, source: str, problems: list[Problem]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(
            "\n".join(f"{source}:{p.line}: {p.path + ': ' if p.path else ''}{p.message}" for p in problems)
        )


class _Reader:
    """YAML nodes as plain values (every scalar a string), with the line each path starts on."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.lines: dict[str, int] = {}
        self.problems: list[Problem] = []

    def problem(self, path: str, message: str) -> None:
        line = self.lines.get(path)
        probe = path
        while line is None and probe:  # a missing field: the line of the nearest enclosing one
            shorter = re.sub(r"(\.[^.\[\]]+|\[\d+\])$", "", probe)
            probe = shorter if shorter != probe else ""
            line = self.lines.get(probe)
        self.problems.append(Problem(line or 1, path, message))

    def plain(self, node: Any, path: str) -> Any:
        import yaml

        self.lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            result: dict[str, Any] = {}
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode):
                    self.problem(path, "a key must be a plain name")
                    continue
                key = str(key_node.value)
                child = f"{path}.{key}" if path else key
                if key in result:
                    self.lines[child] = key_node.start_mark.line + 1
                    self.problem(child, "named twice in the same mapping")
                    continue
                result[key] = self.plain(value_node, child)
            return result
        if isinstance(node, yaml.SequenceNode):
            return [self.plain(item, f"{path}[{i}]") for i, item in enumerate(node.value)]
        if node.tag == "tag:yaml.org,2002:null" or (
            node.style is None and node.value in ("", "~", "null", "Null", "NULL")
        ):
            return None
        return str(node.value)


def parse_tenant_text(text: str, source: str, builtin_queues: Iterable[str], tenant: str = "") -> TenantFile:
    """Parse and validate a tenant file's text; raises TenantFileError listing every problem.

    `builtin_queues` are the platform's queues (CS_ESCALATION_QUEUES), which routing may name without
    declaring them; `tenant`, when given, must be the file's `tenant` (or the file may leave it out).
    """
    import yaml

    reader = _Reader(source)
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise TenantFileError(
            source, [Problem(mark.line + 1 if mark else 1, "", f"not valid YAML or JSON: {exc.problem or exc}")]
        ) from None
    except yaml.YAMLError as exc:
        raise TenantFileError(source, [Problem(1, "", f"not valid YAML or JSON: {exc}")]) from None
    if node is None:
        raise TenantFileError(source, [Problem(1, "", "the file is empty; it needs at least `intents`")])
    data = reader.plain(node, "")
    if not isinstance(data, dict):
        raise TenantFileError(
            source, [Problem(1, "", "the file must be a mapping with `intents`, `queues`, `routing`")]
        )
    parsed = _Validator(reader, set(builtin_queues)).file(data, tenant)
    if reader.problems:
        raise TenantFileError(source, reader.problems)
    assert parsed is not None
    return parsed


def load_tenant_file(path: pathlib.Path, builtin_queues: Iterable[str], tenant: str = "") -> TenantFile:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise TenantFileError(str(path), [Problem(1, "", f"cannot be read: {exc.strerror or exc}")]) from None
    if len(raw) > MAX_FILE_BYTES:
        raise TenantFileError(
            str(path), [Problem(1, "", f"{len(raw)} bytes; a tenant file is at most {MAX_FILE_BYTES}")]
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise TenantFileError(str(path), [Problem(1, "", f"not UTF-8 text (byte {exc.start})")]) from None
    return parse_tenant_text(text, str(path), builtin_queues, tenant)


class _Validator:
    def __init__(self, reader: _Reader, builtin_queues: set[str]) -> None:
        self.r = reader
        self.builtin_queues = builtin_queues

    def _text(self, value: Any, path: str, what: str = "a text") -> str | None:
        if not isinstance(value, str) or not value.strip():
            self.r.problem(path, f"must be {what}, not {'empty' if value in (None, '') else type(value).__name__}")
            return None
        return value.strip()

    def _list(self, value: Any, path: str) -> list:
        if value is None:
            return []
        if not isinstance(value, list):
            self.r.problem(path, "must be a list (one '- item' per line)")
            return []
        return value

    def _mapping(self, value: Any, path: str) -> dict:
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.r.problem(path, "must be a mapping (name: value lines)")
            return {}
        return value

    def _unknown(self, data: dict, known: set[str], path: str) -> None:
        for key in sorted(set(data) - known):
            self.r.problem(
                f"{path}.{key}" if path else key, f"unknown field; expected one of {', '.join(sorted(known))}"
            )

    def file(self, data: dict, tenant: str) -> TenantFile | None:
        self._unknown(data, _TOP_LEVEL, "")
        named = data.get("tenant")
        if named is not None and (not isinstance(named, str) or (tenant and named != tenant)):
            self.r.problem(
                "tenant", f"the file is for tenant {named!r}, not {tenant!r}; apply it with --tenant {named}"
            )
        language = data.get("default_language") or "en"
        if language not in LANGUAGES:
            self.r.problem("default_language", f"{language!r}; use one of {', '.join(LANGUAGES)}")
        intents = self.intents(data.get("intents"))
        labels = {i.name for i in intents}
        oos = self.examples(data.get("out_of_scope_examples"), "out_of_scope_examples", 0, 200)
        entities = self.entities(data.get("entities"))
        queues = self.queues(data.get("queues"))
        routing = self.routing(data.get("routing"), labels, {q.name for q in queues} | self.builtin_queues)
        self.duplicate_examples(intents, oos)
        if self.r.problems:
            return None
        default_queue, intent_queues, always = routing
        return TenantFile(
            tenant or str(named or ""), tuple(intents), tuple(oos), tuple(entities), tuple(queues),
            intent_queues, always, default_queue, str(language),
        )  # fmt: skip

    def intents(self, value: Any) -> list[TenantIntent]:
        if value is None:
            self.r.problem("intents", "missing; list the tenant's intents, each with a name and 5-20 examples")
            return []
        items = self._list(value, "intents")
        if not 2 <= len(items) <= MAX_INTENTS:
            self.r.problem("intents", f"{len(items)} intents; a tenant needs 2 to {MAX_INTENTS}")
        found: list[TenantIntent] = []
        seen: set[str] = set()
        for i, item in enumerate(items):
            path = f"intents[{i}]"
            entry = self._mapping(item, path)
            if not entry:
                continue
            self._unknown(entry, {"name", "description", "examples"}, path)
            name = self._text(entry.get("name"), f"{path}.name", "an intent name")
            if name is not None:
                if not INTENT_NAME.fullmatch(name) or name == OUT_OF_SCOPE:
                    self.r.problem(
                        f"{path}.name",
                        f"{name!r}: an intent name is 1-64 lower-case letters, digits or '_', starting with a letter"
                        + (
                            f", and not {OUT_OF_SCOPE!r} (list such messages under out_of_scope_examples)"
                            if name == OUT_OF_SCOPE
                            else ""
                        ),
                    )
                elif name in seen:
                    self.r.problem(f"{path}.name", f"intent {name!r} is defined twice")
                seen.add(name)
            description = entry.get("description") or ""
            if not isinstance(description, str):
                self.r.problem(f"{path}.description", "must be a text")
                description = ""
            examples = self.examples(entry.get("examples"), f"{path}.examples", MIN_EXAMPLES, MAX_EXAMPLES)
            if name:
                found.append(TenantIntent(name, tuple(examples), description.strip()))
        return found

    def examples(self, value: Any, path: str, least: int, most: int) -> list[str]:
        items = self._list(value, path)
        if value is None and least:
            self.r.problem(path, f"missing; an intent needs {least} to {most} example messages")
            return []
        if not least <= len(items) <= most:
            self.r.problem(
                path, f"{len(items)} examples; {'an intent needs' if least else 'at most'} {least} to {most}"
            )
        texts = []
        for i, item in enumerate(items):
            text = self._text(item, f"{path}[{i}]", "an example message")
            if text is None:
                continue
            if len(text) > MAX_EXAMPLE_CHARS:
                self.r.problem(f"{path}[{i}]", f"{len(text)} characters; an example is at most {MAX_EXAMPLE_CHARS}")
            texts.append(text)
        return texts

    def duplicate_examples(self, intents: list[TenantIntent], oos: list[str]) -> None:
        owner: dict[str, str] = {}
        groups = [(i.name, f"intents[{n}].examples", i.examples) for n, i in enumerate(intents)]
        groups.append((OUT_OF_SCOPE, "out_of_scope_examples", tuple(oos)))
        for name, path, examples in groups:
            for k, text in enumerate(examples):
                key = " ".join(text.casefold().split())
                if key in owner and owner[key] != name:
                    self.r.problem(
                        f"{path}[{k}]", f"{text!r} is also an example of {owner[key]!r}; an example names one intent"
                    )
                owner.setdefault(key, name)

    def entities(self, value: Any) -> list[EntityType]:
        found = []
        seen: set[str] = set()
        for i, item in enumerate(self._list(value, "entities")):
            path = f"entities[{i}]"
            entry = self._mapping(item, path)
            if not entry:
                continue
            self._unknown(entry, {"name", "catalogue", "regex"}, path)
            name = self._text(entry.get("name"), f"{path}.name", "an entity type name")
            if name is not None and (not ENTITY_NAME.fullmatch(name) or name in BUILTIN_ENTITY_TYPES or name in seen):
                why = "is built in" if name in BUILTIN_ENTITY_TYPES else "is defined twice" if name in seen else (
                    "must be 1-40 lower-case letters, digits or '_', starting with a letter"
                )  # fmt: skip
                self.r.problem(f"{path}.name", f"{name!r} {why}")
            if name:
                seen.add(name)
            has_catalogue, has_regex = entry.get("catalogue") is not None, entry.get("regex") is not None
            if has_catalogue == has_regex:
                self.r.problem(path, "give exactly one of `catalogue` (a list of values) or `regex` (a pattern)")
                continue
            if has_regex:
                pattern = self._text(entry.get("regex"), f"{path}.regex", "a regular expression")
                if pattern is None:
                    continue
                try:
                    compiled = re.compile(pattern)
                except re.error as exc:
                    self.r.problem(f"{path}.regex", f"not a valid regular expression: {exc}")
                    continue
                if compiled.fullmatch(""):
                    self.r.problem(f"{path}.regex", "matches the empty text; it would find an entity everywhere")
                    continue
                if name:
                    found.append(EntityType(name, regex=pattern))
            else:
                values = self.catalogue(entry.get("catalogue"), f"{path}.catalogue")
                if name and values:
                    found.append(EntityType(name, catalogue=tuple(values)))
        return found

    def catalogue(self, value: Any, path: str) -> list[CatalogueValue]:
        items = self._list(value, path)
        if not items:
            self.r.problem(path, "an empty catalogue finds nothing; list its values")
        values = []
        for i, item in enumerate(items):
            if isinstance(item, str):  # a bare name is its own id
                text = self._text(item, f"{path}[{i}]", "a value")
                if text:
                    values.append(CatalogueValue(text, (text,)))
                continue
            entry = self._mapping(item, f"{path}[{i}]")
            self._unknown(entry, {"id", "names"}, f"{path}[{i}]")
            value_id = self._text(entry.get("id"), f"{path}[{i}].id", "the value's id")
            names = [
                self._text(n, f"{path}[{i}].names[{k}]", "a name")
                for k, n in enumerate(self._list(entry.get("names"), f"{path}[{i}].names"))
            ]
            if value_id:
                values.append(CatalogueValue(value_id, tuple(n for n in [value_id, *names] if n)))
        return values

    def queues(self, value: Any) -> list[TenantQueue]:
        found = []
        seen: set[str] = set()
        for i, item in enumerate(self._list(value, "queues")):
            path = f"queues[{i}]"
            entry = {"name": item} if isinstance(item, str) else self._mapping(item, path)
            if not entry:
                continue
            self._unknown(entry, {"name", "business_hours"}, path)
            name = self._text(entry.get("name"), f"{path}.name", "a queue name")
            if name is None:
                continue
            if not QUEUE_NAME.fullmatch(name):
                self.r.problem(
                    f"{path}.name",
                    f"{name!r}: a queue name is 1-40 lower-case letters, digits, '_' or '-', starting with a letter",
                )
                continue
            if name in seen:
                self.r.problem(f"{path}.name", f"queue {name!r} is declared twice")
                continue
            seen.add(name)
            found.append(TenantQueue(name, self.hours(entry.get("business_hours"), f"{path}.business_hours")))
        return found

    def hours(self, value: Any, path: str) -> BusinessHours | None:
        if value is None:
            return None
        entry = self._mapping(value, path)
        self._unknown(entry, {"timezone", "weekly"}, path)
        timezone = self._text(entry.get("timezone"), f"{path}.timezone", "an IANA time zone such as 'Europe/Berlin'")
        weekly = self._mapping(entry.get("weekly"), f"{path}.weekly")
        if not weekly:
            self.r.problem(f"{path}.weekly", "missing; map days to hours, e.g. mon-fri: '09:00-17:00'")
        days = {}
        for day, hours in weekly.items():
            text = self._text(hours, f"{path}.weekly.{day}", "time ranges such as '09:00-17:00'")
            if text is not None:
                days[day] = text
        if timezone is None or len(days) != len(weekly) or not days:
            return None
        try:
            return BusinessHours.parse(timezone, days)
        except HoursError as exc:
            self.r.problem(path, str(exc))
            return None

    def routing(self, value: Any, labels: set[str], queues: set[str]) -> tuple[str, dict[str, str], tuple[str, ...]]:
        entry = self._mapping(value, "routing")
        self._unknown(entry, {"default_queue", "intents", "always_escalate"}, "routing")
        default_queue = entry.get("default_queue") or ""
        if default_queue and default_queue not in queues:
            self.r.problem(
                "routing.default_queue",
                f"{default_queue!r} is no queue; declare it under `queues` or use one of {', '.join(sorted(queues))}",
            )
        intent_queues: dict[str, str] = {}
        for intent, queue in self._mapping(entry.get("intents"), "routing.intents").items():
            path = f"routing.intents.{intent}"
            if intent not in labels:
                self.r.problem(path, f"{intent!r} is not one of this file's intents")
            if not isinstance(queue, str) or queue not in queues:
                self.r.problem(
                    path, f"{queue!r} is no queue; declare it under `queues` or use one of {', '.join(sorted(queues))}"
                )
                continue
            intent_queues[intent] = queue
        always = []
        for i, intent in enumerate(self._list(entry.get("always_escalate"), "routing.always_escalate")):
            if intent not in labels:
                self.r.problem(f"routing.always_escalate[{i}]", f"{intent!r} is not one of this file's intents")
            else:
                always.append(intent)
        return default_queue, intent_queues, tuple(always)
