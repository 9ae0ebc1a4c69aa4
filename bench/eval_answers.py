"""Answer quality you can measure: retrieval, grounded answers, citations and handovers, zh and en.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/eval_answers.py [--out DIR] [--cases FILE]
        [--kb PATH] [--no-llm] [--min-score X] [--max-new-tokens N]

Needs the local stack's database (`bash deploy/local/stack.sh up`; CS_MONGO_URI, default
mongodb://127.0.0.1:27017/). It ingests the knowledge (default: the ABCD guidelines in
../shared/data/abcd/guidelines.json, the demo tenant's knowledge) into a database of its own
(dropped afterwards), then puts every question of the case file (services/generator/evaluation.py
says what is in it) through the generator's own answer path, `services.generator.answering.Answerer`:
guardrails, retrieval, the prompt, the LLM (CPU int8 here, CUDA when present), the answer checks and
the grounding check. The routing policy that runs before it in the service (a human asked for,
anger, legal threats) is not part of this measurement.

Writes DIR/report.json (every figure and every case's outcome) and DIR/report.txt (the table, also
printed); DIR defaults to var/eval/answers-<UTC time>. --no-llm measures retrieval and the
relevance cut alone in seconds. About 3-4 minutes on 2 CPU cores with the LLM.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime as dt
import json
import os
import pathlib
import sys
import time
import uuid

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from services.common.knowledge.documents import load_source  # noqa: E402
from services.common.knowledge.ingest import ingest_documents  # noqa: E402
from services.common.knowledge.repo import KnowledgeRepo  # noqa: E402
from services.common.ml.embeddings import SentenceEncoder, shared_ranker  # noqa: E402
from services.common.storage.mongo import connect  # noqa: E402
from services.generator import evaluation  # noqa: E402
from services.generator.answering import Answerer, AnswerResult, Outcome, Question  # noqa: E402
from services.generator.grounding import GroundingChecker  # noqa: E402
from services.generator.guardrails import find_injection  # noqa: E402
from services.generator.retrieval import RetrievalSettings, Retriever  # noqa: E402

TENANT = "eval"
DEFAULT_KB = ROOT.parent / "shared" / "data" / "abcd" / "guidelines.json"
THRESHOLDS = (0.25, 0.3, 0.35, 0.4, 0.45)


async def run_case(answerer: Answerer | None, retriever: Retriever, case: evaluation.Case) -> evaluation.CaseResult:
    started = time.perf_counter()
    hits = await retriever.search(TENANT, case.question)
    if answerer is None:  # retrieval only: the outcome the relevance cut alone would give
        blocked = find_injection(case.question) is not None
        relevant = retriever.relevant(hits)
        result = AnswerResult(Outcome.REFUSAL if blocked else Outcome.ANSWER if relevant else Outcome.HANDOVER, "")
    else:
        result = await answerer.answer(Question(TENANT, case.question, case.language))
    return evaluation.CaseResult(
        case,
        str(result.outcome),
        result.reason,
        result.text,
        retrieved_docs=[h.passage.doc_id for h in hits],
        top_score=hits[0].score if hits else 0.0,
        cited_docs=[c.split("#")[0] for c in result.citations],
        seconds=time.perf_counter() - started,
        first_token_seconds=result.first_token_seconds,
        generated=result.generated,
    )


def threshold_sweep(results: list[evaluation.CaseResult]) -> list[dict]:
    """How the relevance cut trades answerable questions kept against unanswerable ones caught."""
    rows = []
    for t in THRESHOLDS:
        answerable = [r for r in results if r.case.kind == "answerable"]
        unanswerable = [r for r in results if r.case.kind == "unanswerable"]
        rows.append(
            {
                "min_score": t,
                "answerable_kept": round(sum(r.top_score >= t for r in answerable) / max(1, len(answerable)), 3),
                "unanswerable_cut": round(sum(r.top_score < t for r in unanswerable) / max(1, len(unanswerable)), 3),
            }
        )
    return rows


def load_llm(max_batch: int):
    from services.common.ml.model_store import ModelStore
    from services.generator.llm.batched import BatchedEngine
    from services.generator.llm.engine import LLMEngine
    from services.generator.llm.weights import ensure_converted

    _, path = ensure_converted(ModelStore())
    return BatchedEngine(
        LLMEngine.load(path, threads=int(os.environ.get("CS_TORCH_THREADS", "2"))), max_batch_size=max_batch
    ).start()


async def evaluate(args: argparse.Namespace) -> dict:
    cases = evaluation.load_cases(args.cases)
    database = f"eval_answers_{uuid.uuid4().hex[:8]}"
    mongo, db = await connect(os.environ.get("CS_MONGO_URI", "mongodb://127.0.0.1:27017/"), database, 30)
    llm = None
    try:
        encoder = SentenceEncoder()
        ingest = await ingest_documents(db, encoder, TENANT, load_source(args.kb))
        print(ingest)
        retriever = Retriever(KnowledgeRepo(db), encoder, RetrievalSettings(min_score=args.min_score), shared_ranker())
        answerer = None
        if not args.no_llm:
            llm = load_llm(max_batch=1)
            answerer = Answerer(llm, retriever, GroundingChecker(encoder), args.max_new_tokens)
        results = []
        for case in cases:
            results.append(await run_case(answerer, retriever, case))
            r = results[-1]
            print(
                f"{case.id} {case.language} {r.outcome:<8} {r.reason[:28]:<28} {r.seconds:5.1f}s  {r.text[:70]!r}",
                flush=True,
            )
        return {
            "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "knowledge": str(args.kb),
            "passages": ingest.passages,
            "min_score": args.min_score,
            "llm": llm.version if llm else None,
            "max_new_tokens": args.max_new_tokens,
            "summary": evaluation.summarize(results),
            "threshold_sweep": threshold_sweep(results),
            "results": [{**dataclasses.asdict(r), "case": dataclasses.asdict(r.case)} for r in results],
        }
    finally:
        if llm is not None:
            llm.close(timeout=10)
        await mongo.drop_database(database)
        await mongo.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=pathlib.Path, help="report folder (default var/eval/answers-<UTC time>)")
    parser.add_argument("--cases", type=pathlib.Path, default=evaluation.DEFAULT_CASES)
    parser.add_argument("--kb", type=pathlib.Path, default=DEFAULT_KB, help="knowledge file or folder to ingest")
    parser.add_argument("--no-llm", action="store_true", help="retrieval and the relevance cut only")
    parser.add_argument("--min-score", type=float, default=RetrievalSettings().min_score)
    parser.add_argument("--max-new-tokens", type=int, default=80)
    args = parser.parse_args(argv)
    out = args.out or ROOT / "var" / "eval" / f"answers-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%SZ}"
    report = asyncio.run(evaluate(args))
    out.mkdir(parents=True, exist_ok=True)
    text = (
        evaluation.table(report["summary"])
        + "\n\nrelevance cut (min_score): answerable kept / unanswerable cut\n"
        + "\n".join(
            f"  {row['min_score']:.2f}: {row['answerable_kept']:.3f} / {row['unanswerable_cut']:.3f}"
            for row in report["threshold_sweep"]
        )
    )
    (out / "report.json").write_text(json.dumps(report, ensure_ascii=False, indent=2))
    (out / "report.txt").write_text(text + "\n")
    print("\n" + text + f"\n\nwritten to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
