"""The sentiment worker as a process on the real broker follows its model's CURRENT version.

Its own topics, hence its own consumer group (another sentiment worker on the session's topics would
take some partitions), and a model store in a temporary folder: a copy of the stack's current sentiment version, then the same weights
built again as a second version and promoted while events keep arriving.
"""

from __future__ import annotations

import asyncio
import uuid

import pytest

from services.common.platform.topics import ENRICHED, UNDERSTOOD
from services.common.proto.cs.v1 import events_pb2 as ev
from services.common.proto.cs.v1 import understanding_pb2 as und
from services.common.storage.mongo import connect
from services.common.storage.repositories import ModelVersionRepo
from tests.conftest import VersionProbe, copy_current_model, rebuilt_version, reloading_worker

pytestmark = [pytest.mark.stack, pytest.mark.models]

KIND = "sentiment"


@pytest.fixture(scope="module")
def sentiment(stack, tmp_path_factory):
    own = stack.with_own_topics("senti.")
    store = copy_current_model(KIND, tmp_path_factory.mktemp("models"))
    base = store.current(KIND)
    with reloading_worker(own, store, "sentiment", tmp_path_factory.mktemp("sentiment")) as worker:
        yield own, store, base, worker


def understood(conversation_id: str, n: int, text: str) -> ev.MessageUnderstood:
    message = ev.MessageReceived(
        tenant_id="acme", conversation_id=conversation_id, message_id=f"{conversation_id}-{n}", text=text
    )
    return ev.MessageUnderstood(
        message=message, understanding=und.Understanding(language="en", model_version="intent-x")
    )


async def test_a_promoted_sentiment_version_serves_the_next_events_and_none_is_lost(sentiment):
    own, store, (first, first_path), worker = sentiment
    cid = f"sr-{uuid.uuid4().hex[:8]}"
    async with VersionProbe(
        own, UNDERSTOOD, ENRICHED, lambda e: (e.message.message_id, e.sentiment.model_version)
    ) as probe:
        versions, sent = probe.versions, probe.sent

        async def send(text: str) -> None:
            event = understood(cid, len(sent), text)
            await probe.send(event, event.message.message_id)

        await send("this is the third time I'm asking, where is my refund?!")
        await probe.read_until(lambda: sent[0] in versions)
        assert versions[sent[0]] == first
        second = rebuilt_version(store, KIND, first_path)
        store.promote(KIND, second)
        async with asyncio.timeout(60):
            while second not in versions.values():
                await send("thanks, that solved it")
                await probe.read_until(lambda: sent[-1] in versions)
        await send("ok")
        await probe.read_until(lambda: all(m in versions for m in sent))
    order = [versions[m] for m in sent]
    assert order == sorted(order, key=lambda v: v == second) and order[-1] == second
    assert f'"to_version": "{second}"' in worker.log()
    mongo, db = await connect(own.mongo_uri, own.database, 10)
    try:
        assert (await ModelVersionRepo(db).latest(KIND))["_id"] == second
    finally:
        await mongo.close()
