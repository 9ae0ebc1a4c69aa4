"""AgentService.ListQueues: an agent's tenant's queues, the platform's and then its tenant file's own, so
the console's inbox and transfer menu show a queue `cs tenants apply` added, and other tenants' never."""

from __future__ import annotations

import asyncio
import time
import uuid

import grpc
from pymongo import MongoClient

from services.common.proto.cs.v1 import agent_service_pb2 as apb
from services.common.proto.cs.v1 import agent_service_pb2_grpc as agrpc
from tests.integration.conftest import create_keys_async, start_gateway, tenant_served


def auth(key: str):
    return (("authorization", f"Bearer {key}"),)


async def test_an_agent_lists_the_platforms_queues_then_its_tenants_own(stack, tmp_path) -> None:
    tenant, other = f"lq-{uuid.uuid4().hex[:6]}", f"lq-other-{uuid.uuid4().hex[:6]}"
    builtin = stack.queues.split(",")
    settings = MongoClient(stack.mongo_uri)[stack.database]["tenant_settings"]
    settings.insert_one(tenant_served(tenant, ["promos", "billing"]))
    key, other_key, adapter = await create_keys_async(
        stack, [(tenant, "agent", "ann"), (other, "agent", "otto"), (tenant, "adapter", "")]
    )
    gateway = await asyncio.to_thread(start_gateway, stack, tmp_path, CS_TENANT_RELOAD_S="1")
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{gateway.ports['grpc']}") as channel:
            agents = agrpc.AgentServiceStub(channel)
            listed = await agents.ListQueues(apb.ListQueuesRequest(), metadata=auth(key), timeout=10)
            assert list(listed.queues) == [*builtin, "promos"], "platform queues first, a redeclared one once"
            theirs = await agents.ListQueues(apb.ListQueuesRequest(), metadata=auth(other_key), timeout=10)
            assert list(theirs.queues) == builtin, "another tenant's own queue is never listed"

            settings.update_one(
                {"_id": tenant},
                {"$push": {"understanding.rules.queues": {"name": "warranty", "hours": None}}},
            )
            deadline = time.monotonic() + 30
            while "warranty" not in (await agents.ListQueues(apb.ListQueuesRequest(), metadata=auth(key))).queues:
                assert time.monotonic() < deadline, "a queue added to the tenant's rules never appeared"
                await asyncio.sleep(0.5)

            for bad in ("", "not-a-key", adapter):  # no key, a wrong one, an adapter's (not a person's)
                try:
                    await agents.ListQueues(apb.ListQueuesRequest(), metadata=auth(bad) if bad else (), timeout=10)
                    raise AssertionError(f"ListQueues answered the key {bad!r}")
                except grpc.aio.AioRpcError as err:
                    assert err.code() in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED), err
    finally:
        gateway.stop()
        settings.delete_one({"_id": tenant})
