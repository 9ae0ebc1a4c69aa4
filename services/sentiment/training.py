"""Build, measure and promote the sentiment model.

    python -m services.sentiment.training [--promote] [--force] [--no-baselines]
                                          [--with-corrections [--tenant T] [--correction-weight W]]

Trains two linear heads over the shared multilingual encoder (most of the time goes to encoding
text), stores them as a new version in the ModelStore (kind "sentiment") with the escalation-cue
lexicon and the measured figures, and prints those figures beside the VADER and snownlp baselines
on the same sets. The version is a fingerprint of the data files, the lexicon and the settings
below, so running it again without --force reuses the existing build.

Polarity head (negative / neutral / positive), one logistic regression over the sentence
embedding and n-gram TF-IDF features (`services/common/ml/ngrams.py`): all 67k SST-2 train phrases (the
n-grams keep gaining from all of them; the embedding alone stops gaining after a fraction),
ChnSentiCorp train (the n-grams read whole reviews, the encoder only the first 64 characters:
encoding whole reviews costs several times the time for no accuracy), waimai delivery
reviews, and support-style requests for the neutral class. The regularisation (C) was chosen on
ChnSentiCorp dev. Emotion head (7 CLUE emotions, embedding only): CLUE-emotion valid, the only
labelled split available here; measured on CLUE-emotion test.

Anger head (issue 16; anger or frustration vs the rest, what escalation reads), one balanced logistic
regression over [embedding | n-grams]: CLUE-emotion valid (anger) and the train half of the
hand-written support messages (data/anger_support_train.jsonl: angry, frustrated, neutral, polite
complaints, en + zh; split by label and language before any training), C and the support weight
chosen by 3-fold cross-validated F1 on that training data. The engine's anger is the noisy-OR of the
cues and this head (before: the emotion head's anger and disgust times p(negative)). Anger F1 is
reported on CLUE-emotion test and the support messages' test half, at the engine's emotion threshold
and at the policy's escalation threshold.

With --with-corrections, agents' polarity corrections (AgentService.CorrectUnderstanding) are read
from the database and added to the polarity head's training set with a weight
(services/common/ml/retraining.py says which are kept); they enter the fingerprint, and the report
gives how many were used and the figures of the CURRENT version beside the new one.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import shutil
import sys
import time
from collections.abc import Sequence

import numpy as np

from services.common.ml import ngrams, training_cli
from services.common.ml.embeddings import shared_encoder
from services.common.ml.model_store import ModelStore
from services.common.ml.ngrams import NgramVocabulary, stack_features
from services.common.ml.retraining import (
    NO_CORRECTIONS,
    CorrectedMessage,
    FoldedCorrections,
    fold_corrections,
    text_key,
)
from services.common.ml.training_cli import Built, StoredVersion
from services.sentiment import datasets
from services.sentiment.cues import DEFAULT_CUES_PATH
from services.sentiment.engine import (
    ANGER_FILE,
    CUES_FILE,
    EMOTION_FILE,
    MODEL_KIND,
    POLARITY_FILE,
    Encoder,
    SentimentEngine,
)
from services.sentiment.evaluation import (
    anger_figures,
    baseline_figures,
    binary_accuracy,
    f1,
    polarity_figures,
    single_message_latency,
)
from services.sentiment.heads import LinearHead, StackedHead

META_FILE = "meta.json"
ARTIFACT_FORMAT = "sentiment-stacked-ngram-heads-v4"
POLARITIES = ("negative", "neutral", "positive")
# Sample weight of an agent's polarity correction; a review or support request weighs 1.
CORRECTION_WEIGHT = 10.0


@dataclasses.dataclass(frozen=True)
class TrainingConfig:
    """Sizes and regularisation; every field enters the model fingerprint."""

    sst2_sample: int = 67349  # all of SST-2 train
    chnsenticorp_embed_chars: int = 64
    clinc_neutral: int = 2000
    bitext_neutral: int = 1000
    cais_neutral: int = 1500
    ngram_min_df: int = 2
    polarity_c: float = 5.0
    emotion_c: float = 1.0
    latency_samples: int = 200
    seed: int = 0
    # The anger head (anger or frustration vs the rest): C and the weight of the hand-written support
    # messages are chosen from these by 3-fold cross-validated F1 on its own training data.
    anger_c_grid: tuple[float, ...] = (0.3, 1.0, 3.0)
    anger_support_weights: tuple[float, ...] = (3.0, 10.0)
    anger_calm_sample: int = 1500


class _MemoEncoder:
    """Remembers the evaluation sets' embeddings so measuring the engine does not encode them twice."""

    def __init__(self, encoder: Encoder) -> None:
        self._encoder = encoder
        self._memo: dict[str, np.ndarray] = {}

    def remember(self, texts: Sequence[str]) -> np.ndarray:
        vectors = self._encoder.encode(list(texts))
        self._memo.update(zip(texts, vectors))
        return vectors

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        missing = [t for t in dict.fromkeys(texts) if t not in self._memo]
        if missing:
            self._memo.update(zip(missing, self._encoder.encode(missing)))
        return np.vstack([self._memo[t] for t in texts])

    def forget(self) -> None:
        self._memo.clear()


