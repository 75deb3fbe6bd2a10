"""GenerationEngine with fake models: de-duplication, determinism, provenance, failure isolation."""

from __future__ import annotations

from recgen.core.types import PersonaControls
from recgen.generation.engine import GenerationEngine, Subject, seed_for
from tests.support.fakes import FakeImage, FakeText, product

PERSONA = Subject(controls=PersonaControls(usage="Formal"), persona_id=1, taste_vector=(0.5,))
USER = Subject(controls=PersonaControls(usage="Sports"), user_id=42, profile_vector=(0.1, 0.2))


def test_same_product_and_persona_is_generated_once_per_kind() -> None:
    text, image = FakeText(), FakeImage()
    engine = GenerationEngine(text=text, image=image, seed=7)
    pairs = [
        (PERSONA, product(1)),
        (PERSONA, product(1)),
        (PERSONA, product(2)),
        (USER, product(1)),
    ]
    assets = engine.generate(pairs)
    assert len(assets) == 6  # 3 distinct (subject, product) x 2 kinds
    assert text.calls == [3] and image.calls == [3]
    keys = {a.key for a in assets}
    assert "asset:text:t1:p1:s1" in keys and "asset:image:i1:p1:u42" in keys


def test_seeds_are_deterministic_and_independent_of_batching() -> None:
    engine = GenerationEngine(
        text=FakeText(), image=FakeImage(), seed=7, text_batch_size=1, image_batch_size=1
    )
    first = {a.key: (a.seed, a.payload) for a in engine.generate([(PERSONA, product(1))])}
    both = engine.generate([(USER, product(5)), (PERSONA, product(1))])
    again = {a.key: (a.seed, a.payload) for a in both}
    for key, value in first.items():
        assert again[key] == value
        assert value[0] == seed_for(key, 7)
    other = GenerationEngine(text=FakeText(), image=FakeImage(), seed=8)
    assert other.generate([(PERSONA, product(1))])[0].seed != first["asset:text:t1:p1:s1"][0]


def test_provenance_is_complete() -> None:
    engine = GenerationEngine(text=FakeText(), image=FakeImage())
    text_asset = engine.generate([(USER, product(3))], kinds=["text"])[0]
    assert (text_asset.user_id, text_asset.persona_id, text_asset.product_id) == (42, None, 3)
    assert (text_asset.model_name, text_asset.model_version) == ("fake-text", "t1")
    assert text_asset.conditions["controls"]["usage"] == "Sports"
    assert text_asset.conditions["product"]["article_type"] == "Tshirts"
    assert text_asset.conditions["profile_vector"]["dim"] == 2
    assert text_asset.payload is not None and text_asset.servable


def test_one_failing_request_does_not_fail_its_batch() -> None:
    text = FakeText(fail_products={2})
    engine = GenerationEngine(text=text, image=FakeImage(), text_batch_size=8, image_batch_size=8)
    assets = {
        a.product_id: a
        for a in engine.generate([(PERSONA, product(p)) for p in (1, 2, 3)], ["text"])
    }
    assert text.calls == [3, 1, 1, 1]  # the batch, then one by one
    assert assets[1].servable and assets[3].servable
    failed = assets[2]
    assert not failed.generated and not failed.servable and failed.payload is None
    assert failed.gate.reasons[0].startswith("generation_error: RuntimeError")
    assert failed.model_version == "t1"


def test_model_version_change_changes_every_key() -> None:
    old = GenerationEngine(text=FakeText(version="t1"), image=FakeImage(version="i1"))
    new = GenerationEngine(text=FakeText(version="t2"), image=FakeImage(version="i1"))
    assert old.key("text", 1, PERSONA) != new.key("text", 1, PERSONA)
    assert old.key("image", 1, PERSONA) == new.key("image", 1, PERSONA)
    assert new.model_versions == {"text": "t2", "image": "i1"}
