"""AgentService: what agent consoles call (watch a queue, claim, reply, transfer, resolve, and
correct what the models said about a customer message).

Agents authenticate with agent keys and only ever see their own tenant's queues and
conversations: another tenant's conversation answers NOT_FOUND, as if it did not exist.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import uuid
from collections.abc import AsyncIterator

import grpc
from google.protobuf.json_format import ParseDict

from services.common.platform import metrics
from services.common.platform.ids import derived_id
from services.common.platform.topics import ESCALATIONS, REPLIES, STATE
from services.common.proto.cs.v1 import agent_service_pb2 as pb
from services.common.proto.cs.v1 import agent_service_pb2_grpc as pb_grpc
from services.common.proto.cs.v1 import conversation_pb2 as conv
from services.common.proto.cs.v1 import events_pb2 as ev
from services.common.proto.cs.v1 import understanding_pb2 as und
from services.common.storage.event_log import conversation_stream, queue_stream
from services.common.storage.repositories import (
    PEOPLE,
    ROLE_SUPERVISOR,
    STATE_AGENT,
    STATE_BOT,
    STATE_QUEUED,
    STATE_RESOLVED,
    Principal,
    conversation_proto,
    correction_proto,
    message_proto,
    utcnow,
)
from services.common.storage.tenant_models import MODEL_VERSION_PREFIX
from services.gateway.auth import RequestError
from services.gateway.context import Gateway, streaming, unary
from services.gateway.replies import state_event
from services.gateway.validation import check_id, check_queue, check_text, invalid
from services.gateway.wallboard import ABANDONED_DEFINITION, DAY_HOURS, WINDOW, aware, day_figures, queue_figures
from services.gateway.wallboard_metrics import export

log = logging.getLogger(__name__)

# How often a watch stream looks at its log for entries another replica appended.
LOG_POLL_S = 1.0
LOG_PAGE = 200  # entries read from a log at a time (EventLog.after's limit)
CSAT_WINDOW_S = 24 * 3600


class AgentApi(pb_grpc.AgentServiceServicer):
    def __init__(self, gw: Gateway) -> None:
        self.gw = gw

    async def _conversation(self, tenant_id: str, conversation_id: str) -> dict:
        doc = await self.gw.repos.conversations.get(tenant_id, check_id(conversation_id, "conversation_id"))
        if doc is None:
            raise RequestError(grpc.StatusCode.NOT_FOUND, f"conversation {conversation_id} not found")
        return doc

    @staticmethod
    def _may_move(
        principal: Principal, before: dict, from_states: tuple[str, ...], action: str
    ) -> tuple[tuple[str, ...], dict | None]:
        """The states (and owner filter) `principal` may move the conversation from.

        A claimed conversation is its agent's: only they or a supervisor may transfer or resolve it.
        An agent acting on one that is not claimed must find it still unclaimed when the change is
        made, so a colleague's claim in between wins.
        """
        if principal.role == ROLE_SUPERVISOR:
            return from_states, None
        if before["state"] == STATE_AGENT:
            if before.get("agent_id") != principal.agent_id:
                raise RequestError(
                    grpc.StatusCode.PERMISSION_DENIED,
                    f"conversation {before['conversation_id']} is claimed by agent {before.get('agent_id')}; only they or a "
                    f"supervisor may {action} it",
                )
            return (STATE_AGENT,), {"agent_id": principal.agent_id}
        return tuple(s for s in from_states if s != STATE_AGENT), None

    async def _transition(
        self,
        tenant_id: str,
        conversation_id: str,
        from_states: tuple[str, ...],
        to_state: str,
        extra_filter: dict | None = None,
        **fields,
    ) -> dict:
        before = await self._conversation(tenant_id, conversation_id)
        after = await self.gw.repos.conversations.transition(
            tenant_id, conversation_id, from_states, to_state, extra_filter, **fields
        )
        if after is None:
            current = await self._conversation(tenant_id, conversation_id)
            owner = f" (agent {current['agent_id']})" if current.get("agent_id") else ""
            raise RequestError(
                grpc.StatusCode.FAILED_PRECONDITION,
                f"conversation {conversation_id} is {current['state']}{owner}; this needs it to be {' or '.join(from_states)}"
                + (" and claimed by you" if extra_filter else ""),
            )
        self.gw.known.saw(after)  # this replica's next message to it acts on the new state at once
        event = state_event(after, before["state"])
        await self.gw.publish(STATE, event)
        await self.gw.recorder.state_changed(event, from_queue=before.get("queue") or "")
        return after

    @streaming("queue")
    async def WatchQueue(self, request: pb.WatchQueueRequest, context):
        principal = await self.gw.auth.authenticate(context, PEOPLE)
        tenant = principal.tenant_id
        queue = check_queue(request.queue, await self.gw.tenant_queues.of(tenant))
        stream = queue_stream(queue)
        with self.gw.recorder.watch(tenant, stream) as changed:
            cursor = request.after_seq
            in_backlog: set[str] = set()
            if not cursor and not request.resume:
                # The log's head first, then the queue: what changes after the head is replayed
                # below, so nothing between the two reads is missed (an entry may repeat a backlog item).
                cursor = await self.gw.event_log.head(tenant, stream)
                async for doc in self.gw.repos.conversations.queued(tenant, queue):
                    latest = await self.gw.repos.escalations.latest_for(tenant, doc["conversation_id"])
                    if latest is not None:
                        in_backlog.add(latest.escalation_id)
                        yield pb.WatchQueueResponse(escalation=latest, seq=cursor, backlog=True)
            async for entry in self._tail(tenant, stream, cursor, changed):
                if entry is None:
                    if request.send_caught_up:
                        yield pb.WatchQueueResponse(seq=cursor, caught_up=True)
                    continue
                cursor = entry["seq"]
                if entry["kind"] == "escalated":
                    escalation = ev.EscalationRaised.FromString(bytes(entry["payload"]))
                    if escalation.escalation_id not in in_backlog:
                        yield pb.WatchQueueResponse(escalation=escalation, seq=entry["seq"])
                elif entry["kind"] == "removed":
                    removal = pb.QueueRemoval.FromString(bytes(entry["payload"]))
                    yield pb.WatchQueueResponse(removed=removal, seq=entry["seq"])

    async def _tail(self, tenant_id: str, stream: str, cursor: int, changed) -> AsyncIterator[dict | None]:
        """The log's entries after `cursor`, then None once (everything stored so far was sent), then
        each new entry as it is appended (woken by this replica's recorder; polled every LOG_POLL_S
        for appends other replicas made)."""
        caught_up = False
        while True:
            changed.clear()
            entries = await self.gw.event_log.after(tenant_id, stream, cursor, LOG_PAGE)
            for entry in entries:
                cursor = entry["seq"]
                yield entry
            if len(entries) < LOG_PAGE and not caught_up:
                caught_up = True
                yield None
            if not entries:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(changed.wait(), LOG_POLL_S)

    @unary
    async def ClaimConversation(self, request: pb.ClaimConversationRequest, context) -> pb.ClaimConversationResponse:
        principal = await self.gw.auth.authenticate(context, PEOPLE)
        try:
            doc = await self._transition(
                principal.tenant_id, request.conversation_id, (STATE_QUEUED,), STATE_AGENT, agent_id=principal.agent_id
            )
        except RequestError as refused:
            # Already this agent's: a claim retried after an error (the database took the first
            # try's write but died before answering) succeeds instead of reporting the agent's own
            # claim as someone else's.
            current = await self._conversation(principal.tenant_id, request.conversation_id)
            if refused.code != grpc.StatusCode.FAILED_PRECONDITION or not (
                current["state"] == STATE_AGENT and current.get("agent_id") == principal.agent_id
            ):
                raise
            return pb.ClaimConversationResponse(conversation=conversation_proto(current))
        log.info(
            "conversation claimed", extra={"conversation_id": doc["conversation_id"], "agent_id": principal.agent_id}
        )
        return pb.ClaimConversationResponse(conversation=conversation_proto(doc))

    @unary
    async def SendAgentReply(self, request: pb.SendAgentReplyRequest, context) -> pb.SendAgentReplyResponse:
        principal = await self.gw.auth.authenticate(context, PEOPLE)
        text = check_text(request.text, "text", self.gw.settings.max_message_chars)
        client_id = check_id(request.client_reply_id, "client_reply_id", required=False)
        doc = await self._conversation(principal.tenant_id, request.conversation_id)
        if doc["state"] != STATE_AGENT or doc.get("agent_id") != principal.agent_id:
            raise RequestError(
                grpc.StatusCode.FAILED_PRECONDITION,
                f"conversation {doc['conversation_id']} is {doc['state']}; claim it before replying",
            )
        reply_id = (
            derived_id(principal.tenant_id, "agent-reply", doc["conversation_id"], client_id)
            if client_id
            else str(uuid.uuid4())
        )
        reply = ev.ReplyPublished(
            tenant_id=principal.tenant_id,
            conversation_id=doc["conversation_id"],
            reply_id=reply_id,
            author=conv.AUTHOR_AGENT,
            agent_id=principal.agent_id,
            kind=conv.REPLY_KIND_AGENT,
            text=text,
        )
        reply.created_at.FromDatetime(utcnow())
        await self.gw.repos.messages.record_reply(reply)
        await self.gw.publish(REPLIES, reply)
        metrics.REPLIES.labels(service="gateway", kind="agent").inc()
        return pb.SendAgentReplyResponse(reply_id=reply_id)

    @unary
    async def TransferConversation(
        self, request: pb.TransferConversationRequest, context
    ) -> pb.TransferConversationResponse:
        principal = await self.gw.auth.authenticate(context, PEOPLE)
        queue = check_queue(request.queue, await self.gw.tenant_queues.of(principal.tenant_id))
        before = await self._conversation(principal.tenant_id, request.conversation_id)
        from_states, owned = self._may_move(principal, before, (STATE_QUEUED, STATE_AGENT), "transfer")
        doc = await self._transition(
            principal.tenant_id,
            before["conversation_id"],
            from_states,
            STATE_QUEUED,
            owned,
            queue=queue,
            agent_id="",
            queued_at=utcnow(),
        )
        previous = await self.gw.repos.escalations.latest_for(principal.tenant_id, doc["conversation_id"])
        escalation = ev.EscalationRaised()
        if previous is not None:
            escalation.CopyFrom(previous)
        escalation.escalation_id = str(uuid.uuid4())
        escalation.tenant_id = principal.tenant_id
        escalation.conversation_id = doc["conversation_id"]
        escalation.customer_id = doc.get("customer_id", "")
        escalation.queue = queue
        escalation.transferred_from = before.get("queue", "")
        escalation.reasons.add(
            code=conv.REASON_CODE_TRANSFER, detail=(request.note or f"transferred by {principal.agent_id}")[:500]
        )
        escalation.created_at.FromDatetime(utcnow())
        payload = ESCALATIONS.encode(escalation)
        await self.gw.repos.escalations.record(escalation, payload)
        await self.gw.recorder.escalated(escalation)
        await self.gw.publish(ESCALATIONS, escalation, topic=self.gw.tenant_queues.topic(principal.tenant_id, queue))
        return pb.TransferConversationResponse(conversation=conversation_proto(doc))

    @unary
    async def ResolveConversation(
        self, request: pb.ResolveConversationRequest, context
    ) -> pb.ResolveConversationResponse:
        principal = await self.gw.auth.authenticate(context, PEOPLE)
        before = await self._conversation(principal.tenant_id, request.conversation_id)
        from_states, owned = self._may_move(principal, before, (STATE_QUEUED, STATE_AGENT, STATE_BOT), "resolve")
        doc = await self._transition(
            principal.tenant_id, before["conversation_id"], from_states, STATE_RESOLVED, owned, resolved_at=utcnow()
        )
        return pb.ResolveConversationResponse(conversation=conversation_proto(doc))

    @streaming("conversation")
    async def WatchConversation(self, request: pb.WatchConversationRequest, context):
        principal = await self.gw.auth.authenticate(context, PEOPLE)
        doc = await self._conversation(principal.tenant_id, request.conversation_id)
        stream = conversation_stream(doc["conversation_id"])
        with self.gw.recorder.watch(principal.tenant_id, stream) as changed:
            cursor = request.after_seq if request.resume else await self.gw.event_log.head(principal.tenant_id, stream)
            async for entry in self._tail(principal.tenant_id, stream, cursor, changed):
                if entry is None:
                    continue
                payload, seq = bytes(entry["payload"]), entry["seq"]
                if entry["kind"] == "customer_message":
                    yield pb.WatchConversationResponse(customer_message=ev.MessageEnriched.FromString(payload), seq=seq)
                elif entry["kind"] == "reply":
                    yield pb.WatchConversationResponse(reply=ev.ReplyPublished.FromString(payload), seq=seq)
                elif entry["kind"] == "state":
                    yield pb.WatchConversationResponse(state=ev.ConversationStateChanged.FromString(payload), seq=seq)

    @unary
    async def ReadConversation(self, request: pb.ReadConversationRequest, context) -> pb.ReadConversationResponse:
        principal = await self.gw.auth.authenticate(context, PEOPLE)
        doc = await self._conversation(principal.tenant_id, request.conversation_id)
        cursor = await self.gw.event_log.head(principal.tenant_id, conversation_stream(doc["conversation_id"]))
        await self.gw.deferred.settled((principal.tenant_id, doc["conversation_id"]))
        history = await self.gw.repos.messages.history(principal.tenant_id, doc["conversation_id"])
        corrections = await self.gw.repos.corrections.for_conversation(principal.tenant_id, doc["conversation_id"])
        messages = [message_proto(d) for d in history]
        for message in messages:
            if message.message_id in corrections:
                message.correction.CopyFrom(correction_proto(corrections[message.message_id]))
        customer = await self.gw.repos.customers.get(principal.tenant_id, doc.get("customer_id", ""))
        profile = conv.CustomerProfile()
        if customer and customer.get("profile"):
            ParseDict(customer["profile"], profile, ignore_unknown_fields=True)
        out = pb.ReadConversationResponse(
            conversation=conversation_proto(doc), messages=messages, cursor=cursor, customer=profile
        )
        latest = await self.gw.repos.escalations.latest_for(principal.tenant_id, doc["conversation_id"])
        if latest is not None:
            out.escalation.CopyFrom(latest)
        return out

    @unary
    async def CorrectUnderstanding(
        self, request: pb.CorrectUnderstandingRequest, context
    ) -> pb.CorrectUnderstandingResponse:
        principal = await self.gw.auth.authenticate(context, PEOPLE)
        message_id = check_id(request.message_id, "message_id")
        if not request.intent and request.polarity == und.POLARITY_UNSPECIFIED:
            raise invalid("give the corrected intent, the corrected polarity, or both")
        if request.polarity not in und.Polarity.values():
            raise invalid(f"polarity {request.polarity} is not a Polarity value")
        doc = await self._conversation(principal.tenant_id, request.conversation_id)
        message = await self.gw.repos.messages.get_customer_message(principal.tenant_id, message_id)
        if message is None or message["conversation_id"] != doc["conversation_id"]:
            raise RequestError(
                grpc.StatusCode.NOT_FOUND,
                f"customer message {message_id} not found in conversation {doc['conversation_id']}",
            )
        if request.intent:
            await self._check_intent(request.intent, message)
        said = message.get("understanding", {}).get("intent", {})
        stored = await self.gw.repos.corrections.record(
            principal.tenant_id,
            doc["conversation_id"],
            message_id,
            principal.agent_id,
            request.intent,
            und.Polarity.Name(request.polarity) if request.polarity else "",
            model_intent=said.get("label", ""),
            model_version=message.get("model_versions", {}).get("intent", ""),
        )
        log.info(
            "understanding corrected",
            extra={
                "conversation_id": doc["conversation_id"],
                "message_id": message_id,
                "agent_id": principal.agent_id,
                "intent": stored.get("intent", ""),
            },
        )
        return pb.CorrectUnderstandingResponse(correction=correction_proto(stored))

    async def _check_intent(self, intent: str, message: dict) -> None:
        """The label must be one the intent model version that labelled the message can produce.

        A correction says what that model should have said, in its terms; label sets change between
        versions (a retrain can add or drop one), so the newest version's set would refuse a label the
        message's model has, or accept one it never had. The workers announce each version's labels.
        Only when the message's version is unknown (not enriched yet, or never announced) is it
        checked against the version that labels the tenant's messages now (its own tenant model, or the
        newest announced built-in one: another tenant's model knows other labels), and a refusal says so.
        """
        versions = self.gw.repos.model_versions
        labelled_by = message.get("model_versions", {}).get("intent", "")
        served = await versions.get("intent", labelled_by)
        if served is not None:
            checked = f"intent model {served['_id']}, which labelled message {message['_id']}, knows"
        else:
            own = await self.gw.tenant_queues.intent_model(message["tenant_id"])
            if own is not None:  # the tenant's own model labels its messages
                served = await versions.get("intent", own)
            else:  # the built-in taxonomy: never another tenant's own model
                served = await versions.latest("intent", skipping_prefix=MODEL_VERSION_PREFIX)
            if served is None:
                raise RequestError(
                    grpc.StatusCode.FAILED_PRECONDITION,
                    "no intent model version has been put into service yet, so its labels are unknown; start cs-intent and retry",
                )
            why = (
                f"message {message['_id']} was labelled by intent model {labelled_by}, which no intent worker has "
                "announced"
                if labelled_by
                else f"message {message['_id']} has no intent label yet"
            )
            checked = (
                f"{why}, so it was checked against the newest announced intent model, {served['_id']}, which knows"
            )
        labels = set(served["labels"])  # out_of_scope is one of them
        if intent not in labels:
            raise invalid(f"unknown intent {intent[:64]!r}; {checked}: {', '.join(sorted(labels))}")

    @unary
    async def TakeOverConversation(
        self, request: pb.TakeOverConversationRequest, context
    ) -> pb.TakeOverConversationResponse:
        principal = await self.gw.auth.authenticate(context, PEOPLE)
        doc = await self._transition(
            principal.tenant_id, request.conversation_id, (STATE_BOT,), STATE_AGENT, agent_id=principal.agent_id
        )
        log.info(
            "conversation taken over", extra={"conversation_id": doc["conversation_id"], "agent_id": principal.agent_id}
        )
        return pb.TakeOverConversationResponse(conversation=conversation_proto(doc))

    @unary
    async def ListBotConversations(
        self, request: pb.ListBotConversationsRequest, context
    ) -> pb.ListBotConversationsResponse:
        principal = await self.gw.auth.authenticate(context, PEOPLE)
        limit = min(request.limit or 50, 200)
        since = utcnow() - dt.timedelta(seconds=request.active_within_s or 3600)
        docs = await self.gw.queries.bot_conversations(principal.tenant_id, since, limit)
        return pb.ListBotConversationsResponse(conversations=[conversation_proto(d) for d in docs])

    @unary
    async def ListQueues(self, request: pb.ListQueuesRequest, context) -> pb.ListQueuesResponse:
        principal = await self.gw.auth.authenticate(context, PEOPLE)
        return pb.ListQueuesResponse(queues=await self.gw.tenant_queues.of(principal.tenant_id))

    @unary
    async def GetWallboard(self, request: pb.GetWallboardRequest, context) -> pb.GetWallboardResponse:
        principal = await self.gw.auth.authenticate(context, ROLE_SUPERVISOR)
        tenant = principal.tenant_id
        sl_s, abandon_s = request.service_level_s or 60, request.abandon_after_s or 600
        now = utcnow()
        out = pb.GetWallboardResponse(
            service_level_s=sl_s,
            abandon_after_s=abandon_s,
            abandoned_definition=ABANDONED_DEFINITION.format(abandon_s=abandon_s),
            csat_window_s=CSAT_WINDOW_S,
        )
        out.computed_at.FromDatetime(now)
        day: list[list[dict]] = []
        for queue in await self.gw.tenant_queues.of(tenant):
            entries = await self.gw.event_log.since(tenant, queue_stream(queue), now - dt.timedelta(hours=DAY_HOURS))
            day.append(entries)
            last_hour = [e for e in entries if aware(e["at"]) >= now - WINDOW]
            waiting = [
                d.get("queued_at") or d["updated_at"] async for d in self.gw.repos.conversations.queued(tenant, queue)
            ]
            out.queues.append(queue_figures(queue, last_hour, waiting, now, sl_s, abandon_s))
        out.day.extend(day_figures(day, now))
        loads = await self.gw.queries.agent_loads(tenant)
        signed_in = await self.gw.accounts.signed_in(tenant)
        for agent in sorted(set(loads) | signed_in):
            out.agents.append(pb.AgentLoad(agent_id=agent, signed_in=agent in signed_in, conversations=loads[agent]))
        ratings = await self.gw.queries.csat(tenant, now - dt.timedelta(seconds=CSAT_WINDOW_S))
        out.csat_responses = len(ratings)
        out.csat_average = sum(ratings) / len(ratings) if ratings else 0.0
        export(tenant, out)
        return out
