"""ReplySinkService (internal): the generator streams a reply's tokens and final reply to this replica.

PushReply carries no credentials: whoever reaches it can put a "bot reply" into any customer's
stream. So it is served only on the gateway's sink listener (CS_GATEWAY_SINK_LISTEN, its own port),
never on the public port, and the deployments keep that port internal: Kubernetes' NetworkPolicy
admits only generator pods to it, compose does not publish it. The generator finds a replica's sink
through the stream route StreamReplies registers (CS_GATEWAY_ADVERTISED_ADDR).

Tokens are delivered only to streams whose tenant matches the event's tenant. A message whose bytes
don't decode ends the call with INVALID_ARGUMENT, like the public API, rather than grpc's bare UNKNOWN.
"""

from __future__ import annotations

from services.common.proto.cs.v1 import reply_sink_service_pb2 as pb
from services.common.proto.cs.v1 import reply_sink_service_pb2_grpc as pb_grpc
from services.gateway.auth import RequestError
from services.gateway.context import check_decoded
from services.gateway.hub import Hub


class ReplySink(pb_grpc.ReplySinkServiceServicer):
    def __init__(self, hub: Hub) -> None:
        self.hub = hub

    async def PushReply(self, request_iterator, context) -> pb.PushReplyResponse:
        delivered = 0
        try:
            async for request in request_iterator:
                check_decoded(request)
                delivered += self._deliver(request)
        except RequestError as exc:
            await context.abort(exc.code, exc.message)
        return pb.PushReplyResponse(delivered=delivered)

    def _deliver(self, request: pb.PushReplyRequest) -> bool:
        """True when the token or final reply reached at least one of this replica's streams."""
        if request.HasField("token"):
            token = request.token
            return bool(self.hub.to_conversation(request.tenant_id, token.conversation_id, ("token", token)))
        if request.HasField("reply"):
            reply = request.reply
            return bool(self.hub.reply_to_conversation(request.tenant_id, reply.conversation_id, reply))
        return False
