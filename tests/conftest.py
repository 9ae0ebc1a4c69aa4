"""Shared fixtures: the real local stack, per-session isolation, and service processes.

The README's test command starts the stack; the `stack` fixture also brings it up (idempotent), so
a single test file run with plain pytest still talks to a real broker and database, never skips.
Each test session gets its own topic prefix and database name, so runs never see each other's data.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import pathlib
import random
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
SHARED_DATA = pathlib.Path(os.environ.get("CS_SHARED_DATA", ROOT.parent / "shared" / "data"))
_EXIT_STATUS = pytest.StashKey[int]()
QUEUES = "general,billing,orders,accounts,complaints,technical,vip"


_HANDED_OUT: set[int] = set()
# Below Linux's ephemeral range (32768-60999): a port picked there could be taken by an outgoing
# connection (a Kafka client's) before the service binds it, and bind(0) hands the same port out again
# once the probe closed it (the CI rehearsal saw a worker's health port equal the gateway's metrics port).
_PORTS = range(20000, 32000)
_STACK_PORTS = {9092, 9093, 27017, 19092, 19093, 29092, 29093, 37017, 47017}


def free_port() -> int:
    """A loopback port nothing listens on, never the same twice in this test run, never a stack's."""
    reserved = _STACK_PORTS | {
        int(os.environ[name])
        for name in ("CS_KAFKA_PORT", "CS_KAFKA_CONTROLLER_PORT", "CS_FERRETDB_PORT")
        if name in os.environ
    }
    for _ in range(1000):
        port = random.choice(_PORTS)
        if port in _HANDED_OUT or port in reserved:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _HANDED_OUT.add(port)
        return port
    raise RuntimeError("no free loopback port found in 20000-31999")


@dataclass
class Stack:
    kafka: str
    mongo_uri: str
    database: str
    prefix: str
    queues: str = QUEUES

    def with_own_topics(self, suffix: str) -> Stack:
        """The same broker and database with topics of its own (prefix + suffix), created now: for
        long-running workers whose consumption must not race other tests' hand-published events."""
        from services.common.platform.kafka import ensure_topics
        from services.common.platform.topics import all_topic_names

        own = dataclasses.replace(self, prefix=f"{self.prefix}{suffix}")
        ensure_topics(own.kafka, all_topic_names(own.prefix, own.queues.split(",")), partitions=3)
        return own

    def cli(self, *argv: str, timeout: float = 120, **env: str) -> subprocess.CompletedProcess:
        """`cs ARGV...` against this stack, as an operator runs it; output captured as text; env: more settings."""
        return subprocess.run(
            [sys.executable, "-m", "services.cli", *argv],
            env=self.env(**env),
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def env(self, **extra: str) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            {
                "CS_KAFKA_BOOTSTRAP": self.kafka,
                "CS_MONGO_URI": self.mongo_uri,
                "CS_MONGO_DATABASE": self.database,
                "CS_TOPIC_PREFIX": self.prefix,
                "CS_ESCALATION_QUEUES": self.queues,
                "CS_LOG_LEVEL": "INFO",
                "HF_HUB_OFFLINE": "1",
                "PYTHONUNBUFFERED": "1",
            }
        )
        env.update(extra)
        return env


@pytest.fixture(scope="session")
def stack() -> Stack:
    result = subprocess.run(["bash", str(ROOT / "deploy/local/stack.sh"), "up"], capture_output=True, text=True)
    if result.returncode != 0:
        pytest.fail(f"could not start the local stack:\n{result.stdout}\n{result.stderr}")
    run_id = uuid.uuid4().hex[:8]
    s = Stack(
        kafka=f"127.0.0.1:{os.environ.get('CS_KAFKA_PORT', '9092')}",
        mongo_uri=f"mongodb://127.0.0.1:{os.environ.get('CS_FERRETDB_PORT', '27017')}/",
        database=f"test_{run_id}",
        prefix=f"t{run_id}.",
    )
    from services.common.platform.kafka import ensure_topics
    from services.common.platform.topics import all_topic_names

    ensure_topics(s.kafka, all_topic_names(s.prefix, s.queues.split(",")), partitions=3)
    yield s
    from pymongo import MongoClient

    MongoClient(s.mongo_uri).drop_database(s.database)


@dataclass
class ServiceProcess:
    name: str
    proc: subprocess.Popen
    log_path: pathlib.Path
    ports: dict[str, int] = field(default_factory=dict)
    module: str = ""
    env: dict[str, str] = field(default_factory=dict, repr=False)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, timeout: float = 30) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def restart(self) -> None:
        """The same module with the same environment again, after kill() or stop(); same log."""
        if self.proc.poll() is None:
            raise RuntimeError(f"{self.name} is still running; kill or stop it first")
        self.proc = _spawn(self.module, self.env, self.log_path)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def _spawn(module: str, env: dict[str, str], log_path: pathlib.Path) -> subprocess.Popen:
    with log_path.open("ab") as handle:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            [sys.executable, "-m", module], env=env, stdout=handle, stderr=subprocess.STDOUT, cwd=ROOT
        )


def apply_tenant_file(stack: Stack, tenant: str, path: pathlib.Path) -> subprocess.CompletedProcess:
    """`cs tenants apply` as an operator runs it (it trains the tenant's head, so it needs the shared data)."""
    return stack.cli("tenants", "apply", "--tenant", tenant, str(path), timeout=600, CS_SHARED_DATA=str(SHARED_DATA))


def start_service(module: str, env: dict[str, str], log_dir: pathlib.Path, name: str) -> ServiceProcess:
    log_path = log_dir / f"{name}.log"
    return ServiceProcess(name, _spawn(module, env, log_path), log_path, module=module, env=env)


