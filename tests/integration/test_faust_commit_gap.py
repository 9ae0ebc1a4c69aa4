"""Why the generator's consume loop is not a Faust agent with concurrency > 1 (README, "Versions chosen").

The workers' own Faust app (services/common/worker/loop.py make_faust_app, the same EventLoop) with
its agent at concurrency 2, on a topic of one partition: the message at offset 0 is still in
progress while the next ones finish. A correct consumer may commit nothing (offset 0) until it is
done; Faust commits past it (faust-streaming #606: `Consumer._new_offset` takes the first run of
consecutive acked offsets without checking that it starts at the committed one), so a kill -9 at
that moment would lose the message for good. If this test fails, Faust has stopped doing that and
the decision can be revisited.
"""

from __future__ import annotations

import uuid

import pytest

from services.common.platform.topics import INBOUND
from services.common.worker.loop import EventLoop, WorkerSpec, make_faust_app
from tests.integration.conftest import publish
from tests.integration.test_concurrent_admission import GatedHandler, Publisher, committed, eventually, message


async def test_faust_at_concurrency_2_commits_past_a_message_still_in_progress(stack, one_partition_topic):
    topic = one_partition_topic
    ids = ["slow", "m1", "m2", "m3", "m4"]  # offsets 0..4; "slow" stays in progress
    for i, message_id in enumerate(ids):
        await publish(stack, INBOUND, message(f"c{i}", message_id), topic=topic)
    handler = GatedHandler()
    for message_id in ids[1:]:
        handler.gate(message_id).set()
    group = f"it-faust-gap-{uuid.uuid4().hex[:6]}"
    loop = EventLoop(WorkerSpec("intent", INBOUND), topic, Publisher(), handler)
    app = make_faust_app(WorkerSpec("intent", INBOUND), group, stack.kafka, loop, topic, concurrency=2)
    await app.start()
    try:

        async def three_done() -> bool:
            return len(handler.finished) >= 3

        await eventually(three_done, timeout=60)
        assert "slow" in handler.started and "slow" not in handler.finished

        async def commit_moved() -> bool:
            return (await committed(stack, group, topic) or 0) > 0

        try:
            await eventually(commit_moved, timeout=15)
        except TimeoutError:
            pytest.fail("Faust did not commit past the message in progress: faust-streaming #606 looks fixed")
        offset = await committed(stack, group, topic)
        print(f"\nFaust, concurrency 2: offset 0 in progress, {handler.finished} done, committed offset {offset}")
        assert "slow" not in handler.finished, "the committed offset skips a message that never finished"
    finally:
        handler.release_all()
        await app.stop()
