"""`cs tenants apply | retrain | rollback | versions`: a tenant's own intents, queues and routing.

    cs tenants apply --tenant T FILE [--migrate OLD=NEW ...]   validate, train, store, create topics, serve
    cs tenants retrain --tenant T        the version in service again, with the tenant's latest corrections
    cs tenants rollback --tenant T [--to N]   the version in service before (or version N) back in service
    cs tenants versions --tenant T       stored versions, the one in service marked

The file format is docs/tenant-file.md. Training runs in a subprocess
(`python -m services.intent.tenant_training`), as `cs models` checks versions: the CLI imports no
service. The version is stored in the database (services/common/storage/tenant_models.py says why
and how), its queues' escalation topics are created, and only then is it put into service: intent
workers, the gateway and the generator follow the pointer within CS_TENANT_RELOAD_S, no restart.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pathlib
import re
import subprocess
import sys
import tempfile

from services.common.platform.settings import Env
from services.common.platform.tenant_file import OUT_OF_SCOPE, TenantFile, TenantFileError, load_tenant_file

TRAIN_TIMEOUT_S = 900
TENANT_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
_ROOT = pathlib.Path(__file__).resolve().parents[2]


class TenantCommandError(Exception):
    """A `cs tenants` command refused; nothing in service changed. The message says what to do."""


def _parse_migrations(pairs: list[str], labels: tuple[str, ...]) -> dict[str, str]:
    renames = {}
    for pair in pairs:
        old, sep, new = pair.partition("=")
        if not sep or not old or not new:
            raise TenantCommandError(f"--migrate {pair!r}: write OLD=NEW, e.g. --migrate coupon=promo_code")
        if new not in labels:
            raise TenantCommandError(
                f"--migrate {pair!r}: {new!r} is not one of the file's intents ({', '.join(labels)})"
            )
        renames[old] = new
    return renames


def train(tenant: TenantFile, with_corrections: bool = True) -> tuple[bytes, dict]:
    """The trained head's npz bytes and description, from the training subprocess."""
    with tempfile.TemporaryDirectory(prefix="cs-tenant-") as tmp:
        doc_path, out = pathlib.Path(tmp) / "tenant.json", pathlib.Path(tmp) / "head"
        doc_path.write_text(json.dumps(tenant.to_doc(), ensure_ascii=False), encoding="utf-8")
        argv = ["--tenant", tenant.tenant, "--file", str(doc_path), "--out", str(out)]
        if with_corrections:
            argv.append("--with-corrections")
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(_ROOT), os.environ.get("PYTHONPATH")]))}
        try:
            done = subprocess.run(
                [sys.executable, "-m", "services.intent.tenant_training", *argv],
                capture_output=True,
                text=True,
                timeout=TRAIN_TIMEOUT_S,
                env=env,
            )
        except subprocess.TimeoutExpired:
            raise TenantCommandError(f"training did not finish within {TRAIN_TIMEOUT_S} s") from None
        answer: dict = {}
        for line in reversed(done.stdout.splitlines()):
            try:
                answer = json.loads(line)
                break
            except ValueError:
                continue
        if not answer.get("ok"):
            detail = answer.get("error") or done.stderr.strip().splitlines()[-1:] or [f"exit status {done.returncode}"]
            raise TenantCommandError(f"training failed: {detail if isinstance(detail, str) else detail[0]}")
        return (out / "intent_head.npz").read_bytes(), json.loads((out / "model.json").read_text(encoding="utf-8"))


async def _refuse_removed_labels(repo, tenant_id: str, new_labels: tuple[str, ...], renames: dict[str, str]) -> None:
    current = await repo.current(tenant_id)
    if current is None:
        return  # the built-in taxonomy's labels are not the tenant's to remove
    removed = sorted(set(current["labels"]) - set(new_labels) - {OUT_OF_SCOPE} - set(renames))
    used = await repo.label_use(tenant_id, removed)
    if used:
        listed = ", ".join(f"{label} ({n} stored messages and corrections)" for label, n in sorted(used.items()))
        raise TenantCommandError(
            f"the file removes intents that stored labels still use: {listed}; keep them, or relabel what is "
            "stored with --migrate OLD=NEW (NEW one of the file's intents)"
        )


