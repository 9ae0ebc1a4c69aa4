"""Readers for the public data sets the sentiment model learns from and is measured on.

The sets live outside the repository (`<repo>/../shared/data`, one folder per set, each with its
README); this module only knows their file formats. Labels are returned as names
("negative" / "neutral" / "positive", or the CLUE emotion names) so nothing downstream depends on
a set's numeric coding.
"""

from __future__ import annotations

import csv
import dataclasses
import gzip
import json
import pathlib
import re

import numpy as np

SST2_TRAIN = "sst2/train.tsv.gz"
SST2_DEV = "sst2/dev.tsv"
CHNSENTICORP = "chinese-sentiment/chnsenticorp/{split}.tsv"
WAIMAI = "chinese-sentiment/waimai_10k.csv"
CLUE_EMOTION = "clue-emotion2020/{split}.txt"
CLINC150 = "clinc150/data_full.json"
BITEXT = "bitext-customer-service/bitext_customer_service_8k.csv"
CAIS_TEXT = "cais/ch.{split}"
CAIS_INTENT = "cais/ch.{split}.intent"
# Measured on only (never trained on): see `held_out_reviews`.
ONLINE_SHOPPING = "chinese-sentiment/online_shopping_10_cats.csv.gz"
HOTELS = "chinese-sentiment/ChnSentiCorp_htl_all.csv"

# CLINC150 chit-chat intents whose utterances are not neutral support requests.
_CLINC_NOT_NEUTRAL = frozenset(
    [
        "thank_you",
        "greeting",
        "goodbye",
        "tell_joke",
        "fun_fact",
        "meaning_of_life",
        "are_you_a_bot",
        "who_made_you",
        "what_are_your_hobbies",
        "do_you_have_pets",
        "how_old_are_you",
        "what_is_your_name",
        "user_name",
        "yes",
        "no",
        "maybe",
    ]
)
# Bitext marks offensive wording with the flag W; these phrases mark a stated grievance.
_BITEXT_DISSATISFIED = re.compile(r"not happy|discontent|don'?t like|unhappy|dissatisf|not satisfied", re.IGNORECASE)
_BINARY = {"0": "negative", "1": "positive"}


@dataclasses.dataclass(frozen=True)
class TextSet:
    name: str
    texts: list[str]
    labels: list[str]

    def __post_init__(self) -> None:
        if len(self.texts) != len(self.labels):
            raise ValueError(f"{self.name}: {len(self.texts)} texts but {len(self.labels)} labels")

    def __len__(self) -> int:
        return len(self.texts)


def default_data_root() -> pathlib.Path:
    """`<repo>/../shared/data`, where the project keeps the public data sets."""
    return pathlib.Path(__file__).resolve().parents[2].parent / "shared" / "data"


def _open(root: pathlib.Path, relative: str):
    path = root / relative
    if not path.exists():
        raise FileNotFoundError(
            f"data file {path} is missing; point CS_SHARED_DATA (or data_root) at the shared data folder"
        )
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8-sig")
    return path.open(encoding="utf-8-sig")


def _label_tsv(root: pathlib.Path, relative: str, name: str, text_col: int, label_col: int) -> TextSet:
    with _open(root, relative) as fh:
        rows = list(csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE))[1:]
    rows = [r for r in rows if len(r) > max(text_col, label_col) and r[text_col].strip()]
    return TextSet(name, [r[text_col].strip() for r in rows], [_BINARY[r[label_col]] for r in rows])


def sst2(root: pathlib.Path, split: str) -> TextSet:
    """GLUE SST-2 (English movie-review phrases); split "train" or "dev"."""
    return _label_tsv(root, SST2_TRAIN if split == "train" else SST2_DEV, f"sst2-{split}", 0, 1)


def chnsenticorp(root: pathlib.Path, split: str) -> TextSet:
    """ChnSentiCorp standard split (Chinese hotel, laptop and book reviews)."""
    return _label_tsv(root, CHNSENTICORP.format(split=split), f"chnsenticorp-{split}", 1, 0)


def waimai(root: pathlib.Path) -> TextSet:
    """Chinese food-delivery reviews: the complaints (late, cold, rude courier) sound like support chats."""
    with _open(root, WAIMAI) as fh:
        rows = [r for r in csv.DictReader(fh) if r["review"].strip()]
    return TextSet("waimai", [r["review"].strip() for r in rows], [_BINARY[r["label"]] for r in rows])


def review_key(text: str) -> str:
    """Whitespace-free first 40 characters: the same review copied between corpora gets the same key."""
    return "".join(text.split())[:40]


