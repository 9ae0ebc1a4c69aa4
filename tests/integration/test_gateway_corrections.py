"""AgentService.CorrectUnderstanding through a real gRPC channel, against the real database.

The intent worker's part (announcing the labels of the model in service, attaching enrichment to a
message) and the generator's (storing a bot reply) are done with the same repositories they use.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import uuid

import grpc
import pytest

from services.common.ml.retraining import read_signals
from services.common.proto.cs.v1 import agent_service_pb2 as apb
from services.common.proto.cs.v1 import agent_service_pb2_grpc as agrpc
from services.common.proto.cs.v1 import conversation_pb2 as conv
from services.common.proto.cs.v1 import customer_service_pb2 as cpb
from services.common.proto.cs.v1 import customer_service_pb2_grpc as cgrpc
from services.common.proto.cs.v1 import events_pb2 as ev
from services.common.proto.cs.v1 import understanding_pb2 as und
from services.common.storage.mongo import connect
from services.common.storage.repositories import ConversationRepo, MessageRepo, ModelVersionRepo
from services.common.storage.tenant_models import model_version_name
from tests.integration.conftest import auth, create_keys_async, start_gateway

pytestmark = pytest.mark.stack

LABELS = ["complaint", "get_refund", "out_of_scope", "recover_password", "track_order"]


@pytest.fixture(scope="module")
async def db(stack):
    mongo, database = await connect(stack.mongo_uri, stack.database, 10)
    await ModelVersionRepo(database).announce("intent", f"intent-test-{uuid.uuid4().hex[:6]}", LABELS)
    try:
        yield database
    finally:
        await mongo.close()


async def customer_message(
    channel, keys, db, text: str, model_label: str = "recover_password", model_version: str = "intent-20260101-aaaa"
) -> cpb.SendMessageResponse:
    """A stored customer message that intent model `model_version` labelled `model_label`.

    Written with the repositories the gateway and the workers use, not sent through the gateway: in a
    full run the e2e services consume this session's inbound topic and would enrich a sent message
    again with the real model's label, racing the one this test sets.
    """
    conversation_id, message_id = f"corr-{uuid.uuid4().hex[:12]}", f"m-{uuid.uuid4().hex}"
    await ConversationRepo(db).ensure("acme", conversation_id, "cust-corr", "web")
    msg = ev.MessageReceived(
        tenant_id="acme", conversation_id=conversation_id, message_id=message_id, customer_id="cust-corr", text=text
    )
    understanding = und.Understanding(
        language="en", intent=und.Intent(label=model_label, confidence=0.7), model_version=model_version
    )
    await MessageRepo(db).attach_enrichment(msg, understanding, und.Sentiment(polarity=und.POLARITY_NEUTRAL))
    return cpb.SendMessageResponse(conversation_id=conversation_id, message_id=message_id)


def correct(channel, key: str, ack, **fields):
    request = apb.CorrectUnderstandingRequest(conversation_id=ack.conversation_id, message_id=ack.message_id)
    for name, value in fields.items():
        setattr(request, name, value)
    return agrpc.AgentServiceStub(channel).CorrectUnderstanding(request, metadata=auth(key), timeout=10)


async def test_an_agent_relabels_a_message_and_reads_it_beside_the_models_label(channel, keys, db):
    ack = await customer_message(channel, keys, db, "the locker code doesn't work")
    reply = await correct(channel, keys["acme_agent"], ack, intent="track_order", polarity=und.POLARITY_NEGATIVE)
    assert reply.correction.intent == "track_order" and reply.correction.polarity == und.POLARITY_NEGATIVE
    assert reply.correction.agent_id == "alice" and reply.correction.model_intent == "recover_password"
    assert reply.correction.model_version == "intent-20260101-aaaa"

    read = await agrpc.AgentServiceStub(channel).ReadConversation(
        apb.ReadConversationRequest(conversation_id=ack.conversation_id), metadata=auth(keys["acme_agent"])
    )
    [message] = read.messages
    assert message.understanding.intent.label == "recover_password"
    assert message.correction.intent == "track_order" and message.correction.polarity == und.POLARITY_NEGATIVE


async def test_repeating_a_correction_keeps_one_record_and_a_new_label_replaces_it(channel, keys, db):
    ack = await customer_message(channel, keys, db, "parcel stuck at the depot")
    first = await correct(channel, keys["acme_agent"], ack, intent="track_order")
    again = await correct(channel, keys["acme_agent2"], ack, intent="track_order")
    assert again.correction == first.correction  # nothing changed, not even who or when
    polarity = await correct(channel, keys["acme_agent2"], ack, polarity=und.POLARITY_NEGATIVE)
    assert polarity.correction.intent == "track_order" and polarity.correction.polarity == und.POLARITY_NEGATIVE
    relabelled = await correct(channel, keys["acme_agent"], ack, intent="complaint")
    assert relabelled.correction.intent == "complaint" and relabelled.correction.polarity == und.POLARITY_NEGATIVE
    assert await db["corrections"].count_documents({"message_id": ack.message_id}) == 1


async def test_out_of_scope_is_accepted_and_unknown_labels_are_refused_with_the_known_ones(channel, keys, db):
    ack = await customer_message(channel, keys, db, "what's the weather in Paris")
    accepted = await correct(channel, keys["acme_agent"], ack, intent="out_of_scope")
    assert accepted.correction.intent == "out_of_scope"
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await correct(channel, keys["acme_agent"], ack, intent="weather_forecast")
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "unknown intent 'weather_forecast'" in err.value.details() and "track_order" in err.value.details()


async def test_a_relabel_is_checked_against_the_labels_of_the_model_version_that_labelled_the_message(
    channel, keys, db
):
    """A retrain dropped `parcel_locker` and added `report_fraud`: each label is a correction of what the
    version that has it said, and an unknown label for the other version's messages."""
    tag = uuid.uuid4().hex[:6]
    older, newer = f"intent-20260101-old{tag}", f"intent-20260102-new{tag}"
    await ModelVersionRepo(db).announce("intent", older, [*LABELS, "parcel_locker"])
    await ModelVersionRepo(db).announce("intent", newer, [*LABELS, "report_fraud"])  # the newest announced
    by_older = await customer_message(channel, keys, db, "the locker won't open", model_version=older)
    by_newer = await customer_message(channel, keys, db, "the locker won't open again", model_version=newer)

    accepted = await correct(channel, keys["acme_agent"], by_older, intent="parcel_locker")
    assert accepted.correction.intent == "parcel_locker" and accepted.correction.model_version == older
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await correct(channel, keys["acme_agent"], by_newer, intent="parcel_locker")
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (
        f"unknown intent 'parcel_locker'; intent model {newer}, which labelled message {by_newer.message_id}, knows"
        in err.value.details()
    )
    assert await db["corrections"].count_documents({"message_id": by_newer.message_id}) == 0

    with pytest.raises(grpc.aio.AioRpcError) as err:
        await correct(channel, keys["acme_agent"], by_older, intent="report_fraud")
    assert (
        err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        and f"intent model {older}, which labelled" in err.value.details()
    )
    assert (
        await correct(channel, keys["acme_agent"], by_newer, intent="report_fraud")
    ).correction.intent == "report_fraud"
    [stored] = await db["corrections"].find({"message_id": by_older.message_id}).to_list()
    assert stored["intent"] == "parcel_locker", "the refused relabel must leave the earlier correction as it was"


