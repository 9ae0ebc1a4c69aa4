"""Concurrent admission (services/common/worker/admission.py) against the real broker: different
conversations of one partition are worked on at once, one conversation's messages in order, no more
than the bound in flight, and the partition is committed only up to its lowest unfinished offset."""

from __future__ import annotations

import asyncio
import uuid

from services.common.platform.topics import INBOUND
from services.common.proto.cs.v1 import events_pb2 as ev
from services.common.worker.admission import ConcurrentConsumer
from services.common.worker.loop import EventLoop, WorkerSpec
from tests.integration.conftest import publish

COMMIT_INTERVAL_S = 0.2


class GatedHandler:
    """Each message's processing starts, then waits until the test opens its gate."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self.finished: list[str] = []
        self.gates: dict[str, asyncio.Event] = {}
        self.released = False

    def gate(self, message_id: str) -> asyncio.Event:
        gate = self.gates.setdefault(message_id, asyncio.Event())
        if self.released:
            gate.set()
        return gate

    def release_all(self) -> None:
        """Every gate open, also of messages not started yet (so a failing test ends instead of hanging)."""
        self.released = True
        for gate in self.gates.values():
            gate.set()

    async def __call__(self, event) -> None:
        self.started.append(event.message_id)
        await self.gate(event.message_id).wait()
        self.finished.append(event.message_id)


class Publisher:
    async def publish(self, spec, event, *, topic=None, key=None) -> None:
        raise AssertionError("nothing here is dead-lettered")


def message(conversation_id: str, message_id: str) -> ev.MessageReceived:
    return ev.MessageReceived(
        tenant_id="acme", conversation_id=conversation_id, message_id=message_id, customer_id="u", text="hi"
    )


async def committed(stack, group: str, topic: str) -> int | None:
    """The group's committed offset of the topic's partition 0, read as another member would (no join)."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    reader = AIOKafkaConsumer(bootstrap_servers=stack.kafka, group_id=group, enable_auto_commit=False)
    await reader.start()
    try:
        return await reader.committed(TopicPartition(topic, 0))
    finally:
        await reader.stop()


def started(handler: GatedHandler, *ids: str):
    async def check() -> bool:
        return all(i in handler.started for i in ids)

    return check


async def eventually(condition, timeout: float = 30) -> None:
    async with asyncio.timeout(timeout):
        while not await condition():
            await asyncio.sleep(0.05)


async def test_conversations_run_concurrently_in_order_and_commits_wait_for_the_lowest_unfinished(
    stack, one_partition_topic
):
    topic = one_partition_topic
    # One partition, offsets 0..3: a1 and a2 are one conversation, b1 and c1 two others.
    sent = [("a", "a1"), ("a", "a2"), ("b", "b1"), ("c", "c1")]
    for conversation_id, message_id in sent:
        await publish(stack, INBOUND, message(conversation_id, message_id), topic=topic)
    handler = GatedHandler()
    loop = EventLoop(WorkerSpec("intent", INBOUND), topic, Publisher(), handler)
    group = f"it-admission-{uuid.uuid4().hex[:6]}"
    failures: list[BaseException] = []
    consumer = ConcurrentConsumer(
        loop,
        group,
        stack.kafka,
        topic,
        max_in_flight=3,
        on_failure=failures.append,
        commit_interval_s=COMMIT_INTERVAL_S,
    )
    await consumer.start()
    try:
        await eventually(started(handler, "a1", "b1"))
        await asyncio.sleep(1)
        assert "a2" not in handler.started, "a conversation's second message started before its first finished"
        assert "c1" not in handler.started, "more than max_in_flight (3) messages admitted: a1, a2 (queued), b1, c1"

        handler.gate("b1").set()  # a slot frees: c1 is admitted; a1 (offset 0) is still unfinished
        await eventually(started(handler, "c1"))
        handler.gate("c1").set()
        await asyncio.sleep(COMMIT_INTERVAL_S * 5)
        assert await committed(stack, group, topic) in (None, 0), "committed past a1, which is still in progress"

        handler.gate("a1").set()  # a2 may start now; offset 1 (a2) is the lowest unfinished

        async def committed_is(offset: int) -> bool:
            return await committed(stack, group, topic) == offset

        await eventually(started(handler, "a2"))
        await eventually(lambda: committed_is(1))
        handler.gate("a2").set()
        await eventually(lambda: committed_is(4))
        assert handler.finished.index("a1") < handler.finished.index("a2")
        assert failures == []
    finally:
        handler.release_all()
        await consumer.stop()


