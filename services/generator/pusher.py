"""Streams a reply's tokens to the gateway replica holding the customer's reply stream.

Best effort by design: if the route is unknown or the replica unreachable, the customer still
gets the final reply, which goes through the replies topic that every gateway replica reads.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict

import grpc

from services.common.platform import tls
from services.common.platform.metrics import PUSH_CHANNELS
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
        self.unreachable = False  # the replica did not answer at all: its route is stale

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
            self.unreachable = self._index <= 1 and (
                isinstance(exc, TimeoutError)
                or (isinstance(exc, grpc.aio.AioRpcError) and exc.code() == grpc.StatusCode.UNAVAILABLE)
            )
            log.info(
                "gateway token stream broke; the final reply still goes via Kafka",
                extra={"conversation_id": self._conversation, "error": type(exc).__name__},
            )


MAX_CHANNELS = 64  # gateway replicas a generator keeps a channel to; the least recently used is closed


class ReplyPusher:
    def __init__(self, tls_ca: bytes | None = None, max_channels: int = MAX_CHANNELS) -> None:
        """tls_ca: the CA of gateways serving TLS (CS_GATEWAY_TLS_CA); None connects in plaintext."""
        self._tls_ca = tls_ca
        self._max_channels = max_channels
        self._channels: OrderedDict[str, grpc.aio.Channel] = OrderedDict()
        self._closing: set[asyncio.Task] = set()

    def open(self, address: str | None, tenant_id: str, conversation_id: str, reply_id: str) -> TokenStream:
        if not address:
            return TokenStream(None, tenant_id, conversation_id, reply_id)
        channel = self._channels.get(address)
        if channel is None:
            channel = self._channels[address] = tls.channel(address, self._tls_ca)
            while len(self._channels) > self._max_channels:
                _, oldest = self._channels.popitem(last=False)
                self._close_later(oldest)
        self._channels.move_to_end(address)
        PUSH_CHANNELS.labels(service="generator").set(len(self._channels))
        call = pb_grpc.ReplySinkServiceStub(channel).PushReply(timeout=300)
        return TokenStream(call, tenant_id, conversation_id, reply_id)

    def forget(self, address: str) -> None:
        """Close the channel to a replica that is gone (its route was stale)."""
        channel = self._channels.pop(address, None)
        if channel is not None:
            self._close_later(channel)
        PUSH_CHANNELS.labels(service="generator").set(len(self._channels))

    @property
    def open_channels(self) -> int:
        return len(self._channels)

    def _close_later(self, channel: grpc.aio.Channel) -> None:
        task = asyncio.ensure_future(channel.close())
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def close(self) -> None:
        for channel in self._channels.values():
            await channel.close()
        self._channels.clear()
        await asyncio.gather(*self._closing, return_exceptions=True)
