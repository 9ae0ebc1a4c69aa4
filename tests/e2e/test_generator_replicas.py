"""Two generator replicas in one consumer group, rebalanced under load: nothing lost or doubled.

Conversations flow without a pause while the group changes under them: the session's generator
works alone; a second replica (another process, same settings, so the same group) joins and the
group splits the partitions between the two; the first is stopped with SIGTERM (it finishes what it
has in hand, commits and leaves; the second takes every partition); the first starts again and
joins. A customer writes again before the bot has answered (up to two unanswered messages per
conversation), so one conversation's messages queue behind each other in whichever replica owns its
partition at that moment. At the end every customer message has exactly one final reply on its
stream, in the order sent, and exactly one stored bot reply. A handover is a final reply too; the
bot then stays silent in that conversation by design (a person owns it), so a message sent after it
must have been seen by the generator (its enrichment stored) and have no reply. The figures (sent,
lost, duplicated, partitions and messages per replica) are printed for the closing note (pytest -s).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import json
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

import grpc
import pytest

from services.common.platform.topics import consumer_group
from services.common.proto.cs.v1 import conversation_pb2 as conv
from services.common.proto.cs.v1 import customer_service_pb2 as cpb
from services.common.proto.cs.v1 import customer_service_pb2_grpc as cgrpc
from tests.conftest import ServiceProcess, free_port, start_service, wait_serving
from tests.e2e.delivery import QUIET_S
from tests.e2e.test_conversations import Replies, auth, stored

pytestmark = pytest.mark.stack

# Questions the shop's knowledge base answers, of different intents (answering one intent three times
# in a row would hand the conversation over as a loop), and thanks, which the bot acknowledges. Both
# skip the LLM (English answers come from the knowledge base as written): the test is about the
# consumer group, and generations on two shared cores would make it slow and its run time erratic.
QUESTIONS = [
    "How do I reset my password?",
    "Thanks, that helps!",
    "Can I pay with PayPal?",
    "How much does standard shipping cost?",
    "Great, thank you.",
]
CONVERSATIONS = 24  # over the system's 3 partitions
PARTITIONS = 3
UNANSWERED_PER_CONVERSATION = 2
SEND_EVERY_S = 0.25
PHASE_MESSAGES = CONVERSATIONS  # sent after each change of the group before the next one
START_TIMEOUT_S = 300
PHASE_TIMEOUT_S = 120
REPLY_TIMEOUT_S = 180


@dataclass
class Customer:
    """One conversation: its reply stream, the messages sent on it in order, the final replies to them."""

    id: str
    stream: Replies
    sent: list[str] = field(default_factory=list)
    finals: list = field(default_factory=list)

    def handed_over(self) -> bool:
        return any(r.kind == conv.REPLY_KIND_HANDOVER for r in self.finals)

    def expecting(self) -> list[str]:
        """The messages that must get a reply: all of them, or up to the one answered with a handover."""
        for reply in self.finals:
            if reply.kind == conv.REPLY_KIND_HANDOVER and reply.in_reply_to in self.sent:
                return self.sent[: self.sent.index(reply.in_reply_to) + 1]
        return self.sent

    def unanswered(self) -> list[str]:
        answered = {r.in_reply_to for r in self.finals}
        return [m for m in self.expecting() if m not in answered]

    async def read(self) -> None:
        while (item := await self.stream.read()) is not grpc.aio.EOF:
            if item.HasField("reply"):
                self.finals.append(item.reply)


class Load:
    """Messages round-robin over the conversations, one every SEND_EVERY_S, never more than
    UNANSWERED_PER_CONVERSATION unanswered in one, none after a handover; until `stop()`."""

    def __init__(self, customers: cgrpc.CustomerServiceStub, key: str, conversations: list[Customer]) -> None:
        self.customers, self.key, self.conversations = customers, key, conversations
        self.sent = 0
        self._stopping = asyncio.Event()

    async def run(self) -> None:
        for turn in range(1_000_000):
            if self._stopping.is_set():
                return
            index = turn % len(self.conversations)
            conversation = self.conversations[index]
            if conversation.handed_over() or len(conversation.unanswered()) >= UNANSWERED_PER_CONVERSATION:
                await asyncio.sleep(0.01)
                continue
            text = QUESTIONS[(index + len(conversation.sent)) % len(QUESTIONS)]
            request = cpb.SendMessageRequest(
                conversation_id=conversation.id, customer_id=f"cust-{conversation.id}", channel="web", text=text
            )
            ack = await self.customers.SendMessage(request, metadata=auth(self.key), timeout=30)
            conversation.sent.append(ack.message_id)
            self.sent += 1
            await asyncio.sleep(SEND_EVERY_S)

    async def until_sent(self, count: int) -> None:
        """Until `count` more messages are sent (the load keeps flowing through each change of the group)."""
        target, deadline = self.sent + count, time.monotonic() + PHASE_TIMEOUT_S
        while self.sent < target:
            if time.monotonic() > deadline:
                pytest.fail(f"the load stalled: {self.sent} of {target} messages sent (replies not arriving?)")
            await asyncio.sleep(0.1)

    def stop(self) -> None:
        self._stopping.set()


def group_assignment(bootstrap: str, group: str) -> dict[str, set[int]]:
    """Client id -> the partitions it owns, while the group is stable; empty while it rebalances."""
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="cs-test")
    try:
        description = admin.describe_groups([group])[group]
    finally:
        admin.close()
    if description["group_state"] != "Stable":
        return {}
    return {
        member["client_id"]: {
            p for assigned in member["member_assignment"]["assigned_partitions"] for p in assigned["partitions"]
        }
        for member in description["members"]
    }


async def wait_for_members(bootstrap: str, group: str, members: int) -> dict[str, set[int]]:
    """The group's assignment once it is stable with `members` members that own every partition between them."""
    deadline = time.monotonic() + PHASE_TIMEOUT_S
    owned: dict[str, set[int]] = {}
    while time.monotonic() < deadline:
        owned = await asyncio.to_thread(group_assignment, bootstrap, group)
        if len(owned) == members and all(owned.values()) and set().union(*owned.values()) == set(range(PARTITIONS)):
            return owned
        await asyncio.sleep(0.5)
    pytest.fail(f"group {group} never became stable with {members} members owning partitions: {owned}")


