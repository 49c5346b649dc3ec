"""Building blocks for verifying Huawei callback signatures.

What is known: Huawei signs a release callback only when its URL was passed through the API and
a Shared Key of at least 16 characters is configured (GUI-configured URLs are never signed). The
public description says to sort every parameter except ``timestamp``, ``nonce`` and
``signature`` lexicographically, and stops there: the way the sorted parameters are joined, and
the HMAC computed over them, are not published.

So voicekit does not verify signatures itself. `canonical_string` does the documented step (with
an assumed joining you can change), and `constant_time_equals` compares digests safely; a
verifier you write from the two is passed to `huawei_release_handler`.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeAlias

__all__ = ["HuaweiVerifier", "canonical_string", "constant_time_equals"]

HuaweiVerifier: TypeAlias = Callable[[Mapping[str, Any]], bool | Awaitable[bool]]
"""Decides whether a decoded callback payload is authentic; may be sync or async."""

UNSIGNED_PARAMS = frozenset({"timestamp", "nonce", "signature"})


def _render(value: Any) -> str:
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, sort_keys=True)


def canonical_string(payload: Mapping[str, Any], *, pair_sep: str = "&", kv_sep: str = "=") -> str:
    """Join a callback's parameters in sorted key order, leaving out timestamp, nonce and signature.

    Only the sorting and the exclusions are documented by the vendor. The joining is an
    assumption: ``key=value`` pairs separated by ``&`` (change both with `pair_sep` and
    `kv_sep`); strings are used as they are, ``None`` as the empty string, and any other value as
    compact JSON (``12``, ``true``). Keys are compared by code point, which for the vendor's ASCII
    keys is the lexicographic order.

    Example: ``{"called": "8613", "callSerialNo": "77", "nonce": "n"}`` gives
    ``"callSerialNo=77&called=8613"``.
    """
    pairs = sorted((str(k), _render(v)) for k, v in payload.items() if k not in UNSIGNED_PARAMS)
    return pair_sep.join(f"{key}{kv_sep}{value}" for key, value in pairs)


def constant_time_equals(a: str | bytes, b: str | bytes) -> bool:
    """Compare two signatures in time that does not depend on where they differ.

    A value that is neither str nor bytes (e.g. a ``signature`` sent as a number or left out as
    ``None``) equals nothing, so a verifier built on this refuses it instead of raising.
    """
    if not isinstance(a, str | bytes) or not isinstance(b, str | bytes):
        return False
    # surrogatepass: a lone surrogate from a hostile body must compare unequal, not raise.
    left = a.encode("utf-8", "surrogatepass") if isinstance(a, str) else a
    right = b.encode("utf-8", "surrogatepass") if isinstance(b, str) else b
    return hmac.compare_digest(left, right)
