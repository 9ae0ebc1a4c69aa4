"""How many database round trips the generator makes for one answered message (issue 17: FerretDB was the
second busiest process under load). Counted with PyMongo's command monitoring on the generator's own
client, against the real database; the figures print with -s. The LLM side is the answerer of
test_generator_failures.py (no retrieval reads: those are cached by the knowledge index anyway)."""

from __future__ import annotations

import uuid
from collections import Counter

from prometheus_client import REGISTRY
from pymongo import AsyncMongoClient, monitoring

from services.common.platform.kafka import EventPublisher, start_producer
from services.common.platform.settings import CommonSettings, Env
from services.common.platform.topics import ENRICHED
from services.common.storage.mongo import ensure_indexes
from services.common.storage.repositories import Repositories
from services.common.storage.tenants import PersonaCache, TenantSettingsRepo
from services.common.worker.loop import EventLoop, WorkerSpec
from services.common.worker.runtime import WorkerContext
from services.generator.policy import RoutingPolicy
from services.generator.pusher import ReplyPusher
from services.generator.worker import Generator, GeneratorDeps
from tests.integration.test_generator_failures import CrashingAnswerer, enriched

# What an answered message costs once the conversation exists (the second message onwards), 13 before
# issue 17: the conversation (ensure), the message with its enrichment (one upsert), the redelivery
# check, history, customer, stream route, the state re-read before the reply goes out, store and mark
# the reply, count the bot's turn. The tenant's persona comes from PersonaCache.
MOST_ROUND_TRIPS = 10


class CommandCounter(monitoring.CommandListener):
    def __init__(self) -> None:
        self.commands: Counter[str] = Counter()

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        self.commands[f"{event.command_name} {event.command.get(event.command_name, '')}"] += 1

    def succeeded(self, event) -> None:
        pass

    def failed(self, event) -> None:
        pass

    def take(self) -> Counter[str]:
        taken, self.commands = self.commands, Counter()
        return taken


def pushes() -> float:
    labels = {"service": "generator", "stage": "push"}
    return REGISTRY.get_sample_value("cs_stage_seconds_count", labels) or 0.0


async def test_an_answered_message_costs_few_database_round_trips(stack):
    counter = CommandCounter()
    mongo = AsyncMongoClient(stack.mongo_uri, tz_aware=True, event_listeners=[counter])
    db = mongo[stack.database]
    await ensure_indexes(db)
    producer = await start_producer(stack.kafka, f"it-generator-{uuid.uuid4().hex[:6]}", 10)
    try:
        publisher = EventPublisher(producer, stack.prefix, "generator")
        ctx = WorkerContext(CommonSettings.from_env("generator", 0, Env(stack.env())), publisher, db)
        generator = Generator(
            GeneratorDeps(
                ctx,
                Repositories.of(db),
                CrashingAnswerer(),
                RoutingPolicy(),
                ReplyPusher(),
                PersonaCache(TenantSettingsRepo(db), ttl_s=30),  # as main() builds it
            )
        )
        loop = EventLoop(WorkerSpec("generator", ENRICHED), ENRICHED.name(stack.prefix), publisher, generator.handle)
        cid = f"rt-{uuid.uuid4().hex[:10]}"
        pushed_before = pushes()
        counts = []
        questions = [("Where is my order?", "track_order"), ("How long does delivery take?", "delivery_period")]
        questions.append(("Can I pay with PayPal?", "payment_methods"))  # three intents: no BOT_LOOP escalation
        for n, (text, intent) in enumerate(questions, 1):
            event = enriched(cid, text)
            event.message.message_id = f"{cid}-m{n}"
            event.understanding.intent.label = intent
            counter.take()
            assert await loop.process(ENRICHED.encode(event), cid.encode(), 0, n) == "ok"
            commands = counter.take()
            counts.append(sum(commands.values()))
            print(f"\nmessage {n}: {counts[-1]} database round trips: {dict(sorted(commands.items()))}")
        assert max(counts[1:]) <= MOST_ROUND_TRIPS, f"round trips per answered message: {counts}"
        assert pushes() - pushed_before == len(questions), "each reply's push is timed in cs_stage_seconds"
    finally:
        await producer.stop()
        await mongo.close()
