"""The help-centre evaluation through the path customers get: gRPC gateway, intent, sentiment, routing, answer.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/eval_helpcentre.py [--split test|tune|all] [--language en|zh]
        [--limit N] [--sample N] [--out DIR] [--max-new-tokens N] [--topic-switches]

Starts the local stack (deploy/local/stack.sh up) and the four services as processes (bench/pipeline_stack.py),
loads the help centre of the fictional Lumen Outfitters (bench/data/helpcentre/kb, en and zh articles) with
`cs kb ingest`, and asks every question of bench/data/helpcentre/questions/*.jsonl as a new customer: each
earlier turn of a question ("history") is sent first and its reply awaited, then the question. The reply the
customer got is judged by bench/answer_judge.py (required facts present, no contradiction, the question's
language); safety cases also need an URGENT SAFETY escalation, read from the run's database.

Prints, per language and kind, counts and rates with 95% Wilson intervals (correct, wrong = sent and wrong,
handover, fallback), the wrong-answer rate among answers sent, first streamed token and final-reply latency,
and a random sample of judged answers for a person to audit. Writes DIR/report.json (every case with its
reply and verdict) and DIR/report.txt; DIR defaults to var/eval/helpcentre-<UTC time>. The split is fixed in
the data (every third question is "test", frozen before any tuning); tune on "tune", report "test".

--topic-switches also asks every answerable question without a history a second time, in a conversation
that first asked another question of the same language about a different article (style "switch", id
suffix "-switch", drawn with a fixed seed): a customer's second, unrelated question must be answered from
its own article, not the previous one's (the set's own follow-ups all depend on the turn before them).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import pathlib
import random
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import grpc  # noqa: E402
from answer_judge import KINDS, Reply, judge, rate  # noqa: E402
from percentiles import percentile  # noqa: E402
from pipeline_stack import ReplyStream, running_pipeline  # noqa: E402

from services.common.proto.cs.v1 import conversation_pb2 as conv  # noqa: E402
from services.common.proto.cs.v1 import customer_service_pb2 as cpb  # noqa: E402
from services.common.proto.cs.v1 import customer_service_pb2_grpc as cgrpc  # noqa: E402
from services.common.proto.cs.v1 import events_pb2 as ev  # noqa: E402

DATA = ROOT / "bench" / "data" / "helpcentre"
TENANT = "bench"  # the tenant running_pipeline makes the adapter key for
REPLY_TIMEOUT_S = 120
SILENCE_WAIT_S = 10  # after a handover the bot says nothing more; the agent has the conversation


SWITCH_SEED = 7


def topic_switches(cases: list[dict], seed: int = SWITCH_SEED) -> list[dict]:
    """Each answerable case without a history, after an unrelated question (same language, another article)."""
    rng = random.Random(seed)
    standalone = [c for c in cases if c["kind"] == "answerable" and not c.get("history")]
    switched = []
    for case in standalone:
        others = [o for o in standalone if o["language"] == case["language"] and o["articles"] != case["articles"]]
        if others:
            earlier = rng.choice(others)["question"]
            switched.append({**case, "id": f"{case['id']}-switch", "style": "switch", "history": [earlier]})
    return switched


def load_cases(split: str, language: str) -> list[dict]:
    cases = []
    for path in sorted((DATA / "questions").glob("*.jsonl")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            case = json.loads(line)
            if case.get("kind") not in KINDS:
                raise SystemExit(f"{path}:{number}: kind {case.get('kind')!r} is not one of {KINDS}")
            if split in ("all", case["split"]) and language in ("all", case["language"]):
                cases.append(case)
    return cases


class Customer(ReplyStream):
    """One evaluation customer: a conversation of its own, asked one message at a time."""

    def __init__(self, stub: cgrpc.CustomerServiceStub, key: str) -> None:
        super().__init__(stub, key, "eval")

    async def ask(self, text: str, timeout: float = REPLY_TIMEOUT_S) -> tuple[conv.Reply | None, float | None, float]:
        """The final reply to `text` (None on timeout), seconds to the first streamed token, seconds to the reply."""
        started = time.monotonic()
        request = cpb.SendMessageRequest(conversation_id=self.id, customer_id=self.id, channel="web", text=text)
        ack = await self.stub.SendMessage(request, metadata=self.meta, timeout=30)
        first = None
        deadline = started + timeout
        while True:
            try:
                item = await asyncio.wait_for(self.items.get(), max(0.01, deadline - time.monotonic()))
            except TimeoutError:
                return None, first, time.monotonic() - started
            if isinstance(item, grpc.aio.AioRpcError):
                raise item
            if item.HasField("token") and first is None:
                first = time.monotonic() - started
            elif item.HasField("reply") and item.reply.in_reply_to == ack.message_id:
                return item.reply, first, time.monotonic() - started


def reply_kind(reply: conv.Reply | None, refusal_texts: set[str]) -> str:
    if reply is None:
        return "none"
    kind = conv.ReplyKind.Name(reply.kind).removeprefix("REPLY_KIND_").lower()
    if kind == "answer" and reply.text in refusal_texts:
        return "refusal"
    return kind


def urgent_safety(db, conversation_id: str) -> bool:
    for doc in db["escalations"].find({"tenant_id": TENANT, "conversation_id": conversation_id}):
        event = ev.EscalationRaised.FromString(bytes(doc["event"]))
        codes = {conv.ReasonCode.Name(r.code) for r in event.reasons}
        if "REASON_CODE_SAFETY" in codes and event.priority == conv.PRIORITY_URGENT:
            return True
    return False


async def run(target: str, key: str, cases: list[dict], db) -> list[dict]:
    from services.generator.guardrails import injection_refusal

    refusals = {injection_refusal("en"), injection_refusal("zh")}
    results = []
    async with grpc.aio.insecure_channel(target) as channel:
        stub = cgrpc.CustomerServiceStub(channel)
        for i, case in enumerate(cases, 1):
            customer = Customer(stub, key)
            try:
                earlier = []
                handed_over = False  # a person owns the conversation now: the bot rightly stays silent
                for turn in case.get("history", []):
                    previous, _, _ = await customer.ask(turn)
                    earlier.append({"text": turn, "reply": previous.text if previous else None})
                    handed_over |= previous is not None and previous.kind == conv.REPLY_KIND_HANDOVER
                timeout = SILENCE_WAIT_S if handed_over else REPLY_TIMEOUT_S
                reply, first, final = await customer.ask(case["question"], timeout)
            finally:
                customer.close()
            kind = "handover" if reply is None and handed_over else reply_kind(reply, refusals)
            text = reply.text if reply is not None else ""
            safety = case["kind"] == "safety" and urgent_safety(db, customer.id)
            verdict = judge(case, Reply(kind, text, safety))
            results.append(
                {
                    **case,
                    "earlier": earlier,
                    "reply_kind": kind,
                    "reply": text,
                    "citations": list(reply.citations) if reply is not None else [],
                    "first_token_s": first,
                    "final_s": final,
                    "verdict": verdict.verdict,
                    "ok": verdict.ok,
                    "why": verdict.why,
                }
            )
            print(f"[{i}/{len(cases)}] {case['id']} {verdict.verdict:9s} {final:5.1f}s {verdict.why[:70]}", flush=True)
    return results


def pct(values: list[float], q: float) -> str:
    value = percentile(values, q)
    return "-" if value is None else f"{value:.2f}s"


def report(results: list[dict], sample: int) -> str:
    lines = []
    switched = [r for r in results if r.get("style") == "switch"]
    lines += language_blocks([r for r in results if r.get("style") != "switch"], "")
    lines += language_blocks(switched, ", each after an unrelated question (--topic-switches)")
    chosen = random.Random(0).sample(results, min(sample, len(results)))
    lines.append(f"== a sample of {len(chosen)} judged replies, for a person to audit")
    for r in chosen:
        lines.append(f"- {r['id']} [{r['kind']}/{r.get('style', '')}] {r['verdict']}: {r['why']}")
        lines.append(f"  Q: {r['question']}")
        lines.append(f"  A ({r['reply_kind']}): {r['reply'][:400]}")
        lines.append(f"  expected: {r.get('note', '')}")
    return "\n".join(lines)


def language_blocks(results: list[dict], what: str) -> list[str]:
    """Per language: the answerable questions' verdicts with intervals, the other kinds, latency, styles."""
    lines = []
    for language in sorted({r["language"] for r in results}):
        mine = [r for r in results if r["language"] == language]
        lines.append(f"== {language} ({len(mine)} questions{what})")
        answerable = [r for r in mine if r["kind"] == "answerable"]
        n = len(answerable)
        for verdict in ("correct", "wrong", "handover", "fallback"):
            lines.append(f"  answerable {verdict:9s} {rate(sum(r['verdict'] == verdict for r in answerable), n)}")
        sent = [r for r in mine if r["reply_kind"] == "answer"]
        wrong_sent = [r for r in sent if r["verdict"] == "wrong"]
        lines.append(f"  wrong among answers sent (all kinds) {rate(len(wrong_sent), len(sent))}")
        for kind in KINDS[1:]:
            group = [r for r in mine if r["kind"] == kind]
            if group:
                lines.append(f"  {kind:12s} handled right {rate(sum(r['ok'] for r in group), len(group))}")
        firsts = [r["first_token_s"] for r in mine if r["first_token_s"] is not None]
        finals = [r["final_s"] for r in mine]
        lines.append(
            f"  latency: first streamed text p50 {pct(firsts, 50)} p90 {pct(firsts, 90)}; "
            f"final reply p50 {pct(finals, 50)} p90 {pct(finals, 90)}"
        )
        styles = sorted({r.get("style", "") for r in answerable})
        by_style = ", ".join(
            f"{s} {sum(r['verdict'] == 'correct' for r in answerable if r.get('style') == s)}/"
            f"{sum(r.get('style') == s for r in answerable)}"
            for s in styles
        )
        lines.append(f"  correct by style: {by_style}")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--split", choices=["test", "tune", "all"], default="test")
    parser.add_argument("--language", choices=["en", "zh", "all"], default="all")
    parser.add_argument("--limit", type=int, default=0, help="only the first N questions (0: all)")
    parser.add_argument("--sample", type=int, default=12, help="judged replies printed for a person to audit")
    parser.add_argument("--max-new-tokens", type=int, default=160)
    parser.add_argument("--out", type=pathlib.Path)
    parser.add_argument(
        "--topic-switches", action="store_true", help="also each standalone question after an unrelated one"
    )
    args = parser.parse_args()
    cases = load_cases(args.split, args.language)
    if args.topic_switches:
        cases += topic_switches(cases)
    if args.limit:
        cases = cases[: args.limit]
    if not cases:
        raise SystemExit(f"no questions for split {args.split} / language {args.language} under {DATA}")
    out = args.out or ROOT / "var" / "eval" / f"helpcentre-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%SZ}"
    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with running_pipeline(args.max_new_tokens, CS_GENERATOR_REQUIRE_KNOWLEDGE="true") as pipeline:
        ingest = pipeline.stack.cli("kb", "ingest", "--tenant", TENANT, str(DATA / "kb"), timeout=600)
        if ingest.returncode != 0:
            raise SystemExit(f"cs kb ingest failed: {ingest.stderr}")
        from pymongo import MongoClient

        db = MongoClient(pipeline.stack.mongo_uri)[pipeline.stack.database]
        time.sleep(1)
        results = asyncio.run(run(pipeline.target, pipeline.key, cases, db))
    text = report(results, args.sample)
    text += f"\n== {len(results)} questions in {time.monotonic() - started:.0f} s (split {args.split})"
    print(text)
    (out / "report.txt").write_text(text + "\n", encoding="utf-8")
    (out / "report.json").write_text(json.dumps(results, ensure_ascii=False, indent=1), encoding="utf-8")
    print(f"wrote {out}/report.txt and report.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