def _ensure_queue_topics(env: Env, tenant: TenantFile) -> list[str]:
    from services.common.platform.kafka import ensure_topics, wait_for_kafka
    from services.common.platform.topics import queue_topic

    builtin = env.list("CS_ESCALATION_QUEUES")
    names = [queue_topic(env.str("CS_TOPIC_PREFIX"), tenant.tenant, q.name, builtin) for q in tenant.queues]
    own = [n for n, q in zip(names, tenant.queues) if q.name not in builtin]
    if not own:
        return []
    bootstrap = env.str("CS_KAFKA_BOOTSTRAP")
    wait_for_kafka(bootstrap, env.float("CS_STARTUP_TIMEOUT_S"))
    ensure_topics(bootstrap, own, env.int("CS_KAFKA_PARTITIONS"))
    return own


def _report(tenant: TenantFile, version: int, name: str, meta: dict, topics: list[str], migrated: int) -> str:
    m = meta["metrics"]
    cv, sizes = m["cross_validation"], m["training_sizes"]
    lines = [
        f"tenant {tenant.tenant}: version {version} ({name}) in service",
        f"  trained in     {m['seconds']['total']} s: {sizes['examples']} examples of {len(tenant.intents)} intents, "
        f"{sizes['corrections']} agent corrections, {sizes['off_topic']} off-topic messages",
        f"  held-out       {cv['folds']}-fold cross-validation, n={cv['n']}: accuracy {cv['accuracy']:.3f}; "
        f"{cv['accuracy_at_threshold']:.3f} at the out-of-scope threshold {m['selection']['threshold']:.2f} "
        f"({cv['false_out_of_scope_rate']:.1%} wrongly out of scope)",
        "  per intent     " + ", ".join(f"{k} {v:.2f}" for k, v in cv["per_intent"].items()),
    ]
    for name_, figures in m.get("off_topic", {}).items():
        lines.append(f"  off-topic      {name_} n={figures['n']}: {figures['out_of_scope_recall']:.3f} recognised")
    lines.append(f"  queues         {', '.join(q.name for q in tenant.queues) or '(platform queues only)'}")
    if topics:
        lines.append(f"  topics         {', '.join(topics)}")
    if migrated:
        lines.append(f"  migrated       {migrated} stored messages and corrections relabelled")
    return "\n".join(lines)


async def _apply(env: Env, db, tenant: TenantFile, renames: dict[str, str], with_corrections: bool) -> str:
    from pymongo.errors import DuplicateKeyError

    from services.common.storage.tenant_models import TenantModelRepo

    repo = TenantModelRepo(db)
    await _refuse_removed_labels(repo, tenant.tenant, tenant.labels, renames)
    head, meta = await asyncio.to_thread(train, tenant, with_corrections)
    for _ in range(5):
        version = await repo.next_version(tenant.tenant)
        try:
            name = await repo.store(tenant.tenant, version, tenant.to_doc(), head, meta)
            break
        except DuplicateKeyError:
            continue  # another apply took this number; take the next
    else:
        raise TenantCommandError("could not store the version: other applies of this tenant keep taking the number")
    topics = await asyncio.to_thread(_ensure_queue_topics, env, tenant)
    migrated = await repo.migrate_labels(tenant.tenant, renames) if renames else 0
    await repo.activate(tenant.tenant, version, tenant.rules(version))
    return _report(tenant, version, name, meta, topics, migrated)


async def _rollback(env: Env, db, tenant_id: str, to: int | None) -> str:
    from services.common.storage.tenant_models import TenantModelRepo

    repo = TenantModelRepo(db)
    current = await repo.current(tenant_id)
    if current is None:
        raise TenantCommandError(
            f"tenant {tenant_id} has no model of its own in service (it uses the built-in taxonomy)"
        )
    if to is None:
        history = await repo.history(tenant_id)
        if not history or int(history[-1]["to"]) != int(current["version"]) or not history[-1]["from"]:
            raise TenantCommandError("the version in service has no previous one to go back to; name one with --to N")
        to = int(history[-1]["from"])
    if to == int(current["version"]):
        raise TenantCommandError(f"version {to} is already in service")
    doc = await repo.get(tenant_id, to, with_head=False)
    if doc is None:
        known = ", ".join(str(v["version"]) for v in await repo.versions(tenant_id))
        raise TenantCommandError(f"tenant {tenant_id} has no version {to}; stored versions: {known}")
    tenant = TenantFile.from_doc(doc["file"])
    await _refuse_removed_labels(repo, tenant_id, tenant.labels, {})
    await asyncio.to_thread(_ensure_queue_topics, env, tenant)
    await repo.activate(tenant_id, to, tenant.rules(to))
    return f"tenant {tenant_id}: version {to} ({doc['model_version']}) in service again (was {current['version']})"