def start_second_replica(first: ServiceProcess, log_dir) -> ServiceProcess:
    """Another generator process with the first one's settings (so in its consumer group), its own ports."""
    health = free_port()
    env = {
        **first.env,
        "CS_HEALTH_PORT": str(health),
        "CS_METRICS_PORT": str(free_port()),
        "CS_INSTANCE_ID": f"second-{uuid.uuid4().hex[:6]}",
    }
    process = start_service("services.generator.main", env, log_dir, "generator-second")
    process.ports = {"health": health}
    return process


def log_records(process: ServiceProcess, marker: str) -> list[dict]:
    """The JSON lines of a process's log that hold `marker` (a progress bar may share a line at start-up)."""
    records = []
    for line in process.log().splitlines():
        if marker in line:
            with contextlib.suppress(ValueError):
                records.append(json.loads(line[line.index("{") :]))
    return records


def decided_by(process: ServiceProcess, conversation_ids: set[str]) -> int:
    """Messages of these conversations a replica decided on ("routing decision" lines in its log)."""
    return sum(1 for r in log_records(process, '"routing decision"') if r.get("conversation_id") in conversation_ids)


def in_progress_at_revocations(process: ServiceProcess, since: str) -> list[int]:
    """How many messages a replica was still finishing when it gave up partitions (from `since`, an ISO
    time), each time there were some (the admission loop logs them before it waits for them)."""
    records = log_records(process, '"waiting for the events in progress"')
    return [r["events"] for r in records if r.get("ts", "") >= since]


def named(owned: dict[str, set[int]], second: ServiceProcess) -> str:
    """An assignment as "first [0, 2], second [1]"."""
    name = second.env["CS_INSTANCE_ID"]
    parts = sorted((("second" if name in client else "first"), sorted(p)) for client, p in owned.items())
    return ", ".join(f"{who} {partitions}" for who, partitions in parts)


