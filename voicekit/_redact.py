"""One redaction for URLs and the text around them: passwords never reach output."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

__all__ = ["redact_text", "redact_url", "url_secrets"]

REDACTED: Final = "***"
#: Query parameters that carry a secret, in the forms libpq, redis-py and others read.
SECRET_PARAMS: Final = frozenset({"password", "sslpassword", "pass", "passwd", "pwd", "secret", "token", "api_key"})


def url_secrets(url: str) -> tuple[str, ...]:
    """The secrets a URL carries: its user-info password and its secret query parameters."""
    try:
        parts = urlsplit(url)
        found = [parts.password] if parts.password else []
        found += [value for name, value in parse_qsl(parts.query) if name.lower() in SECRET_PARAMS and value]
    except ValueError:
        return ()
    return tuple(found)


def redact_url(url: str) -> str:
    """`url` with its password and secret parameters replaced by ``***``; a URL that cannot be
    read is never shown whole (only its scheme)."""
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        if parts.password is not None:
            host = parts.hostname or ""
            if ":" in host:
                host = f"[{host}]"
            netloc = f"{parts.username or ''}:{REDACTED}@{host}" + (f":{parts.port}" if parts.port else "")
        query = parts.query
        if query:
            pairs = parse_qsl(query, keep_blank_values=True)
            if any(name.lower() in SECRET_PARAMS for name, _ in pairs):
                query = urlencode(
                    [(name, REDACTED if name.lower() in SECRET_PARAMS else value) for name, value in pairs], safe="*"
                )
        return urlunsplit(parts._replace(netloc=netloc, query=query))
    except ValueError:
        scheme = url.partition("://")[0] if "://" in url else "a"
        return f"{scheme}://(a URL that cannot be read)"


def redact_text(text: str, secrets: Iterable[str]) -> str:
    """`text` with every occurrence of each secret replaced by ``***``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    return text
