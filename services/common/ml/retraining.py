"""What the retrain commands read back from the database: agents' corrections and customers' thumbs-downs.

Corrections (AgentService.CorrectUnderstanding) store labels and ids only; here they are joined
with the customer messages they correct, so a message erased since (right to erasure) drops out
of every later model. Thumbs-down feedback is joined with the reply it rates and the customer
message that reply answered, so a retrain report can say which intents customers are unhappy
with and which of those messages no agent has looked at yet.

The intent and sentiment training commands fold these in (`--with-corrections`) with
`fold_corrections`: a correction becomes a training example only when it can make the model better
without making its report lie. Its label must be one the model trains on (the gateway checks against
the model in service, but a later version may have dropped a label), its text must not be one the
report measures on (held-out and calibration texts), and each text keeps one label, the latest
correction's. Examples are weighted, because a few dozen corrections must count against thousands
of public-data rows.
"""

from __future__ import annotations

import asyncio
import json
import re
import unicodedata
from collections import Counter
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field

from pymongo.asynchronous.database import AsyncDatabase

from services.common.ml.model_store import fingerprint
from services.common.platform.settings import Env
from services.common.storage.mongo import connect
from services.common.storage.repositories import Repositories


@dataclass(frozen=True)
class CorrectedMessage:
    """One corrected customer message with its text. intent/polarity are "" where not corrected."""

    tenant_id: str
    message_id: str
    text: str
    intent: str
    polarity: str  # "negative", "neutral" or "positive"
    model_intent: str
    model_version: str


@dataclass(frozen=True)
class DislikedReply:
    """A reply a customer gave a thumbs-down, and what the intent model had said about the question."""

    tenant_id: str
    conversation_id: str
    reply_id: str
    message_id: str  # the customer message the reply answered ("" when unknown)
    intent: str  # the model's intent for that message ("" when not enriched or erased)
    corrected: bool  # an agent has corrected that message


@dataclass(frozen=True)
class LearningSignals:
    corrections: list[CorrectedMessage]
    erased: int  # corrections whose message no longer exists
    thumbs_down: list[DislikedReply]
    tenant_id: str | None  # None: every tenant


def _polarity_name(stored: str) -> str:
    return stored.removeprefix("POLARITY_").lower() if stored else ""


async def read_signals(db: AsyncDatabase, tenant_id: str | None = None) -> LearningSignals:
    repos = Repositories.of(db)
    stored = await repos.corrections.all(tenant_id)
    feedback = await repos.feedback.thumbs_down(tenant_id)
    by_tenant: dict[str, list[str]] = {}
    for doc in stored:
        by_tenant.setdefault(doc["tenant_id"], []).append(doc["message_id"])
    for fb in feedback:
        by_tenant.setdefault(fb["tenant_id"], []).append(fb["reply_id"])
    found = {tenant: await repos.messages.get_many(tenant, ids) for tenant, ids in by_tenant.items()}
    answered = {
        tenant: [d["in_reply_to"] for d in docs.values() if d.get("in_reply_to")] for tenant, docs in found.items()
    }
    for tenant, ids in answered.items():
        found[tenant].update(await repos.messages.get_many(tenant, ids))

    corrections = []
    for doc in stored:
        message = found[doc["tenant_id"]].get(doc["message_id"])
        if message is not None:
            corrections.append(
                CorrectedMessage(
                    doc["tenant_id"],
                    doc["message_id"],
                    message.get("text", ""),
                    doc.get("intent", ""),
                    _polarity_name(doc.get("polarity", "")),
                    doc.get("model_intent", ""),
                    doc.get("model_version", ""),
                )
            )
    corrected = {(c.tenant_id, c.message_id) for c in corrections}
    disliked = []
    for fb in feedback:
        reply = found[fb["tenant_id"]].get(fb["reply_id"], {})
        question = found[fb["tenant_id"]].get(reply.get("in_reply_to", ""), {})
        message_id = reply.get("in_reply_to", "")
        disliked.append(
            DislikedReply(
                fb["tenant_id"],
                fb.get("conversation_id", ""),
                fb["reply_id"],
                message_id,
                question.get("understanding", {}).get("intent", {}).get("label", ""),
                (fb["tenant_id"], message_id) in corrected,
            )
        )
    return LearningSignals(corrections, len(stored) - len(corrections), disliked, tenant_id)


