"""Knowledge sources read into documents, and documents split into passages.

Three source formats, told apart by extension and shape:

- Markdown (``.md``): one document per heading section (levels 1-3); a file without headings is
  one document titled by its file name.
- JSON article list (``.json``): ``[{"id": ..., "title": ..., "text": ...}, ...]`` or the same list
  under ``"articles"``; ``language`` and ``metadata`` are optional per article.
- ABCD agent guidelines (``.json`` shaped ``{flow: {"description", "subflows": {name: {"actions",
  "instructions"}}}}``, the policies of asappresearch/abcd): one document per subflow. The guidelines
  are written for agents clicking buttons in a console, so the console mechanics ("click the
  [Membership Privileges] option", "enter it into the box") are dropped and what remains is the policy
  a customer can be told (who may return what, within how long, at what cost).

A document id is stable across re-ingestion (``<file stem>/<slug of the title>``), so a changed file
updates its documents instead of adding new ones. A passage ("chunk") is at most ``max_chars`` of
whole paragraphs (sentences, when one paragraph is longer), with id ``<doc id>#<n>``.
"""

from __future__ import annotations

import hashlib
import json
import pathlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

DEFAULT_MAX_CHARS = 700
MAX_DOCUMENT_CHARS = 200_000
SUFFIXES = (".md", ".markdown", ".json")


class KnowledgeSourceError(ValueError):
    """A knowledge file that cannot be read as one of the supported formats; the message says why."""


@dataclass(frozen=True)
class Document:
    doc_id: str
    title: str
    text: str
    source: str
    language: str = "en"
    metadata: Mapping[str, object] = field(default_factory=dict)

    @property
    def content_hash(self) -> str:
        """Changes when anything stored from this document would change."""
        payload = json.dumps(
            [self.title, self.text, self.language, dict(self.metadata)], sort_keys=True, ensure_ascii=False
        )
        return hashlib.sha256(payload.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Chunk:
    chunk_id: str
    doc_id: str
    title: str
    text: str
    position: int
    language: str = "en"

    @property
    def embedding_text(self) -> str:
        """What the encoder sees: the title carries the topic the passage itself may not name."""
        return f"{self.title}. {self.text}" if self.title else self.text

    @property
    def clauses(self) -> list[str]:
        return clauses(self.title, self.text)


# A Latin sentence ends at . ! ? ; before a space (not inside "1.5" or "lumen.example"); a CJK one at its mark.
_CLAUSE_END_RE = re.compile(r"(?<=[.!?;])\s+|(?<=[。！？；])\s*|\n+")


def clauses(title: str, text: str) -> list[str]:
    """The title and the sentences / ";"-separated items of a passage: the units a question or an
    answer sentence is compared with (a whole passage dilutes the one line that matters)."""
    parts = [c.strip() for c in _CLAUSE_END_RE.split(text) if len(c.strip()) > 3]
    return ([title] if title else []) + parts


_HAN_RE = re.compile(r"[\u3400-\u9fff]")
_LATIN_RE = re.compile(r"[A-Za-z]+")


def detect_language(text: str) -> str:
    """ "zh" when Han characters outnumber Latin words, else "en" (only the two languages we answer in)."""
    return "zh" if len(_HAN_RE.findall(text)) > len(_LATIN_RE.findall(text)) else "en"


def slug(text: str) -> str:
    """Lower-case words joined by "-"; Han characters are kept (a Chinese title stays readable)."""
    return re.sub(r"[^\w]+", "-", text.lower()).strip("-_")[:80] or "untitled"


def load_source(path: pathlib.Path) -> list[Document]:
    """The documents of one file, or of every supported file under a folder (sorted by path)."""
    path = pathlib.Path(path)
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES)
        if not files:
            raise KnowledgeSourceError(f"{path}: no {', '.join(SUFFIXES)} files in this folder")
        return unique_ids([doc for file in files for doc in load_source(file)])
    if not path.is_file():
        raise KnowledgeSourceError(f"{path}: no such file or folder")
    try:
        raw = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise KnowledgeSourceError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    suffix = path.suffix.lower()
    if suffix in (".md", ".markdown"):
        return unique_ids(markdown_documents(raw, path.stem, path.name))
    if suffix == ".json":
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise KnowledgeSourceError(
                f"{path}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
            ) from None
        return unique_ids(json_documents(data, path.stem, path.name))
    raise KnowledgeSourceError(f"{path}: unsupported file type {suffix or '(none)'}; use {', '.join(SUFFIXES)}")


