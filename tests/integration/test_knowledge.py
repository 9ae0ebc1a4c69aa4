"""The knowledge base on the real database: `cs kb` as an operator runs it, and retrieval that sees new
knowledge without a restart."""

from __future__ import annotations

import pathlib
import subprocess

import pytest

from services.common.knowledge.repo import KnowledgeRepo
from services.common.ml.embeddings import shared_encoder, shared_ranker
from services.common.storage.mongo import connect
from services.generator.retrieval import RetrievalSettings, Retriever
from tests.conftest import SHARED_DATA, Stack

pytestmark = pytest.mark.stack

ABCD = SHARED_DATA / "abcd" / "guidelines.json"


def kb(stack: Stack, *args: str) -> subprocess.CompletedProcess:
    return stack.cli("kb", *args, timeout=300)  # the ABCD guidelines take ~40 s on a busy 2-core machine


@pytest.fixture
async def repo(stack):
    mongo, db = await connect(stack.mongo_uri, stack.database, 10)
    yield KnowledgeRepo(db)
    await mongo.close()


def test_ingesting_the_abcd_guidelines_twice_stores_them_once(stack):
    first = kb(stack, "ingest", "--tenant", "kb-abcd", str(ABCD))
    assert first.returncode == 0, first.stderr
    assert "55 added, 0 updated, 0 unchanged, 0 removed" in first.stdout
    again = kb(stack, "ingest", "--tenant", "kb-abcd", str(ABCD))
    assert "0 added, 0 updated, 55 unchanged, 0 removed; 0 passages embedded" in again.stdout
    listed = kb(stack, "list", "--tenant", "kb-abcd").stdout.splitlines()
    assert len(listed) == 55 and any(
        line.startswith("guidelines/product-defect/return-due-to-size\t") for line in listed
    )
    found = kb(stack, "search", "--tenant", "kb-abcd", "标准运费是多少钱？")
    assert found.returncode == 0 and "guidelines/shipping-issue/shipping-cost#" in found.stdout


async def test_a_changed_file_updates_its_documents_and_drops_the_ones_it_no_longer_has(
    stack, repo, tmp_path: pathlib.Path
):
    faq = tmp_path / "faq.md"
    faq.write_text("# Returns\nWithin 30 days.\n\n# Gift cards\nThey never expire.\n")
    assert kb(stack, "ingest", "--tenant", "kb-edit", str(faq)).returncode == 0
    faq.write_text("# Returns\nWithin 60 days, with the receipt.\n\n# Vouchers\nVouchers last a year.\n")
    report = kb(stack, "ingest", "--tenant", "kb-edit", str(faq)).stdout
    assert "1 added, 1 updated, 0 unchanged, 1 removed" in report
    chunks = await repo.chunks("kb-edit")
    assert sorted(c["chunk_id"] for c in chunks) == ["faq/returns#0", "faq/vouchers#0"]
    assert [c["text"] for c in chunks if c["doc_id"] == "faq/returns"] == ["Within 60 days, with the receipt."]


def test_bad_sources_and_tenants_fail_with_one_clear_line(stack, tmp_path: pathlib.Path):
    broken = tmp_path / "broken.json"
    broken.write_text('[{"title": "no text"}]')
    result = kb(stack, "ingest", "--tenant", "kb-bad", str(broken))
    assert result.returncode == 2 and "article 0 has no text" in result.stderr
    result = kb(stack, "ingest", "--tenant", "bad tenant!", str(broken))
    assert result.returncode == 2 and "--tenant" in result.stderr
    assert kb(stack, "search", "--tenant", "kb-nothing", "hello").returncode == 1


async def test_retrieval_sees_new_knowledge_without_a_restart_and_only_the_tenants_own(
    stack, repo, tmp_path: pathlib.Path
):
    retriever = Retriever(repo, shared_encoder(), RetrievalSettings(refresh_s=0))
    assert await retriever.search("kb-live", "Can I bring my dog into the store?") == []
    policy = tmp_path / "pets.md"
    policy.write_text("# Pets\nDogs on a leash are welcome in all our stores.\n")
    assert kb(stack, "ingest", "--tenant", "kb-live", str(policy)).returncode == 0
    hits = retriever.relevant(await retriever.search("kb-live", "Can I bring my dog into the store?"))
    assert [h.passage.chunk_id for h in hits] == ["pets/pets#0"]
    chinese = retriever.relevant(await retriever.search("kb-live", "可以带狗进店吗？"))
    assert [h.passage.chunk_id for h in chinese] == ["pets/pets#0"]
    assert await retriever.search("kb-other-tenant", "Can I bring my dog into the store?") == []