async def _versions(db, tenant_id: str) -> str:
    from services.common.storage.tenant_models import TenantModelRepo

    repo = TenantModelRepo(db)
    current = await repo.current(tenant_id)
    lines = []
    for doc in await repo.versions(tenant_id):
        cv = doc["meta"]["metrics"]["cross_validation"]
        mark = "*" if current and int(current["version"]) == doc["version"] else " "
        lines.append(
            f"{mark} v{doc['version']}\t{doc['created_at']:%Y-%m-%d %H:%M}\t{len(doc['labels']) - 1} intents\t"
            f"cv accuracy {cv['accuracy']:.3f}\t{doc['meta']['metrics']['corrections']['used']} corrections"
        )
    return "\n".join(lines) or f"tenant {tenant_id} has no model of its own (it uses the built-in taxonomy)"


def cmd_tenants(args: argparse.Namespace, env: Env) -> int:
    from pymongo.errors import PyMongoError

    from services.common.storage.mongo import connect

    if not TENANT_ID.fullmatch(args.tenant):
        print(
            f"cs tenants {args.action}: --tenant {args.tenant!r}: use 1-64 letters, digits, '.', '_' or '-'",
            file=sys.stderr,
        )
        return 2

    async def run() -> str:
        tenant = None
        if args.action == "apply":
            tenant = load_tenant_file(pathlib.Path(args.file), env.list("CS_ESCALATION_QUEUES"), args.tenant)
        mongo, db = await connect(env.str("CS_MONGO_URI"), env.str("CS_MONGO_DATABASE"), args.timeout)
        try:
            if args.action == "apply":
                assert tenant is not None
                return await _apply(env, db, tenant, _parse_migrations(args.migrate, tenant.labels), True)
            if args.action == "retrain":
                from services.common.storage.tenant_models import TenantModelRepo

                repo = TenantModelRepo(db)
                current = await repo.current(args.tenant)
                if current is None:
                    raise TenantCommandError(f"tenant {args.tenant} has no tenant file applied; use `cs tenants apply`")
                doc = await repo.get(args.tenant, int(current["version"]), with_head=False)
                assert doc is not None
                return await _apply(env, db, TenantFile.from_doc(doc["file"]), {}, True)
            if args.action == "rollback":
                return await _rollback(env, db, args.tenant, args.to)
            return await _versions(db, args.tenant)
        finally:
            await mongo.close()

    try:
        print(asyncio.run(run()))
    except TenantFileError as exc:
        print(f"cs tenants {args.action}: the tenant file is not valid:\n{exc}", file=sys.stderr)
        return 2
    except TenantCommandError as exc:
        print(f"cs tenants {args.action}: {exc}", file=sys.stderr)
        return 1
    except PyMongoError as exc:
        print(
            f"cs tenants {args.action}: the database failed ({type(exc).__name__}: {exc}); nothing changed in service, retry",
            file=sys.stderr,
        )
        return 1
    return 0


def register(tsub) -> None:
    """The apply/retrain/rollback/versions commands under `cs tenants`."""
    ta = tsub.add_parser("apply", help="validate a tenant file (docs/tenant-file.md), train its intents, serve it")
    ta.add_argument("file")
    ta.add_argument(
        "--migrate",
        action="append",
        default=[],
        metavar="OLD=NEW",
        help="relabel stored messages and corrections of an intent the file removes (repeatable)",
    )
    tr = tsub.add_parser("retrain", help="train the version in service again with the tenant's agents' corrections")
    tb = tsub.add_parser("rollback", help="put the version served before (or --to N) back in service")
    tb.add_argument("--to", type=int, metavar="N", help="this version (see `cs tenants versions`)")
    tv = tsub.add_parser("versions", help="the tenant's stored model versions, the one in service marked *")
    ta.set_defaults(to=None)
    tb.set_defaults(migrate=[])
    for command in (tr, tv):
        command.set_defaults(migrate=[], to=None)
    for command in (ta, tr, tb, tv):
        command.add_argument("--tenant", required=True)
        command.add_argument("--timeout", type=float, default=30, help="seconds to wait for the database")
        command.set_defaults(func=cmd_tenants)