def unique_ids(documents: Iterable[Document]) -> list[Document]:
    """Documents with repeated ids numbered "-2", "-3", ... in order, so two "FAQ" headings both survive."""
    seen: dict[str, int] = {}
    out = []
    for doc in documents:
        count = seen.get(doc.doc_id, 0) + 1
        seen[doc.doc_id] = count
        if count > 1:
            doc = Document(f"{doc.doc_id}-{count}", doc.title, doc.text, doc.source, doc.language, doc.metadata)
        out.append(doc)
    return out


_HEADING_RE = re.compile(r"^(#{1,3})\s+(.+?)\s*#*\s*$", re.M)


def markdown_documents(text: str, stem: str, source: str) -> list[Document]:
    sections: list[tuple[str, str]] = []
    matches = list(_HEADING_RE.finditer(text))
    if not matches:
        sections.append((stem.replace("_", " ").replace("-", " "), text))
    else:
        if text[: matches[0].start()].strip():
            sections.append((stem.replace("_", " ").replace("-", " "), text[: matches[0].start()]))
        for i, match in enumerate(matches):
            end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
            sections.append((match.group(2), text[match.end() : end]))
    docs = []
    for title, body in sections:
        body = _plain_markdown(body)
        if body:
            docs.append(_document(f"{slug(stem)}/{slug(title)}", title, body, source))
    return docs


def _plain_markdown(text: str) -> str:
    text = re.sub(r"```[^\n]*\n(.*?)```", r"\1", text, flags=re.S)
    text = re.sub(r"\[([^\]]+)\]\(([^)]+)\)", r"\1 (\2)", text)
    text = re.sub(r"^\s*[-*+]\s+", "- ", text, flags=re.M)
    text = text.replace("**", "").replace("__", "").replace("`", "")
    return "\n\n".join(p.strip() for p in re.split(r"\n\s*\n", text) if p.strip())


def json_documents(data: object, stem: str, source: str) -> list[Document]:
    if isinstance(data, Mapping) and data and all(isinstance(v, Mapping) and "subflows" in v for v in data.values()):
        return abcd_documents(data, stem, source)
    articles = data.get("articles") if isinstance(data, Mapping) else data
    if not isinstance(articles, list):
        raise KnowledgeSourceError(
            f'{source}: expected a list of articles ({{"id", "title", "text"}}), an object with "articles", '
            'or ABCD guidelines ({flow: {"subflows": ...}})'
        )
    return [_article(item, i, stem, source) for i, item in enumerate(articles)]


def _article(item: object, index: int, stem: str, source: str) -> Document:
    where = f"{source}: article {index}"
    if not isinstance(item, Mapping):
        raise KnowledgeSourceError(f"{where} is not an object")
    text = item.get("text") or item.get("body") or item.get("content")
    title = item.get("title") or ""
    if not isinstance(text, str) or not text.strip():
        raise KnowledgeSourceError(f'{where} has no text ("text", "body" or "content")')
    if not isinstance(title, str):
        raise KnowledgeSourceError(f'{where}: "title" must be a string')
    raw_id = item.get("id") or title
    if not isinstance(raw_id, (str, int)) or not str(raw_id).strip():
        raise KnowledgeSourceError(f'{where} has neither an "id" nor a "title"')
    metadata = item.get("metadata") or {}
    if not isinstance(metadata, Mapping):
        raise KnowledgeSourceError(f'{where}: "metadata" must be an object')
    language = item.get("language") or detect_language(f"{title} {text}")
    return _document(
        f"{slug(stem)}/{slug(str(raw_id))}", title or str(raw_id), text.strip(), source, str(language), metadata
    )


def _document(
    doc_id: str,
    title: str,
    text: str,
    source: str,
    language: str | None = None,
    metadata: Mapping[str, object] | None = None,
) -> Document:
    if len(text) > MAX_DOCUMENT_CHARS:
        raise KnowledgeSourceError(
            f"{source}: document {doc_id!r} has {len(text)} characters (limit {MAX_DOCUMENT_CHARS}); split it"
        )
    return Document(
        doc_id, title.strip(), text, source, language or detect_language(f"{title} {text}"), dict(metadata or {})
    )


# ABCD guidelines -------------------------------------------------------------------------------

