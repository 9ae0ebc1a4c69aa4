"""Which failures a worker retries (the event stays) and which it dead-letters (the event is bad)."""

from __future__ import annotations

import pytest
from aiokafka import errors as kafka_errors
from pymongo import errors as mongo_errors

from services.common.platform.topics import PoisonEvent
from services.common.worker.loop import is_transient


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