def model_fingerprint(
    data_root: pathlib.Path,
    config: TrainingConfig,
    cues_path: pathlib.Path = DEFAULT_CUES_PATH,
    corrections: FoldedCorrections = NO_CORRECTIONS,
) -> str:
    """Hash of every input; corrections add their examples and weight (none: the plain build's version)."""
    inputs = [cues_path, *datasets.input_files(data_root)]
    return training_cli.version_fingerprint([ARTIFACT_FORMAT, ngrams.SCHEME], config, inputs, corrections)


def prepare_corrections(
    data_root: pathlib.Path, corrected: Sequence[CorrectedMessage], weight: float = CORRECTION_WEIGHT
) -> FoldedCorrections:
    """Agents' polarity corrections as examples, never on a text the report measures polarity on."""
    reported = datasets.sst2(data_root, "dev").texts + datasets.chnsenticorp(data_root, "test").texts
    return fold_corrections(corrected, "polarity", POLARITIES, {text_key(t) for t in reported}, weight)


def _sample(data: datasets.TextSet, size: int, rng: np.random.Generator) -> datasets.TextSet:
    if size >= len(data):
        return data
    keep = sorted(rng.choice(len(data), size=size, replace=False))
    return datasets.TextSet(data.name, [data.texts[i] for i in keep], [data.labels[i] for i in keep])


def polarity_training_sets(data_root: pathlib.Path, config: TrainingConfig) -> list[datasets.TextSet]:
    rng = np.random.default_rng(config.seed)
    support = datasets.support_requests(data_root)
    return [
        _sample(datasets.sst2(data_root, "train"), config.sst2_sample, rng),
        datasets.chnsenticorp(data_root, "train"),
        datasets.waimai(data_root),
        _sample(support["clinc-neutral"], config.clinc_neutral, rng),
        _sample(support["bitext-neutral"], config.bitext_neutral, rng),
        _sample(support["cais-neutral"], config.cais_neutral, rng),
        support["bitext-negative"],
        support["clinc-thanks"],
    ]


def _embedding_texts(polarity_sets: Sequence[datasets.TextSet], config: TrainingConfig) -> list[str]:
    """What the encoder reads of each training text: ChnSentiCorp reviews only up to a prefix."""
    cut = {"chnsenticorp-train": config.chnsenticorp_embed_chars}
    return [t[: cut.get(s.name)] for s in polarity_sets for t in s.texts]


def _logistic_regression(features, labels: Sequence[str], c: float, weights: np.ndarray | None = None):
    """Multinomial logistic regression, single-threaded BLAS.

    The matrices are small, so more BLAS threads only contend for the cores and make a fit slower,
    not faster.
    """
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    model = LogisticRegression(C=c, max_iter=3000)
    with threadpool_limits(limits=1):
        model.fit(features, np.asarray(labels), sample_weight=weights)
    return model


