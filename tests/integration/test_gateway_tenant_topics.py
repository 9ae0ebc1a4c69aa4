"""A tenant queue whose escalation topic the broker lacks must not keep a gateway from starting.

The gateway reads every tenant queue's topic (services/gateway/hub.py TopicFeed); the tenants' rules are
in the database, the topics in Kafka, and the two can disagree (a topic deleted by an operator, rules
restored from a backup, another cluster). Before, the feed subscribed to the missing topic at start-up,
aiokafka raised UnknownTopicOrPartition and the gateway exited: one tenant's queue took every replica
down (the CI rehearsal's gateways failed like this after a test had stored a tenant's rules).
"""

from __future__ import annotations

import time
import uuid

from pymongo import MongoClient

from services.common.platform.kafka import ensure_topics
from services.common.platform.topics import queue_topic
from tests.integration.conftest import start_gateway, tenant_served


def test_a_gateway_starts_without_a_tenant_queues_topic_and_reads_it_once_it_exists(stack, tmp_path) -> None:
    tenant = f"gw-missing-{uuid.uuid4().hex[:6]}"
    queue = "ghosts"
    topic = queue_topic(stack.prefix, tenant, queue, tuple(stack.queues.split(",")))
    settings = MongoClient(stack.mongo_uri)[stack.database]["tenant_settings"]
    settings.insert_one(tenant_served(tenant, [queue]))
    try:
        gateway = start_gateway(stack, tmp_path, CS_TENANT_RELOAD_S="1")  # SERVING, or it raises
        try:
            assert "tenant queue topics missing from the broker" in gateway.log()
            ensure_topics(stack.kafka, [topic], partitions=1)
            deadline = time.monotonic() + 30
            while "reading tenant queue topics" not in gateway.log():
                assert time.monotonic() < deadline, f"the gateway never started reading {topic}"
                time.sleep(0.5)
            assert gateway.proc.poll() is None
        finally:
            gateway.stop()
    finally:
        settings.delete_one({"_id": tenant})