def wait_serving(target: str, process: ServiceProcess, timeout: float, ca: bytes | None = None) -> None:
    """Poll the gRPC health check (over TLS when `ca` is given) until SERVING; fail with the log if it dies."""
    import asyncio

    from services.common.platform.health import check

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.proc.poll() is not None:
            pytest.fail(f"{process.name} exited with {process.proc.returncode}:\n{process.log()[-4000:]}")
        try:
            if asyncio.run(check(target, timeout=1, ca=ca)) == "SERVING":
                return
        except Exception:
            pass
        time.sleep(0.3)
    pytest.fail(f"{process.name} not SERVING within {timeout} s:\n{process.log()[-4000:]}")


def copy_current_model(kind: str, folder: pathlib.Path):
    """A model store in `folder` holding (as CURRENT) the default store's current `kind` version,
    for tests that promote versions of their own without touching the real store."""
    import shutil

    from services.common.ml.model_store import ModelStore

    base = ModelStore().current(kind)
    if base is None:
        pytest.fail(f"no current {kind} model in the default store: run `make models` (deploy/local/models.sh)")
    store = ModelStore(folder)
    shutil.copytree(base[1], store.root / kind / base[0])
    store.promote(kind, base[0])
    return store


def rebuilt_version(store, kind: str, path: pathlib.Path) -> str:
    """The model folder at `path` stored again in `store` as a new version of `kind` (same weights,
    another name), for tests that need a second version to switch to; returns its name."""
    import shutil

    version, _ = store.build(
        kind,
        uuid.uuid4().hex[:10],
        lambda folder: shutil.copytree(path, folder, dirs_exist_ok=True, ignore=shutil.ignore_patterns(".complete")),
    )
    return version


@contextlib.contextmanager
def reloading_worker(stack: Stack, store, service: str, log_dir: pathlib.Path):
    """`services.<service>.main` on `stack`, loading its model from `store` and checking CURRENT every
    second; yields the process once it serves, and on the way out it must stop cleanly."""
    health = free_port()
    env = stack.env(
        CS_MODEL_DIR=str(store.root),
        CS_MODEL_RELOAD_S="1",
        CS_HEALTH_PORT=str(health),
        CS_METRICS_PORT=str(free_port()),
    )
    worker = start_service(f"services.{service}.main", env, log_dir, service)
    try:
        wait_serving(f"127.0.0.1:{health}", worker, 120)
        yield worker
    finally:
        assert worker.stop() == 0, worker.log()[-3000:]


class VersionProbe:
    """Publishes events to a worker's source topic and records which model version handled each.

    `version_of(result_event)` gives (message id, model version) of an event on the result topic.
    Use as `async with VersionProbe(...) as probe:`; `probe.sent` lists the message ids sent, in
    order, and `probe.versions` maps those seen on the result topic to their version.
    """

    def __init__(self, stack: Stack, source, result, version_of) -> None:
        self.stack, self.source, self.result, self.version_of = stack, source, result, version_of
        self.sent: list[str] = []
        self.versions: dict[str, str] = {}

    async def __aenter__(self) -> VersionProbe:
        from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

        self._consumer = AIOKafkaConsumer(
            self.result.name(self.stack.prefix),
            bootstrap_servers=self.stack.kafka,
            group_id=f"it-{uuid.uuid4().hex[:6]}",
            auto_offset_reset="earliest",
        )
        self._producer = AIOKafkaProducer(bootstrap_servers=self.stack.kafka, acks="all")
        await self._consumer.start()
        await self._producer.start()
        return self

    async def __aexit__(self, *exc) -> None:
        await self._producer.stop()
        await self._consumer.stop()

    async def send(self, event, message_id: str) -> None:
        self.sent.append(message_id)
        await self._producer.send_and_wait(
            self.source.name(self.stack.prefix), self.source.encode(event), key=self.source.key(event)
        )

    async def read_until(self, done, timeout: float = 60) -> None:
        import asyncio

        async with asyncio.timeout(timeout):
            while not done():
                for records in (await self._consumer.getmany(timeout_ms=300)).values():
                    for record in records:
                        message_id, version = self.version_of(self.result.decode(record.value))
                        self.versions.setdefault(message_id, version)


STACK_FOLDERS = (ROOT / "tests" / "integration", ROOT / "tests" / "e2e", ROOT / "tests" / "browser")


@pytest.hookimpl(tryfirst=True)  # before -m deselects
def pytest_collection_modifyitems(config, items) -> None:
    """Every test under tests/integration, tests/e2e and tests/browser is marked `stack`, whatever its module says,
    so `-m "not stack and not models"` (make check) never starts the stack."""
    for item in items:
        if any(item.path.is_relative_to(folder) for folder in STACK_FOLDERS):
            item.add_marker(pytest.mark.stack)


def pytest_sessionfinish(session, exitstatus) -> None:
    session.config.stash[_EXIT_STATUS] = int(exitstatus)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config) -> None:
    """Leave with pytest's status without running the interpreter's native teardown.

    grpc.aio, onnxruntime and torch each keep native threads, and grpc.aio with cancelled calls is
    known to crash at teardown under pytest-asyncio on Python 3.11 (grpc/grpc#31441): a SIGSEGV
    (exit 139) during interpreter shutdown would fail a run whose tests all passed. Fixtures
    have been torn down (services stopped, test databases dropped) and the summary printed by now,
    so nothing is lost by skipping that teardown; a crash during a test still fails the run.
    """
    status = config.stash.get(_EXIT_STATUS, None)
    if status is None:
        return
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)
