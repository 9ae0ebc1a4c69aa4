"""The fitted passage scorer and answer gate (services/generator/ranking.py) with the real encoders: the
passage that answers comes first, an off-topic question is not answered, a follow-up is scored with the
message before it but a new question in the same conversation is not, and a passage answer is the passage minus what a customer must not be told."""

from __future__ import annotations

import numpy as np
import pytest

from services.common.knowledge.documents import clauses
from services.common.knowledge.index import KnowledgeIndex, Passage
from services.common.ml.embeddings import shared_encoder, shared_ranker
from services.generator.grounding import terms
from services.generator.ranking import FEATURES, GATE, Query, language_views, rank
from services.generator.selection import article_answer, passage_answer

PASSAGES = [
    Passage(
        "kb/returns#0",
        "kb/returns",
        "Returns and refunds",
        "You can return unworn items within 30 days of delivery. Start a return under Account > Orders > Return. "
        "Refunds reach your card 5 to 10 business days after we receive the parcel.",
        "en",
    ),
    Passage(
        "kb/returns#1",
        "kb/returns",
        "Returns and refunds",
        "Final-sale items and gift cards cannot be returned. Return shipping costs 6 USD, free for Gold members.",
        "en",
    ),
    Passage(
        "kb/shipping#0",
        "kb/shipping",
        "Delivery options",
        "Standard delivery takes 3 to 5 business days and costs 5 USD. Express delivery arrives the next "
        "business day for 15 USD when you order before 2 pm.",
        "en",
    ),
    Passage(
        "kb/password#0",
        "kb/password",
        "Resetting your password",
        "Choose 'Forgot password' on the sign-in page and we e-mail you a reset link valid for 30 minutes.",
        "en",
    ),
    Passage(
        "kb/shipping-zh#0",
        "kb/shipping-zh",
        "配送方式",
        "标准配送需要3到5个工作日，运费5美元。下午2点前下单可选次日达快递，运费15美元。",
        "zh",
    ),
    Passage(
        "kb/returns-zh#0",
        "kb/returns-zh",
        "退货与退款",
        "未穿过的商品可在收货后30天内退货。退款在我们收到包裹后5到10个工作日内退回您的银行卡。",
        "zh",
    ),
]


def views_of(passages: list[Passage]):
    encoder, ranker = shared_encoder(), shared_ranker()
    units = [clauses(p.title, p.text) for p in passages]
    embedding_texts = [f"{p.title}. {p.text}" for p in passages]
    index = KnowledgeIndex(
        passages,
        encoder.encode(embedding_texts),
        np.vstack([encoder.encode(u) for u in units]),
        np.concatenate([np.full(len(u), i) for i, u in enumerate(units)]),
        1,
        ranker.passages(embedding_texts),
        np.vstack([ranker.passages(u) for u in units]),
        np.concatenate([np.full(len(u), i) for i, u in enumerate(units)]),
    )
    return language_views(index)


@pytest.fixture(scope="module")
def views():
    return views_of(PASSAGES)


def query(text: str) -> Query:
    return Query(frozenset(terms(text)), shared_encoder().encode_one(text), shared_ranker().query(text))


@pytest.mark.parametrize(
    ("question", "language", "expected"),
    [
        ("how many days do i have to send stuff back?", "en", "kb/returns#0"),
        ("can i return a gift card", "en", "kb/returns#1"),
        ("how much is next day delivery", "en", "kb/shipping#0"),
        ("forgot my password what do i do", "en", "kb/password#0"),
        ("快递几天能到", "zh", "kb/shipping-zh#0"),
    ],
)
def test_the_passage_that_answers_comes_first(views, question: str, language: str, expected: str) -> None:
    ranked = rank(views[language], [query(question)])
    assert ranked is not None
    assert ranked.view.passages[ranked.best].chunk_id == expected
    assert all(p.language == language for p in ranked.view.passages)


def test_an_off_topic_question_is_less_likely_answered_than_one_the_passages_answer(views) -> None:
    off_topic = rank(views["en"], [query("what's the weather going to be like in Paris tomorrow?")])
    on_topic = rank(views["en"], [query("how long does standard delivery take?")])
    assert off_topic is not None and on_topic is not None
    assert off_topic.probability < GATE.threshold
    assert on_topic.probability > off_topic.probability


