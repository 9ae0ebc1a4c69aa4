"""Web origins ("https://shop.example", scheme://host[:port]) as widget keys list them and browsers send them.

One normal form for both sides, so a comparison is string equality: lower-case scheme and host,
the default port (80 for http, 443 for https) left out, no path, no trailing slash. Anything else
(a path, credentials, "null" from a sandboxed frame or a file: page) is not an origin a widget key
can allow.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

_DEFAULT_PORTS = {"http": 80, "https": 443}
_HOST = re.compile(r"[a-z0-9.-]{1,253}|\[[0-9a-f:.]{2,45}\]")


class OriginError(ValueError):
    """Not a web origin; the message says what an origin looks like."""


def normalize_origin(value: str) -> str:
    """`value` in normal form; OriginError when it is not scheme://host[:port] with http or https."""
    raw = value.strip()
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError:
        raise OriginError(f"{value!r} is not an origin: use scheme://host[:port], e.g. https://shop.example") from None
    scheme, host = parts.scheme.lower(), (parts.hostname or "")
    if ":" in host:
        host = f"[{host}]"
    if (
        scheme not in _DEFAULT_PORTS
        or not _HOST.fullmatch(host)
        or parts.username is not None
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
    ):
        raise OriginError(f"{value!r} is not an origin: use scheme://host[:port], e.g. https://shop.example")
    if port is None or port == _DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def origin_allowed(origin: str, allowed: tuple[str, ...] | list[str]) -> bool:
    """Whether the browser's `origin` is one of `allowed` (normal forms); False for anything malformed."""
    try:
        return normalize_origin(origin) in allowed
    except OriginError:
        return False