def load_signals(env: Env, tenant_id: str | None = None) -> LearningSignals:
    """read_signals against CS_MONGO_URI / CS_MONGO_DATABASE, for a command line."""

    async def read() -> LearningSignals:
        mongo, db = await connect(
            env.str("CS_MONGO_URI"), env.str("CS_MONGO_DATABASE"), env.float("CS_STARTUP_TIMEOUT_S")
        )
        try:
            return await read_signals(db, tenant_id)
        finally:
            await mongo.close()

    return asyncio.run(read())


_SPACE = re.compile(r"\s+")


def text_key(text: str) -> str:
    """The form two texts are the same training example in: NFC, trimmed, one space, case-folded."""
    return _SPACE.sub(" ", unicodedata.normalize("NFC", text)).strip().casefold()


def one_label_per_text(pairs: Iterable[tuple[str, str]]) -> tuple[list[tuple[str, str]], int]:
    """(text, label) pairs with one label per text, the last one given winning; and how many were dropped.

    Input is oldest first, so when two agents labelled the same words differently the later
    correction is the one the model learns.
    """
    latest: dict[str, tuple[str, str]] = {}
    total = 0
    for text, label in pairs:
        total += 1
        key = text_key(text)
        latest.pop(key, None)  # re-insert: order follows the latest correction
        latest[key] = (unicodedata.normalize("NFC", text).strip(), label)
    return list(latest.values()), total - len(latest)


def digest(pairs: Iterable[tuple[str, str]], weight: float) -> str:
    """Stable fingerprint part of a set of examples and their weight, whatever their order."""
    return fingerprint(json.dumps({"weight": weight, "examples": sorted(pairs)}, ensure_ascii=False))


UNKNOWN_LABEL = "unknown label"
EMPTY_TEXT = "empty text"
HELD_OUT = "held-out text"
SUPERSEDED = "superseded by a later correction of the same text"


def not_given(field_name: str) -> str:
    """The skip reason of a correction that does not correct `field_name` (e.g. polarity only)."""
    return f"no {field_name} given"


@dataclass(frozen=True)
class FoldedCorrections:
    """The examples to add to training, and what happened to every correction read."""

    texts: list[str]
    labels: list[str]
    weight: float
    read: int
    skipped: dict[str, int] = field(default_factory=dict)

    @property
    def used(self) -> int:
        return len(self.texts)

    def fingerprint_part(self) -> str:
        """What the version fingerprint adds for these examples: "" for none, so that a build
        without corrections keeps the version it had."""
        return digest(zip(self.texts, self.labels), self.weight) if self.used else ""


NO_CORRECTIONS = FoldedCorrections([], [], 1.0, 0)


def fold_corrections(
    corrections: Sequence[CorrectedMessage],
    field_name: str,
    labels: Collection[str],
    held_out: Collection[str],
    weight: float,
) -> FoldedCorrections:
    """Corrections (oldest first) of `field_name` ("intent" or "polarity") as weighted examples.

    `labels` are those the model trains on; `held_out` holds the text_key() of every text its report uses.
    """
    if weight <= 0:
        raise ValueError(f"correction weight must be positive, not {weight}")
    skipped: Counter[str] = Counter()
    candidates = []
    for correction in corrections:
        label = getattr(correction, field_name)
        if not label:
            skipped[not_given(field_name)] += 1
        elif label not in labels:
            skipped[UNKNOWN_LABEL] += 1
        elif not correction.text.strip():
            skipped[EMPTY_TEXT] += 1
        elif text_key(correction.text) in held_out:
            skipped[HELD_OUT] += 1
        else:
            candidates.append((correction.text, label))
    kept, superseded = one_label_per_text(candidates)
    if superseded:
        skipped[SUPERSEDED] = superseded
    return FoldedCorrections(
        [t for t, _ in kept], [label for _, label in kept], weight, len(corrections), dict(skipped)
    )