async def test_at_stop_messages_not_started_are_left_for_redelivery_and_the_one_in_progress_finishes(
    stack, one_partition_topic
):
    topic = one_partition_topic
    for message_id in ("a1", "a2"):
        await publish(stack, INBOUND, message("a", message_id), topic=topic)
    handler = GatedHandler()
    loop = EventLoop(WorkerSpec("intent", INBOUND), topic, Publisher(), handler)
    group = f"it-admission-{uuid.uuid4().hex[:6]}"
    consumer = ConcurrentConsumer(loop, group, stack.kafka, topic, max_in_flight=4, on_failure=lambda exc: None)
    await consumer.start()
    await eventually(started(handler, "a1"))
    stopping = asyncio.create_task(consumer.stop())
    await asyncio.sleep(0.5)
    assert not stopping.done(), "stop() returned while a1 was still in progress"
    handler.gate("a1").set()
    handler.gate("a2").set()
    await stopping
    assert handler.finished == ["a1"], "a2 had not started: it is left to whoever reads the partition next"
    assert await committed(stack, group, topic) == 1


async def test_a_rebalance_loses_and_doubles_nothing(stack, one_partition_topic):
    """A second replica joins while the first has a1 in progress and a2 queued behind it: the revoked
    partition's unstarted a2 is dropped, a1 finishes and is committed before the partition moves on, and
    whoever owns it afterwards processes a2. Nothing is lost; a1 is not done twice. b1 (offset 2, done
    after the lowest unfinished offset) may be done again by the new owner: that is what the workers'
    dedupe by message id is for."""
    topic = one_partition_topic
    for conversation_id, message_id in [("a", "a1"), ("a", "a2"), ("b", "b1")]:
        await publish(stack, INBOUND, message(conversation_id, message_id), topic=topic)
    group = f"it-admission-{uuid.uuid4().hex[:6]}"
    first, second = GatedHandler(), GatedHandler()
    second.release_all()
    first.gate("b1").set()
    consumers = [
        ConcurrentConsumer(
            EventLoop(WorkerSpec("intent", INBOUND), topic, Publisher(), handler),
            group,
            stack.kafka,
            topic,
            max_in_flight=4,
            on_failure=lambda exc: None,
            commit_interval_s=COMMIT_INTERVAL_S,
        )
        for handler in (first, second)
    ]
    await consumers[0].start()
    try:
        await eventually(started(first, "a1", "b1"))
        # The group rebalances: the first replica hears of it with its next heartbeat (every 3 s) and
        # its revocation waits for a1, which is held until well after that.
        joining = asyncio.create_task(consumers[1].start())
        await asyncio.sleep(6)
        assert "a2" not in first.started, "a2 started while a1, of the same conversation, was in progress"
        first.release_all()
        await joining

        def done() -> list[str]:
            return first.finished + second.finished

        async def all_done() -> bool:
            return {"a1", "a2", "b1"} <= set(done())

        await eventually(all_done, timeout=60)
        await asyncio.sleep(COMMIT_INTERVAL_S * 10)  # a message redone would show up by now
        assert done().count("a1") == 1, f"a1 was in progress at the rebalance and was done again: {done()}"
        assert done().count("a2") == 1, f"a2 was dropped at the rebalance, it must be done once: {done()}"
        assert await committed(stack, group, topic) == 3
    finally:
        first.release_all()
        for consumer in consumers:
            await consumer.stop()
