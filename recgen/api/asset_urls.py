"""Asset URLs carry an unguessable token: an HMAC of the asset key with the server's secret.

Asset keys are predictable (``asset:{kind}:{model version}:p{product}:s{persona}``, the
version public in every feed, personas 0-31, users by id), so the key alone must not be enough
to read another user's generated content. The feed, task status and dashboard hand out URLs
with ``?t=<token>``; ``GET /v1/assets/{key}`` checks it in constant time (or accepts an API
key instead, for server-side callers).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from urllib.parse import quote

_ASSET_SAFE = ":._-+"
# Keys of only these characters are what quote() returns unchanged (the usual case; a fullmatch
# is half the cost of quote(), which runs for each generated image of a feed).
_UNQUOTED = re.compile(r"[A-Za-z0-9_.~:+-]*")
TOKEN_LENGTH = 32  # hex characters: 128 bits


class AssetSigner:
    def __init__(self, secret: bytes) -> None:
        if len(secret) < 16:
            raise ValueError("the asset URL secret must be at least 16 bytes")
        self._secret = secret

    def token(self, key: str) -> str:
        digest = hmac.new(self._secret, key.encode(), hashlib.sha256).hexdigest()
        return digest[:TOKEN_LENGTH]

    def valid(self, key: str, token: str | None) -> bool:
        return token is not None and hmac.compare_digest(self.token(key), token)

    def url(self, key: str) -> str:
        path = key if _UNQUOTED.fullmatch(key) else quote(key, safe=_ASSET_SAFE)
        return f"/v1/assets/{path}?t={self.token(key)}"
