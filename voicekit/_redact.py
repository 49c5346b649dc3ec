"""One redaction for URLs: what voicekit shows of a URL that may carry a secret, and which
secrets a URL carries (to scrub them from messages that echo them).

A URL carries a secret in its userinfo (``scheme://user:password@host``) or in its query, in
every form its drivers accept: libpq's ``postgresql://host/db?password=...`` (and
``sslpassword``), redis-py's ``redis://host?password=...``, and the like (``token``,
``secret``, ``api_key``, ...). A URL that cannot be split reliably is never shown at all: a
placeholder naming its scheme stands in for it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final
from urllib.parse import unquote, urlsplit

__all__ = ["REDACTED", "is_secret_name", "redact_text", "redact_url", "url_secrets"]

REDACTED: Final = "***"

# Query parameters that hold a secret, by exact name (lower case, "-" read as "_") ...
_SECRET_NAMES: Final = frozenset({"pass", "pwd", "key", "apikey", "auth", "authorization", "sig", "signature"})
# ... or by ending: password, sslpassword, client_secret, access_token, x_api_key, ...
_SECRET_ENDINGS: Final = ("password", "passwd", "secret", "token", "api_key", "apikey", "credentials")
_SCHEME: Final = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*")


def is_secret_name(name: str) -> bool:
    """Whether a query parameter (or a field) called `name` holds a secret."""
    key = name.strip().lower().replace("-", "_")
    return key in _SECRET_NAMES or key.endswith(_SECRET_ENDINGS)


def _unreadable(url: str) -> str:
    scheme, sep, _ = url.partition("://")
    if sep and _SCHEME.fullmatch(scheme):
        return f"{scheme}://(unreadable URL)"
    return "(unreadable URL)"


def _redact_query(query: str) -> str:
    pieces = []
    for piece in query.split("&"):
        name, eq, _ = piece.partition("=")
        pieces.append(f"{name}={REDACTED}" if eq and is_secret_name(unquote(name)) else piece)
    return "&".join(pieces)


def redact_url(url: str) -> str:
    """`url` without its secrets: the userinfo's password and every secret query parameter
    become ``***``. A URL that cannot be split reliably shows as ``scheme://(unreadable URL)``."""
    if not isinstance(url, str):
        return "(unreadable URL)"
    try:
        parts = urlsplit(url)
    except ValueError:
        return _unreadable(url)
    if "://" not in url:
        if "@" in url:
            return _unreadable(url)  # "user:password@host" without a scheme
        # Not a URL with an authority (a file path, say): only its query can hold a secret.
        return url if not parts.query else url.replace(parts.query, _redact_query(parts.query), 1)
    netloc = parts.netloc
    if "@" not in netloc and "@" in url[url.index("://") + 3 :]:
        # An "@" beyond the authority: a password holding "/", "?" or "#" unescaped. Where it
        # ends cannot be told, so none of the URL is shown.
        return _unreadable(url)
    if any(c.isspace() or not c.isprintable() for c in netloc):
        return _unreadable(url)
    userinfo, at, hostport = netloc.rpartition("@")
    if at:
        user, colon, _ = userinfo.partition(":")
        netloc = f"{user}:{REDACTED}@{hostport}" if colon else netloc
    query = _redact_query(parts.query) if parts.query else parts.query
    shown = f"{parts.scheme}://{netloc}{parts.path}"
    if query or url.rstrip().endswith("?"):
        shown += f"?{query}"
    if parts.fragment:
        shown += f"#{parts.fragment}"
    return shown


def url_secrets(url: str) -> tuple[str, ...]:
    """Every secret `url` carries, as written and percent-decoded, longest first: for scrubbing
    the messages of drivers that echo them (even from a URL too malformed to parse)."""
    if not isinstance(url, str):
        return ()
    found: set[str] = set()
    _, sep, rest = url.partition("://")
    if not sep and "@" in url:
        sep, rest = "@", url
    if sep:
        authority = re.split(r"[/?#]", rest, maxsplit=1)[0]
        if "@" in authority:
            userinfo = authority.rpartition("@")[0]
        else:
            # A password holding "/", "?" or "#" unescaped: take everything up to the last "@".
            userinfo = rest.rpartition("@")[0]
        user, colon, password = userinfo.partition(":")
        if colon and password:
            found.add(password)
    query = url.partition("?")[2].partition("#")[0]
    for piece in query.split("&"):
        name, eq, value = piece.partition("=")
        if eq and value and is_secret_name(unquote(name)):
            found.add(value)
    found |= {unquote(secret) for secret in found}
    return tuple(sorted((s for s in found if s), key=len, reverse=True))


def redact_text(text: str, secrets: Iterable[str]) -> str:
    """`text` with every occurrence of each secret replaced by ``***`` (longest first)."""
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return text
