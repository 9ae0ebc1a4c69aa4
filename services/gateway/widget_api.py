"""WidgetService: what the web-chat service asks before it issues a visitor token."""

from __future__ import annotations

from services.common.proto.cs.v1 import widget_service_pb2 as pb
from services.common.proto.cs.v1 import widget_service_pb2_grpc as pb_grpc
from services.common.storage.repositories import ROLE_CHANNEL
from services.gateway.context import Gateway, unary


class WidgetApi(pb_grpc.WidgetServiceServicer):
    def __init__(self, gw: Gateway) -> None:
        self.gw = gw

    @unary
    async def ResolveWidgetKey(self, request: pb.ResolveWidgetKeyRequest, context) -> pb.ResolveWidgetKeyResponse:
        await self.gw.auth.authenticate(context, ROLE_CHANNEL)
        widget = await self.gw.widgets.resolve(request.widget_key, request.origin)
        return pb.ResolveWidgetKeyResponse(tenant_id=widget.tenant_id, widget_key_id=widget.key_id)
