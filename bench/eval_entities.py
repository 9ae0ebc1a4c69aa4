"""Entities and language identification against the cases written for them, with the libraries beside.

    .venv/bin/python bench/eval_entities.py [--json FILE]

What it prints:
- entity precision / recall / F1 (type + normalised value) of `extract_entities` on
  services/intent/data/entities_test.jsonl and bench/data/entity_library_cases.jsonl (international
  phone formats, numbers that are not phones, relative dates in en and zh, words that are not dates);
- dates found by our rules (services/intent/dates.py) beside `dateparser.search.search_dates` on the
  same cases, when dateparser is installed (the `eval` extra): dateparser measured worse, so the rules stay;
- language identification on bench/data/language_cases.jsonl (fr, es, de, it, pt, en, zh) and the
  informal test set (bench/data/informal, en + zh): the production detector (scripts, then lingua
  for Latin script) beside scripts alone, which is what the platform did before issue 16 (every
  Latin-script message English); and its time per message.

Run it with `PYTHONPATH=<another checkout>` to measure that checkout's code on the same cases (this
folder's code is used only when `services` is not found first on the path).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import pathlib
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator

ROOT = pathlib.Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.append(str(ROOT))

from services.intent import entities as entity_rules  # noqa: E402
from services.intent.catalogue import Catalogue  # noqa: E402
from services.intent.corpora import DEMO_CATALOGUE  # noqa: E402
from services.intent.evaluation import ENTITY_CASES, EntityCase, load_entity_cases, score_entities  # noqa: E402
from services.intent.language import detect_language  # noqa: E402

DATA = ROOT / "bench" / "data"
LIBRARY_CASES = DATA / "entity_library_cases.jsonl"
LANGUAGE_CASES = DATA / "language_cases.jsonl"
INFORMAL = DATA / "informal" / "informal_test.jsonl"
SCRIPT_LANGUAGES = frozenset({"zh", "ja", "ko", "und"})


def entity_figures(cases: list[EntityCase]) -> dict:
    catalogue = Catalogue.load(DEMO_CATALOGUE)
    scores = score_entities(cases, lambda text, now: entity_rules.extract_entities(text, now, catalogue))
    return {"overall": scores["value"]["overall"], "by_type": scores["value"]["by_type"], "errors": scores["errors"]}


def _date_cases(cases: list[EntityCase]) -> list[EntityCase]:
    """The cases with only their date entities: what a date finder alone should return."""
    return [EntityCase(c.id, c.language, c.text, c.now, tuple(e for e in c.entities if e[0] == "date")) for c in cases]


def _as_entities(found: Iterator[tuple[int, int, dt.date]], text: str) -> list[entity_rules.Entity]:
    return [entity_rules.Entity("date", text[a:b], day.isoformat(), a, b) for a, b, day in found]


def _dateparser_finder() -> Callable[[str, dt.datetime], list[entity_rules.Entity]] | None:
    try:
        import dateparser.search
    except ImportError:
        return None

    def find(text: str, now: dt.datetime) -> list[entity_rules.Entity]:
        base = dt.datetime.combine(now.date(), dt.time(12))
        settings = {"RELATIVE_BASE": base, "PREFER_DATES_FROM": "past"}
        found = dateparser.search.search_dates(text, languages=["en", "zh"], settings=settings) or []
        spans, position = [], 0
        for written, value in found:
            start = text.find(written, position)
            if start >= 0:
                position = start + len(written)
                spans.append((start, position, value.date()))
        return _as_entities(iter(spans), text)

    return find


def date_figures(cases: list[EntityCase]) -> dict:
    dates = _date_cases(cases)
    finders: dict[str, Callable[[str, dt.datetime], list[entity_rules.Entity]]] = {
        "our rules (dates.py)": lambda text, now: _as_entities(iter(entity_rules.find_dates(text, now.date())), text)
    }
    library = _dateparser_finder()
    if library is not None:
        finders["dateparser search_dates"] = library
    result = {}
    for name, finder in finders.items():
        started = time.perf_counter()
        scores = score_entities(dates, finder)
        result[name] = {
            **scores["value"]["overall"],
            "ms_per_message": round(1000 * (time.perf_counter() - started) / len(dates), 2),
        }
    return result


def _load_language_cases() -> list[tuple[str, str, str]]:
    """(set, expected language, text) for the language cases and the informal test set."""
    rows = [("language_cases", item["lang"], item["text"]) for item in _jsonl(LANGUAGE_CASES)]
    rows += [("informal_test", item["language"], item["text"]) for item in _jsonl(INFORMAL)]
    return rows


def _jsonl(path: pathlib.Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def language_figures() -> dict:
    rows = _load_language_cases()
    detect_language("warm up the detector, load its models")
    started = time.perf_counter()
    detected = [detect_language(text) for _, _, text in rows]
    ms = 1000 * (time.perf_counter() - started) / len(rows)
    by_script = ["en" if found not in SCRIPT_LANGUAGES else found for found in detected]
    result: dict = {"ms_per_message": round(ms, 3), "by_language": {}, "confusions": []}
    totals = Counter()
    for (source, expected, text), found, script in zip(rows, detected, by_script):
        key = f"{expected} ({source})"
        cell = result["by_language"].setdefault(key, {"n": 0, "production": 0, "scripts only": 0})
        cell["n"] += 1
        cell["production"] += found == expected
        cell["scripts only"] += script == expected
        totals["n"] += 1
        totals["production"] += found == expected
        totals["scripts only"] += script == expected
        if found != expected:
            result["confusions"].append({"text": text, "expected": expected, "detected": found})
    result["overall"] = dict(totals)
    return result


def render(report: dict) -> str:
    lines = ["ENTITIES (type + normalised value must match)", f"  {'cases / type':40}{'P%':>7}{'R%':>7}{'F1%':>7}"]
    for name, figures in report["entities"].items():
        rows = [("overall", figures["overall"]), *figures["by_type"].items()]
        for label, f in rows:
            cells = "".join(
                f"{100 * f[k]:7.1f}" if f[k] is not None else f"{'-':>7}" for k in ("precision", "recall", "f1")
            )
            lines.append(f"  {name + ' / ' + label:40}{cells}")
    lines += ["", "DATES alone (both case files)", f"  {'finder':40}{'P%':>7}{'R%':>7}{'F1%':>7}{'ms/msg':>8}"]
    for name, f in report["dates"].items():
        cells = "".join(f"{100 * (f[k] or 0):7.1f}" for k in ("precision", "recall", "f1"))
        lines.append(f"  {name:40}{cells}{f['ms_per_message']:8.2f}")
    lang = report["language"]
    lines += [
        "",
        f"LANGUAGE (accuracy; production: scripts, then lingua for Latin script; {lang['ms_per_message']} ms/message)",
        f"  {'expected (set)':34}{'n':>5}{'production':>12}{'scripts only':>14}",
    ]
    for name, cell in {**lang["by_language"], "all": lang["overall"]}.items():
        lines.append(
            f"  {name:34}{cell['n']:5d}{100 * cell['production'] / cell['n']:11.1f}%"
            f"{100 * cell['scripts only'] / cell['n']:13.1f}%"
        )
    lines += [f"  wrong: {c['text']!r} {c['expected']} -> {c['detected']}" for c in lang["confusions"]]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", type=pathlib.Path, help="also write the figures here")
    args = parser.parse_args(argv)
    base, library = load_entity_cases(ENTITY_CASES), load_entity_cases(LIBRARY_CASES)
    report = {
        "entities": {"entities_test": entity_figures(base), "library_cases": entity_figures(library)},
        "dates": date_figures(base + library),
        "language": language_figures(),
    }
    print(render(report))
    if args.json:
        args.json.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
