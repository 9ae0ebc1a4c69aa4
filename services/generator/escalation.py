"""What goes with an escalation: a summary and a draft reply for the agent, a notice for the customer.

All three are templates, not LLM output: they must be instant, never invent facts, never leak PII,
and read the same on every replay of the same event (a redelivered message must not produce a
different handover text). The agent's summary and draft are written in the customer's language
(Chinese for "zh*", English otherwise), on the assumption that a queue's agents speak the language
of the customers routed to it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from services.common.platform.pii import mask_pii
from services.common.proto.cs.v1 import understanding_pb2 as pb
from services.generator.policy import Decision, ReasonCode, TurnView, turn_author

LAST_MESSAGE_CHARS = 160
MAX_ENTITIES = 6
_NAME_MAX_CHARS = 40

# Entity types that are PII by definition: shown only as their placeholder, whatever the text.
_PII_ENTITY_TYPES = {"email": "[EMAIL]", "phone": "[PHONE]", "card": "[CARD]", "id_number": "[CN_ID]", "iban": "[IBAN]"}


@dataclass(frozen=True)
class EntityView:
    type: str
    text: str
    value: str = ""


@dataclass(frozen=True)
class Enrichment:
    """What the intent and sentiment workers said about the message being escalated.

    polarity: "negative" / "neutral" / "positive"; emotion: "anger", "frustration", ...;
    trend: "improving" / "stable" / "worsening". Empty strings mean "not known".
    """

    language: str = "und"
    intent_label: str = ""
    intent_confidence: float = 0.0
    out_of_scope: bool = False
    entities: tuple[EntityView, ...] = ()
    polarity: str = ""
    sentiment_score: float = 0.0
    emotion: str = ""
    anger: float = 0.0
    trend: str = ""

    @classmethod
    def from_proto(cls, understanding: pb.Understanding, sentiment: pb.Sentiment) -> Enrichment:
        """Build from the cs.v1 messages carried by MessageEnriched."""
        u, s = understanding, sentiment
        return cls(
            language=u.language,
            intent_label=u.intent.label,
            intent_confidence=u.intent.confidence,
            out_of_scope=u.intent.out_of_scope,
            entities=tuple(EntityView(e.type, e.text, e.value) for e in u.entities),
            polarity=_enum_word(pb.Polarity.Name(s.polarity), "POLARITY_"),
            sentiment_score=s.score,
            emotion=_enum_word(pb.Emotion.Name(s.emotion), "EMOTION_"),
            anger=s.anger,
            trend=_enum_word(pb.Trend.Name(s.trend), "TREND_"),
        )


def _enum_word(name: str, prefix: str) -> str:
    word = name.removeprefix(prefix).lower()
    return "" if word == "unspecified" else word


def _is_zh(language: str) -> bool:
    return language.strip().lower().startswith("zh")


# Intent labels (Bitext customer-service set) as an agent would say them.
_INTENT_NAMES: dict[str, tuple[str, str]] = {
    "cancel_order": ("cancel an order", "取消订单"),
    "change_order": ("change an order", "修改订单"),
    "change_shipping_address": ("change the shipping address", "修改收货地址"),
    "check_cancellation_fee": ("cancellation fee", "咨询取消费用"),
    "check_invoice": ("check an invoice", "查询发票"),
    "check_invoices": ("check invoices", "查询发票"),
    "check_payment_methods": ("payment methods", "咨询支付方式"),
    "check_refund_policy": ("refund policy", "咨询退款政策"),
    "complaint": ("complaint", "投诉"),
    "contact_customer_service": ("contact customer service", "联系客服"),
    "contact_human_agent": ("talk to a human agent", "要求人工客服"),
    "create_account": ("create an account", "注册账户"),
    "delete_account": ("delete the account", "注销账户"),
    "delivery_options": ("delivery options", "咨询配送方式"),
    "delivery_period": ("delivery time", "咨询配送时间"),
    "edit_account": ("edit the account", "修改账户信息"),
    "get_invoice": ("get an invoice", "索取发票"),
    "get_refund": ("get a refund", "申请退款"),
    "newsletter_subscription": ("newsletter subscription", "订阅/退订资讯"),
    "payment_issue": ("payment problem", "支付问题"),
    "place_order": ("place an order", "下单"),
    "recover_password": ("recover the password", "找回密码"),
    "registration_problems": ("registration problem", "注册问题"),
    "review": ("leave a review", "评价反馈"),
    "set_up_shipping_address": ("set up a shipping address", "设置收货地址"),
    "switch_account": ("switch account", "切换账户"),
    "track_order": ("track an order", "查询订单物流"),
    "track_refund": ("track a refund", "查询退款进度"),
}
_ENTITY_NAMES: dict[str, tuple[str, str]] = {
    "order_number": ("order number", "订单号"),
    "email": ("e-mail", "邮箱"),
    "phone": ("phone", "电话"),
    "amount": ("amount", "金额"),
    "date": ("date", "日期"),
    "product": ("product", "商品"),
}
_POLARITY = {"negative": "负面", "neutral": "中性", "positive": "正面"}
_EMOTION = {"anger": "愤怒", "frustration": "沮丧", "sadness": "难过", "joy": "愉快", "anxiety": "焦虑", "neutral": "平静"}
_EMOTION_EN = {"anger": "angry", "frustration": "frustrated", "sadness": "sad", "joy": "happy", "anxiety": "anxious"}
_TREND_EN = {"worsening": "getting worse", "improving": "improving", "stable": "stable"}
_TREND_ZH = {"worsening": "持续恶化", "improving": "正在好转", "stable": "平稳"}
_REASON_ZH = {
    ReasonCode.HUMAN_REQUESTED: "客户要求人工",
    ReasonCode.ANGER: "客户情绪愤怒",
    ReasonCode.WORSENING_SENTIMENT: "情绪持续变差",
    ReasonCode.COMPLAINT: "投诉",
    ReasonCode.LEGAL: "涉及法律/监管",
    ReasonCode.LOW_CONFIDENCE: "机器人未能理解",
    ReasonCode.OUT_OF_SCOPE: "超出机器人服务范围",
    ReasonCode.VIP: "VIP 客户",
    ReasonCode.BOT_LOOP: "机器人反复回答未解决",
    ReasonCode.ANSWER_CHECK_FAILED: "机器人的回答未通过核查",
    ReasonCode.NO_KNOWLEDGE: "知识库中没有相关内容",
}


def _intent_phrase(enrichment: Enrichment, zh: bool) -> str:
    label = enrichment.intent_label
    if enrichment.out_of_scope or label == "out_of_scope":
        return "不明确（超出机器人服务范围）" if zh else "unclear (out of the bot's scope)"
    if not label:
        return "未识别" if zh else "not classified"
    en_name, zh_name = _INTENT_NAMES.get(label, (label.replace("_", " "), label.replace("_", " ")))
    if zh:
        return f"{zh_name}（置信度 {enrichment.intent_confidence:.2f}）"
    return f"{en_name} (confidence {enrichment.intent_confidence:.2f})"


def _entity_phrases(entities: Sequence[EntityView], zh: bool) -> list[str]:
    phrases: list[str] = []
    for entity in entities:
        kind = entity.type.strip().lower()
        shown = _PII_ENTITY_TYPES.get(kind) or mask_pii(entity.value or entity.text).strip()
        names = _ENTITY_NAMES.get(kind, (kind.replace("_", " "), kind.replace("_", " ")))
        phrase = f"{names[1] if zh else names[0]} {shown}"
        if shown and phrase not in phrases:
            phrases.append(phrase)
    return phrases[:MAX_ENTITIES]


def _sentiment_phrase(enrichment: Enrichment, zh: bool) -> str:
    e = enrichment
    if zh:
        words = [_POLARITY.get(e.polarity, ""), _EMOTION.get(e.emotion, "")]
        trend = _TREND_ZH.get(e.trend, "")
        head = "，".join(w for w in words if w) or "未知"
        tail = f"，趋势{trend}" if trend else ""
        return f"{head}（得分 {e.sentiment_score:.2f}，愤怒度 {e.anger:.2f}）{tail}"
    words = [e.polarity, _EMOTION_EN.get(e.emotion, "")]
    trend = _TREND_EN.get(e.trend, "")
    head = ", ".join(w for w in words if w) or "unknown"
    tail = f", {trend}" if trend else ""
    return f"{head} (score {e.sentiment_score:.2f}, anger {e.anger:.2f}){tail}"


def _truncate(text: str, limit: int) -> str:
    flat = re.sub(r"\s+", " ", text).strip()
    if len(flat) <= limit:
        return flat
    cut = flat[:limit]
    if " " in cut[limit // 2 :]:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip() + "…"


def summarize(
    turns: Sequence[TurnView],
    understanding: pb.Understanding,
    sentiment: pb.Sentiment,
    decision: Decision | None = None,
) -> str:
    """A few lines for the agent: intent, key entities (PII masked), sentiment, why it escalated,
    how long the conversation is, and the customer's last message (masked, truncated).

    `turns` is the conversation so far, oldest first, including the message being escalated;
    `understanding` and `sentiment` are that message's enrichment.
    """
    return summarize_enrichment(turns, Enrichment.from_proto(understanding, sentiment), decision)


def summarize_enrichment(turns: Sequence[TurnView], enrichment: Enrichment, decision: Decision | None = None) -> str:
    """`summarize` for an enrichment already read into an `Enrichment`."""
    zh = _is_zh(enrichment.language)
    authors = [turn_author(t) for t in turns]
    from_customer, from_bot = authors.count("customer"), authors.count("bot")
    last = next((t.text for t in reversed(turns) if turn_author(t) == "customer"), "")
    last_shown = _truncate(mask_pii(last), LAST_MESSAGE_CHARS)
    entities = _entity_phrases(enrichment.entities, zh)
    reasons = decision.reasons if decision else ()
    if zh:
        lines = [f"客户诉求：{_intent_phrase(enrichment, True)}"]
        if entities:
            lines.append("关键信息：" + "；".join(entities))
        lines.append(f"情绪：{_sentiment_phrase(enrichment, True)}")
        if reasons:
            lines.append("转人工原因：" + "；".join(f"{_REASON_ZH[r.code]}（{r.detail}）" for r in reasons))
        lines.append(f"对话：共 {len(turns)} 条（客户 {from_customer} 条，机器人 {from_bot} 条）")
        lines.append(f"客户最后一条消息：“{last_shown}”")
        return "\n".join(lines)
    lines = [f"Customer wants: {_intent_phrase(enrichment, False)}"]
    if entities:
        lines.append("Details: " + "; ".join(entities))
    lines.append(f"Sentiment: {_sentiment_phrase(enrichment, False)}")
    if reasons:
        lines.append("Escalated for: " + "; ".join(f"{r.code.value} ({r.detail})" for r in reasons))
    lines.append(f"Conversation: {len(turns)} turns ({from_customer} from the customer, {from_bot} from the bot)")
    lines.append(f'Last customer message: "{last_shown}"')
    return "\n".join(lines)


def _clean_name(customer_name: str | None) -> str:
    """The display name, or "" when it is missing, too long or looks like contact data."""
    name = re.sub(r"\s+", " ", customer_name or "").strip()
    if not name or len(name) > _NAME_MAX_CHARS or mask_pii(name) != name or re.search(r"[\d@\[\]{}<>]", name):
        return ""
    return name


_EMOTIONAL = {ReasonCode.ANGER, ReasonCode.COMPLAINT, ReasonCode.WORSENING_SENTIMENT}
_UNDERSTANDING = {ReasonCode.LOW_CONFIDENCE, ReasonCode.OUT_OF_SCOPE, ReasonCode.ANSWER_CHECK_FAILED, ReasonCode.NO_KNOWLEDGE}


def _tone(codes: Iterable[ReasonCode]) -> str:
    """Which template family fits: legal, upset, loop, requested, unclear or plain."""
    found = set(codes)
    if ReasonCode.LEGAL in found:
        return "legal"
    if found & _EMOTIONAL:
        return "upset"
    if ReasonCode.BOT_LOOP in found:
        return "loop"
    if ReasonCode.HUMAN_REQUESTED in found:
        return "requested"
    if found & _UNDERSTANDING:
        return "unclear"
    return "plain"


_DRAFT_BODY = {
    "legal": (
        "Thank you for your message. I have read the whole conversation and I am taking your concerns "
        "seriously. I have recorded them with the team responsible, and you will receive a full response.",
        "感谢您的反馈。我已完整查看了您的对话记录，会认真对待您提出的问题，并已记录转交给负责的团队，我们会给您一个完整的答复。",
    ),
    "upset": (
        "I am sorry for the trouble you have had, and thank you for your patience. I have read the whole "
        "conversation and will look after this personally.",
        "给您带来不便，非常抱歉，也感谢您的耐心。我已完整查看了您的对话记录，会亲自跟进处理。",
    ),
    "loop": (
        "I am sorry you had to repeat yourself. I have read the conversation so far, so there is no need "
        "to explain it again.",
        "很抱歉让您反复说明。我已看过之前的对话记录，您无需再重复描述。",
    ),
    "requested": (
        "I'm a member of the support team and I've taken over from our assistant. I have read your "
        "conversation so far.",
        "我是人工客服，已接手您的咨询，并查看了之前的对话记录。",
    ),
    "unclear": (
        "I'm a member of the support team and I've taken over from our assistant.",
        "我是人工客服，已接手您的咨询。",
    ),
    "plain": (
        "I'm a member of the support team and I've taken over your conversation.",
        "我是人工客服，已接手您的咨询。",
    ),
}
_DRAFT_ASK = {
    "billing": (
        "Could you confirm the order number and the payment or refund in question?",
        "请提供订单号以及相关的付款或退款信息，我马上为您核实。",
    ),
    "orders": ("Could you confirm your order number so I can check it right away?", "请提供您的订单号，我马上为您查询。"),
    "accounts": (
        "Could you confirm the username of the account so I can look into it?",
        "请提供账户用户名，我马上为您查看。",
    ),
    "complaints": (
        "Could you tell me what outcome you would like, so I can work towards it?",
        "请告诉我您希望得到怎样的处理结果，我会尽力为您解决。",
    ),
}
_DRAFT_ASK_UNCLEAR = (
    "Could you tell me a little more about what you need, so I can help?",
    "请您再详细描述一下需要帮助的问题，以便我为您处理。",
)
_DRAFT_ASK_DEFAULT = ("How can I help you today?", "请问有什么可以帮您？")


def suggested_reply(decision: Decision, language: str, customer_name: str | None = None) -> str:
    """A draft the agent may send or edit, in the customer's language.

    It apologises when the customer is upset, stays neutral and admits nothing when legal action is
    mentioned, and ends with the question that moves the case on for the queue it went to.
    """
    zh = _is_zh(language)
    index = 1 if zh else 0
    name = _clean_name(customer_name)
    tone = _tone(decision.codes)
    if tone == "unclear":
        ask = _DRAFT_ASK_UNCLEAR[index]
    else:
        ask = _DRAFT_ASK.get(decision.queue or "", _DRAFT_ASK_DEFAULT)[index]
    if zh:
        greeting = f"{name}，您好！" if name else "您好！"
        return f"{greeting}{_DRAFT_BODY[tone][1]}{ask}"
    body = _DRAFT_BODY[tone][0]
    if not body.startswith(("I ", "I'")):
        body = body[0].lower() + body[1:]
    greeting = f"Hi {name}," if name else "Hello,"
    return f"{greeting} {body} {ask}"


_TEAM_NAMES = {
    "billing": ("billing", "账务"),
    "orders": ("orders", "订单"),
    "accounts": ("accounts", "账户"),
    "complaints": ("customer care", "客户关怀"),
    "technical": ("technical support", "技术支持"),
    "vip": ("priority support", "专属客服"),
}
_NOTICE_OPENING = {
    "legal": ("Thank you for letting us know.", "感谢您的反馈。"),
    "upset": ("I'm sorry for the trouble.", "非常抱歉给您带来不便。"),
    "loop": ("Sorry for going round in circles.", "抱歉没能帮您解决问题。"),
    "requested": ("Of course.", "好的。"),
    "unclear": ("Let me get someone who can help.", "我为您请一位同事来协助。"),
    "plain": ("", ""),
}


def handover_notice(
    language: str, queue: str | None, customer_name: str | None = None, decision: Decision | None = None
) -> str:
    """What the customer is told when a human takes over, in their language.

    The decision's reasons set the tone: an apology when the customer is upset or the bot went in
    circles, a plain acknowledgement when legal action is mentioned.
    """
    zh = _is_zh(language)
    name = _clean_name(customer_name)
    tone = _tone(decision.codes if decision else ())
    team_en, team_zh = _TEAM_NAMES.get(queue or "", ("", ""))
    if zh:
        address = f"{name}，" if name else ""
        team = f"（{team_zh}组）" if team_zh else ""
        return f"{address}{_NOTICE_OPENING[tone][1]}已为您转接人工客服{team}，请稍候……客服人员可以看到您之前的对话，您无需重复说明。"
    opening = _NOTICE_OPENING[tone][0]
    if name:
        opening = f"{opening[:-1]}, {name}." if opening else f"Thank you, {name}."
    team = f"our {team_en} team" if team_en else "our team"
    body = f"A member of {team} will be with you shortly. They can see our conversation, so you won't need to repeat yourself."
    return f"{opening} {body}".strip()