# A segment that only tells the agent how to operate the console.
_CONSOLE_RE = re.compile(
    r"\bclick|toggle|\[select answer\]|flow diagram|record an action|survey|nothing to enter|copy/paste|"
    r"hide faq|swap out|choose the \[|as your action|(?:into|in) the (?:text )?(?:box|input form|form)|"
    r"\bfill (?:this|in the form)|\bsubmit|^enter (?:the|either|gold|'|a |it)|^enter \w+ \w+ into|"
    r"read through the list|remember the (?:question|category)|may have gotten this earlier|"
    r"system created response|automated system response|in natural language|main effort is|"
    r"decide which (?:kind of question|article)|possible options are|shuffle up the order|fill out the|"
    r"no right or wrong answer|best judgement|as usual, end|follow the same set of actions",
    re.I,
)
# Guideline lines mix policy and console steps in one sentence ("Standard shipping is $8.00, so enter
# '8' into the box"): each clause is judged alone.
_CLAUSE_RE = re.compile(r"(?<=\.)\s+(?=[A-Z])|,\s*so\s+(?=(?:enter|type|click|select|choose)\b)")
_BUTTON_RE = re.compile(
    r"\s*(?:\b(?:with|using|into|in|for|via|to|on|click(?: on)?|the)\s+)*\[[^\]]+\](?:\s+(?:button|option|action|fields?))?",
    re.I,
)


def _policy_text(text: str) -> str:
    """One guideline line without console mechanics; "" when nothing else is left."""
    text = text.replace("<or>", " or ")
    kept = [
        clause
        for segment in text.split(">")
        for clause in _CLAUSE_RE.split(segment.strip())
        if clause.strip() and not _CONSOLE_RE.search(clause.strip())
    ]
    out = _BUTTON_RE.sub("", " ".join(kept))
    out = re.sub(r"\s+([.,:;])", r"\1", re.sub(r"\s+", " ", out)).strip(" :")
    out = re.sub(r"(?:\s+(?:then|and))+\.?$", "", out, flags=re.I)
    return out if len(re.findall(r"[A-Za-z]{2,}", out)) >= 2 else ""


def abcd_documents(data: Mapping[str, object], stem: str, source: str) -> list[Document]:
    docs = []
    for flow, body in data.items():
        if not isinstance(body, Mapping) or not isinstance(body.get("subflows"), Mapping):
            raise KnowledgeSourceError(f"{source}: flow {flow!r} has no subflows object")
        for name, sub in body["subflows"].items():
            if not isinstance(sub, Mapping):
                raise KnowledgeSourceError(f"{source}: subflow {flow}/{name} is not an object")
            paragraphs = [f"Topic: {flow} ({body.get('description', '')}), {name}."]
            paragraphs += [t for t in (_policy_text(str(i)) for i in sub.get("instructions", [])) if t]
            for action in sub.get("actions", []):
                paragraphs.extend(_action_paragraph(action))
            docs.append(
                _document(
                    f"{slug(stem)}/{slug(flow)}/{slug(name)}",
                    f"{flow}: {name}",
                    "\n\n".join(paragraphs),
                    source,
                    "en",
                    {"flow": flow, "subflow": name},
                )
            )
    return docs


def _action_paragraph(action: object) -> list[str]:
    if not isinstance(action, Mapping):
        return []
    head = _policy_text(str(action.get("text", "")))
    items = [t for t in (_policy_text(str(s)) for s in action.get("subtext", [])) if t]
    if head.lower() in ("communication", "optional step", "ask the oracle"):
        head = ""
    if not items:
        return [head] if head else []
    joined = "; ".join(items)
    return [f"{head}: {joined}" if head and not head.endswith((":", ".")) else f"{head} {joined}".strip()]


# Chunking --------------------------------------------------------------------------------------

_SENTENCE_RE = re.compile(r"(?<=[.!?。！？])\s+|(?<=[。！？])")


def chunk_document(doc: Document, max_chars: int = DEFAULT_MAX_CHARS) -> list[Chunk]:
    """Whole paragraphs packed into passages of at most max_chars (a longer paragraph is split at sentences)."""
    pieces: list[str] = []
    for paragraph in re.split(r"\n\s*\n", doc.text):
        paragraph = " ".join(paragraph.split())
        if len(paragraph) <= max_chars:
            pieces.append(paragraph)
        else:
            pieces.extend(_split_long(paragraph, max_chars))
    chunks: list[str] = []
    for piece in filter(None, pieces):
        if chunks and len(chunks[-1]) + 1 + len(piece) <= max_chars:
            chunks[-1] = f"{chunks[-1]}\n{piece}"
        else:
            chunks.append(piece)
    return [Chunk(f"{doc.doc_id}#{i}", doc.doc_id, doc.title, text, i, doc.language) for i, text in enumerate(chunks)]


def _split_long(paragraph: str, max_chars: int) -> list[str]:
    out: list[str] = []
    for sentence in _SENTENCE_RE.split(paragraph):
        while len(sentence) > max_chars:  # one enormous sentence: hard cut
            out.append(sentence[:max_chars])
            sentence = sentence[max_chars:]
        if out and len(out[-1]) + 1 + len(sentence) <= max_chars:
            out[-1] = f"{out[-1]} {sentence}"
        elif sentence:
            out.append(sentence)
    return out
