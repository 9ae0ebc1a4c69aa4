"""`cs models rollback` on a running intent worker: it switches back to the previous version without a restart.

The worker runs on topics of its own (hence its own consumer group) with a model store in a temporary
folder: a copy of the stack's current intent version, then the same head under a second version
name, promoted before the worker starts. The CLI runs as an operator would run it, as a process.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid

import pytest

from services.common.platform.topics import INBOUND, UNDERSTOOD
from services.common.proto.cs.v1 import events_pb2 as ev
from tests.conftest import ROOT, VersionProbe, copy_current_model, rebuilt_version, reloading_worker

pytestmark = [pytest.mark.stack, pytest.mark.models]

KIND = "intent"


@pytest.fixture(scope="module")
def serving_second(stack, tmp_path_factory):
    own = stack.with_own_topics("rollback.")
    store = copy_current_model(KIND, tmp_path_factory.mktemp("models"))
    first, first_path = store.current(KIND)
    second = rebuilt_version(store, KIND, first_path)
    store.promote(KIND, second)
    with reloading_worker(own, store, "intent", tmp_path_factory.mktemp("intent")) as worker:
        yield own, store, first, second, worker


def cs(stack, store, *argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "services.cli", *argv],
        env=stack.env(CS_MODEL_DIR=str(store.root)),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


async def test_rollback_puts_the_previous_version_back_into_service_without_a_restart(serving_second):
    own, store, first, second, worker = serving_second
    cid = f"rb-{uuid.uuid4().hex[:8]}"
    async with VersionProbe(
        own, INBOUND, UNDERSTOOD, lambda e: (e.message.message_id, e.understanding.model_version)
    ) as probe:
        versions, sent = probe.versions, probe.sent

        async def send() -> None:
            message_id = f"{cid}-{len(sent)}"
            message = ev.MessageReceived(
                tenant_id="acme", conversation_id=cid, message_id=message_id, text="where is my order #A12345?"
            )
            await probe.send(message, message_id)

        await send()
        await probe.read_until(lambda: sent[0] in versions)
        assert versions[sent[0]] == second

        done = await asyncio.to_thread(cs, own, store, "models", "rollback", "--kind", KIND)
        assert done.returncode == 0, done.stdout + done.stderr
        assert f"intent: CURRENT {second} -> {first}" in done.stdout
        assert store.pointer(KIND) == first and store.previous(KIND) == second

        async with asyncio.timeout(60):
            while first not in versions.values():
                await send()
                await probe.read_until(lambda: sent[-1] in versions)
        await send()
        await probe.read_until(lambda: all(m in versions for m in sent))
    order = [versions[m] for m in sent]
    assert order == sorted(order, key=lambda v: v == first) and order[-1] == first, order
    assert worker.proc.poll() is None, "the worker must switch in place, not restart"
    assert f'"from_version": "{second}", "to_version": "{first}"' in worker.log()
    listed = await asyncio.to_thread(cs, own, store, "models", "list", "--kind", KIND)
    assert (
        listed.returncode == 0 and f"`cs models rollback --kind intent` makes {second} CURRENT again" in listed.stdout
    )
