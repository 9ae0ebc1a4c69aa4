"""What the widget may send, checked before anything reaches the gateway (which checks again)."""

from __future__ import annotations

import re
import unicodedata

_ALLOWED_CONTROL = {"\n", "\r", "\t"}
_CLIENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}")


class MessageError(Exception):
    """The message can't be sent; `reason` is a stable word the widget shows a text for."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def check_message(text: object, max_chars: int) -> str:
    """The text to send; MessageError for empty, oversized or binary (control characters) input."""
    if not isinstance(text, str) or not text.strip():
        raise MessageError("empty_message", "the message is empty")
    if len(text) > max_chars:
        raise MessageError("message_too_long", f"the message has {len(text)} characters; the limit is {max_chars}")
    for ch in text:
        if ch not in _ALLOWED_CONTROL and unicodedata.category(ch) in ("Cc", "Cs"):
            raise MessageError(
                "binary_message", f"the message contains control character U+{ord(ch):04X}; send plain text"
            )
    return text


def check_client_id(value: object, field: str) -> str:
    """An id the widget chose (conversation, idempotency key), or "" when absent."""
    if value in (None, ""):
        return ""
    if not isinstance(value, str) or not _CLIENT_ID.fullmatch(value):
        raise MessageError("invalid_request", f"{field} must be 1-128 letters, digits, '.', '_', ':' or '-'")
    return value