def _fit(embeddings: np.ndarray, labels: Sequence[str], c: float) -> LinearHead:
    return LinearHead.from_sklearn(_logistic_regression(embeddings, labels, c))


def fit_polarity(
    embeddings: np.ndarray,
    texts: Sequence[str],
    labels: Sequence[str],
    config: TrainingConfig,
    weights: np.ndarray | None = None,
) -> StackedHead:
    """One logistic regression over [embedding | n-gram TF-IDF] of the training texts."""
    vocabulary = NgramVocabulary.fit(texts, config.ngram_min_df)
    features = stack_features(embeddings, list(texts), vocabulary)
    model = _logistic_regression(features, labels, config.polarity_c, weights)
    return StackedHead.from_sklearn(model, vocabulary, embeddings.shape[1])


ANGER_CALM_SETS = ("bitext-neutral", "clinc-neutral", "cais-neutral", "clinc-thanks")


def anger_calm_examples(polarity_sets: Sequence[datasets.TextSet], config: TrainingConfig) -> datasets.TextSet:
    """Plain requests and thanks from the polarity training sets, `anger_calm_sample` of them (seeded):
    the calm side of the anger head. Without them a neutral "where is my order?" scored about 0.5,
    since Weibo posts and a few dozen support messages were all the head had seen."""
    pool = [t for s in polarity_sets if s.name in ANGER_CALM_SETS for t in s.texts]
    chosen = _sample(
        datasets.TextSet("anger-calm", pool, ["calm"] * len(pool)),
        config.anger_calm_sample,
        np.random.default_rng(config.seed),
    )
    return chosen


def fit_anger(
    clue: datasets.TextSet,
    clue_vectors: np.ndarray,
    support: datasets.TextSet,
    calm: datasets.TextSet,
    encoder: Encoder,
    config: TrainingConfig,
) -> tuple[StackedHead, dict]:
    """Anger (and frustration) vs the rest over [embedding | n-grams]: CLUE-emotion valid (anger), the
    hand-written support messages and plain requests (`calm`); C and the support weight by 3-fold
    cross-validated F1 at 0.5.

    Classes are balanced (anger is 12 % of CLUE), so 0.5 is where anger and calm are equally likely.
    """
    from sklearn.model_selection import StratifiedKFold

    texts = clue.texts + calm.texts + support.texts
    vectors = np.vstack([clue_vectors, encoder.encode(calm.texts + support.texts)])
    gold = np.array([label == "anger" for label in clue.labels + calm.labels + support.labels])
    is_support = np.arange(len(texts)) >= len(clue.texts) + len(calm.texts)
    folds = list(StratifiedKFold(3, shuffle=True, random_state=config.seed).split(vectors, gold * 2 + is_support))

    def fit(rows: np.ndarray, c: float, weight: float):
        vocabulary = NgramVocabulary.fit([texts[i] for i in rows], config.ngram_min_df)
        x = stack_features(vectors[rows], [texts[i] for i in rows], vocabulary)
        weights = np.where(is_support[rows], weight, 1.0)
        model = _balanced_logistic_regression(x, gold[rows], c, weights)
        return model, vocabulary

    scores = {}
    for c in config.anger_c_grid:
        for weight in config.anger_support_weights:
            flagged = np.zeros(len(texts), dtype=bool)
            for train_rows, held in folds:
                model, vocabulary = fit(train_rows, c, weight)
                flagged[held] = model.predict(stack_features(vectors[held], [texts[i] for i in held], vocabulary))
            scores[(c, weight)] = f1(list(flagged), list(gold))
    c, weight = max(scores, key=scores.__getitem__)
    model, vocabulary = fit(np.arange(len(texts)), c, weight)
    head = StackedHead.from_binary_sklearn(model, vocabulary, vectors.shape[1], ("calm", "anger"))
    choice = {"C": c, "support_weight": weight, "cv_f1": {f"C={k[0]} w={k[1]}": round(v, 4) for k, v in scores.items()}}
    return head, choice


