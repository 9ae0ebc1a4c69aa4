"""ReplySinkService (internal): the generator streams a reply's tokens to this replica.

Not exposed outside the cluster (the NetworkPolicy admits only the generator). Tokens are
delivered only to streams whose tenant matches the event's tenant.
"""

from __future__ import annotations

from services.common.proto.cs.v1 import reply_sink_service_pb2 as pb
from services.common.proto.cs.v1 import reply_sink_service_pb2_grpc as pb_grpc
from services.gateway.hub import Hub


class ReplySink(pb_grpc.ReplySinkServiceServicer):
    def __init__(self, hub: Hub) -> None:
        self.hub = hub

    async def PushReply(self, request_iterator, context) -> pb.PushReplyResponse:
        delivered = 0
        async for request in request_iterator:
            if request.HasField("token"):
                token = request.token
                delivered += bool(self.hub.to_conversation(request.tenant_id, token.conversation_id, ("token", token)))
            elif request.HasField("reply"):
                reply = request.reply
                delivered += bool(self.hub.to_conversation(request.tenant_id, reply.conversation_id, ("reply", reply)))
        return pb.PushReplyResponse(delivered=delivered)
