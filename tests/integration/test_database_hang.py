"""A database that accepts the connection and then stops answering fails the call in time, as a
transient error a worker retries, instead of blocking it forever."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from services.common.platform.settings import CommonSettings, Env
from services.common.storage.mongo import connect
from services.common.worker.loop import is_transient

REPLY_TIMEOUT_S = 2


class FreezableProxy:
    """A TCP proxy in front of the database that can stop passing bytes on, as a hung server would."""

    def __init__(self, host: str, port: int) -> None:
        self.upstream = (host, port)
        self.frozen = asyncio.Event()
        self.server: asyncio.AbstractServer | None = None
        self.tasks: set[asyncio.Task] = set()

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self.server.sockets[0].getsockname()[1]

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, asyncio.CancelledError):
            while data := await reader.read(65536):
                if self.frozen.is_set():
                    await asyncio.Event().wait()  # swallow everything from now on, answer nothing
                writer.write(data)
                await writer.drain()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        for task in (self._pipe(reader, up_writer), self._pipe(up_reader, writer)):
            running = asyncio.ensure_future(task)
            self.tasks.add(running)
            running.add_done_callback(self.tasks.discard)

    async def stop(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        if self.server is not None:
            self.server.close()


async def test_a_hung_database_fails_the_call_within_the_operation_timeout(stack):
    host, port = stack.mongo_uri.removeprefix("mongodb://").rstrip("/").split(":")
    proxy = FreezableProxy(host, int(port))
    proxy_port = await proxy.start()
    env = Env(stack.env(CS_MONGO_OPERATION_TIMEOUT_S=str(REPLY_TIMEOUT_S)))
    settings = CommonSettings.from_env("gateway", 0, env)
    uri = f"mongodb://127.0.0.1:{proxy_port}/"
    mongo, db = await connect(uri, stack.database, 10, settings.mongo_operation_timeout_s)
    try:
        await db["hang_probe"].insert_one({"n": 1})
        proxy.frozen.set()
        started = asyncio.get_running_loop().time()
        with pytest.raises(Exception) as failed:
            await asyncio.wait_for(db["hang_probe"].find_one({"n": 1}), REPLY_TIMEOUT_S + 20)
        waited = asyncio.get_running_loop().time() - started
        assert not isinstance(failed.value, TimeoutError), "the call was still blocked when the test gave up"
        assert is_transient(failed.value), f"a worker would dead-letter instead of retrying: {failed.value!r}"
        assert waited < REPLY_TIMEOUT_S + 10, f"the call took {waited:.1f} s to fail"
    finally:
        await proxy.stop()
        await mongo.close()