async def test_two_generator_replicas_share_the_partitions_and_a_rebalance_loses_and_doubles_nothing(
    system, stack, channel, e2e_keys, tmp_path
):
    first: ServiceProcess = system["generator"]
    group = consumer_group(stack.prefix, "generator")
    customers = cgrpc.CustomerServiceStub(channel)
    key = e2e_keys["adapter"]
    conversations = []
    for _ in range(CONVERSATIONS):
        cid = f"replicas-{uuid.uuid4().hex[:8]}"
        stream = Replies(customers.StreamReplies(cpb.StreamRepliesRequest(conversation_id=cid), metadata=auth(key)))
        conversations.append(Customer(cid, stream))
    readers = [asyncio.ensure_future(c.read()) for c in conversations]
    await asyncio.sleep(0.5)
    load = Load(customers, key, conversations)
    sending = asyncio.ensure_future(load.run())
    second = None
    since = datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds")
    started = time.monotonic()
    try:
        alone = await wait_for_members(stack.kafka, group, 1)
        await load.until_sent(PHASE_MESSAGES)
        second = start_second_replica(first, tmp_path)
        await asyncio.to_thread(wait_serving, f"127.0.0.1:{second.ports['health']}", second, START_TIMEOUT_S)
        shared = await wait_for_members(stack.kafka, group, 2)
        await load.until_sent(PHASE_MESSAGES)
        first_exit = await asyncio.to_thread(first.stop, 120)  # SIGTERM: drain, commit, leave the group
        taken_over = await wait_for_members(stack.kafka, group, 1)
        first.restart()  # it loads its models while the second replica carries the load alone
        await load.until_sent(PHASE_MESSAGES)
        load.stop()
        await sending
        deadline = time.monotonic() + REPLY_TIMEOUT_S
        while any(c.unanswered() for c in conversations) and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        replied_s = time.monotonic() - started
        await asyncio.sleep(QUIET_S)  # a reply arriving now would be a duplicate
    finally:
        load.stop()
        sending.cancel()
        for c in conversations:
            c.stream.cancel()
        for reader in readers:
            reader.cancel()
        if first.proc.poll() is not None:  # the session's generator, for the tests after this one
            first.restart()
        await asyncio.to_thread(wait_serving, f"127.0.0.1:{first.ports['health']}", first, START_TIMEOUT_S)
        second_exit = second.stop(120) if second is not None else None

    ids = {c.id for c in conversations}
    sent = sum(len(c.sent) for c in conversations)
    lost = sum(len(c.unanswered()) for c in conversations)
    duplicated = sum(len(c.finals) - len({r.in_reply_to for r in c.finals}) for c in conversations)
    kinds = Counter(
        conv.ReplyKind.Name(r.kind).removeprefix("REPLY_KIND_").lower() for c in conversations for r in c.finals
    )
    print(
        f"\ntwo generator replicas, {CONVERSATIONS} conversations on {PARTITIONS} partitions: sent {sent}, "
        f"lost {lost}, duplicated {duplicated}, all replied {replied_s:.0f} s after the load began; partitions: "
        f"alone {named(alone, second)}; both {named(shared, second)}; after SIGTERM {named(taken_over, second)}; "
        f"messages decided: first {decided_by(first, ids)}, second {decided_by(second, ids)}; replies {dict(kinds)}; "
        f"finished before partitions were given up: first {in_progress_at_revocations(first, since)}, "
        f"second {in_progress_at_revocations(second, since)}"
    )
    assert len(shared) == 2, f"the partitions were not split between the replicas: {shared}"
    assert [second.env["CS_INSTANCE_ID"] in client for client in taken_over] == [True], taken_over
    assert first_exit == 0 and second_exit == 0, "a replica did not stop cleanly on SIGTERM"
    assert lost == 0, [c.unanswered() for c in conversations if c.unanswered()]
    assert duplicated == 0
    for c in conversations:
        expecting = c.expecting()
        assert [r.in_reply_to for r in c.finals] == expecting, f"{c.id}: one final reply per message, in order"
        docs = await stored(stack, c.id)
        customer = {d["_id"]: d for d in docs if d["author"] == "customer"}
        assert sorted(customer) == sorted(c.sent), f"{c.id}: every message stored once"
        assert all("sentiment" in customer[m] for m in c.sent), f"{c.id}: a message the generator never saw"
        bot = Counter(d["in_reply_to"] for d in docs if d["author"] == "bot")
        assert bot == Counter(expecting), f"{c.id}: one stored bot reply per message"
