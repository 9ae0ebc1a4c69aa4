"""What `cs models` asks about a stored intent model version (services/cli/models.py runs this).

python -m services.intent.versions describe PATH...   build time and headline held-out figures
python -m services.intent.versions check PATH         load it as the worker does and label samples
"""

from __future__ import annotations

import pathlib
import sys

from services.common.ml.version_tool import tool_main

# One message per language the worker serves, for the check: a version that loads but cannot label
# them (e.g. a head whose width is not the encoder's) would dead-letter every event.
SAMPLES = ("where is my order #A12345?", "我要退款")


def describe(path: pathlib.Path) -> dict:
    """From the training report training writes into the folder (model.json)."""
    from services.intent.classifier import read_metadata

    meta = read_metadata(path)
    m = meta.get("metrics", {})
    figures = [
        f"en held-out {m['en_heldout']['accuracy']:.3f}",
        f"zh test {m['zh_test']['accuracy']:.3f}",
        f"complaints {m['complaints_test']['accuracy_at_threshold']:.3f}",
    ]
    used = m.get("corrections", {}).get("used", 0)
    figures.append(f"{used} agent corrections" if used else "no corrections")
    return {"built_at": meta.get("built_at", ""), "headline": ", ".join(figures) + f"; {len(meta['labels'])} labels"}


def check(path: pathlib.Path) -> str:
    """Load the folder with IntentEngine.load and the catalogue the worker uses, then label the samples."""
    from services.intent.catalogue import Catalogue
    from services.intent.corpora import DEMO_CATALOGUE
    from services.intent.engine import IntentEngine

    engine = IntentEngine.load(path, Catalogue.load(DEMO_CATALOGUE))
    if engine.version != path.name:
        raise ValueError(f"the folder of {path.name} holds model {engine.version}")
    results = engine.understand_many(list(SAMPLES))
    labelled = ", ".join(f"{text!r} -> {r.intent.label}" for text, r in zip(SAMPLES, results))
    return f"loads; {len(engine.classifier.labels)} labels; {labelled}"


if __name__ == "__main__":
    sys.exit(tool_main(None, describe, check, "python -m services.intent.versions"))
