"""Streams a reply's tokens to the gateway replica holding the customer's reply stream.

Best effort by design: if the route is unknown or the replica unreachable, the customer still
gets the final reply, which goes through the replies topic that every gateway replica reads.
"""

from __future__ import annotations

import asyncio
import logging

import grpc

from services.common.platform import tls
from services.common.proto.cs.v1 import customer_service_pb2 as cpb
from services.common.proto.cs.v1 import events_pb2 as ev
from services.common.proto.cs.v1 import reply_sink_service_pb2 as pb
from services.common.proto.cs.v1 import reply_sink_service_pb2_grpc as pb_grpc

log = logging.getLogger(__name__)


class TokenStream:
    """One reply's token stream to one gateway; every method swallows transport errors."""

    def __init__(self, call, tenant_id: str, conversation_id: str, reply_id: str) -> None:
        self._call = call
        self._tenant = tenant_id
        self._conversation = conversation_id
        self._reply = reply_id
        self._index = 0
        self.broken = call is None

    async def token(self, text: str) -> None:
        if self.broken or not text:
            return
        token = cpb.ReplyToken(conversation_id=self._conversation, reply_id=self._reply, index=self._index, text=text)
        self._index += 1
        await self._write(pb.PushReplyRequest(tenant_id=self._tenant, token=token))

    async def final(self, reply: ev.ReplyPublished) -> None:
        if not self.broken:
            await self._write(pb.PushReplyRequest(tenant_id=self._tenant, reply=reply))

    async def close(self) -> None:
        if self._call is None:
            return
        try:
            if not self.broken:
                await self._call.done_writing()
                await asyncio.wait_for(self._call, 5)
        except (TimeoutError, grpc.aio.AioRpcError) as exc:
            log.info(
                "token stream closed with error", extra={"conversation_id": self._conversation, "error": str(exc)[:200]}
            )
        finally:
            self._call.cancel()

    async def _write(self, request: pb.PushReplyRequest) -> None:
        try:
            await asyncio.wait_for(self._call.write(request), 5)
        except (TimeoutError, grpc.aio.AioRpcError, asyncio.InvalidStateError) as exc:
            self.broken = True
            log.info(
                "gateway token stream broke; the final reply still goes via Kafka",
                extra={"conversation_id": self._conversation, "error": type(exc).__name__},
            )


class ReplyPusher:
    def __init__(self, tls_ca: bytes | None = None) -> None:
        """tls_ca: the CA of gateways serving TLS (CS_GATEWAY_TLS_CA); None connects in plaintext."""
        self._tls_ca = tls_ca
        self._channels: dict[str, grpc.aio.Channel] = {}

    def open(self, address: str | None, tenant_id: str, conversation_id: str, reply_id: str) -> TokenStream:
        if not address:
            return TokenStream(None, tenant_id, conversation_id, reply_id)
        channel = self._channels.get(address)
        if channel is None:
            channel = self._channels[address] = tls.channel(address, self._tls_ca)
        call = pb_grpc.ReplySinkServiceStub(channel).PushReply(timeout=300)
        return TokenStream(call, tenant_id, conversation_id, reply_id)

    async def close(self) -> None:
        for channel in self._channels.values():
            await channel.close()
        self._channels.clear()
