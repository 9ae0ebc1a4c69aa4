"""What `cs models` asks about a stored sentiment model version (services/cli/models.py runs this).

python -m services.sentiment.versions describe PATH...   headline figures of the version's report
python -m services.sentiment.versions check PATH         load it as the worker does and score samples
"""

from __future__ import annotations

import pathlib
import sys

from services.common.ml.version_tool import tool_main

SAMPLES = (("thanks, that solved it", "en"), ("这是第三次了，太差了！", "zh"))


def describe(path: pathlib.Path) -> dict:
    """From the training report training writes into the folder (meta.json); it has no build time,
    so `cs models` shows when the folder was completed."""
    from services.sentiment.training import read_meta

    meta = read_meta(path)
    figures = meta["figures"]
    used = meta.get("corrections", {}).get("used", 0)
    return {
        "headline": f"SST-2 dev {figures['sst2_dev']['accuracy']:.3f}, "
        f"ChnSentiCorp test {figures['chnsenticorp_test']['accuracy']:.3f}, "
        f"CLUE anger F1 {figures['clue_emotion_test']['anger_f1_engine']:.3f}, "
        + (f"{used} agent corrections" if used else "no corrections")
    }


def check(path: pathlib.Path) -> str:
    """Load the folder with SentimentEngine.load, as the worker does, then score the samples."""
    from services.sentiment.engine import SentimentEngine

    engine = SentimentEngine.load(path)
    if engine.version != path.name:
        raise ValueError(f"the folder of {path.name} holds model {engine.version}")
    results = [engine.analyze(text, language) for text, language in SAMPLES]
    scored = ", ".join(f"{text!r} -> {r.polarity}" for (text, _), r in zip(SAMPLES, results))
    return f"loads; {scored}"


if __name__ == "__main__":
    sys.exit(tool_main(None, describe, check, "python -m services.sentiment.versions"))