async def test_a_message_of_a_version_never_announced_is_checked_against_the_newest_and_the_refusal_says_so(
    channel, keys, db
):
    never = f"intent-20251231-gone{uuid.uuid4().hex[:6]}"
    ack = await customer_message(channel, keys, db, "where's my parcel", model_version=never)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await correct(channel, keys["acme_agent"], ack, intent="weather_forecast")
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (
        f"message {ack.message_id} was labelled by intent model {never}, which no intent worker has announced, "
        "so it was checked against the newest announced intent model, "
    ) in err.value.details()
    newest = re.search(r"the newest announced intent model, (\S+), which knows", err.value.details())[1]
    assert await ModelVersionRepo(db).get("intent", newest) is not None
    assert (await correct(channel, keys["acme_agent"], ack, intent="track_order")).correction.model_version == never

    unlabelled = ev.MessageReceived(
        tenant_id="acme",
        conversation_id=ack.conversation_id,
        message_id=f"m-{uuid.uuid4().hex}",
        customer_id="cust-corr",
        text="hello?",
    )
    await MessageRepo(db).record_customer(unlabelled)  # stored by the gateway, not enriched yet
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await correct(channel, keys["acme_agent"], unlabelled, intent="weather_forecast")
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (
        f"message {unlabelled.message_id} has no intent label yet, so it was checked against the newest "
        "announced intent model"
    ) in err.value.details()


