"""`cs escalations watch` against the real broker: --all follows the platform queues and the tenants' own
queue topics (`cs tenants apply` creates them), --queue with --tenant one of a tenant's own, and a queue
that is not there is one clear line, exit 2."""

from __future__ import annotations

import json
import uuid

from kafka import KafkaProducer

from services.common.platform.kafka import ensure_topics
from services.common.platform.topics import ESCALATIONS, queue_topic
from services.common.proto.cs.v1 import events_pb2 as ev


def test_watch_all_sees_a_tenants_own_queue_and_one_queue_of_it(stack) -> None:
    own = stack.with_own_topics(f"watch{uuid.uuid4().hex[:4]}.")
    builtin = own.queues.split(",")
    tenant, other = "acme", "globex"
    promos = queue_topic(own.prefix, tenant, "promos", builtin)
    theirs = queue_topic(own.prefix, other, "vip-desk", builtin)
    ensure_topics(own.kafka, [promos, theirs], partitions=1)
    producer = KafkaProducer(bootstrap_servers=own.kafka)
    sent = {
        queue_topic(own.prefix, tenant, "billing", builtin): ev.EscalationRaised(
            tenant_id=tenant, conversation_id="c-billing", escalation_id="e1", queue="billing"
        ),
        promos: ev.EscalationRaised(tenant_id=tenant, conversation_id="c-promos", escalation_id="e2", queue="promos"),
        theirs: ev.EscalationRaised(tenant_id=other, conversation_id="c-other", escalation_id="e3", queue="vip-desk"),
    }
    for topic, event in sent.items():
        producer.send(topic, ESCALATIONS.encode(event))
    producer.flush()
    producer.close()

    def watch(*argv: str):
        result = own.cli("escalations", "watch", "--from-beginning", "--timeout", "8", *argv, timeout=120)
        return result, [json.loads(line)["conversation_id"] for line in result.stdout.splitlines() if line.strip()]

    result, seen = watch("--all")
    assert result.returncode == 0, result.stderr
    assert sorted(seen) == ["c-billing", "c-other", "c-promos"]
    result, seen = watch("--all", "--tenant", tenant)
    assert sorted(seen) == ["c-billing", "c-promos"], "another tenant's own queue and events are left out"
    result, seen = watch("--queue", "promos", "--tenant", tenant)
    assert seen == ["c-promos"]

    result, seen = watch("--queue", "promos")
    assert result.returncode == 2 and not seen
    assert "needs --tenant" in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
    result, _ = watch("--queue", "nope", "--tenant", tenant)
    assert result.returncode == 2 and "does not exist" in result.stderr
