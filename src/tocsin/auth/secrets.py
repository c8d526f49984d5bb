"""Random bearer secrets (API tokens, session cookies) and their stored digests.

The secrets carry 256 bits of entropy, so a plain SHA-256 digest is enough to store them: a
leaked table cannot be turned back into working credentials, and lookup stays one index probe.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

TOKEN_PREFIX = "tocsin_"


def new_secret(prefix: str = "") -> str:
    return prefix + secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