def _balanced_logistic_regression(features, labels: np.ndarray, c: float, weights: np.ndarray):
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        return LogisticRegression(C=c, max_iter=3000, class_weight="balanced").fit(
            features, labels, sample_weight=weights
        )


def write_model(
    out_dir: pathlib.Path,
    data_root: pathlib.Path,
    config: TrainingConfig,
    encoder: Encoder,
    corrections: FoldedCorrections = NO_CORRECTIONS,
) -> dict:
    """Train both heads into out_dir, measure the engine they make, and return the figures."""
    started = time.perf_counter()
    polarity_sets = polarity_training_sets(data_root, config)
    if corrections.used:
        polarity_sets.append(datasets.TextSet("agent-corrections", corrections.texts, corrections.labels))
    texts = [t for s in polarity_sets for t in s.texts]
    labels = [label for s in polarity_sets for label in s.labels]
    weights = None
    if corrections.used:  # the corrections are the last set
        weights = np.ones(len(texts))
        weights[len(texts) - corrections.used :] = corrections.weight
    embeddings = encoder.encode(_embedding_texts(polarity_sets, config))
    fit_polarity(embeddings, texts, labels, config, weights).save(out_dir / POLARITY_FILE)

    emotion_train = datasets.clue_emotion(data_root, "valid")
    emotion_vectors = encoder.encode(emotion_train.texts)
    emotion_head = _fit(emotion_vectors, emotion_train.labels, config.emotion_c)
    emotion_head.save(out_dir / EMOTION_FILE)
    calm = anger_calm_examples(polarity_sets, config)
    anger_head, anger_choice = fit_anger(
        emotion_train, emotion_vectors, datasets.anger_support("train"), calm, encoder, config
    )
    anger_head.save(out_dir / ANGER_FILE)
    shutil.copyfile(DEFAULT_CUES_PATH, out_dir / CUES_FILE)
    trained_s = time.perf_counter() - started

    figures = measure(out_dir, data_root, config, encoder, emotion_head)
    meta = {
        "format": ARTIFACT_FORMAT,
        "config": dataclasses.asdict(config),
        "training_examples": {s.name: len(s) for s in polarity_sets} | {emotion_train.name: len(emotion_train)},
        "train_seconds": round(trained_s, 1),
        "anger_head": anger_choice,
        "build_seconds": round(time.perf_counter() - started, 1),
        "figures": figures,
        "corrections": {
            "read": corrections.read,
            "used": corrections.used,
            "weight": corrections.weight,
            "skipped": corrections.skipped,
        },
    }
    (out_dir / META_FILE).write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n")
    return meta


