"""Which failures a worker retries (the event stays) and which it dead-letters (the event is bad)."""

from __future__ import annotations

import pytest
from aiokafka import errors as kafka_errors
from pymongo import errors as mongo_errors

from services.common.platform.topics import DEAD_LETTER, INBOUND, PoisonEvent
from services.common.proto.cs.v1 import events_pb2 as ev
from services.common.worker.admission import PartitionOffsets
from services.common.worker.loop import EventLoop, WorkerSpec, is_transient


@pytest.mark.parametrize(
    "exc",
    [
        kafka_errors.UnknownTopicOrPartitionError(),  # what a produce raises right after a broker restart
        kafka_errors.NotLeaderForPartitionError(),
        kafka_errors.KafkaConnectionError(),
        kafka_errors.KafkaTimeoutError(),
        mongo_errors.AutoReconnect("db restarting"),
        mongo_errors.ServerSelectionTimeoutError("no server"),
        TimeoutError(),
        ConnectionRefusedError(),
    ],
)
def test_outages_are_retried(exc):
    assert is_transient(exc)


@pytest.mark.parametrize(
    "exc",
    [
        kafka_errors.RecordTooLargeError(),
        ValueError("model cannot read this"),
        PoisonEvent("invalid", "tenant_id is empty"),
        mongo_errors.DuplicateKeyError("dup"),
    ],
)
def test_bad_events_are_not(exc):
    assert not is_transient(exc)


class Publisher:
    """Records what the loop publishes (the dead-letter topic); the loop's only output besides `fallback`."""

    def __init__(self) -> None:
        self.published: list[tuple[str, object]] = []

    async def publish(self, spec, event, *, topic: str | None = None, key: bytes | None = None) -> None:
        self.published.append((spec.suffix, event))


def message_event() -> ev.MessageReceived:
    return ev.MessageReceived(tenant_id="acme", conversation_id="c-1", message_id="m-1", customer_id="u", text="hi")


def event_loop(handle, healthy=True, fallback=None, max_attempts=3) -> tuple[EventLoop, Publisher]:
    async def dependencies_healthy() -> bool:
        return healthy

    publisher = Publisher()
    loop = EventLoop(
        WorkerSpec("intent", INBOUND),
        "t.messages.inbound",
        publisher,
        handle,
        max_backoff_s=0.01,
        fallback=fallback,
        max_attempts=max_attempts,
        dependencies_healthy=dependencies_healthy,
        initial_backoff_s=0.001,
    )
    return loop, publisher


class Recorder:
    def __init__(self, fail_with: BaseException | None = None) -> None:
        self.calls: list[tuple[str, str]] = []
        self.fail_with = fail_with

    async def __call__(self, event, reason: str, detail: str) -> None:
        self.calls.append((event.message_id, reason))
        if self.fail_with is not None:
            raise self.fail_with


async def process(loop: EventLoop) -> str:
    return await loop.process(INBOUND.encode(message_event()), b"c-1", 0, 7)


async def test_an_event_the_model_fails_on_takes_the_fallback_then_the_dead_letter_topic():
    async def handle(event):
        raise RuntimeError("the model cannot read this")

    fallback = Recorder()
    loop, publisher = event_loop(handle, fallback=fallback)
    assert await process(loop) == "dead_letter"
    assert fallback.calls == [("m-1", "processing_error")]
    [(topic, letter)] = publisher.published
    assert topic == DEAD_LETTER.suffix and letter.reason == "processing_error" and letter.offset == 7


async def test_an_event_that_keeps_timing_out_while_its_dependencies_answer_is_given_up_after_max_attempts():
    attempts = []

    async def handle(event):
        attempts.append(1)
        raise TimeoutError("this one event times out every time")

    fallback = Recorder()
    loop, publisher = event_loop(handle, healthy=True, fallback=fallback, max_attempts=4)
    assert await process(loop) == "dead_letter"
    assert len(attempts) == 4
    assert fallback.calls == [("m-1", "retries_exhausted")]
    assert [letter.reason for _, letter in publisher.published] == ["retries_exhausted"]


async def test_while_a_dependency_is_down_an_event_is_retried_without_limit_and_never_given_up():
    attempts = []

    async def handle(event):
        attempts.append(1)
        if len(attempts) < 12:
            raise mongo_errors.AutoReconnect("database down")

    fallback = Recorder()
    loop, publisher = event_loop(handle, healthy=False, fallback=fallback, max_attempts=3)
    assert await process(loop) == "ok"
    assert len(attempts) == 12 and fallback.calls == [] and publisher.published == []


async def test_a_fallback_that_fails_does_not_keep_the_event_from_the_dead_letter_topic():
    async def handle(event):
        raise ValueError("bad content")

    fallback = Recorder(fail_with=RuntimeError("the fallback broke as well"))
    loop, publisher = event_loop(handle, fallback=fallback)
    assert await process(loop) == "dead_letter"
    assert [letter.reason for _, letter in publisher.published] == ["processing_error"]


async def test_shutdown_while_retrying_leaves_the_event_uncommitted():
    async def handle(event):
        loop.stopping.set()
        raise ConnectionRefusedError()

    loop, publisher = event_loop(handle, healthy=False)
    assert await process(loop) == "stopped"
    assert publisher.published == []


def test_a_partition_is_committed_only_up_to_its_lowest_unfinished_offset():
    offsets = PartitionOffsets()
    assert offsets.committable() is None
    for offset in (10, 11, 12, 13):
        offsets.take(offset)
    offsets.finish(11)
    offsets.finish(13)
    assert offsets.committable() == 10, "10 is still in progress: committing past it would lose it in a crash"
    offsets.finish(10)
    assert offsets.committable() == 12
    offsets.finish(12)
    assert offsets.committable() == 14
    assert offsets.unfinished() == 0
