"""Which escalation topics `cs escalations watch` follows (services/cli/supervisor.py topics_to_watch)."""

from __future__ import annotations

import pytest

from services.cli.supervisor import NoSuchQueue, topics_to_watch

BUILTIN = ["general", "billing"]
AVAILABLE = {
    "cs.escalations.general",
    "cs.escalations.billing",
    "cs.escalations.acme.promos",
    "cs.escalations.acme.warranty",
    "cs.escalations.globex.vip-desk",
    "cs.inbound",
    "cs.dead-letter",
    "other.escalations.acme.promos",
}


def test_all_is_every_platform_queue_and_every_tenants_own() -> None:
    assert topics_to_watch(AVAILABLE, "cs.", BUILTIN, None, None) == [
        "cs.escalations.general",
        "cs.escalations.billing",
        "cs.escalations.acme.promos",
        "cs.escalations.acme.warranty",
        "cs.escalations.globex.vip-desk",
    ]


def test_all_for_one_tenant_leaves_out_the_other_tenants_own_queues() -> None:
    assert topics_to_watch(AVAILABLE, "cs.", BUILTIN, None, "globex") == [
        "cs.escalations.general",
        "cs.escalations.billing",
        "cs.escalations.globex.vip-desk",
    ]


def test_one_queue_is_the_platform_topic_or_the_tenants_own() -> None:
    assert topics_to_watch(AVAILABLE, "cs.", BUILTIN, "billing", None) == ["cs.escalations.billing"]
    assert topics_to_watch(AVAILABLE, "cs.", BUILTIN, "billing", "acme") == ["cs.escalations.billing"]
    assert topics_to_watch(AVAILABLE, "cs.", BUILTIN, "promos", "acme") == ["cs.escalations.acme.promos"]
    assert topics_to_watch(AVAILABLE, "cs.", BUILTIN, "acme.promos", None) == ["cs.escalations.acme.promos"]


@pytest.mark.parametrize(
    ("queue", "tenant", "says"),
    [
        ("promos", None, "needs --tenant"),
        ("promos", "globex", "does not exist"),
        ("nope", "acme", "does not exist"),
        ("acme.promos", "globex", "not a queue of tenant"),
    ],
)
def test_a_queue_that_is_not_there_is_a_clear_error(queue: str, tenant: str | None, says: str) -> None:
    with pytest.raises(NoSuchQueue, match=says):
        topics_to_watch(AVAILABLE, "cs.", BUILTIN, queue, tenant)


def test_a_missing_platform_topic_is_a_clear_error() -> None:
    with pytest.raises(NoSuchQueue, match=r"cs\.escalations\.vip"):
        topics_to_watch(AVAILABLE, "cs.", [*BUILTIN, "vip"], None, None)
