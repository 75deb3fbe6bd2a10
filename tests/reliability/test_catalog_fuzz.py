"""Catalog files with arbitrary garbage rows: every row is either loaded or reported by line,
nothing raises except a clear DataFileError for an unusable file, and a product whose photo is
missing is loaded without an image (stock image URLs then 404 cleanly)."""

from __future__ import annotations

from pathlib import Path

import hypothesis
from hypothesis import HealthCheck
from hypothesis import strategies as st

from recgen.catalog.styles import read_styles

HEADER = (
    b"id,gender,masterCategory,subCategory,articleType,baseColour,season,usage,"
    b"productDisplayName,colorgroup\n"
)
GOOD = b"15970,Men,Apparel,Topwear,Shirts,Navy Blue,Fall,Casual,Navy Shirt,Blue\n"
FIELD = st.one_of(
    st.text(max_size=30).map(lambda s: s.encode("utf-8", "surrogatepass")),
    st.binary(max_size=30),  # wrong encodings, NUL bytes, stray quotes
    st.sampled_from([b"", b'"', b"'; DROP TABLE products; --", "é".encode("latin-1"),
                     b"99999999999999999999", b"-5", b"Men", b"Apparel"]),
)
ROW = st.lists(FIELD, min_size=0, max_size=13).map(lambda fields: b",".join(fields))


@hypothesis.settings(max_examples=150, deadline=None, derandomize=True, database=None,
                     suppress_health_check=list(HealthCheck))
@hypothesis.given(rows=st.lists(ROW, max_size=12))
def test_garbage_rows_are_skipped_and_reported(tmp_path_factory: object, rows: list[bytes]) -> None:
    directory = Path(str(tmp_path_factory.mktemp("catalog")))  # type: ignore[attr-defined]
    clean = [r.replace(b"\n", b" ").replace(b"\r", b" ") for r in rows]
    path = directory / "styles.csv"
    path.write_bytes(HEADER + GOOD + b"\n".join(clean) + (b"\n" if clean else b""))
    result = read_styles(path, images_dir=directory / "images")
    assert 15970 in {p.product_id for p in result.products}
    reported = {r.line for r in result.rejected}
    assert all(line >= 3 for line in reported)  # the good row (line 2) is never blamed
    assert all(r.reason for r in result.rejected)
    assert all(p.image_path is None for p in result.products)  # no photos in that directory
    assert result.rows_read >= 1
