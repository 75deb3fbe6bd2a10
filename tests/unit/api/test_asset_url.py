"""asset_url skips quote() for keys it would leave unchanged, and only for those."""

from __future__ import annotations

from urllib.parse import quote

from recgen.api.routes.feed import asset_url


def test_asset_url_is_the_quoted_key_for_every_character() -> None:
    keys = [chr(c) for c in range(0x250)] + [
        "asset:image:v1:p101:s3",
        "asset:text:v%201:p7:u42",  # a percent-quoted model version: the % is quoted again
        "asset:text:a b/c?d#e~f+g",
    ]
    for key in keys:
        assert asset_url(key) == "/v1/assets/" + quote(key, safe=":._-+"), repr(key)