@pytest.mark.parametrize(
    "fields, phrase",
    [
        ({"message_id": "bad id!"}, "message_id must be"),
        ({"conversation_id": "bad id!"}, "conversation_id must be"),
        ({"message_id": ""}, "message_id is required"),
        (
            {"intent": "", "polarity": und.POLARITY_UNSPECIFIED},
            "give the corrected intent, the corrected polarity, or both",
        ),
        ({"polarity": 42}, "polarity 42 is not a Polarity value"),
    ],
)
async def test_malformed_corrections_are_invalid_argument(channel, keys, db, fields, phrase):
    ack = await customer_message(channel, keys, db, "where is my refund")
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await correct(channel, keys["acme_agent"], ack, **{"intent": "get_refund", **fields})
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert phrase in err.value.details()


async def test_another_tenants_agent_gets_not_found_and_nothing_is_stored(channel, keys, db):
    ack = await customer_message(channel, keys, db, "my order is late")
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await correct(channel, keys["globex_agent"], ack, intent="complaint")
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    assert await db["corrections"].count_documents({"message_id": ack.message_id}) == 0


async def test_a_message_of_another_conversation_or_a_reply_is_not_found(channel, keys, db):
    ack = await customer_message(channel, keys, db, "my order is late again")
    other = await customer_message(channel, keys, db, "hello there")
    mixed = dataclasses.make_dataclass("Ids", ["conversation_id", "message_id"])(other.conversation_id, ack.message_id)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await correct(channel, keys["acme_agent"], mixed, intent="complaint")
    assert err.value.code() == grpc.StatusCode.NOT_FOUND and "not found in conversation" in err.value.details()
    reply = await bot_reply(db, ack)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await correct(
            channel,
            keys["acme_agent"],
            dataclasses.replace(mixed, conversation_id=ack.conversation_id, message_id=reply),
            intent="complaint",
        )
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


async def test_adapter_keys_cannot_correct(channel, keys, db):
    ack = await customer_message(channel, keys, db, "refund please")
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await correct(channel, keys["acme_adapter"], ack, intent="get_refund")
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def bot_reply(db, ack) -> str:
    """The generator's part: a stored bot reply to the message."""
    reply = ev.ReplyPublished(
        tenant_id="acme",
        conversation_id=ack.conversation_id,
        reply_id=f"r-{uuid.uuid4().hex}",
        in_reply_to=ack.message_id,
        author=conv.AUTHOR_BOT,
        kind=conv.REPLY_KIND_ANSWER,
        text="Sorry!",
    )
    await MessageRepo(db).record_reply(reply)
    return reply.reply_id


async def test_the_retrain_reader_gets_corrections_with_their_text_and_thumbs_down_with_their_question(
    channel, keys, db
):
    corrected = await customer_message(channel, keys, db, "the courier left it at the wrong door")
    await correct(channel, keys["acme_agent"], corrected, intent="track_order")
    disliked = await customer_message(channel, keys, db, "how long does a refund take", model_label="get_refund")
    reply_id = await bot_reply(db, disliked)
    await cgrpc.CustomerServiceStub(channel).SubmitFeedback(
        cpb.SubmitFeedbackRequest(
            conversation_id=disliked.conversation_id, reply_id=reply_id, rating=ev.RATING_THUMBS_DOWN
        ),
        metadata=auth(keys["acme_adapter"]),
    )

    signals = await read_signals(db, "acme")
    [mine] = [c for c in signals.corrections if c.message_id == corrected.message_id]
    assert (mine.text, mine.intent, mine.model_intent) == (
        "the courier left it at the wrong door",
        "track_order",
        "recover_password",
    )
    [down] = [d for d in signals.thumbs_down if d.reply_id == reply_id]
    assert (down.message_id, down.intent, down.corrected) == (disliked.message_id, "get_refund", False)
    assert all(c.tenant_id == "acme" for c in signals.corrections)
    assert not [c for c in (await read_signals(db, "globex")).corrections if c.message_id == corrected.message_id]