async def test_documents_stored_before_the_ranking_encoder_are_re_embedded_and_then_ranked_by_it(
    stack, repo, tmp_path: pathlib.Path
):
    faq = tmp_path / "faq.md"
    faq.write_text(
        "# Payment\nWe take Visa, Mastercard, American Express and JCB cards, and PayPal.\n\n"
        "# Shipping\nStandard delivery takes 3 to 5 working days.\n"
    )
    assert kb(stack, "ingest", "--tenant", "kb-rank", str(faq)).returncode == 0
    records = await repo.chunks("kb-rank")
    assert all(r["rank_encoder"] and len(r["rank_embedding"]) == 384 * 4 for r in records)
    # As a knowledge base ingested by an older version: no ranking vectors, no record of the encoders.
    await repo._chunks.update_many(
        {"tenant_id": "kb-rank"}, {"$unset": {"rank_embedding": "", "rank_clause_embeddings": "", "rank_encoder": ""}}
    )
    await repo._docs.update_many({"tenant_id": "kb-rank"}, {"$unset": {"embedded_with": ""}})
    retriever = Retriever(repo, shared_encoder(), RetrievalSettings(refresh_s=0), shared_ranker())
    old = await retriever.search("kb-rank", "do you accept JCB?", 2)
    assert old[0].rank_score is None  # ordered by the sentence encoder alone, and still answering
    report = kb(stack, "ingest", "--tenant", "kb-rank", str(faq)).stdout
    assert "0 added, 2 updated, 0 unchanged, 0 removed; 2 passages embedded" in report
    hits = await retriever.search("kb-rank", "do you accept JCB?", 2)
    assert hits[0].passage.doc_id == "faq/payment" and hits[0].rank_score is not None
    assert hits[0].passage.rank_clauses is not None
    again = kb(stack, "ingest", "--tenant", "kb-rank", str(faq)).stdout
    assert "0 added, 0 updated, 2 unchanged, 0 removed" in again


def test_ingesting_with_only_makes_the_files_the_whole_knowledge_base(stack, tmp_path: pathlib.Path):
    old, new = tmp_path / "old.md", tmp_path / "new.md"
    old.write_text("# Shipping\nStandard shipping costs 8 USD.\n")
    new.write_text("# Shipping\nStandard shipping costs 6.95 USD.\n\n# Returns\nWithin 30 days.\n")
    assert kb(stack, "ingest", "--tenant", "kb-only", str(old)).returncode == 0
    kept = kb(stack, "ingest", "--tenant", "kb-only", str(new)).stdout
    assert "2 added, 0 updated, 0 unchanged, 0 removed" in kept  # other files' documents stay by default
    assert kb(stack, "list", "--tenant", "kb-only").stdout.count("\n") == 3
    only = kb(stack, "ingest", "--only", "--tenant", "kb-only", str(new)).stdout
    assert "0 added, 0 updated, 2 unchanged, 1 removed" in only
    listed = kb(stack, "list", "--tenant", "kb-only").stdout.splitlines()
    assert sorted(line.split("\t")[0] for line in listed) == ["new/returns", "new/shipping"]


async def test_a_question_giving_its_phone_number_is_not_about_phone_numbers(stack, repo, tmp_path: pathlib.Path):
    faq = tmp_path / "faq.md"
    faq.write_text(
        "# Changing your phone number\nGo to Account > Profile > Phone to change the phone number on your account.\n\n"
        "# Promo codes\nPromotions usually last 7 days; an expired promo code cannot be used again.\n\n"
        "# Shipping\nStandard shipping costs 8 USD.\n"
    )
    assert kb(stack, "ingest", "--tenant", "kb-topic", str(faq)).returncode == 0
    retriever = Retriever(repo, shared_encoder(), RetrievalSettings(refresh_s=0), shared_ranker())
    masked = "你好，我的优惠码用不了了，优惠活动一般有效多久？我的手机号是[PHONE]，身份证号[CN_ID]。"
    hits = await retriever.search("kb-topic", masked, 3, "zh")  # English passages for a Chinese question
    assert hits[0].passage.doc_id == "faq/promo-codes", [h.passage.doc_id for h in hits]
    english = await retriever.search("kb-topic", "My phone is [PHONE]. How long do promotions last?", 3, "en")
    assert english[0].passage.doc_id == "faq/promo-codes", [h.passage.doc_id for h in english]
