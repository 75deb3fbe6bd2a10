"""Asset URLs: the key, quoted only where quote() would change it, and the key's token."""

from __future__ import annotations

from urllib.parse import quote

from recgen.api.asset_urls import AssetSigner

SIGNER = AssetSigner(b"unit-test-secret-0123456789")


def test_asset_url_is_the_quoted_key_for_every_character() -> None:
    keys = [chr(c) for c in range(0x250)] + [
        "asset:image:v1:p101:s3",
        "asset:text:v%201:p7:u42",  # a percent-quoted model version: the % is quoted again
        "asset:text:a b/c?d#e~f+g",
    ]
    for key in keys:
        expected = "/v1/assets/" + quote(key, safe=":._-+") + "?t=" + SIGNER.token(key)
        assert SIGNER.url(key) == expected, repr(key)


def test_a_token_is_valid_only_for_its_key_and_secret() -> None:
    token = SIGNER.token("asset:image:v1:p101:s3")
    assert SIGNER.valid("asset:image:v1:p101:s3", token)
    assert not SIGNER.valid("asset:image:v1:p101:s4", token)
    assert not SIGNER.valid("asset:image:v1:p101:s3", None)
    assert not AssetSigner(b"another-secret-0123456789").valid("asset:image:v1:p101:s3", token)