def held_out_reviews(root: pathlib.Path, corpus: str, size: int, seed: int = 0) -> TextSet:
    """A fixed sample of Chinese reviews the polarity head never trained on.

    corpus: "online-shopping" (10 product categories, 62,774 reviews) or "hotels"
    (ChnSentiCorp_htl_all, 7,766). Neither file has a standard split, and both share reviews with
    ChnSentiCorp (about 9,700 and 3,100 of them), which the model trains on; so every review whose
    key also appears in ChnSentiCorp (any split) or the waimai training file is dropped, and a
    seeded sample of `size` is drawn from the rest: the same texts on every run.
    """
    relative = {"online-shopping": ONLINE_SHOPPING, "hotels": HOTELS}.get(corpus)
    if relative is None:
        raise ValueError(f"unknown review corpus {corpus!r}; use 'online-shopping' or 'hotels'")
    with _open(root, relative) as fh:
        rows = [(r["review"].replace("\ufeff", "").strip(), r["label"]) for r in csv.DictReader(fh)]
    seen = {review_key(t) for split in ("train", "dev", "test") for t in chnsenticorp(root, split).texts}
    seen |= {review_key(t) for t in waimai(root).texts}
    fresh = sorted({(t, label) for t, label in rows if t and review_key(t) not in seen})
    rng = np.random.default_rng(seed)
    keep = sorted(rng.choice(len(fresh), size=min(size, len(fresh)), replace=False))
    return TextSet(f"{corpus}-held-out", [fresh[i][0] for i in keep], [_BINARY[fresh[i][1]] for i in keep])


ANGER_SUPPORT = pathlib.Path(__file__).with_name("data") / "anger_support_{split}.jsonl"


def anger_support(split: str) -> TextSet:
    """Customer-service messages written for issue 16 (en + zh: angry, frustrated, neutral, polite
    complaints), labelled "anger" (angry or frustrated) or "calm"; split in halves by label and language
    before any training, "train" trained on, "test" only reported."""
    path = pathlib.Path(str(ANGER_SUPPORT).format(split=split))
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return TextSet(
        f"anger-support-{split}", [r["text"] for r in rows], ["anger" if r["angry"] else "calm" for r in rows]
    )


def clue_emotion(root: pathlib.Path, split: str) -> TextSet:
    """CLUEmotion2020 Weibo posts, 7 emotions; only "valid" and "test" exist here."""
    with _open(root, CLUE_EMOTION.format(split=split)) as fh:
        rows = [json.loads(line) for line in fh if line.strip()]
    return TextSet(f"clue-emotion-{split}", [r["content"] for r in rows], [r["label"] for r in rows])


def support_requests(root: pathlib.Path) -> dict[str, TextSet]:
    """Support-style utterances with a polarity, so the classifier learns what a plain request is.

    Review corpora contain no neutral text, so on their own they push every "how do I ...?" to one
    side. Returns: "clinc-neutral" and "bitext-neutral" (English requests), "cais-neutral"
    (Chinese smart-speaker commands), "bitext-negative" (requests with profanity or a stated
    grievance) and "clinc-thanks" (positive: thanking the assistant).
    """
    with _open(root, CLINC150) as fh:
        clinc = json.load(fh)["train"]
    neutral = [t for t, intent in clinc if intent not in _CLINC_NOT_NEUTRAL]
    thanks = [t for t, intent in clinc if intent == "thank_you"]
    with _open(root, BITEXT) as fh:
        bitext = list(csv.DictReader(fh))
    is_grievance = ["W" in r["flags"] or bool(_BITEXT_DISSATISFIED.search(r["utterance"])) for r in bitext]
    grievance = [r for r, g in zip(bitext, is_grievance) if g]
    plain = [r for r, g in zip(bitext, is_grievance) if not g and r["intent"] != "review"]
    cais = [t for t, intent in _cais(root, "train") if intent != "Chat"]
    return {
        "clinc-neutral": TextSet("clinc-neutral", neutral, ["neutral"] * len(neutral)),
        "bitext-neutral": TextSet("bitext-neutral", [r["utterance"] for r in plain], ["neutral"] * len(plain)),
        "cais-neutral": TextSet("cais-neutral", cais, ["neutral"] * len(cais)),
        "bitext-negative": TextSet(
            "bitext-negative", [r["utterance"] for r in grievance], ["negative"] * len(grievance)
        ),
        "clinc-thanks": TextSet("clinc-thanks", thanks, ["positive"] * len(thanks)),
    }


def _cais(root: pathlib.Path, split: str) -> list[tuple[str, str]]:
    """CAIS stores one character per line with blank lines between utterances."""
    utterances, chars = [], []
    with _open(root, CAIS_TEXT.format(split=split)) as fh:
        for line in fh:
            if line.strip():
                chars.append(line.split()[0])
            elif chars:
                utterances.append("".join(chars))
                chars = []
    if chars:
        utterances.append("".join(chars))
    with _open(root, CAIS_INTENT.format(split=split)) as fh:
        intents = [line.strip() for line in fh if line.strip()]
    if len(intents) != len(utterances):
        raise ValueError(
            f"CAIS {split}: {len(utterances)} utterances but {len(intents)} intents; the files do not match"
        )
    return list(zip(utterances, intents))


def input_files(root: pathlib.Path) -> list[pathlib.Path]:
    """Every file the training reads, for the model fingerprint."""
    relative = [
        SST2_TRAIN,
        SST2_DEV,
        WAIMAI,
        CLINC150,
        BITEXT,
        CHNSENTICORP.format(split="train"),
        CHNSENTICORP.format(split="test"),
        CLUE_EMOTION.format(split="valid"),
        CLUE_EMOTION.format(split="test"),
        CAIS_TEXT.format(split="train"),
        CAIS_INTENT.format(split="train"),
    ]
    own = [pathlib.Path(str(ANGER_SUPPORT).format(split=split)) for split in ("train", "test")]
    return [root / r for r in relative] + own
