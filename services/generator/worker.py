"""Generator worker: cs.messages.enriched -> routing policy -> answer (streamed) or escalation.

For each enriched customer message:
1. store it with its enrichment (whichever path it came in: gateway or adapter straight to Kafka);
2. skip it if its reply already exists (redelivery after a crash: nobody sees a reply twice);
3. stay silent while a human owns the conversation (queued / agent);
4. ask the routing policy: escalate (state bot -> queued, escalation event with reasons, summary
   and a suggested reply, and a handover notice to the customer) or answer (LLM tokens streamed to
   the customer's gateway replica, final reply checked, published and stored).

Ids are derived from the message id, so every step can be repeated after a crash with the same
result: the reply id, the escalation id, and the state change (which records the message that
caused it, so a redelivered message resumes its own escalation instead of going silent).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from dataclasses import dataclass, replace

from services.common import locales
from services.common.platform import metrics
from services.common.platform.clock import utcnow
from services.common.platform.ids import derived_id
from services.common.platform.pii import mask_pii
from services.common.platform.topics import ESCALATIONS, REPLIES, STATE, queue_topic
from services.common.proto.cs.v1 import conversation_pb2 as conv
from services.common.proto.cs.v1 import events_pb2 as ev
from services.common.storage.repositories import STATE_BOT, STATE_QUEUED, STATE_RESOLVED, Repositories
from services.common.storage.tenants import PersonaCache, TenantSettingsRepo
from services.common.worker.runtime import WorkerContext
from services.generator.answering import Answerer, AnswerResult, Outcome, Question
from services.generator.escalation import handover_notice, suggested_reply, summarize
from services.generator.policy import (
    Action,
    Decision,
    PolicyInput,
    Priority,
    Reason,
    ReasonCode,
    RoutingPolicy,
    TurnView,
)
from services.generator.prompt import CustomerProfileView, Persona, Turn
from services.generator.pusher import ReplyPusher, TokenStream
from services.generator.tenant_routing import TenantPolicy, TenantRouting

log = logging.getLogger(__name__)

HISTORY_TURNS = 20
STATE_NAMES = {conv.CONVERSATION_STATE_BOT: STATE_BOT, conv.CONVERSATION_STATE_QUEUED: STATE_QUEUED}
PRIORITY = {
    "low": conv.PRIORITY_LOW,
    "normal": conv.PRIORITY_NORMAL,
    "high": conv.PRIORITY_HIGH,
    "urgent": conv.PRIORITY_URGENT,
}


@dataclass
class GeneratorDeps:
    ctx: WorkerContext
    repos: Repositories
    answerer: Answerer
    policy: RoutingPolicy
    pusher: ReplyPusher
    tenants: TenantSettingsRepo | PersonaCache  # what answers read is the tenant's persona
    routing: TenantRouting | None = None  # None: every tenant routed by `policy` (tests of the platform policy)


def turn_views(history: list[dict]) -> list[TurnView]:
    views = []
    for doc in history:
        intent = (doc.get("understanding") or {}).get("intent") or {}
        views.append(
            TurnView(
                author=doc["author"],
                text=doc.get("text", ""),
                intent_label=intent.get("label", ""),
                out_of_scope=bool(intent.get("out_of_scope", False)),
                confidence=intent.get("confidence"),
                sent_at=doc.get("created_at"),
                reply_kind=doc.get("reply_kind", ""),
            )
        )
    return views


MAX_ORDERS = 3


def profile_view(
    message: ev.MessageReceived, customer: dict | None, history: list[dict] = (), understanding=None
) -> CustomerProfileView:
    """What the prompt may say about the customer: name, tier, and the order numbers given so far."""
    stored = (customer or {}).get("profile", {})
    orders = [
        e.get("value") or e.get("text", "")
        for d in history
        if d["author"] == "customer"
        for e in (d.get("understanding") or {}).get("entities", [])
        if e.get("type") == "order_number"
    ]
    if understanding is not None:
        orders += [e.value or e.text for e in understanding.entities if e.type == "order_number"]
    return CustomerProfileView(
        display_name=message.customer.display_name or stored.get("display_name", ""),
        tier=message.customer.tier or stored.get("tier", ""),
        orders=tuple(dict.fromkeys(o for o in orders if o))[-MAX_ORDERS:],
    )


def reason_codes(decision: Decision) -> list[str]:
    return [str(reason.code) for reason in decision.reasons]


class Generator:
    def __init__(self, deps: GeneratorDeps) -> None:
        self.d = deps

    async def handle(self, event: ev.MessageEnriched) -> None:
        m = event.message
        repos = self.d.repos
        reply_id = derived_id(m.tenant_id, "bot-reply", m.message_id)

        profiled = m.HasField("customer")

        async def store() -> tuple[dict, dict | None]:
            """The writes, one after another (FerretDB's SQLite writers wait on each other's locks); with
            them the customer, when the message carries a profile."""
            conversation = await repos.conversations.ensure(m.tenant_id, m.conversation_id, m.customer_id, m.channel)
            customer = await repos.customers.upsert(m.tenant_id, m.customer_id, m.customer) if profiled else None
            await repos.messages.attach_enrichment(m, event.understanding, event.sentiment)
            return conversation, customer

        async def stored_customer() -> dict | None:
            return None if profiled else await repos.customers.get(m.tenant_id, m.customer_id)

        with metrics.timed_stage("generator", "intake"):
            # The reads that depend on no write go alongside them: one round trip's time instead of three.
            (conversation, written), read, existing = await asyncio.gather(
                store(), stored_customer(), repos.messages.get_reply(m.tenant_id, reply_id)
            )
        customer = written if profiled else read
        if existing is not None:
            metrics.EVENTS_DUPLICATE.labels(service="generator", topic="enriched").inc()
            pending = repos.messages.unpublished_event(existing)
            if pending is not None:  # stored, then the worker died before Kafka had it
                await self.publish_stored(pending)
            return
        if conversation["state"] == STATE_RESOLVED:
            conversation = await self.reopen(m, conversation)
        # The conversation as `ensure` returned it: this worker is the only writer of a conversation's
        # bot turns and its messages are handled in order, so nothing of it changed since but what a
        # person does, which still_the_bots reads again before any reply goes out.
        resuming = conversation["state"] == STATE_QUEUED and conversation.get("queued_by") == m.message_id
        with metrics.timed_stage("generator", "history"):  # after the store: it holds the message (summaries read it)
            history = await repos.messages.history(m.tenant_id, m.conversation_id, HISTORY_TURNS)
        profile = profile_view(m, customer, [d for d in history if d["_id"] != m.message_id], event.understanding)
        policy_input = PolicyInput(
            text=m.text,
            language=event.understanding.language or "und",
            intent_label=event.understanding.intent.label,
            intent_confidence=event.understanding.intent.confidence,
            out_of_scope=event.understanding.intent.out_of_scope,
            anger=event.sentiment.anger,
            sentiment_score=event.sentiment.score,
            trend=conv_trend(event),
            trend_slope=event.sentiment.trend_slope,
            customer_tier=profile.tier,
            recent_turns=turn_views([d for d in history if d["_id"] != m.message_id]),
            conversation_state=STATE_BOT if resuming else conversation["state"],
        )
        policy = await self.policy_for(m.tenant_id)
        decision = policy.decide(policy_input)
        log.info(
            "routing decision",
            extra={
                "conversation_id": m.conversation_id,
                "message_id": m.message_id,
                "action": str(decision.action),
                "queue": decision.queue or "",
                "reasons": ",".join(reason_codes(decision)),
            },
        )
        if decision.action == Action.SILENT:
            return
        if decision.action == Action.ACKNOWLEDGE:
            await self.acknowledge(event, reply_id, resuming)
            return
        if decision.action == Action.ESCALATE and not decision.answer_first:
            await self.escalate(event, decision, reply_id, history, profile, resuming)
        else:
            planned = decision if decision.action == Action.ESCALATE else None
            await self.answer(event, reply_id, history, profile, policy_input, resuming, planned, policy)

    async def reopen(self, m: ev.MessageReceived, conversation: dict) -> dict:
        """A message to a conversation resolved before it arrived reopens it (state resolved -> bot). The
        gateway does that at receipt; a replica whose memory of the state lagged behind the resolution
        (services/gateway/known_conversations.py) leaves it to this. A conversation resolved after the
        message arrived stays resolved (the agent closed it having seen the message), as do those resolved
        before resolutions were timed."""
        resolved_at = conversation.get("resolved_at")
        if resolved_at is None or not m.HasField("received_at") or resolved_at > m.received_at.ToDatetime(dt.UTC):
            return conversation
        repos = self.d.repos
        reopened = await repos.conversations.transition(
            m.tenant_id,
            m.conversation_id,
            (STATE_RESOLVED,),
            STATE_BOT,
            queue="",
            agent_id="",
            op_id=f"reopen/{m.message_id}",
        )
        if reopened is None:  # someone moved it meanwhile: as it is now
            return await repos.conversations.get(m.tenant_id, m.conversation_id) or conversation
        state = ev.ConversationStateChanged(
            tenant_id=m.tenant_id,
            conversation_id=m.conversation_id,
            from_state=conv.CONVERSATION_STATE_RESOLVED,
            to_state=conv.CONVERSATION_STATE_BOT,
        )
        state.changed_at.FromDatetime(utcnow())
        await self.d.ctx.publisher.publish(STATE, state)
        log.info("reopened a resolved conversation", extra={"conversation_id": m.conversation_id})
        return reopened

    async def policy_for(self, tenant_id: str) -> RoutingPolicy | TenantPolicy:
        """The tenant's own routing (its tenant file's queues and rules), or the platform policy."""
        return self.d.policy if self.d.routing is None else await self.d.routing.policy(tenant_id)

    async def acknowledge(self, event: ev.MessageEnriched, reply_id: str, resuming: bool) -> None:
        """Thanks or praise only (policy.Action.ACKNOWLEDGE): the language's acknowledgement, no lookup, no LLM."""
        m = event.message
        if not await self.still_the_bots(m, resuming):
            return
        language = locales.resolve(event.understanding.language)
        text = locales.text(language, "policy.acknowledgement")
        await self.deliver(self.reply(event, reply_id, text, conv.REPLY_KIND_ANSWER), None)
        await self.d.repos.conversations.count_bot_turn(m.tenant_id, m.conversation_id)

    async def fail_safe(self, event: ev.MessageEnriched, reason: str, detail: str) -> None:
        """A message that cannot be answered (the answer path failed on it for good) goes to a person:
        the escalation and the handover notice any escalation gets, in the default queue (the tenant
        file's, else the platform's) at HIGH priority, unless it already has its reply or a person
        already owns the conversation."""
        m = event.message
        repos = self.d.repos
        reply_id = derived_id(m.tenant_id, "bot-reply", m.message_id)
        if await repos.messages.get_reply(m.tenant_id, reply_id) is not None:
            return
        conversation = await repos.conversations.ensure(m.tenant_id, m.conversation_id, m.customer_id, m.channel)
        try:  # the agent should see the message, but storing it may be what failed
            await repos.messages.attach_enrichment(m, event.understanding, event.sentiment)
        except Exception:
            log.exception("storing a message that failed processing failed too", extra={"message_id": m.message_id})
        resuming = conversation["state"] == STATE_QUEUED and conversation.get("queued_by") == m.message_id
        if conversation["state"] != STATE_BOT and not resuming:
            return  # a person owns the conversation and gets the message
        try:  # the tenant's own default queue when its tenant file names one
            queue = (await self.policy_for(m.tenant_id)).config.default_queue
        except Exception:  # its rules cannot be read (that may be what failed): the platform's default
            log.exception("reading a tenant's routing for a fail-safe handover failed", extra={"tenant": m.tenant_id})
            queue = self.d.policy.config.default_queue
        decision = Decision(
            Action.ESCALATE,
            queue,
            Priority.HIGH,
            (Reason(ReasonCode.PROCESSING_ERROR, mask_pii(f"{reason}: {detail}")[:300]),),
        )
        log.warning(
            "handing a message that could not be processed to a person",
            extra={"conversation_id": m.conversation_id, "message_id": m.message_id, "reason": reason},
        )
        profile = CustomerProfileView(display_name=m.customer.display_name, tier=m.customer.tier)
        await self.escalate(event, decision, reply_id, [], profile, resuming)

    async def escalate(
        self,
        event: ev.MessageEnriched,
        decision: Decision,
        reply_id: str,
        history: list[dict],
        profile: CustomerProfileView,
        resuming: bool,
        stream: TokenStream | None = None,
    ) -> None:
        m = event.message
        repos = self.d.repos
        queue = decision.queue or "general"
        if not resuming:
            doc = await repos.conversations.transition(
                m.tenant_id,
                m.conversation_id,
                (STATE_BOT,),
                STATE_QUEUED,
                queue=queue,
                agent_id="",
                queued_by=m.message_id,
                queued_at=utcnow(),
                op_id=f"escalate/{m.message_id}",  # a retry after the database died mid-write finds its own change
            )
            if doc is None:
                return  # someone else moved it first; a human owns it now
            state = ev.ConversationStateChanged(
                tenant_id=m.tenant_id,
                conversation_id=m.conversation_id,
                from_state=conv.CONVERSATION_STATE_BOT,
                to_state=conv.CONVERSATION_STATE_QUEUED,
                queue=queue,
            )
            state.changed_at.FromDatetime(utcnow())
            await self.d.ctx.publisher.publish(STATE, state)
        language = event.understanding.language or "en"
        escalation = ev.EscalationRaised(
            escalation_id=derived_id(m.tenant_id, "escalation", m.message_id),
            tenant_id=m.tenant_id,
            conversation_id=m.conversation_id,
            message_id=m.message_id,
            customer_id=m.customer_id,
            queue=queue,
            priority=PRIORITY.get(str(decision.priority), conv.PRIORITY_NORMAL),
            summary=summarize(turn_views(history), event.understanding, event.sentiment, decision),
            suggested_reply=suggested_reply(decision, language, profile.display_name),
            language=language,
            understanding=event.understanding,
            sentiment=event.sentiment,
        )
        for reason in decision.reasons:
            escalation.reasons.add(code=conv.ReasonCode.Value(f"REASON_CODE_{reason.code}"), detail=reason.detail)
        escalation.created_at.FromDatetime(utcnow())
        settings = self.d.ctx.settings
        topic = queue_topic(settings.topic_prefix, m.tenant_id, queue, settings.escalation_queues)
        await self.d.ctx.publisher.publish(ESCALATIONS, escalation, topic=topic)
        await repos.escalations.record(escalation, ESCALATIONS.encode(escalation))
        for reason in decision.reasons:
            metrics.ESCALATIONS.labels(service="generator", queue=queue, reason=str(reason.code)).inc()
        back_at = await self.d.routing.back_at(m.tenant_id, queue, utcnow()) if self.d.routing else None
        if back_at is not None:
            log.info(
                "escalated outside the queue's business hours",
                extra={"conversation_id": m.conversation_id, "queue": queue, "opens": back_at[0].isoformat()},
            )
        text = handover_notice(language, queue, profile.display_name, decision, back_at)
        notice = self.reply(event, reply_id, text, conv.REPLY_KIND_HANDOVER)
        await self.deliver(notice, stream)

    async def answer(
        self,
        event: ev.MessageEnriched,
        reply_id: str,
        history: list[dict],
        profile: CustomerProfileView,
        policy_input: PolicyInput,
        resuming: bool,
        planned: Decision | None = None,
        policy: RoutingPolicy | TenantPolicy | None = None,
    ) -> None:
        """Answer from the knowledge base. `planned` is an escalation with soft reasons only
        (Decision.answer_first): it goes ahead when no checked answer comes out, instead of a fallback."""
        m = event.message
        with metrics.timed_stage("generator", "route"):
            persona = Persona.of(m.tenant_id, await self.d.tenants.persona(m.tenant_id))
            route = await self.d.repos.stream_routes.get(m.tenant_id, m.conversation_id)
            stream = self.d.pusher.open(route, m.tenant_id, m.conversation_id, reply_id)
        language = (
            event.understanding.language if event.understanding.language in locales.languages() else persona.language
        )
        turns = [Turn(author=d["author"], text=d.get("text", "")) for d in history if d["_id"] != m.message_id]
        question = Question(m.tenant_id, m.text, language, turns, profile, persona)
        try:
            result = await self.d.answerer.answer(question, on_token=stream.token)
            self.log_outcome(m, result)
            if result.outcome == Outcome.HANDOVER or (planned is not None and result.outcome != Outcome.ANSWER):
                code = ReasonCode.NO_KNOWLEDGE if result.reason == "no_knowledge" else ReasonCode.ANSWER_CHECK_FAILED
                decision = (policy or self.d.policy).hand_over(policy_input, Reason(code, result.detail))
                if planned is not None:  # the reasons the policy had, then why the answer did not come
                    decision = replace(planned, reasons=(*planned.reasons, *decision.reasons[:1]))
                await self.escalate(event, decision, reply_id, history, profile, resuming, stream)
                return
            if not await self.still_the_bots(m, resuming):
                return  # a person took the conversation over while the answer was generated
            kind = conv.REPLY_KIND_ANSWER if result.outcome == Outcome.ANSWER else conv.REPLY_KIND_FALLBACK
            reply = self.reply(event, reply_id, result.text, kind)
            reply.citations.extend(result.citations)
            if result.generated:
                reply.model_version = self.d.answerer.llm.version
                reply.first_token_seconds = result.first_token_seconds
                reply.generation_seconds = result.generation_seconds
            pushing = time.perf_counter()
            await self.deliver(reply, stream)
            metrics.STAGE_SECONDS.labels(service="generator", stage="push").observe(time.perf_counter() - pushing)
        finally:
            await stream.close()
            if stream.unreachable and route:  # the replica is gone: drop its route and channel
                await self.d.repos.stream_routes.clear(m.tenant_id, m.conversation_id, route)
                self.d.pusher.forget(route)
        await self.d.repos.conversations.count_bot_turn(m.tenant_id, m.conversation_id)

    async def still_the_bots(self, m: ev.MessageReceived, resuming: bool) -> bool:
        """Read the conversation's state again right before the reply goes out: generating takes
        seconds, and a person who took it over (TakeOverConversation) or claimed it meanwhile must
        not see the bot answer after them."""
        doc = await self.d.repos.conversations.get(m.tenant_id, m.conversation_id)
        state = doc["state"] if doc else STATE_BOT
        if state == STATE_BOT or (resuming and state == STATE_QUEUED):
            return True
        log.info(
            "answer dropped: a person has the conversation now",
            extra={"conversation_id": m.conversation_id, "message_id": m.message_id, "state": state},
        )
        metrics.ANSWER_OUTCOMES.labels(service="generator", outcome="dropped", reason="taken_over").inc()
        return False

    @staticmethod
    def log_outcome(m: ev.MessageReceived, result: AnswerResult) -> None:
        ids = {"conversation_id": m.conversation_id, "message_id": m.message_id}
        stages = dict(result.stages)
        if result.generated:
            metrics.FIRST_TOKEN_SECONDS.labels(service="generator").observe(result.first_token_seconds)
            metrics.GENERATION_SECONDS.labels(service="generator").observe(result.generation_seconds)
            metrics.MODEL_SECONDS.labels(service="generator", model="llm").observe(result.generation_seconds)
            stages["prefill"] = result.first_token_seconds
            stages["decode"] = result.generation_seconds - result.first_token_seconds
        for stage, seconds in stages.items():
            metrics.STAGE_SECONDS.labels(service="generator", stage=stage).observe(seconds)
        metrics.ANSWER_OUTCOMES.labels(
            service="generator", outcome=str(result.outcome), reason=result.reason.split(":")[0].split(",")[0]
        ).inc()
        log.info(
            "answer outcome",
            extra={
                **ids,
                "outcome": str(result.outcome),
                "reason": result.reason,
                "citations": ",".join(result.citations),
                "passages": ",".join(f"{h.passage.chunk_id}:{h.score:.2f}" for h in result.hits),
            },
        )

    async def publish_stored(self, reply: ev.ReplyPublished) -> None:
        await self.d.ctx.publisher.publish(REPLIES, reply)
        await self.d.repos.messages.mark_published(reply.tenant_id, reply.reply_id)

    def reply(self, event: ev.MessageEnriched, reply_id: str, text: str, kind: int) -> ev.ReplyPublished:
        m = event.message
        reply = ev.ReplyPublished(
            tenant_id=m.tenant_id,
            conversation_id=m.conversation_id,
            reply_id=reply_id,
            in_reply_to=m.message_id,
            author=conv.AUTHOR_BOT,
            kind=kind,
            text=text,
            language=event.understanding.language,
        )
        reply.created_at.FromDatetime(utcnow())
        return reply

    async def deliver(self, reply: ev.ReplyPublished, stream) -> None:
        """Store, close the token stream with the final reply, then publish.

        Stored first so a reply the customer sees is always in the conversation's history; pushed
        before Kafka has it (the customer does not wait on the publish and its confirmation): a
        worker that dies in between finds the reply stored and unpublished on redelivery and
        publishes that same reply (see MessageRepo.record_reply), which the customer's stream
        recognises by its id; marked published once Kafka has it.
        """
        await self.d.repos.messages.record_reply(reply, published=False)
        if stream is not None:  # stored: the customer may see it; Kafka gets it next (a redelivery publishes it)
            await stream.final(reply)
        await self.publish_stored(reply)
        metrics.REPLIES.labels(
            service="generator", kind=conv.ReplyKind.Name(reply.kind).removeprefix("REPLY_KIND_").lower()
        ).inc()


def conv_trend(event: ev.MessageEnriched) -> str:
    from services.common.proto.cs.v1 import understanding_pb2 as und

    return {und.TREND_IMPROVING: "improving", und.TREND_WORSENING: "worsening"}.get(event.sentiment.trend, "stable")
