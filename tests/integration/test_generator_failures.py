"""A message the answer path fails on ends in a handover, never in silence, and the rest are still served;
thanks and a negated request for a human are answered, not queued.

The generator's own code (Generator, its fallback, the worker's EventLoop) runs against the real broker
and database. Only the LLM side is replaced: the answerer raises the RuntimeError the batched engine
raises when its decode loop breaks, for messages that say "crash", and answers the others.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid

import pytest
from aiokafka import AIOKafkaConsumer

from services.common import locales
from services.common.platform.clock import utcnow
from services.common.platform.ids import derived_id
from services.common.platform.kafka import EventPublisher, ensure_topics, start_producer
from services.common.platform.settings import CommonSettings, Env
from services.common.platform.tenant_file import TenantQueue, TenantRules
from services.common.platform.topics import (
    DEAD_LETTER,
    ENRICHED,
    ESCALATIONS,
    STATE,
    escalation_topic,
    queue_topic,
)
from services.common.proto.cs.v1 import conversation_pb2 as conv
from services.common.proto.cs.v1 import events_pb2 as ev
from services.common.proto.cs.v1 import understanding_pb2 as und
from services.common.storage.mongo import connect
from services.common.storage.repositories import STATE_BOT, STATE_QUEUED, STATE_RESOLVED, Repositories
from services.common.storage.tenant_models import TenantRulesCache
from services.common.storage.tenants import TenantSettingsRepo
from services.common.worker.loop import EventLoop, WorkerSpec
from services.common.worker.runtime import WorkerContext
from services.generator.answering import AnswerResult, Outcome
from services.generator.policy import RoutingPolicy
from services.generator.pusher import ReplyPusher
from services.generator.tenant_routing import TenantRouting
from services.generator.worker import Generator, GeneratorDeps

TENANT = "acme"


class CrashingAnswerer:
    """Raises like a broken LLM decode loop on messages that say "crash"; answers the rest."""

    class llm:  # what the worker reads of the engine: its version
        version = "llm-test"

    async def answer(self, question, on_token=None) -> AnswerResult:
        if "crash" in question.text:
            raise RuntimeError("the decode loop ended without a result; this is a bug in DecodeBatch")
        return AnswerResult(Outcome.ANSWER, "Your order ships within two days.")


@pytest.fixture
async def worker(stack):
    env = Env(stack.env())
    settings = CommonSettings.from_env("generator", 0, env)
    mongo, db = await connect(stack.mongo_uri, stack.database, 10)
    producer = await start_producer(stack.kafka, f"it-generator-{uuid.uuid4().hex[:6]}", 10)
    publisher = EventPublisher(producer, stack.prefix, "generator")
    repos = Repositories.of(db)
    ctx = WorkerContext(settings, publisher, db)
    policy = RoutingPolicy()
    routing = TenantRouting(policy, TenantRulesCache(db, 0.5))  # tenants without a file: the platform policy
    generator = Generator(
        GeneratorDeps(ctx, repos, CrashingAnswerer(), policy, ReplyPusher(), TenantSettingsRepo(db), routing)
    )
    loop = EventLoop(
        WorkerSpec("generator", ENRICHED),
        ENRICHED.name(stack.prefix),
        publisher,
        generator.handle,
        fallback=generator.fail_safe,
        initial_backoff_s=0.01,
    )
    try:
        yield loop, repos, db
    finally:
        await producer.stop()
        await mongo.close()


def enriched(conversation_id: str, text: str) -> ev.MessageEnriched:
    message = ev.MessageReceived(
        tenant_id=TENANT,
        conversation_id=conversation_id,
        message_id=f"{conversation_id}-m1",
        customer_id="cust-1",
        channel="web",
        text=text,
    )
    message.sent_at.GetCurrentTime()
    understanding = und.Understanding(language="en", intent=und.Intent(label="track_order", confidence=0.95))
    return ev.MessageEnriched(message=message, understanding=understanding, sentiment=und.Sentiment(score=0.1))


async def read_topic(stack, topic: str, wanted, timeout: float = 30) -> list:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=stack.kafka, group_id=f"it-{uuid.uuid4().hex[:6]}", auto_offset_reset="earliest"
    )
    await consumer.start()
    found: list = []
    try:
        async with asyncio.timeout(timeout):
            while not found:
                for records in (await consumer.getmany(timeout_ms=300)).values():
                    found += [r for r in records if wanted(r)]
    finally:
        await consumer.stop()
    return found


async def test_a_message_the_llm_fails_on_is_handed_to_a_person_and_the_next_one_is_answered(stack, worker):
    loop, repos, _ = worker
    broken, fine = f"gf-{uuid.uuid4().hex[:10]}", f"gf-{uuid.uuid4().hex[:10]}"
    failing = enriched(broken, "Where is my order? It says crash on the tracking page.")
    outcome = await loop.process(ENRICHED.encode(failing), broken.encode(), 0, 1)
    assert outcome == "dead_letter"

    reply = await repos.messages.get_reply(TENANT, derived_id(TENANT, "bot-reply", failing.message.message_id))
    assert reply is not None, "the customer got no reply and no handover"
    assert reply["reply_kind"] == conv.ReplyKind.Name(conv.REPLY_KIND_HANDOVER)
    conversation = await repos.conversations.get(TENANT, broken)
    assert conversation["state"] == STATE_QUEUED and conversation["queue"] == "general"

    escalations = await read_topic(
        stack,
        escalation_topic(stack.prefix, "general"),
        lambda r: ESCALATIONS.decode(r.value).conversation_id == broken,
    )
    raised = ESCALATIONS.decode(escalations[0].value)
    assert [r.code for r in raised.reasons] == [conv.REASON_CODE_PROCESSING_ERROR]
    assert raised.priority == conv.PRIORITY_HIGH
    letters = await read_topic(
        stack, DEAD_LETTER.name(stack.prefix), lambda r: DEAD_LETTER.decode(r.value).key == broken.encode()
    )
    letter = DEAD_LETTER.decode(letters[0].value)
    assert letter.reason == "processing_error" and "RuntimeError" in letter.error

    assert await loop.process(ENRICHED.encode(enriched(fine, "Where is my order?")), fine.encode(), 0, 2) == "ok"
    answer = await repos.messages.get_reply(TENANT, derived_id(TENANT, "bot-reply", f"{fine}-m1"))
    assert answer["reply_kind"] == conv.ReplyKind.Name(conv.REPLY_KIND_ANSWER)


async def test_a_message_already_owned_by_a_person_gets_no_second_handover(stack, worker):
    loop, repos, _ = worker
    cid = f"gf-{uuid.uuid4().hex[:10]}"
    first = enriched(cid, "crash please")
    assert await loop.process(ENRICHED.encode(first), cid.encode(), 0, 1) == "dead_letter"
    second = enriched(cid, "crash again")
    second.message.message_id = f"{cid}-m2"
    assert await loop.process(ENRICHED.encode(second), cid.encode(), 0, 2) == "ok"  # a person owns it: silent
    assert await repos.messages.get_reply(TENANT, derived_id(TENANT, "bot-reply", f"{cid}-m2")) is None


async def test_a_compliment_is_acknowledged_and_a_negated_human_request_answered_not_queued(stack, worker):
    loop, repos, _ = worker
    thanks_cid, negated_cid = f"gf-{uuid.uuid4().hex[:10]}", f"gf-{uuid.uuid4().hex[:10]}"
    thanks = enriched(thanks_cid, "thanks, great help")
    thanks.understanding.intent.label, thanks.understanding.intent.confidence = "complaint", 0.7
    assert await loop.process(ENRICHED.encode(thanks), thanks_cid.encode(), 0, 1) == "ok"
    reply = await repos.messages.get_reply(TENANT, derived_id(TENANT, "bot-reply", f"{thanks_cid}-m1"))
    assert reply["text"] == locales.text("en", "policy.acknowledgement")
    assert (await repos.conversations.get(TENANT, thanks_cid))["state"] == STATE_BOT

    negated = enriched(negated_cid, "no need for a human, I just want to know where my order is")
    negated.understanding.intent.label, negated.understanding.intent.confidence = "contact_human_agent", 0.95
    assert await loop.process(ENRICHED.encode(negated), negated_cid.encode(), 0, 2) == "ok"
    answer = await repos.messages.get_reply(TENANT, derived_id(TENANT, "bot-reply", f"{negated_cid}-m1"))
    assert answer["reply_kind"] == conv.ReplyKind.Name(conv.REPLY_KIND_ANSWER)
    assert answer["text"] == "Your order ships within two days."
    assert (await repos.conversations.get(TENANT, negated_cid))["state"] == STATE_BOT


async def test_a_failed_message_of_a_tenant_with_its_own_queues_goes_to_the_tenant_files_default_queue(stack, worker):
    loop, repos, db = worker
    tenant, cid = f"care-{uuid.uuid4().hex[:6]}", f"gf-{uuid.uuid4().hex[:10]}"
    rules = TenantRules(1, (TenantQueue("care-desk"),), {}, (), "care-desk")
    await db["tenant_settings"].update_one(
        {"_id": tenant}, {"$set": {"understanding": {"version": 1, "rules": rules.to_doc()}}}, upsert=True
    )
    topic = queue_topic(stack.prefix, tenant, "care-desk", stack.queues.split(","))
    ensure_topics(stack.kafka, [topic], partitions=1)
    failing = enriched(cid, "crash on checkout")
    failing.message.tenant_id = tenant
    assert await loop.process(ENRICHED.encode(failing), cid.encode(), 0, 1) == "dead_letter"
    conversation = await repos.conversations.get(tenant, cid)
    assert conversation["state"] == STATE_QUEUED and conversation["queue"] == "care-desk"
    raised = await read_topic(stack, topic, lambda r: ESCALATIONS.decode(r.value).conversation_id == cid)
    assert [r.code for r in ESCALATIONS.decode(raised[0].value).reasons] == [conv.REASON_CODE_PROCESSING_ERROR]


async def test_a_message_to_a_conversation_resolved_before_it_arrived_reopens_it(stack, worker):
    """The gateway reopens a resolved conversation at receipt; one whose memory of the state lagged behind
    (services/gateway/known_conversations.py) leaves it to the generator. A conversation resolved after the
    message arrived stays resolved."""
    loop, repos, _ = worker
    earlier, later = f"gf-{uuid.uuid4().hex[:10]}", f"gf-{uuid.uuid4().hex[:10]}"
    for n, cid in enumerate((earlier, later), 1):
        await repos.conversations.ensure(TENANT, cid, "cust-1", "web")
        event = enriched(cid, "Where is my order?")
        event.message.received_at.FromDatetime(utcnow())
        resolved_at = utcnow() + dt.timedelta(seconds=-5 if cid == earlier else 5)
        assert await repos.conversations.transition(TENANT, cid, (STATE_BOT,), STATE_RESOLVED, resolved_at=resolved_at)
        assert await loop.process(ENRICHED.encode(event), cid.encode(), 0, n) == "ok"

    assert (await repos.conversations.get(TENANT, earlier))["state"] == STATE_BOT
    changes = await read_topic(
        stack, STATE.name(stack.prefix), lambda r: STATE.decode(r.value).conversation_id == earlier
    )
    change = STATE.decode(changes[0].value)
    assert (change.from_state, change.to_state) == (conv.CONVERSATION_STATE_RESOLVED, conv.CONVERSATION_STATE_BOT)
    reply = await repos.messages.get_reply(TENANT, derived_id(TENANT, "bot-reply", f"{earlier}-m1"))
    assert reply["reply_kind"] == conv.ReplyKind.Name(conv.REPLY_KIND_ANSWER)
    # Resolved by a person after the message came in: closed with the message seen, the bot stays out of it.
    assert (await repos.conversations.get(TENANT, later))["state"] == STATE_RESOLVED
    assert await repos.messages.get_reply(TENANT, derived_id(TENANT, "bot-reply", f"{later}-m1")) is None
