"""`cs deadletters list | show | replay` on the real broker: a letter the worker loop wrote is found,
shown with its event (PII masked), and replayed onto its source topic; bad ids are refused."""

from __future__ import annotations

import asyncio
import json
import subprocess
import uuid

import pytest

from services.common.platform.kafka import EventPublisher, start_producer
from services.common.platform.topics import INBOUND, conversation_key
from services.common.proto.cs.v1 import events_pb2 as ev
from services.common.worker.loop import EventLoop, WorkerSpec
from tests.integration.conftest import read_from_start


def cs(stack, *argv: str) -> subprocess.CompletedProcess:
    return stack.cli("deadletters", *argv)


@pytest.fixture
async def dead_letter(stack):
    """A message the intent step failed on, dead-lettered by the worker loop itself."""
    cid = f"dl-{uuid.uuid4().hex[:10]}"
    message = ev.MessageReceived(
        tenant_id="acme",
        conversation_id=cid,
        message_id=f"{cid}-m1",
        customer_id="cust",
        text="my e-mail is ann.lee@example.com, where is my order?",
    )

    async def handle(event):
        raise ValueError("the model cannot read this")

    producer = await start_producer(stack.kafka, f"it-dl-{uuid.uuid4().hex[:6]}", 10)
    try:
        publisher = EventPublisher(producer, stack.prefix, "intent")
        loop = EventLoop(WorkerSpec("intent", INBOUND), INBOUND.name(stack.prefix), publisher, handle)
        assert await loop.process(INBOUND.encode(message), cid.encode(), 2, 41) == "dead_letter"
    finally:
        await producer.stop()
    return message


def letter_id(listing: str, conversation_id: str) -> str:
    rows = [line for line in listing.splitlines() if conversation_id in line]
    assert len(rows) == 1, listing
    return rows[0].split()[0]


async def source_copies(stack, message_id: str, wanted: int, timeout: float = 30) -> int:
    return len(await source_keys(stack, message_id, wanted, timeout))


async def source_keys(stack, message_id: str, wanted: int, timeout: float = 30) -> list[bytes]:
    """The record keys of the copies of the message on its source topic (waiting for `wanted`)."""
    found: list[bytes] = []
    async with read_from_start(stack, INBOUND.name(stack.prefix)) as consumer:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(found) < wanted and loop.time() < deadline:
            for records in (await consumer.getmany(timeout_ms=300)).values():
                found += [r.key for r in records if INBOUND.decode(r.value).message_id == message_id]
    return found


async def test_a_dead_letter_is_listed_shown_masked_and_replayed_to_its_source_topic(stack, dead_letter):
    cid = dead_letter.conversation_id
    listed = await asyncio.to_thread(cs, stack, "list", "--reason", "processing_error")
    assert listed.returncode == 0, listed.stderr
    assert "intent" in listed.stdout and "ValueError: the model cannot read this" in listed.stdout
    ident = letter_id(listed.stdout, cid)

    shown = await asyncio.to_thread(cs, stack, "show", ident)
    assert shown.returncode == 0, shown.stderr
    described = json.loads(shown.stdout)
    assert described["letter"]["source_topic"] == INBOUND.name(stack.prefix)
    assert described["letter"]["offset"] == "41" and described["letter"]["partition"] == 2
    assert described["event"]["message_id"] == dead_letter.message_id
    assert "ann.lee@example.com" not in shown.stdout and "[EMAIL]" in described["event"]["text"]

    dry = await asyncio.to_thread(cs, stack, "replay", ident, "--dry-run")
    assert dry.returncode == 0 and "nothing was published" in dry.stdout
    assert await source_copies(stack, dead_letter.message_id, 1, timeout=3) == 0, "--dry-run published"

    replayed = await asyncio.to_thread(cs, stack, "replay", ident)
    assert replayed.returncode == 0, replayed.stderr
    assert "replayed 1 dead letter" in replayed.stdout
    assert await source_copies(stack, dead_letter.message_id, 1) == 1


async def test_a_letter_keyed_by_the_conversation_id_alone_is_replayed_under_tenant_and_conversation(
    stack, dead_letter
):
    """The fixture's event came keyed the way releases before tenant-scoped keys keyed it (the
    conversation id alone); replayed, it is keyed like every event of its conversation now."""
    cid = dead_letter.conversation_id
    listed = await asyncio.to_thread(cs, stack, "list")
    ident = letter_id(listed.stdout, cid)
    replayed = await asyncio.to_thread(cs, stack, "replay", ident)
    assert replayed.returncode == 0, replayed.stderr
    assert await source_keys(stack, dead_letter.message_id, 1) == [conversation_key("acme", cid)]


async def test_an_unknown_id_is_refused_and_nothing_is_published(stack):
    result = await asyncio.to_thread(cs, stack, "replay", "99:123456789")
    assert result.returncode == 1
    assert "no dead letter 99:123456789" in result.stderr
