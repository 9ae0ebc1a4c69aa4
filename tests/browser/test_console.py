"""The console in a real browser (Debian's Chromium via Playwright) against a real gateway, Kafka and
database: what agents and supervisors see and do, and that it stays right when things go wrong."""

from __future__ import annotations

import json
import queue as queues
import threading
import uuid

import pytest
from playwright.sync_api import expect

from services.common.proto.cs.v1 import agent_service_pb2 as apb
from services.common.proto.cs.v1 import customer_service_pb2 as cpb
from tests.browser.conftest import (
    DEADLINE_S,
    PASSWORD,
    World,
    agents,
    announce_intent_model,
    enriched,
    generate,
    publish_bot_reply,
    publish_enriched,
    sign_in,
    sign_in_grpc,
)

MS = DEADLINE_S * 1000


def card(page, cid: str):
    return page.locator(f'.queues .card[data-cid="{cid}"]')


def test_a_wrong_password_gets_a_generic_error_and_a_right_one_signs_in(world: World, browser):
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{world.url}/")
    expect(page).to_have_url(f"{world.url}/signin?next=/")
    world.shot(page, "signin")
    page.fill("input[name=name]", "alice")
    page.fill("input[name=password]", "not her password")
    page.click("button[type=submit]")
    expect(page.locator("#signin-error")).to_have_text("Wrong name or password.")
    page.fill("input[name=name]", "nobody-by-that-name")
    page.fill("input[name=password]", "whatever-it-is")
    page.click("button[type=submit]")
    expect(page.locator("#signin-error")).to_have_text("Wrong name or password.")
    world.shot(page, "signin-error")
    page.fill("input[name=name]", "alice")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("Inbox")
    cookie = next(c for c in context.cookies() if c["name"] == "cs_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    context.close()


def test_an_escalation_appears_in_a_signed_in_agents_inbox_without_a_reload(world: World, browser):
    context, page = sign_in(browser, world, "alice")
    page.evaluate("window.__marker = 'no reload'")
    cid = world.send("I want a refund, get me a person")
    world.escalate(cid, "billing", summary="Customer asks for a refund of order 1234")
    item = card(page, cid)
    expect(item).to_be_visible(timeout=MS)
    expect(item.locator(".summary")).to_have_text("Customer asks for a refund of order 1234")
    expect(item.locator(".reasons")).to_contain_text("human requested")
    assert page.evaluate("window.__marker") == "no reload"
    world.shot(page, "inbox")
    context.close()


def test_two_agents_race_to_claim_and_exactly_one_wins(world: World, browser):
    cid = world.send("Please, a human")
    world.escalate(cid, "orders", summary="race")
    alice_ctx, alice = sign_in(browser, world, "alice")
    bob_ctx, bob = sign_in(browser, world, "bob")
    for page in (alice, bob):
        expect(card(page, cid)).to_be_visible(timeout=MS)
    # Both forms are submitted before either page has seen the other's claim: each page's claim form
    # is copied out of the live list first, because on a busy machine the first claim's removal can
    # reach the other page before its submit, and a form taken out of the page submits nothing.
    for page in (alice, bob):
        card(page, cid).locator("form").evaluate(
            "f => { const copy = f.cloneNode(true); copy.id = 'race-claim'; document.body.appendChild(copy); }"
        )
    alice.locator("#race-claim").evaluate("f => f.requestSubmit()")
    bob.locator("#race-claim").evaluate("f => f.requestSubmit()")
    for page in (alice, bob):
        page.wait_for_url(f"**/c/{cid}*", timeout=MS)
    outcomes = {}
    for name, page in (("alice", alice), ("bob", bob)):
        notice = page.locator("#notice")
        outcomes[name] = notice.inner_text() if notice.count() else ""
    winners = [n for n, text in outcomes.items() if not text]
    assert len(winners) == 1, outcomes
    loser = "bob" if winners == ["alice"] else "alice"
    assert outcomes[loser] == f"Too late: {winners[0]} already claimed this conversation."
    world.shot(bob if loser == "bob" else alice, "claim-lost")
    # Nobody else sees it waiting any more.
    carol_ctx, carol = sign_in(browser, world, "sue")
    expect(carol.locator(".queues")).to_be_visible()
    expect(card(carol, cid)).to_have_count(0, timeout=MS)
    for ctx in (alice_ctx, bob_ctx, carol_ctx):
        ctx.close()


class Replies:
    """The customer's gRPC reply stream (CustomerService.StreamReplies), read in a thread."""

    def __init__(self, world: World, cid: str) -> None:
        self.items: queues.Queue = queues.Queue()
        self.call = world.customers().StreamReplies(
            cpb.StreamRepliesRequest(conversation_id=cid), metadata=(("authorization", f"Bearer {world.adapter_key}"),)
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        try:
            for item in self.call:
                if item.HasField("reply"):
                    self.items.put(item.reply)
        except Exception:
            pass

    def next(self, timeout: float = DEADLINE_S):
        return self.items.get(timeout=timeout)

    def close(self) -> None:
        self.call.cancel()


def test_the_agents_reply_reaches_the_customers_stream(world: World, browser):
    cid = world.send("I need a person about my invoice")
    world.escalate(cid, "billing", summary="invoice question")
    replies = Replies(world, cid)
    context, page = sign_in(browser, world, "alice", f"/c/{cid}")
    page.click("#claim")
    box = page.locator("#reply-text")
    expect(box).to_have_value("Hello, I'm sorry about the trouble; let me look into it.")
    world.shot(page, "conversation")
    text = f"Hi, Alice here; your invoice is fixed ({uuid.uuid4().hex[:6]})."
    box.fill(text)
    page.keyboard.press("Control+Enter")
    page.wait_for_url("**sent=1", timeout=MS)
    reply = replies.next()
    while reply.text != text:
        reply = replies.next()
    assert reply.agent_id == "alice"
    expect(page.locator(".msg.author-agent .text")).to_have_text(text, timeout=MS)
    expect(box).to_have_value("")
    replies.close()
    context.close()


def test_html_in_a_customer_message_is_shown_as_text(world: World, browser):
    payload = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script><b>bold</b>'
    cid = world.send(payload)
    world.escalate(cid, "billing", summary=payload)
    context, page = sign_in(browser, world, "alice")
    item = card(page, cid)
    expect(item).to_be_visible(timeout=MS)
    expect(item.locator(".summary")).to_have_text(payload)
    page.goto(f"{world.url}/c/{cid}")
    expect(page.locator(".msg.author-customer .text").first).to_have_text(payload)
    assert page.evaluate("window.__pwned") is None
    assert page.locator("main img, main b, main script:not([id])").count() == 0
    world.shot(page, "xss-inert")
    context.close()


def test_the_live_conversation_shows_enrichment_and_an_intent_can_be_relabelled(world: World, browser):
    announce_intent_model(world, ["get_refund", "track_order", "complaint", "out_of_scope"])
    cid = world.send("Where is my refund for order 1234?")
    world.escalate(cid, "billing", summary="refund")
    context, page = sign_in(browser, world, "alice", f"/c/{cid}")
    page.click("#claim")
    expect(page.locator("#conv-state")).to_contain_text("agent · alice")
    # The customer writes again; the pipeline enriches the message (its event, as the generator gets it).
    mid = f"m-{uuid.uuid4().hex[:8]}"
    event = enriched(world, cid, mid, "This is taking far too long, order 1234!")
    assert generate(world, event) is None, "the bot answered a conversation a person holds"
    publish_enriched(world, event)
    message = page.locator(f'.msg[data-mid="{mid}"]')
    expect(message.locator(".understanding")).to_contain_text("intent get_refund (0.93)", timeout=MS)
    expect(message.locator(".understanding")).to_contain_text("sentiment negative")
    expect(message.locator(".understanding")).to_contain_text("order_number 1234")
    message.locator("input[name=intent]").fill("complaint")
    message.locator(".relabel button").click()
    expect(page.locator("#notice")).to_have_text("Relabelled as complaint.", timeout=MS)
    world.shot(page, "conversation-enriched")
    message = page.locator(f'.msg[data-mid="{mid}"]')
    message.locator("input[name=intent]").fill("no_such_label")
    message.locator(".relabel button").click()
    expect(page.locator("#notice")).to_contain_text("unknown intent 'no_such_label'", timeout=MS)
    context.close()


def test_a_takeover_silences_the_bot(world: World, browser):
    cid = world.send("Hi, what are your opening hours?")
    replies = Replies(world, cid)
    context, page = sign_in(browser, world, "bob")
    bot_card = page.locator(f'#bot-cards .card[data-cid="{cid}"]')
    expect(bot_card).to_be_visible(timeout=MS)
    world.shot(page, "inbox-bot-conversations")
    bot_card.locator("button.takeover").click()
    page.wait_for_url(f"**/c/{cid}*")
    expect(page.locator("#notice")).to_have_text("You have this conversation now; the bot stays silent.")
    expect(page.locator("#conv-state")).to_contain_text("agent · bob")
    event = enriched(world, cid, f"m-{uuid.uuid4().hex[:8]}", "And on Sundays?", intent="opening_hours")
    assert generate(world, event) is None, "the bot answered after the takeover"
    page.locator("#reply-text").fill("Bob here: we open at 10 on Sundays.")
    page.click("#send")
    reply = replies.next()
    assert reply.agent_id == "bob" and reply.text == "Bob here: we open at 10 on Sundays."
    with pytest.raises(queues.Empty):
        replies.next(timeout=1.5)  # nothing from the bot behind it
    replies.close()
    context.close()


def test_the_wallboard_counts_change_as_it_happens(world: World, browser):
    context, page = sign_in(browser, world, "sue", "/wallboard")
    row = page.locator('#wall-rows tr[data-queue="complaints"]')
    expect(row).to_be_visible(timeout=MS)
    waiting_before = int(row.locator("td.waiting").inner_text())
    claimed_before = row.locator("td.claimed").inner_text()
    cid = world.send("I want to complain to a manager")
    world.escalate(cid, "complaints", summary="complaint")
    expect(row.locator("td.waiting")).to_have_text(str(waiting_before + 1), timeout=MS)
    expect(row.locator("td.reasons")).to_contain_text("human requested")
    credential = sign_in_grpc(world, "alice")
    agents(world).ClaimConversation(
        apb.ClaimConversationRequest(conversation_id=cid), metadata=(("authorization", f"Bearer {credential}"),)
    )
    expect(row.locator("td.waiting")).to_have_text(str(waiting_before), timeout=MS)
    expect(row.locator("td.claimed")).not_to_have_text(claimed_before, timeout=MS)
    expect(row.locator("td.sl")).to_have_text("100 %")
    expect(page.locator('#wall-agents li[data-agent="alice"]')).to_contain_text("signed in")
    expect(page.locator("#wall-definitions")).to_contain_text("Abandoned: an escalation of the last hour")
    bars = page.locator("#wall-day rect.bar")
    expect(bars).to_have_count(24)
    assert int(bars.last.get_attribute("data-escalated")) >= 1, "this hour's escalations are not on the chart"
    world.shot(page, "wallboard")
    page.keyboard.press("f")
    expect(page.locator("body")).to_have_class("big-screen")
    world.shot(page, "wallboard-big-screen")
    context.close()


def test_a_dropped_connection_resumes_with_nothing_lost_or_doubled(world: World, browser):
    context, page = sign_in(browser, world, "alice")
    first = world.send("first, before the drop")
    world.escalate(first, "technical", summary="before")
    expect(card(page, first)).to_be_visible(timeout=MS)
    opens = page.evaluate("window.__cs.opens")
    context.set_offline(True)
    expect(page.locator("#status")).to_contain_text("Connection lost", timeout=MS)
    # While the agent is away: two escalations, and the first conversation claimed by a colleague.
    missed = [world.send(f"during the drop {i}") for i in range(2)]
    for cid in missed:
        world.escalate(cid, "technical", summary="during")
    credential = sign_in_grpc(world, "bob")
    agents(world).ClaimConversation(
        apb.ClaimConversationRequest(conversation_id=first), metadata=(("authorization", f"Bearer {credential}"),)
    )
    world.shot(page, "inbox-offline")
    context.set_offline(False)
    for cid in missed:
        expect(card(page, cid)).to_have_count(1, timeout=MS)
    expect(card(page, first)).to_have_count(0, timeout=MS)
    expect(page.locator("#status")).to_be_hidden(timeout=MS)
    assert page.evaluate("window.__cs.opens") > opens, "the stream never reconnected"
    events = page.evaluate("window.__cs.events.filter(e => e.type === 'added' || e.type === 'removed')")
    keys = [(e["type"], json.loads(e["data"])["conversation_id"]) for e in events]
    assert len(keys) == len(set(keys)), f"an event arrived twice: {keys}"
    assert ("removed", first) in keys and all(("added", cid) in keys for cid in missed)
    context.close()


def test_keyboard_shortcuts_pick_the_next_conversation_claim_it_and_resolve_it(world: World, browser):
    cid = world.send("keyboard person please")
    world.escalate(cid, "vip", summary="keyboard")
    context, page = sign_in(browser, world, "alice")
    expect(card(page, cid)).to_be_visible(timeout=MS)
    selected = "() => document.querySelector('.queues .card.selected')?.dataset.cid"
    for _ in range(page.locator(".queues .card").count()):
        page.keyboard.press("n")
        if page.evaluate(selected) == cid:
            break
    expect(page.locator(".queues .card.selected")).to_have_attribute("data-cid", cid)
    page.keyboard.press("c")
    page.wait_for_url(f"**/c/{cid}*")
    expect(page.locator("#conv-state")).to_contain_text("agent · alice")
    page.keyboard.press("r")
    expect(page.locator("#reply-text")).to_be_focused()
    page.locator("#reply-text").blur()
    page.keyboard.press("e")
    expect(page.locator("#notice")).to_have_text(f"Conversation {cid} resolved.", timeout=MS)
    context.close()


def test_a_transfer_with_a_note_moves_the_conversation_to_the_other_queue(world: World, browser):
    cid = world.send("wrong department maybe")
    world.escalate(cid, "general", summary="might be billing")
    context, page = sign_in(browser, world, "alice", f"/c/{cid}")
    page.click("#claim")
    # A bot answer with its sources arrives in the live view.
    publish_bot_reply(world, cid, "Refunds take 5 days.", ["refund-policy#2", "faq#7"])
    expect(page.locator(".msg.author-bot .citations")).to_have_text("cites refund-policy#2, faq#7", timeout=MS)
    form = page.locator("#transfer-form")
    form.locator("select").select_option("billing")
    form.locator("input[name=note]").fill("invoice <b>question</b>, over to billing")
    form.locator("button").click()
    expect(page.locator("#notice")).to_have_text(f"Conversation {cid} transferred to billing.", timeout=MS)
    moved = page.locator(f'.queues [data-cards="billing"] .card[data-cid="{cid}"]')
    expect(moved).to_be_visible(timeout=MS)
    expect(moved).to_contain_text("transferred from general")
    expect(moved.locator(".reasons")).to_contain_text("transfer")
    expect(page.locator(f'.queues [data-cards="general"] .card[data-cid="{cid}"]')).to_have_count(0)
    context.close()


def test_a_queue_of_the_tenants_own_is_an_inbox_column_and_a_transfer_target(world: World, browser):
    """Queues come from the gateway (AgentService.ListQueues), so one that the tenant file declares shows."""
    import time

    from pymongo import MongoClient

    settings = MongoClient(world.stack.mongo_uri)[world.stack.database]["tenant_settings"]
    rules = {"version": 1, "queues": [{"name": "warranty", "hours": None}]}
    settings.update_one(
        {"_id": world.tenant},
        {"$set": {"understanding": {"version": 1, "model_version": "", "labels": [], "rules": rules}}},
        upsert=True,
    )
    try:
        credential = sign_in_grpc(world, "alice")
        deadline = time.monotonic() + 60  # the gateway reads tenants' rules again after CS_TENANT_RELOAD_S
        while (
            "warranty"
            not in agents(world)
            .ListQueues(apb.ListQueuesRequest(), metadata=(("authorization", f"Bearer {credential}"),), timeout=10)
            .queues
        ):
            assert time.monotonic() < deadline, "the gateway never listed the tenant's own queue"
            time.sleep(1)
        context, page = sign_in(browser, world, "alice")
        expect(page.locator('.queues [data-cards="warranty"]')).to_have_count(1)
        expect(page.locator('.queues [data-cards="billing"]')).to_have_count(1)
        world.shot(page, "inbox-tenant-queue")
        cid = world.send("my tent pole snapped after a month")
        world.escalate(cid, "general", summary="broken tent pole")
        page.goto(f"{world.url}/c/{cid}")
        page.click("#claim")
        expect(page.locator("#transfer-form select")).to_be_visible(timeout=MS)
        options = page.locator("#transfer-form select option").all_inner_texts()
        assert "warranty" in options and "billing" in options, options
        context.close()
    finally:
        settings.update_one({"_id": world.tenant}, {"$unset": {"understanding": ""}})
