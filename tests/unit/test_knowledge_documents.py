"""Reading knowledge files into documents and passages: what `cs kb ingest` stores."""

from __future__ import annotations

import json
import pathlib
import re

import pytest

from services.common.knowledge.documents import (
    Document,
    KnowledgeSourceError,
    chunk_document,
    clauses,
    detect_language,
    load_source,
)
from tests.conftest import SHARED_DATA

ABCD = SHARED_DATA / "abcd" / "guidelines.json"


def write(tmp_path: pathlib.Path, name: str, text: str) -> pathlib.Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_markdown_becomes_one_document_per_heading_with_stable_ids(tmp_path):
    path = write(
        tmp_path,
        "faq.md",
        "# Returns\nItems can be returned within **30 days**.\n\n## Gift cards\nGift cards never expire.\n",
    )
    docs = load_source(path)
    assert [(d.doc_id, d.title) for d in docs] == [("faq/returns", "Returns"), ("faq/gift-cards", "Gift cards")]
    assert docs[0].text == "Items can be returned within 30 days." and docs[0].source == "faq.md"
    assert [d.doc_id for d in load_source(path)] == [d.doc_id for d in docs]


def test_repeated_headings_keep_both_sections(tmp_path):
    docs = load_source(write(tmp_path, "faq.md", "# FAQ\none\n# FAQ\ntwo\n"))
    assert [d.doc_id for d in docs] == ["faq/faq", "faq/faq-2"]


def test_chinese_markdown_keeps_its_title_and_language(tmp_path):
    docs = load_source(write(tmp_path, "政策.md", "# 退货政策\n收到商品后三十天内可以退货。\n"))
    assert docs[0].doc_id == "政策/退货政策" and docs[0].language == "zh"


def test_json_articles_with_ids_titles_and_languages(tmp_path):
    articles = [
        {"id": "ship-1", "title": "Shipping", "text": "We ship to Canada."},
        {"id": 7, "title": "退款", "body": "退款会在五个工作日内到账。"},
    ]
    docs = load_source(write(tmp_path, "kb.json", json.dumps({"articles": articles}, ensure_ascii=False)))
    assert [(d.doc_id, d.language) for d in docs] == [("kb/ship-1", "en"), ("kb/7", "zh")]


@pytest.mark.parametrize(
    "content, message",
    [
        ("{not json", "invalid JSON at line 1"),
        ('[{"id": "a", "title": "A"}]', "article 0 has no text"),
        ('{"x": 1}', "expected a list of articles"),
        ('[{"text": "hello", "metadata": 3, "id": "a"}]', '"metadata" must be an object'),
    ],
)
def test_bad_json_sources_say_what_is_wrong(tmp_path, content, message):
    with pytest.raises(KnowledgeSourceError, match=message):
        load_source(write(tmp_path, "kb.json", content))


def test_unsupported_missing_and_non_utf8_files_are_refused(tmp_path):
    with pytest.raises(KnowledgeSourceError, match=re.escape("unsupported file type .txt")):
        load_source(write(tmp_path, "kb.txt", "hello"))
    with pytest.raises(KnowledgeSourceError, match="no such file"):
        load_source(tmp_path / "missing.md")
    (tmp_path / "latin1.md").write_bytes("caf\xe9".encode("latin-1"))
    with pytest.raises(KnowledgeSourceError, match="not UTF-8"):
        load_source(tmp_path / "latin1.md")
    (tmp_path / "empty").mkdir()
    with pytest.raises(KnowledgeSourceError, match=re.escape("no .md")):
        load_source(tmp_path / "empty")


def test_abcd_guidelines_keep_the_policy_and_drop_the_console_mechanics():
    docs = {d.doc_id: d for d in load_source(ABCD)}
    assert len(docs) == 55
    returns = docs["guidelines/product-defect/return-due-to-size"]
    assert returns.title == "Product Defect: Return Due to Size"
    assert "Gold members get unlimited returns" in returns.text
    assert "return possible within the last 90 days" in returns.text
    shipping = docs["guidelines/shipping-issue/shipping-cost"].text
    assert "Standard shipping is $8.00" in shipping
    every = "\n".join(d.text for d in docs.values())
    for console in ("[Membership Privileges]", "click", "<or>", "toggle", "Enter the amount in the box"):
        assert console not in every, console


def test_passages_are_whole_paragraphs_within_the_limit():
    docs = load_source(ABCD)
    chunks = [c for d in docs for c in chunk_document(d, max_chars=700)]
    assert all(len(c.text) <= 700 for c in chunks)
    assert len({c.chunk_id for c in chunks}) == len(chunks)
    size = [c for c in chunks if c.doc_id.endswith("return-due-to-size")]
    assert [c.chunk_id.split("#")[1] for c in size] == [str(i) for i in range(len(size))]
    assert "90 days" in " ".join(c.text for c in size)


def test_a_long_paragraph_is_split_at_sentences():
    doc = Document("d/1", "Long", " ".join(f"Sentence number {i} is here." for i in range(100)), "x.md")
    chunks = chunk_document(doc, max_chars=200)
    assert len(chunks) > 5 and all(len(c.text) <= 200 for c in chunks)
    assert all(c.text.endswith(".") for c in chunks)


def test_content_hash_changes_only_when_the_document_does():
    doc = Document("d/1", "Returns", "Within 30 days.", "x.md")
    assert doc.content_hash == Document("d/1", "Returns", "Within 30 days.", "other.md").content_hash
    assert doc.content_hash != Document("d/1", "Returns", "Within 60 days.", "x.md").content_hash


def test_clauses_split_sentences_and_list_items():
    assert clauses("Returns", "Gold: unlimited; Silver: 6 months. Bronze: 90 days.") == [
        "Returns",
        "Gold: unlimited;",
        "Silver: 6 months.",
        "Bronze: 90 days.",
    ]


def test_language_detection_counts_han_against_latin_words():
    assert detect_language("收到商品后三十天内可以退货 iPhone") == "zh"
    assert detect_language("Returns within 30 days 退货") == "en"
