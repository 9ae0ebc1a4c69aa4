"""An intent worker takes a tenant's newly applied model into service while messages flow: none lost, none split."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
import yaml

from services.common.platform.topics import INBOUND, UNDERSTOOD
from services.common.proto.cs.v1 import events_pb2 as ev
from services.common.storage.tenant_models import model_version_name
from tests.conftest import ROOT, VersionProbe, apply_tenant_file, free_port, start_service, wait_serving

pytestmark = [pytest.mark.stack, pytest.mark.models]

TENANT = "it-reload"


async def test_messages_flowing_during_an_apply_are_each_labelled_by_one_version(stack, tmp_path) -> None:
    own = stack.with_own_topics("tenant-reload.")
    health = free_port()
    env = own.env(CS_TENANT_RELOAD_S="1", CS_HEALTH_PORT=str(health), CS_METRICS_PORT=str(free_port()))
    worker = start_service("services.intent.main", env, tmp_path, "intent")
    doc = yaml.safe_load((ROOT / "docs" / "examples" / "tenant-acme.yaml").read_text(encoding="utf-8"))
    doc["tenant"] = TENANT
    path = tmp_path / "tenant.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    tenant_version = model_version_name(TENANT, 1)
    try:
        await asyncio.to_thread(wait_serving, f"127.0.0.1:{health}", worker, 120)
        cid = f"reload-{uuid.uuid4().hex[:8]}"
        async with VersionProbe(
            own,
            INBOUND,
            UNDERSTOOD,
            lambda e: (e.message.message_id, (e.understanding.model_version, e.understanding.intent.label)),
        ) as probe:
            versions, sent = probe.versions, probe.sent

            async def send() -> None:
                message_id = f"{cid}-{len(sent)}"
                text = "my promo code SAVE20 is not accepted"
                await probe.send(
                    ev.MessageReceived(tenant_id=TENANT, conversation_id=cid, message_id=message_id, text=text),
                    message_id,
                )

            applying = asyncio.create_task(asyncio.to_thread(apply_tenant_file, stack, TENANT, path))
            while not applying.done():
                await send()
                await asyncio.sleep(0.5)
            done = applying.result()
            assert done.returncode == 0, done.stderr
            async with asyncio.timeout(60):
                while tenant_version not in {v for v, _ in versions.values()}:
                    await send()
                    await probe.read_until(lambda: sent[-1] in versions)
            await send()
            await probe.read_until(lambda: all(m in versions for m in sent))
    finally:
        assert worker.stop() == 0, worker.log()[-3000:]
    labelled = [versions[m] for m in sent]
    assert len(labelled) == len(sent), "every message sent was labelled once"
    by_tenant = [version == tenant_version for version, _ in labelled]
    assert by_tenant == sorted(by_tenant) and by_tenant[0] is False and by_tenant[-1] is True, labelled
    assert all(label == "promo_code" for version, label in labelled if version == tenant_version), labelled
    assert all(label != "promo_code" for version, label in labelled if version != tenant_version), labelled
    assert '"to_version": "intent-tenant-it-reload-v1"' in worker.log()