def measure(
    model_dir: pathlib.Path, data_root: pathlib.Path, config: TrainingConfig, encoder: Encoder, emotion_head: LinearHead
) -> dict:
    """Engine figures on SST-2 dev, ChnSentiCorp test and CLUE-emotion test."""
    memo = _MemoEncoder(encoder)
    sst2_dev = datasets.sst2(data_root, "dev")
    chn_test = datasets.chnsenticorp(data_root, "test")
    clue_test = datasets.clue_emotion(data_root, "test")
    clue_vectors = memo.remember(clue_test.texts)
    engine = SentimentEngine.load(model_dir, encoder=memo)

    head_probs = emotion_head.predict_proba(clue_vectors)
    head_pred = [emotion_head.classes[i] for i in head_probs.argmax(axis=1)]
    head_f1 = f1([p == "anger" for p in head_pred], [g == "anger" for g in clue_test.labels])
    threshold = engine.settings.anger_threshold
    figures = {
        "anger": anger_report(engine, clue_test, datasets.anger_support("test"), threshold),
        "sst2_dev": polarity_figures(engine.analyze_many(sst2_dev.texts, "en"), sst2_dev),
        "chnsenticorp_test": polarity_figures(engine.analyze_many(chn_test.texts, "zh"), chn_test),
        "clue_emotion_test": {
            "anger_f1_engine": anger_figures(engine.analyze_many(clue_test.texts, "zh"), clue_test, threshold)["f1"],
            "anger_f1_emotion_head": head_f1,
            "accuracy_7way_emotion_head": binary_accuracy(head_pred, clue_test.labels),
            "anger_threshold": threshold,
        },
    }
    memo.forget()
    samples = sst2_dev.texts[: config.latency_samples // 2] + chn_test.texts[: config.latency_samples // 2]
    figures["latency_single_message"] = single_message_latency(engine, samples, "und")
    return {k: _rounded(v) for k, v in figures.items()}


# The routing policy's default anger threshold (services/generator/policy.py PolicyConfig.anger_threshold,
# CS_POLICY_ANGER_THRESHOLD): the score from which anger alone escalates.
POLICY_ANGER_THRESHOLD = 0.75


def anger_report(
    engine: SentimentEngine, clue_test: datasets.TextSet, support_test: datasets.TextSet, threshold: float
) -> dict:
    """Anger-vs-rest F1 of the engine's anger score on CLUE-emotion test and the support messages' test
    half, at the engine's emotion threshold and at the policy's escalation threshold."""
    clue = engine.analyze_many(clue_test.texts, "zh")
    support = engine.analyze_many(support_test.texts, "und")
    return {
        f"{name}_f1_at_{t}": anger_figures(results, data, t)["f1"]
        for name, results, data in (("clue_test", clue, clue_test), ("support_test", support, support_test))
        for t in (threshold, POLICY_ANGER_THRESHOLD)
    }


def _rounded(values: dict) -> dict:
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in values.items()}


def build(
    store: ModelStore,
    data_root: pathlib.Path | None = None,
    config: TrainingConfig = TrainingConfig(),
    force: bool = False,
    encoder: Encoder | None = None,
    corrections: FoldedCorrections = NO_CORRECTIONS,
) -> tuple[str, pathlib.Path]:
    """The version built from these inputs: reused when it exists (unless force), else trained."""
    data_root = data_root or datasets.default_data_root()
    fp = model_fingerprint(data_root, config, corrections=corrections)
    existing = store.find(MODEL_KIND, fp)
    if existing and not force:
        return existing
    encoder = encoder or shared_encoder()
    return store.build(MODEL_KIND, fp, lambda out: write_model(out, data_root, config, encoder, corrections))


def ensure_model(
    store: ModelStore,
    data_root: pathlib.Path | None = None,
    config: TrainingConfig = TrainingConfig(),
    require_latest: bool = False,
) -> tuple[str, pathlib.Path]:
    """The promoted model, built and promoted first when there is none.

    Workers call this at start. With require_latest (tests, CI) a CURRENT built from other inputs
    (older data, lexicon or settings) is replaced by a build from the current ones.
    """
    current = store.current(MODEL_KIND)
    if current and not require_latest:
        return current
    fp = model_fingerprint(data_root or datasets.default_data_root(), config)
    if current and current[0].endswith(f"-{fp}"):
        return current
    version, path = build(store, data_root, config)
    store.promote(MODEL_KIND, version)
    return version, path


def read_meta(model_dir: pathlib.Path) -> dict:
    path = model_dir / META_FILE
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing; rebuild with `python -m services.sentiment.training --force`")
    return json.loads(path.read_text(encoding="utf-8"))


