"""`cs`: operator commands built on kafka-python and the repositories (synchronous tools).

cs topics create | list          create the project's topics (idempotent) / list them
cs stack-ready [--timeout S]     wait for Kafka and the database, create topics and indexes
cs health HOST:PORT [--wait S] [--tls-ca PEM]   exit 0 once the service's gRPC health answers SERVING
cs keys create --tenant T --role adapter|agent|supervisor|channel [--agent-id A]
cs widget-keys create --tenant T --origin https://shop.example [--origin ...]
                                 a publishable key for the web-chat widget, usable from those page origins
cs agents add|disable --tenant T --name N [--role agent|supervisor] [--password-stdin]   console accounts
cs escalations watch [--queue Q | --all] [--tenant T] [--from-beginning]
cs customers erase --tenant T --customer C     right to erasure
cs kb ingest --tenant T PATH...  load Markdown / JSON knowledge files (re-ingesting updates, never duplicates)
cs kb list --tenant T            the tenant's documents
cs kb search --tenant T TEXT     the passages the generator would retrieve for a question
cs tenants persona --tenant T [--brand B --voice V --business X --voice-zh ... --business-zh ... --language en|zh]
                                 show or change how the tenant's bot presents itself
cs tenants apply --tenant T FILE [--migrate OLD=NEW]   the tenant's own intents, entities, queues and routing
                                 (docs/tenant-file.md): validate, train, store, create topics, serve
cs tenants retrain | rollback [--to N] | versions --tenant T   its model with new corrections, back, listed
cs models list [--kind K]        stored model versions (CS_MODEL_DIR): CURRENT, build time, headline figures
cs models rollback --kind K [--to VERSION]
                                 make the previous (or the given) version CURRENT once it loads; workers hot-reload it
cs deadletters list [--reason R] [--service S]   the events the workers gave up on, and why
cs deadletters show ID [--unmasked]              one of them, with the event it carries (PII masked)
cs deadletters replay ID... | --all [--reason R] [--service S] [--dry-run]
                                 put them back on their source topic once the cause is fixed (idempotent)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import pathlib
import re
import sys

from services.cli import agents
from services.cli.settings import VARIABLES
from services.common.platform.settings import ConfigError, Env
from services.common.platform.topics import all_topic_names

_TENANT_RE = re.compile(r"[A-Za-z0-9._-]{1,64}")


def _check_tenant(tenant: str) -> None:
    if not _TENANT_RE.fullmatch(tenant):
        raise ConfigError(f"--tenant {tenant!r}: use 1-64 letters, digits, '.', '_' or '-'")


def _common(env: Env) -> tuple[str, str, list[str]]:
    return env.str("CS_KAFKA_BOOTSTRAP"), env.str("CS_TOPIC_PREFIX"), env.list("CS_ESCALATION_QUEUES")


def cmd_topics(args: argparse.Namespace, env: Env) -> int:
    from services.common.platform.kafka import ensure_topics, wait_for_kafka

    bootstrap, prefix, queues = _common(env)
    if args.action == "list":
        for name in wait_for_kafka(bootstrap, args.timeout):
            if name.startswith(prefix):
                print(name)
        return 0
    wait_for_kafka(bootstrap, args.timeout)
    created = ensure_topics(bootstrap, all_topic_names(prefix, queues), env.int("CS_KAFKA_PARTITIONS"))
    print(f"topics: {len(created)} created, {len(all_topic_names(prefix, queues)) - len(created)} already there")
    return 0


def cmd_stack_ready(args: argparse.Namespace, env: Env) -> int:
    from services.common.platform.kafka import ensure_topics, wait_for_kafka
    from services.common.storage.mongo import connect

    bootstrap, prefix, queues = _common(env)
    wait_for_kafka(bootstrap, args.timeout)
    ensure_topics(bootstrap, all_topic_names(prefix, queues), env.int("CS_KAFKA_PARTITIONS"))

    async def db() -> None:
        mongo, _ = await connect(env.str("CS_MONGO_URI"), env.str("CS_MONGO_DATABASE"), args.timeout)
        await mongo.close()

    asyncio.run(db())
    print(f"stack ready: Kafka {bootstrap}, database {env.str('CS_MONGO_URI')}, topics with prefix {prefix!r}")
    return 0


def cmd_keys(args: argparse.Namespace, env: Env) -> int:
    from services.common.storage.mongo import connect
    from services.common.storage.repositories import ApiKeyRepo

    _check_tenant(args.tenant)

    async def create() -> str:
        mongo, db = await connect(env.str("CS_MONGO_URI"), env.str("CS_MONGO_DATABASE"), 10)
        try:
            return await ApiKeyRepo(db).create(args.tenant, args.role, args.agent_id or "")
        finally:
            await mongo.close()

    print(asyncio.run(create()))
    return 0


def cmd_widget_keys(args: argparse.Namespace, env: Env) -> int:
    from services.common.platform.origins import OriginError
    from services.common.storage.mongo import connect
    from services.common.storage.widget_keys import WidgetKeyRepo

    _check_tenant(args.tenant)

    async def create() -> str:
        mongo, db = await connect(env.str("CS_MONGO_URI"), env.str("CS_MONGO_DATABASE"), 10)
        try:
            return await WidgetKeyRepo(db).create(args.tenant, args.origin)
        finally:
            await mongo.close()

    try:
        print(asyncio.run(create()))
    except OriginError as exc:
        print(f"cs widget-keys create: --origin {exc}", file=sys.stderr)
        return 2
    return 0


def cmd_escalations(args: argparse.Namespace, env: Env) -> int:
    from services.cli.supervisor import watch_escalations

    bootstrap, prefix, queues = _common(env)
    queue = None if args.all else args.queue
    return watch_escalations(
        bootstrap, prefix, queues, queue, args.from_beginning, args.tenant, args.max_events, args.timeout
    )


def cmd_erase(args: argparse.Namespace, env: Env) -> int:
    from services.common.storage.erasure import erase_customer

    report = asyncio.run(erase_customer(env, args.tenant, args.customer))
    print(report)
    return 0


def cmd_kb(args: argparse.Namespace, env: Env) -> int:
    """Knowledge base commands; only ingest and search need the encoder, so only they load it."""
    from services.common.knowledge import documents
    from services.common.knowledge.repo import KnowledgeRepo
    from services.common.storage.mongo import connect

    _check_tenant(args.tenant)
    docs = []
    if args.action == "ingest":
        try:
            docs = [doc for path in args.paths for doc in documents.load_source(pathlib.Path(path))]
        except documents.KnowledgeSourceError as exc:
            print(f"cs kb ingest: {exc}", file=sys.stderr)
            return 2
        docs = documents.unique_ids(docs)

    async def run() -> int:
        mongo, db = await connect(env.str("CS_MONGO_URI"), env.str("CS_MONGO_DATABASE"), args.timeout)
        try:
            if args.action == "ingest":
                from services.common.knowledge.ingest import ingest_documents
                from services.common.ml.embeddings import SentenceEncoder

                print(await ingest_documents(db, SentenceEncoder(), args.tenant, docs, only=args.only))
            elif args.action == "list":
                for d in await KnowledgeRepo(db).documents(args.tenant):
                    print(f"{d['doc_id']}\t{d.get('language', '')}\t{d.get('source', '')}\t{d.get('title', '')}")
            else:
                return await _kb_search(db, args)
            return 0
        finally:
            await mongo.close()

    return asyncio.run(run())


async def _kb_search(db, args: argparse.Namespace) -> int:
    from services.common.knowledge.index import KnowledgeIndex
    from services.common.knowledge.repo import KnowledgeRepo
    from services.common.ml.embeddings import RankingEncoder, SentenceEncoder

    repo = KnowledgeRepo(db)
    index = KnowledgeIndex.from_records(await repo.chunks(args.tenant), await repo.revision(args.tenant))
    if not len(index):
        print(f"cs kb search: tenant {args.tenant!r} has no knowledge; load some with `cs kb ingest`", file=sys.stderr)
        return 1
    rank_query = RankingEncoder().query(args.text) if index.ranked else None
    for hit in index.search(SentenceEncoder().encode_one(args.text), args.k, rank_query):
        rank = f"{hit.rank_score:.3f}" if hit.rank_score is not None else "-"
        print(f"{hit.score:.3f}\t{rank}\t{hit.passage.chunk_id}\t{' '.join(hit.passage.text.split())[:120]}")
    return 0


def cmd_persona(args: argparse.Namespace, env: Env) -> int:
    from services.common.storage.mongo import connect
    from services.common.storage.tenants import PERSONA_FIELDS, TenantSettingsRepo

    _check_tenant(args.tenant)
    changes = {name: getattr(args, name) for name in PERSONA_FIELDS if getattr(args, name) is not None}

    async def run() -> dict:
        mongo, db = await connect(env.str("CS_MONGO_URI"), env.str("CS_MONGO_DATABASE"), args.timeout)
        try:
            repo = TenantSettingsRepo(db)
            return await repo.set_persona(args.tenant, changes) if changes else await repo.persona(args.tenant)
        finally:
            await mongo.close()

    try:
        persona = asyncio.run(run())
    except ValueError as exc:
        print(f"cs tenants persona: {exc}", file=sys.stderr)
        return 2
    print(json.dumps({"tenant": args.tenant, "persona": persona}, ensure_ascii=False))
    return 0


def cmd_models(args: argparse.Namespace, env: Env) -> int:
    """Model versions in the store; rollback checks the version loads before it touches CURRENT."""
    from services.cli.models import KINDS, ModelCommandError, list_versions, rollback
    from services.common.ml.model_store import ModelStore

    store = ModelStore()
    try:
        if args.action == "list":
            print(list_versions(store, [args.kind] if args.kind else list(KINDS)))
        else:
            print(rollback(store, args.kind, args.to))
    except ModelCommandError as exc:
        print(f"cs models {args.action}: {exc}", file=sys.stderr)
        return 1
    return 0


def cmd_health(args: argparse.Namespace, env: Env) -> int:
    """Wait until a service's gRPC health check answers SERVING (for scripts and probes)."""
    import os
    import time

    from services.common.platform.health import check

    ca = pathlib.Path(args.tls_ca).read_bytes() if args.tls_ca else None
    deadline = time.monotonic() + args.wait
    status = "UNREACHABLE"
    while True:
        try:
            status = asyncio.run(check(args.target, args.service, timeout=2, ca=ca))
        except Exception:
            status = "UNREACHABLE"
        if status == "SERVING":
            print(f"{args.target}: SERVING")
            return 0
        if args.pid:
            try:
                os.kill(args.pid, 0)
            except OSError:
                print(f"{args.target}: process {args.pid} exited", file=sys.stderr)
                return 1
        if time.monotonic() >= deadline:
            print(f"{args.target}: {status}", file=sys.stderr)
            return 1
        time.sleep(0.5)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="cs", description="Operator commands of the customer-service platform")
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("topics", help="create or list the project's topics")
    t.add_argument("action", choices=["create", "list"])
    t.add_argument("--timeout", type=float, default=30)
    t.set_defaults(func=cmd_topics)

    r = sub.add_parser("stack-ready", help="wait for Kafka and the database; create topics and indexes")
    r.add_argument("--timeout", type=float, default=60)
    r.set_defaults(func=cmd_stack_ready)

    h = sub.add_parser("health", help="check a service's gRPC health (exit 0 when SERVING)")
    h.add_argument("target", help="host:port")
    h.add_argument("--service", default="")
    h.add_argument("--wait", type=float, default=0, help="keep asking for up to S seconds")
    h.add_argument("--pid", type=int, default=0, help="give up early when this process exits")
    h.add_argument(
        "--tls-ca", default="", help="connect with TLS, trusting this PEM CA (a gateway with CS_GATEWAY_TLS_CERT)"
    )
    h.set_defaults(func=cmd_health)

    k = sub.add_parser("keys", help="API keys (stored hashed; the key is printed once)")
    ksub = k.add_subparsers(dest="action", required=True)
    kc = ksub.add_parser("create")
    kc.add_argument("--tenant", required=True)
    kc.add_argument("--role", required=True, choices=["adapter", "agent", "supervisor", "channel"])
    kc.add_argument("--agent-id")
    kc.set_defaults(func=cmd_keys)
    agents.register(sub)

    w = sub.add_parser(
        "widget-keys", help="publishable keys of the web-chat widget: a tenant and the page origins that may use it"
    )
    wsub = w.add_subparsers(dest="action", required=True)
    wc = wsub.add_parser("create")
    wc.add_argument("--tenant", required=True)
    wc.add_argument(
        "--origin",
        required=True,
        action="append",
        help="scheme://host[:port] of a page that embeds the widget (repeatable)",
    )
    wc.set_defaults(func=cmd_widget_keys)

    e = sub.add_parser("escalations", help="follow the escalation queues (supervisors)")
    esub = e.add_subparsers(dest="action", required=True)
    ew = esub.add_parser("watch")
    group = ew.add_mutually_exclusive_group(required=True)
    group.add_argument("--queue")
    group.add_argument("--all", action="store_true")
    ew.add_argument("--tenant", help="only this tenant's escalations (needed for a queue of the tenant's own file)")
    ew.add_argument("--from-beginning", action="store_true", help="replay the queue's history first")
    ew.add_argument("--max-events", type=int, default=0, help="stop after N events (0: follow forever)")
    ew.add_argument("--timeout", type=float, default=0, help="stop after S seconds without events (0: never)")
    ew.set_defaults(func=cmd_escalations)

    c = sub.add_parser("customers", help="customer data")
    csub = c.add_subparsers(dest="action", required=True)
    ce = csub.add_parser("erase", help="delete a customer's profile and conversations (right to erasure)")
    ce.add_argument("--tenant", required=True)
    ce.add_argument("--customer", required=True)
    ce.set_defaults(func=cmd_erase)

    kb = sub.add_parser("kb", help="the tenant's knowledge base (FAQ and policy documents the bot answers from)")
    kbsub = kb.add_subparsers(dest="action", required=True)
    ki = kbsub.add_parser(
        "ingest", help="load Markdown (.md) or JSON (.json: articles or ABCD guidelines) files or folders"
    )
    ki.add_argument("paths", nargs="+")
    ki.add_argument(
        "--only",
        action="store_true",
        help="these files are the tenant's whole knowledge base: documents that came from other files are removed",
    )
    kl = kbsub.add_parser("list", help="the tenant's documents")
    ks = kbsub.add_parser(
        "search",
        help="the passages closest to a question: sentence-encoder score (relevance), ranking score (order; "
        "the generator adds the share of the question's words each passage holds), passage, text",
    )
    ks.add_argument("text")
    ks.add_argument("-k", type=int, default=3)
    for command in (ki, kl, ks):
        command.add_argument("--tenant", required=True)
        command.add_argument("--timeout", type=float, default=30, help="seconds to wait for the database")
        command.set_defaults(func=cmd_kb)

    from services.common.storage.tenants import PERSONA_FIELDS

    tenants = sub.add_parser("tenants", help="per-tenant settings")
    tsub = tenants.add_subparsers(dest="action", required=True)
    tp = tsub.add_parser("persona", help='show the tenant\'s persona, or change the fields given ("" removes one)')
    tp.add_argument("--tenant", required=True)
    tp.add_argument("--timeout", type=float, default=30, help="seconds to wait for the database")
    for name, doc in PERSONA_FIELDS.items():
        tp.add_argument(f"--{name.replace('_', '-')}", dest=name, help=doc)
    tp.set_defaults(func=cmd_persona)
    from services.cli import tenants as tenant_commands

    tenant_commands.register(tsub)

    from services.cli.models import KINDS

    m = sub.add_parser("models", help="trained model versions in CS_MODEL_DIR: list them, roll CURRENT back")
    msub = m.add_subparsers(dest="action", required=True)
    ml = msub.add_parser("list", help="versions newest first, with CURRENT, build time and headline figures")
    ml.add_argument("--kind", choices=list(KINDS), help="only this kind (default: all)")
    mr = msub.add_parser("rollback", help="make the version CURRENT before the present one (or --to) CURRENT again")
    mr.add_argument("--kind", required=True, choices=list(KINDS))
    mr.add_argument("--to", metavar="VERSION", help="this version instead of the previous one (see `cs models list`)")
    for command in (ml, mr):
        command.set_defaults(func=cmd_models)

    d = sub.add_parser("deadletters", help="events the workers gave up on: list, show, replay after a fix")
    dsub = d.add_subparsers(dest="action", required=True)
    dlist = dsub.add_parser("list", help="every dead letter: id, when, service, reason, origin, conversation, error")
    dshow = dsub.add_parser("show", help="one dead letter with the event it carries")
    dshow.add_argument("id", metavar="ID", help="PARTITION:OFFSET on the dead-letter topic (see list)")
    dshow.add_argument("--unmasked", action="store_true", help="show customer text and PII as sent")
    dreplay = dsub.add_parser("replay", help="re-publish to the source topic (the pipeline is idempotent)")
    which = dreplay.add_mutually_exclusive_group(required=True)
    which.add_argument("ids", metavar="ID", nargs="*", default=[])
    which.add_argument("--all", action="store_true", help="every dead letter (narrow with --reason, --service)")
    dreplay.add_argument("--dry-run", action="store_true", help="list what would be replayed, publish nothing")
    for command in (dlist, dreplay):
        command.add_argument(
            "--reason", help="only this reason (processing_error, retries_exhausted, undecodable, ...)"
        )
        command.add_argument("--service", help="only letters from this service (intent, sentiment, generator)")
    for command in (dlist, dshow, dreplay):
        command.set_defaults(func=cmd_deadletters, all=False, ids=[], reason=None, service=None)
    return p


