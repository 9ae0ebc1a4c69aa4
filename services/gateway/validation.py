"""Checks on what callers send, each failing with INVALID_ARGUMENT and a message saying what to fix."""

from __future__ import annotations

import re
import unicodedata

import grpc

from services.gateway.auth import RequestError

_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}")  # fullmatch: "$" would let a trailing "\n" through
_ALLOWED_CONTROL = {"\n", "\r", "\t"}


def invalid(message: str) -> RequestError:
    return RequestError(grpc.StatusCode.INVALID_ARGUMENT, message)


def check_id(value: str, field: str, required: bool = True) -> str:
    if not value:
        if required:
            raise invalid(f"{field} is required")
        return value
    if not _ID.fullmatch(value):
        raise invalid(f"{field} must be 1-128 characters of letters, digits, '.', '_', ':' or '-'")
    return value


def check_text(text: str, field: str, max_chars: int) -> str:
    """Normalise (NFC) and check a message text; returns the text to use."""
    if not text or not text.strip():
        raise invalid(f"{field} is empty")
    if len(text) > max_chars:
        raise invalid(f"{field} has {len(text)} characters; the limit is {max_chars}")
    for ch in text:
        category = unicodedata.category(ch)
        if ch not in _ALLOWED_CONTROL and (category == "Cc" or category == "Cs"):
            raise invalid(f"{field} contains control character U+{ord(ch):04X}; send plain text")
    return unicodedata.normalize("NFC", text)


def check_queue(queue: str, queues: tuple[str, ...]) -> str:
    if not queue:
        raise invalid("queue is required")
    if queue not in queues:
        raise RequestError(grpc.StatusCode.NOT_FOUND, f"unknown queue {queue!r}; queues are: {', '.join(queues)}")
    return queue
