"""CustomerService: what channel adapters call (send, stream replies, feedback, history)."""

from __future__ import annotations

import logging
import uuid

import grpc

from services.common.platform.clock import utcnow
from services.common.platform.ids import derived_id
from services.common.platform.metrics import timed_stage
from services.common.platform.topics import FEEDBACK, INBOUND, STATE
from services.common.proto.cs.v1 import customer_service_pb2 as pb
from services.common.proto.cs.v1 import customer_service_pb2_grpc as pb_grpc
from services.common.proto.cs.v1 import events_pb2 as ev
from services.common.storage.repositories import (
    STATE_BOT,
    STATE_RESOLVED,
    conversation_proto,
    message_proto,
)
from services.gateway.auth import RequestError
from services.gateway.context import Gateway, streaming, unary
from services.gateway.hub import RecentIds, events
from services.gateway.replies import reply_from_doc, state_event
from services.gateway.validation import check_id, check_text, invalid
from services.gateway.visitors import Caller, customer_caller

log = logging.getLogger(__name__)

MAX_COMMENT_CHARS = 2000


def not_found(conversation_id: str) -> RequestError:
    return RequestError(grpc.StatusCode.NOT_FOUND, f"conversation {conversation_id} not found")


class CustomerApi(pb_grpc.CustomerServiceServicer):
    def __init__(self, gw: Gateway) -> None:
        self.gw = gw

    async def _caller(self, context) -> Caller:
        return await customer_caller(self.gw.auth, self.gw.widgets, context)

    async def _own_conversation(self, caller: Caller, conversation_id: str, must_exist: bool) -> dict | None:
        """The caller's conversation, or None (NOT_FOUND when it must exist).

        Conversations are stored by tenant and id, so another tenant's conversation with this id is
        not even looked at: nothing here can tell a caller whether some other tenant uses the id. A
        visitor's call sees another customer's conversation of the tenant as missing, the same way.
        """
        doc = await self.gw.repos.conversations.get(caller.tenant_id, conversation_id)
        if doc is not None and not caller.may_see(doc):
            doc = None
        if doc is None and must_exist:
            raise not_found(conversation_id)
        return doc

    @unary
    async def SendMessage(self, request: pb.SendMessageRequest, context) -> pb.SendMessageResponse:
        with timed_stage("gateway", "auth"):
            caller = await self._caller(context)
        tenant = caller.tenant_id
        text = check_text(request.text, "text", self.gw.settings.max_message_chars)
        customer_id = caller.customer(request.customer_id)
        channel = check_id(request.channel or "api", "channel")
        client_id = check_id(request.client_message_id, "client_message_id", required=False)
        conversation_id = check_id(request.conversation_id, "conversation_id", required=False) or str(uuid.uuid4())

        with timed_stage("gateway", "conversation"):
            # Whose it is and whether it is resolved: remembered from earlier messages and the state changes
            # this replica reads (services/gateway/known_conversations.py), else read, or created.
            known = self.gw.known.get(tenant, conversation_id)
            if known is None or known.state == STATE_RESOLVED:
                existing = await self.gw.repos.conversations.get(tenant, conversation_id)
                conversation = existing or await self.gw.repos.conversations.ensure(
                    tenant, conversation_id, customer_id, channel
                )
                known = self.gw.known.saw(conversation)
        if known.customer_id != customer_id:  # (also when another customer's write came first)
            if caller.customer_id:
                raise not_found(conversation_id)  # a visitor learns nothing about others' conversations
            raise RequestError(
                grpc.StatusCode.PERMISSION_DENIED,
                f"conversation {conversation_id} belongs to another customer; start a new conversation",
            )
        if known.state == STATE_RESOLVED:
            reopened = await self.gw.repos.conversations.transition(
                tenant, conversation_id, (STATE_RESOLVED,), STATE_BOT, queue="", agent_id=""
            )
            if reopened:
                self.gw.known.saw(reopened)
                await self.gw.publish(STATE, state_event(reopened, STATE_RESOLVED))
        if request.HasField("customer") and not self.gw.profiles.unchanged(tenant, customer_id, request.customer):
            await self.gw.repos.customers.upsert(tenant, customer_id, request.customer)
            self.gw.profiles.wrote(tenant, customer_id, request.customer)

        message_id = derived_id(tenant, "msg", client_id) if client_id else str(uuid.uuid4())
        now = utcnow()
        msg = ev.MessageReceived(
            tenant_id=tenant,
            conversation_id=conversation_id,
            message_id=message_id,
            customer_id=customer_id,
            channel=channel,
            text=text,
            gateway_id=self.gw.sink_addr,
        )
        msg.received_at.FromDatetime(now)
        msg.sent_at.FromDatetime(now)
        if request.HasField("customer"):
            msg.customer.CopyFrom(request.customer)
        with timed_stage("gateway", "publish"):
            await self.gw.publish(INBOUND, msg)
        # After the answer (services/gateway/deferred.py): the event is in Kafka, and the generator stores
        # the message with its enrichment anyway; a history read on this replica waits for this write.
        await self.gw.deferred.write(
            (tenant, conversation_id), lambda: self._store_at_receipt(msg, client_id), f"message {message_id}"
        )
        log.info(
            "message accepted",
            extra={"conversation_id": conversation_id, "message_id": message_id, "tenant_id": tenant},
        )
        response = pb.SendMessageResponse(conversation_id=conversation_id, message_id=message_id)
        response.accepted_at.FromDatetime(now)
        return response

    async def _store_at_receipt(self, msg: ev.MessageReceived, client_id: str) -> None:
        with timed_stage("gateway", "store"):
            await self.gw.repos.messages.record_customer(msg, client_id)

    @streaming("replies")
    async def StreamReplies(self, request: pb.StreamRepliesRequest, context):
        caller = await self._caller(context)
        tenant = caller.tenant_id
        # A stream may open before its conversation exists (the first SendMessage creates it), and
        # only ever carries this tenant's events, so an adapter's needs no lookup. A visitor's stream
        # needs the visitor's own conversation: it opens after the first SendMessage, with replay.
        conversation_id = check_id(request.conversation_id, "conversation_id")
        if caller.customer_id:
            await self._own_conversation(caller, conversation_id, must_exist=True)
        address = self.gw.sink_addr
        sent = RecentIds()
        try:
            with self.gw.hub.conversation(tenant, conversation_id) as sub:
                async with self.gw.hub.route_lock(tenant, conversation_id):
                    await self.gw.repos.stream_routes.set(tenant, conversation_id, address)
                if request.replay:
                    for doc in await self.gw.repos.messages.history(tenant, conversation_id):
                        if doc["author"] != "customer":
                            sent.add(doc["_id"])
                            yield pb.StreamRepliesResponse(reply=reply_from_doc(doc))
                    # Read after subscribing: a change before this read is in it, one after arrives as
                    # an event, so a handover that happened while the stream was opening is not missed.
                    current = await self.gw.repos.conversations.get(tenant, conversation_id)
                    if current is not None:
                        yield pb.StreamRepliesResponse(state=state_event(current, current["state"]))
                async for kind, item in events(sub):
                    if sub.dropped:
                        raise RequestError(
                            grpc.StatusCode.RESOURCE_EXHAUSTED, "stream fell too far behind; reconnect with replay"
                        )
                    if kind == "token":
                        yield pb.StreamRepliesResponse(token=item)
                    elif kind == "reply" and item.reply_id not in sent:
                        sent.add(item.reply_id)
                        yield pb.StreamRepliesResponse(reply=item)
                    elif kind == "state":
                        yield pb.StreamRepliesResponse(state=item)
        finally:
            # Outside the subscription: while it is held, this very stream still counts as one.
            # Under the route lock, so a stream opening meanwhile writes its route after this delete.
            async with self.gw.hub.route_lock(tenant, conversation_id):
                if not self.gw.hub.has_conversation(tenant, conversation_id):
                    await self.gw.repos.stream_routes.clear(tenant, conversation_id, address)

    @unary
    async def SubmitFeedback(self, request: pb.SubmitFeedbackRequest, context) -> pb.SubmitFeedbackResponse:
        caller = await self._caller(context)
        tenant = caller.tenant_id
        conversation_id = check_id(request.conversation_id, "conversation_id")
        reply_id = check_id(request.reply_id, "reply_id")
        if caller.customer_id:
            await self._own_conversation(caller, conversation_id, must_exist=True)
        if request.rating == ev.RATING_UNSPECIFIED and request.csat == 0:
            raise invalid("give a rating (thumbs) or a csat score, or both")
        if not 0 <= request.csat <= 5:
            raise invalid(f"csat must be 1..5 (0 for none), not {request.csat}")
        if len(request.comment) > MAX_COMMENT_CHARS:
            raise invalid(f"comment has {len(request.comment)} characters; the limit is {MAX_COMMENT_CHARS}")
        reply = await self.gw.repos.messages.get_reply(tenant, reply_id)
        if reply is None or reply["conversation_id"] != conversation_id:
            raise RequestError(
                grpc.StatusCode.NOT_FOUND, f"reply {reply_id} not found in conversation {conversation_id}"
            )
        feedback = ev.FeedbackSubmitted(
            feedback_id=str(uuid.uuid4()),
            tenant_id=tenant,
            conversation_id=conversation_id,
            reply_id=reply_id,
            rating=request.rating,
            csat=request.csat,
            comment=request.comment,
        )
        feedback.created_at.FromDatetime(utcnow())
        await self.gw.publish(FEEDBACK, feedback)
        await self.gw.repos.feedback.record(feedback)
        return pb.SubmitFeedbackResponse(feedback_id=feedback.feedback_id)

    @unary
    async def GetConversation(self, request: pb.GetConversationRequest, context) -> pb.GetConversationResponse:
        caller = await self._caller(context)
        conversation_id = check_id(request.conversation_id, "conversation_id")
        doc = await self._own_conversation(caller, conversation_id, must_exist=True)
        if doc is None:  # (_own_conversation raised already; for the type checker)
            raise not_found(conversation_id)
        await self.gw.deferred.settled((caller.tenant_id, conversation_id))
        history = await self.gw.repos.messages.history(caller.tenant_id, conversation_id)
        return pb.GetConversationResponse(
            conversation=conversation_proto(doc), messages=[message_proto(d) for d in history]
        )
