from __future__ import annotations

import itertools
import random

from recgen.core.types import ASPECTS, PersonaControls
from recgen.models.text.corpus import AspectPhrases, describe, to_shop_voice, training_pairs
from recgen.models.text.eval import recover_aspect
from recgen.models.text.gate import check_description
from recgen.models.text.prompts import compose, render_prompt
from tests.unit.models.text.conftest import HEELS, SHIRT


def test_review_sentences_become_shop_voice_or_are_dropped() -> None:
    assert to_shop_voice("the fabric is soft and drapes beautifully!") == (
        "The fabric is soft and drapes beautifully.")
    for review in ("i love the fabric so much", "the fabric is soft but thin",
                   "the red color is gorgeous", "the dress fits perfectly",
                   "it is worth the price", "runs small, size up"):
        assert to_shop_voice(review) is None, review


def test_every_synthetic_target_names_the_product_and_expresses_the_aspect() -> None:
    phrases = AspectPhrases({})
    rng = random.Random(0)
    for product, aspect in itertools.product((SHIRT, HEELS), ASPECTS):
        controls = PersonaControls(aspect=aspect, usage="Sports", age_band="50+")
        body = describe(product, controls, phrases, rng)
        assert check_description(compose(product, body), product).passed, body
        assert recover_aspect(body) == aspect, body


def test_training_stream_is_seeded_and_uses_control_codes() -> None:
    phrases = AspectPhrases({})
    first = list(itertools.islice(training_pairs([SHIRT, HEELS], phrases, seed=3), 5))
    again = list(itertools.islice(training_pairs([SHIRT, HEELS], phrases, seed=3), 5))
    assert first == again
    prompt = render_prompt(SHIRT, PersonaControls(aspect="fit", age_band="25-34"))
    assert "<asp=fit><age=25-34>" not in prompt and "<age=25-34><asp=fit>" in prompt
    assert prompt.endswith("<|desc|>")