def cmd_deadletters(args: argparse.Namespace, env: Env) -> int:
    from services.cli import deadletters as dl

    bootstrap, prefix, _ = _common(env)
    try:
        letters = dl.read_letters(bootstrap, prefix)
        if args.action == "list":
            print(dl.table(dl.select(letters, args.reason, args.service)))
            return 0
        if args.action == "show":
            print(dl.describe(dl.find(letters, [args.id])[0], prefix, args.unmasked))
            return 0
        chosen = dl.select(letters, args.reason, args.service) if args.all else dl.find(letters, args.ids)
        if args.dry_run:
            print(dl.table(chosen))
            print(f"{len(chosen)} would be replayed (--dry-run: nothing was published)")
            return 0
        sent = dl.replay(bootstrap, prefix, chosen)
        print(f"replayed {sent} dead letter{'' if sent == 1 else 's'} to their source topics")
        return 0
    except dl.DeadLetterError as exc:
        print(f"cs deadletters {args.action}: {exc}", file=sys.stderr)
        return 1


def main(argv: list[str] | None = None) -> int:
    from services.common.platform.lifecycle import StartupError

    args = parser().parse_args(argv)
    try:
        return args.func(args, Env(variables=VARIABLES))
    except (ConfigError, StartupError) as exc:
        print(f"cs {args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
