"""What the vendor's HTTP answer said beyond its body: the status and the headers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

__all__ = ["Response", "attach"]


@attrs.frozen
class Response:
    """The raw HTTP answer behind a result or an error: its `status` and its `headers`
    (case-insensitive, e.g. ``response.headers.get("X-Request-Id")`` or rate headers)."""

    status: int
    headers: Mapping[str, str] = attrs.field(factory=dict, repr=False)


def attach(result: Any, response: Response) -> Any:
    """Set a fresh result's `response` (results are frozen; this happens once, before anyone
    holds the result). Other values pass through."""
    if getattr(result, "response", 0) is None:
        object.__setattr__(result, "response", response)
    return result