def report(version: str, meta: dict, baselines: dict | None) -> str:
    figures = meta["figures"]
    sets = [
        ("SST-2 dev accuracy (en)", "sst2_dev", "sst2-dev"),
        ("ChnSentiCorp test accuracy (zh)", "chnsenticorp_test", "chnsenticorp-test"),
    ]
    lines = [
        f"sentiment model {version}: trained in {meta['train_seconds']} s, built and measured in {meta['build_seconds']} s",
        f"{'':34}{'ours':>8}{'VADER':>8}{'snownlp':>9}   share of ours in the neutral band",
    ]
    for title, key, baseline_key in sets:
        vader = f"{baselines['vader'][baseline_key]:8.4f}" if baselines else f"{'-':>8}"
        snow = f"{baselines['snownlp'][baseline_key]:9.4f}" if baselines else f"{'-':>9}"
        lines.append(f"{title:34}{figures[key]['accuracy']:8.4f}{vader}{snow}   {figures[key]['neutral_share']:.3f}")
    clue = figures["clue_emotion_test"]
    latency = figures["latency_single_message"]
    lines += [
        "anger F1 (anger or frustration vs the rest) at anger >= 0.5 / 0.75 (the policy's threshold): "
        + ", ".join(f"{k} {v:.3f}" for k, v in figures.get("anger", {}).items()),
        f"{'CLUE-emotion test anger-vs-rest F1':34}{clue['anger_f1_engine']:8.4f}{'n/a':>8}{'n/a':>9}"
        f"   (anger >= {clue['anger_threshold']}; emotion head alone: F1 {clue['anger_f1_emotion_head']:.4f},"
        f" 7-way accuracy {clue['accuracy_7way_emotion_head']:.4f})",
        f"one message: median {latency['median_s'] * 1000:.2f} ms, p95 {latency['p95_s'] * 1000:.2f} ms",
    ]
    return "\n".join(lines)


def corrections_report(built: Built) -> str:
    """Polarity corrections used and skipped, and the figures of CURRENT before beside the new version."""
    folded = built.corrections

    def figures_line(name: str, model: StoredVersion) -> str:
        figures = read_meta(model[1])["figures"]
        return (
            f"{name}: {model[0]}: SST-2 dev {figures['sst2_dev']['accuracy']:.4f}, "
            f"ChnSentiCorp test {figures['chnsenticorp_test']['accuracy']:.4f}"
        )

    return "\n".join(
        [
            f"corrections: {folded.read} stored ({training_cli.corrections_scope(built.signals)}): {folded.used} polarity "
            f"corrections used (weight {folded.weight:g}){training_cli.skipped_note(folded)}",
            *training_cli.before_and_after(built, figures_line, lambda name: f"{name}: no CURRENT model"),
        ]
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = training_cli.argument_parser(
        "python -m services.sentiment.training",
        __doc__,
        promote_help="make the built version CURRENT",
        force_help="rebuild even if this version exists",
        data_option="--data-root",
        data_help="shared data folder (default: CS_SHARED_DATA or <repo>/../shared/data)",
        corrections_help="agents' polarity corrections",
        correction_weight=CORRECTION_WEIGHT,
        weighs_one="a review",
    )
    parser.add_argument("--no-baselines", action="store_true", help="skip VADER and snownlp (snownlp takes ~35 s)")
    args = training_cli.parse_arguments(parser, argv)
    data_root = args.data_root or pathlib.Path(os.environ.get("CS_SHARED_DATA") or datasets.default_data_root())
    store = ModelStore()
    built = training_cli.build_version(
        args,
        store,
        MODEL_KIND,
        prepare=lambda corrected, weight: prepare_corrections(data_root, corrected, weight),
        build=lambda folded: build(store, data_root, force=args.force, corrections=folded),
    )
    if built is None:
        return 1
    baselines = None
    if not args.no_baselines:
        baselines = baseline_figures([datasets.sst2(data_root, "dev"), datasets.chnsenticorp(data_root, "test")])
    print(report(built.version, read_meta(built.path), baselines))
    if built.signals is not None:
        print(corrections_report(built))
    if args.promote:
        store.promote(MODEL_KIND, built.version)
        print(f"promoted {built.version} (CURRENT under {store.root / MODEL_KIND})")
    else:
        print(f"built {built.version} at {built.path}; not promoted (pass --promote)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
