"""Answer-quality metrics over a set of customer questions (`bench/eval_answers.py` runs them).

Each case is a question with its kind: ``answerable`` (with the knowledge-base documents that answer
it and, optionally, words one of which a correct answer contains), ``unanswerable`` (the knowledge
base does not say) or ``adversarial`` (prompt injection). The case file, services/generator/data/
answer_eval.jsonl, was written by hand from the ABCD guidelines (asappresearch/abcd, MIT) that the
demo tenant's knowledge base is built from: answerable questions in English and Chinese, and
unanswerable and adversarial ones.

What is reported, and why:
- recall@1 / recall@3: an answerable question whose answering document is among the first 1 / 3
  passages retrieved (before any relevance cut): the model cannot use what it is not shown;
- grounded-answer rate: answerable questions that got an answer which passed every check and the
  grounding check; "with the expected fact": those whose answer contains one of the case's words;
  "answers holding the expected fact": of the answers sent (to cases that list words), the share that
  hold one, i.e. how often an answer that went out was right;
- citation precision: answers whose every citation is a passage of an answering document;
- correct handover rate: unanswerable questions handed to a human (or given the safe fallback)
  instead of an answer; adversarial questions refused or handed over instead of answered;
- latency per question (retrieval, generation and checks; the LLM dominates).
"""

from __future__ import annotations

import json
import pathlib
import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

DEFAULT_CASES = pathlib.Path(__file__).resolve().parent / "data" / "answer_eval.jsonl"
KINDS = ("answerable", "unanswerable", "adversarial")


@dataclass(frozen=True)
class Case:
    id: str
    kind: str
    language: str
    question: str
    gold: tuple[str, ...] = ()
    expect: tuple[str, ...] = ()


@dataclass
class CaseResult:
    case: Case
    outcome: str  # answer, fallback, refusal, handover
    reason: str
    text: str
    retrieved_docs: list[str] = field(default_factory=list)  # doc ids of the top passages, best first
    top_score: float = 0.0
    cited_docs: list[str] = field(default_factory=list)
    seconds: float = 0.0
    first_token_seconds: float = 0.0
    generated: str = ""  # what the model wrote, also when it did not go out


def load_cases(path: pathlib.Path = DEFAULT_CASES) -> list[Case]:
    cases = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        row = json.loads(line)
        if row["kind"] not in KINDS:
            raise ValueError(f"{path}:{number}: kind {row['kind']!r} is not one of {KINDS}")
        if row["kind"] == "answerable" and not row.get("gold"):
            raise ValueError(f"{path}:{number}: an answerable case needs the documents that answer it")
        cases.append(
            Case(
                row["id"],
                row["kind"],
                row["language"],
                row["question"],
                tuple(row.get("gold", ())),
                tuple(row.get("expect", ())),
            )
        )
    return cases


def recall_at(results: Sequence[CaseResult], k: int) -> float:
    answerable = [r for r in results if r.case.kind == "answerable"]
    hits = sum(bool(set(r.retrieved_docs[:k]) & set(r.case.gold)) for r in answerable)
    return hits / len(answerable) if answerable else 0.0


def has_expected_fact(result: CaseResult) -> bool:
    text = result.text.lower()
    return not result.case.expect or any(word.lower() in text for word in result.case.expect)


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 3) if whole else None


def _percentiles(values: Sequence[float]) -> dict[str, float]:
    if not values:
        return {}
    ordered = sorted(values)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    return {"p50": round(statistics.median(ordered), 3), "p90": round(pick(0.9), 3), "max": round(ordered[-1], 3)}


def summarize(results: Sequence[CaseResult]) -> dict:
    """The report: overall and per language."""
    report = {"cases": len(results), "overall": _summary(results)}
    for language in sorted({r.case.language for r in results}):
        report[language] = _summary([r for r in results if r.case.language == language])
    return report


def _summary(results: Sequence[CaseResult]) -> dict:
    by_kind = {kind: [r for r in results if r.case.kind == kind] for kind in KINDS}
    answerable = by_kind["answerable"]
    answered = [r for r in answerable if r.outcome == "answer"]
    cited = [r for r in answered if r.cited_docs]
    return {
        "answerable": len(answerable),
        "unanswerable": len(by_kind["unanswerable"]),
        "adversarial": len(by_kind["adversarial"]),
        "recall_at_1": round(recall_at(results, 1), 3),
        "recall_at_3": round(recall_at(results, 3), 3),
        "grounded_answer_rate": _rate(len(answered), len(answerable)),
        "answered_with_expected_fact": _rate(sum(has_expected_fact(r) for r in answered), len(answerable)),
        "answer_precision": _rate(
            sum(has_expected_fact(r) for r in answered if r.case.expect), sum(1 for r in answered if r.case.expect)
        ),
        "citation_precision": _rate(sum(set(r.cited_docs) <= set(r.case.gold) for r in cited), len(cited)),
        "answers_with_citations": _rate(len(cited), len(answered)),
        "unanswerable_handed_over": _rate(
            sum(r.outcome in ("handover", "fallback") for r in by_kind["unanswerable"]), len(by_kind["unanswerable"])
        ),
        "adversarial_blocked": _rate(
            sum(r.outcome != "answer" for r in by_kind["adversarial"]), len(by_kind["adversarial"])
        ),
        "outcomes": {kind: dict(Counter(r.outcome for r in rs)) for kind, rs in by_kind.items() if rs},
        "handover_reasons": dict(Counter(r.reason.split(":")[0] for r in results if r.outcome != "answer")),
        "seconds": _percentiles([r.seconds for r in results]),
        "first_token_seconds": _percentiles([r.first_token_seconds for r in results if r.first_token_seconds]),
    }


def table(report: dict) -> str:
    """The human-readable table: one row per metric, a column per language."""
    columns = ["overall"] + [k for k in report if k not in ("overall", "cases")]
    rows = [
        ("recall@1 (answerable)", "recall_at_1"),
        ("recall@3 (answerable)", "recall_at_3"),
        ("grounded-answer rate", "grounded_answer_rate"),
        ("  ... with the expected fact", "answered_with_expected_fact"),
        ("answers holding the expected fact", "answer_precision"),
        ("answers with citations", "answers_with_citations"),
        ("citation precision", "citation_precision"),
        ("unanswerable handed over", "unanswerable_handed_over"),
        ("adversarial blocked", "adversarial_blocked"),
    ]
    width = 30
    cell = 12
    lines = [f"{'metric':<{width}}" + "".join(f"{c:>{cell}}" for c in columns)]
    for label, key in rows:
        cells = [report[c][key] for c in columns]
        lines.append(f"{label:<{width}}" + "".join(f"{'-' if v is None else v:>{cell}}" for v in cells))
    for label, key in (("seconds per question p50/p90", "seconds"), ("first token p50/p90", "first_token_seconds")):
        cells = [f"{report[c][key].get('p50', '-')}/{report[c][key].get('p90', '-')}" for c in columns]
        lines.append(f"{label:<{width}}" + "".join(f"{v:>{cell}}" for v in cells))
    return "\n".join(lines)
