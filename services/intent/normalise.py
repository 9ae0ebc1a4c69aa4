"""Chat spelling to standard spelling, before a message is read: "wheres my pkg pls" -> "where is my package please".

Customers type in a chat the way they text friends: "u", "pls", "w/", "b4", "wanna", "addy", "pw",
apostrophes dropped ("dont", "wheres"), and in Chinese "咋", "啥", "木有", "帐号", "定单". The
training data (Bitext's templates, the hand-written examples) is spelled out, so the encoder and the
n-grams meet such a message as a stranger: the informal test set (bench/data/informal) lost a
large part of its in-domain messages to out of scope. Rewriting the common chat forms to their
standard spelling first, in training and in the worker alike, lets both read what they know.

A word is replaced only whole (Latin, on word edges, case-insensitive), so "u" in "menu" or "ur" in
"your" are never touched; Chinese replacements are substrings chosen not to occur inside ordinary
words. The mapping is a table, not a model: it is predictable and every entry is readable here.
Typos beyond these ("cancle", "invoce") are left to the character n-grams of the intent head.
"""

from __future__ import annotations

import re
import unicodedata

# Name of this mapping: stored with every intent model trained with it and part of its fingerprint.
# Change it whenever the tables below change.
SCHEME = "chat-spelling/v1"

_LATIN = {
    "u": "you",
    "ya": "you",
    "ur": "your",
    "urs": "yours",
    "r": "are",
    "pls": "please",
    "plz": "please",
    "pleas": "please",
    "plse": "please",
    "thx": "thanks",
    "thnx": "thanks",
    "ty": "thank you",
    "w": "with",
    "w/": "with",
    "w/o": "without",
    "b4": "before",
    "abt": "about",
    "bc": "because",
    "cuz": "because",
    "coz": "because",
    "smth": "something",
    "sth": "something",
    "wanna": "want to",
    "gonna": "going to",
    "gotta": "have to",
    "gimme": "give me",
    "lemme": "let me",
    "dunno": "do not know",
    "dont": "don't",
    "cant": "can't",
    "wont": "won't",
    "didnt": "didn't",
    "doesnt": "doesn't",
    "isnt": "isn't",
    "hasnt": "hasn't",
    "havent": "haven't",
    "wasnt": "wasn't",
    "arent": "aren't",
    "couldnt": "couldn't",
    "wheres": "where is",
    "whats": "what is",
    "hows": "how is",
    "whens": "when is",
    "im": "i am",
    "ive": "i have",
    "acct": "account",
    "acc": "account",
    "addy": "address",
    "adress": "address",
    "addr": "address",
    "pw": "password",
    "pwd": "password",
    "passwd": "password",
    "msg": "message",
    "pkg": "package",
    "qty": "quantity",
    "info": "information",
    "tmrw": "tomorrow",
    "tmr": "tomorrow",
    "nite": "night",
    "rn": "right now",
    "diff": "different",
    "ppl": "people",
    "rep": "representative",
    "txn": "transaction",
    "asap": "as soon as possible",
    "eta": "estimated arrival",
    "2day": "today",
    "2moro": "tomorrow",
    "wk": "week",
    "wks": "weeks",
    "amt": "amount",
    "yr": "year",
    "bday": "birthday",
    "recieve": "receive",
    "recieved": "received",
    "cancle": "cancel",
    "cancl": "cancel",
    "cancell": "cancel",
    "cancelation": "cancellation",
    "refnd": "refund",
    "invoce": "invoice",
    "invoic": "invoice",
    "pasword": "password",
    "passowrd": "password",
    "acount": "account",
    "accout": "account",
    "shiping": "shipping",
    "delivary": "delivery",
    "paymnt": "payment",
    "oder": "order",
    "ordr": "order",
}

_CHINESE = {
    "咋": "怎么",
    "肿么": "怎么",
    "啥": "什么",
    "神马": "什么",
    "木有": "没有",
    "没得": "没有",
    "帐号": "账号",
    "帐户": "账户",
    "定单": "订单",
    "密马": "密码",
    "快滴": "快递",
    "酱紫": "这样子",
    "俺": "我",
    "偶": "我",
}

_LATIN_WORD = re.compile(
    r"(?<![A-Za-z0-9/'])("
    + "|".join(re.escape(w) for w in sorted(_LATIN, key=len, reverse=True))
    + r")(?![A-Za-z0-9/'])",
    re.IGNORECASE,
)
_CHINESE_WORD = re.compile("|".join(re.escape(w) for w in sorted(_CHINESE, key=len, reverse=True)))
_REPEATS = re.compile(r"([!?.])\1+|([a-z])\2{2,}", re.IGNORECASE)


def normalise(text: str) -> str:
    """The message in standard spelling (width-folded, chat words replaced, "!!!" -> "!", "sooo" -> "soo")."""
    folded = unicodedata.normalize("NFKC", text)
    folded = _REPEATS.sub(lambda m: m.group(1) or m.group(2) * 2, folded)
    folded = _LATIN_WORD.sub(lambda m: _LATIN[m.group(1).lower()], folded)
    return _CHINESE_WORD.sub(lambda m: _CHINESE[m.group(0)], folded)