def test_a_follow_up_is_scored_with_the_message_before_it(views) -> None:
    view = views["en"]
    alone, together = query("and for gold members?"), query("how much does return shipping cost? and for gold members?")
    both = view.features_of([alone, together])
    assert both.shape == (len(view), len(FEATURES))
    assert np.all(both >= view.features(alone)) and np.all(both >= view.features(together))
    ranked = rank(view, [alone, together])
    assert ranked is not None and ranked.view.passages[ranked.best].chunk_id == "kb/returns#1"


@pytest.mark.parametrize(
    ("earlier", "question", "expected"),
    [
        ("how much does return shipping cost?", "how much is next day delivery", "kb/shipping#0"),
        ("how much is next day delivery", "forgot my password what do i do", "kb/password#0"),
        ("forgot my password what do i do", "how many days do i have to send stuff back?", "kb/returns#0"),
    ],
)
def test_a_new_question_in_a_conversation_is_not_answered_from_the_previous_topic(
    views, earlier: str, question: str, expected: str
) -> None:
    view = views["en"]
    ranked = rank(view, [query(question), query(f"{earlier} {question}")])
    assert ranked is not None and ranked.view.passages[ranked.best].chunk_id == expected


def test_every_passage_is_in_the_view_over_all_languages(views) -> None:
    assert len(views["*"]) == len(PASSAGES)
    assert {p.chunk_id for p in views["zh"].passages} == {"kb/shipping-zh#0", "kb/returns-zh#0"}


def test_a_passage_answer_is_the_passage_without_questions_and_staff_talk() -> None:
    plain = PASSAGES[0]
    selection = passage_answer(plain, 0.9)
    assert selection is not None and selection.text == plain.text
    mixed = Passage(
        "kb/guide#0",
        "kb/guide",
        "Refund requests",
        "Is this about a refund? Check the customer's order first. "
        "Refunds are paid to the original payment method within 10 days.",
        "en",
    )
    selection = passage_answer(mixed, 0.9)
    assert selection is not None and selection.text == "Refunds are paid to the original payment method within 10 days."
    assert passage_answer(Passage("kb/q#0", "kb/q", "", "Did the customer pay?", "en"), 0.9) is None


def test_the_runner_up_of_the_same_article_joins_the_answer_in_the_articles_order() -> None:
    rule = Passage("kb/returns#0", "kb/returns", "Returns", "You can return an item within 30 days.", "en")
    fee = Passage("kb/returns#1", "kb/returns", "Returns", "A 5.95 USD label fee is deducted from the refund.", "en")
    other = Passage("kb/shipping#0", "kb/shipping", "Shipping", "Standard shipping costs 4.95 USD.", "en")
    joined = article_answer([fee, rule], 0.9)
    assert joined is not None
    assert joined.text == f"{rule.text}\n{fee.text}"  # article order, though the fee ranked first
    assert joined.chunk_ids == ("kb/returns#1", "kb/returns#0") and joined.passage == fee
    alone = article_answer([rule, other, fee], 0.9)  # the runner-up is another article: the best alone
    assert alone is not None and alone.text == rule.text and alone.chunk_ids == ("kb/returns#0",)
    translated = Passage("kb/returns-zh#0", "kb/returns", "退货", "30 天内可以退货。", "zh")
    assert article_answer([rule, translated], 0.9).chunk_ids == ("kb/returns#0",)  # one language per answer
    staff_only = Passage("kb/returns#2", "kb/returns", "Returns", "Did the customer keep the receipt?", "en")
    assert article_answer([rule, staff_only], 0.9).text == rule.text
    assert article_answer([staff_only, rule], 0.9) is None  # the best passage has nothing to tell: no answer
    assert article_answer([], 0.9) is None


def test_a_list_run_into_one_line_by_ingestion_is_on_lines_again() -> None:
    passage = Passage(
        "kb/refund#0", "kb/refund", "Refund times", "Times: - cards: 5-10 days; - PayPal: 3-5 days.", "en"
    )
    selection = passage_answer(passage, 0.9)
    assert selection is not None and selection.text == "Times:\n- cards: 5-10 days;\n- PayPal: 3-5 days."


def test_knowledge_written_for_staff_is_not_answered_with_whole_passages(views) -> None:
    guidelines = [
        Passage(
            f"kb/guide#{i}",
            "kb/guide",
            "Refund requests",
            f"Ask the customer for the order number. If the customer is a gold member, refund {i + 5} USD. "
            "Is the item damaged?",
            "en",
        )
        for i in range(3)
    ]
    assert views["en"].for_customers and views["zh"].for_customers
    assert not views_of(guidelines)["en"].for_customers