async def test_without_an_intent_model_in_service_a_label_cannot_be_checked(stack, tmp_path):
    """A database no intent worker has announced a model to: FAILED_PRECONDITION, saying what to start."""
    fresh = dataclasses.replace(stack, database=f"{stack.database}_nomodel")
    adapter, agent = await create_keys_async(fresh, [("acme", "adapter", ""), ("acme", "agent", "alice")])
    gateway = await asyncio.to_thread(start_gateway, fresh, tmp_path)  # it polls health with asyncio.run
    mongo, _database = await connect(fresh.mongo_uri, fresh.database, 10)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{gateway.ports['grpc']}") as channel:
            ack = await cgrpc.CustomerServiceStub(channel).SendMessage(
                cpb.SendMessageRequest(customer_id="c", text="where is my order"), metadata=auth(adapter)
            )
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await correct(channel, agent, ack, intent="track_order")
            assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION and "start cs-intent" in err.value.details()
            polarity_only = await correct(channel, agent, ack, polarity=und.POLARITY_NEGATIVE)
            assert polarity_only.correction.polarity == und.POLARITY_NEGATIVE
    finally:
        await asyncio.to_thread(gateway.stop)
        await mongo.drop_database(fresh.database)
        await mongo.close()


async def test_an_unlabelled_message_is_never_checked_against_another_tenants_own_model(channel, keys, db):
    """Another tenant's own intent model (cs tenants apply) announced last knows that tenant's labels only:
    a message of a tenant on the built-in taxonomy is checked against the newest built-in version (the
    CI rehearsal's continuous-learning test had its 'complaint' refused against a tenant model)."""
    builtin = f"intent-20260103-builtin{uuid.uuid4().hex[:6]}"
    await ModelVersionRepo(db).announce("intent", builtin, [*LABELS, "complaint"])
    other = model_version_name(f"other-{uuid.uuid4().hex[:6]}", 1)
    await ModelVersionRepo(db).announce("intent", other, ["promo_code", "out_of_scope"])  # the newest announced
    ack = await customer_message(channel, keys, db, "still waiting", model_version="")
    accepted = await correct(channel, keys["acme_agent"], ack, intent="complaint")
    assert accepted.correction.intent == "complaint"
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await correct(channel, keys["acme_agent"], ack, intent="promo_code")
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert f"the newest announced intent model, {builtin}, which knows" in err.value.details()


async def test_an_unlabelled_message_of_a_tenant_with_its_own_model_is_checked_against_that_model(channel, keys, db):
    """The tenant's own intent model (cs tenants apply) labels its messages: a message without a known
    version is checked against it, so its own labels are accepted and built-in ones it lacks refused."""
    own = model_version_name("acme", 7)
    await ModelVersionRepo(db).announce("intent", own, ["promo_code", "warranty_claim", "out_of_scope"])
    settings = db["tenant_settings"]
    await settings.update_one(
        {"_id": "acme"},
        {"$set": {"understanding": {"version": 7, "model_version": own, "labels": ["promo_code", "warranty_claim"]}}},
        upsert=True,
    )
    try:
        ack = await customer_message(channel, keys, db, "my code SAVE10 says invalid", model_version="")
        accepted = await correct(channel, keys["acme_agent"], ack, intent="promo_code")
        assert accepted.correction.intent == "promo_code"
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await correct(channel, keys["acme_agent"], ack, intent="recover_password")
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert own in err.value.details() and "promo_code" in err.value.details(), err.value.details()
    finally:
        await settings.update_one({"_id": "acme"}, {"$unset": {"understanding": ""}})
