"""``recgen eval text``: generate for every product of a catalog file under 5 personas, score.

Metrics (all on the generated *body*, i.e. without the headline, which is the cleaned stock
title and would make fidelity trivially high; contradiction and gate use the served text):
- fidelity: share naming the product's colour and article type, with no contradiction;
- contradiction_rate: share naming another colour, article type or gender;
- gate_pass_rate: share passing the full fidelity + safety gate;
- usr: per product, unique sentences / sentences across its 5 personas (mean over products);
- distinct_2: per product, distinct bigrams / bigrams across its 5 personas (mean);
  ``distinct_2_corpus`` is the same over every body of the run;
- persona_accuracy: share whose persona is recovered by a keyword rule kept apart from the
  corpus builder's (the 5 personas differ in aspect, so recovering the aspect recovers it);
- perplexity: on validation (prompt, description) pairs of this file's products.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from recgen.catalog.styles import read_styles
from recgen.core.types import PersonaControls, Product, TextRequest
from recgen.models.text.corpus import AspectPhrases, mine_reviews, split_products, training_pairs
from recgen.models.text.gate import check_description, contradictions, names_article, names_colour
from recgen.models.text.generator import DescriptionGenerator
from recgen.models.text.model import TextModel
from recgen.models.text.train import validation_loss

PERSONAS: tuple[PersonaControls, ...] = (
    PersonaControls(usage="Casual", age_band="18-24", aspect="fit"),
    PersonaControls(usage="Formal", age_band="35-49", aspect="fabric"),
    PersonaControls(usage="Sports", age_band="50+", aspect="comfort"),
    PersonaControls(usage="Party", age_band="25-34", aspect="occasion"),
    PersonaControls(usage="Ethnic", age_band="35-49", aspect="value"),
)
# The evaluation's own aspect vocabulary (word stems), separate from corpus.ASPECT_KEYWORDS.
_PERSONA_RULE: dict[str, tuple[str, ...]] = {
    "fit": ("fit", "cut", "shape", "tailor", "silhouette", "flatter", "proportion", "true to"),
    "fabric": ("fabric", "material", "texture", "finish", "cotton", "weave", "knit", "feel of"),
    "comfort": ("comfort", "comfy", "cozy", "soft", "easy to wear", "all-day", "all day",
                "breathab", "lightweight"),
    "occasion": ("occasion", "office", "weekend", "dinner", "party", "wedding", "vacation",
                 "date", "event", "travel", "night out", "brunch"),
    "value": ("versatile", "staple", "last", "durable", "quality", "wardrobe", "basic",
              "well made", "investment", "rotation"),
}


def recover_aspect(body: str) -> str | None:
    """The aspect with the most keyword hits in the text (None when no hit or a tie)."""
    lower = body.lower()
    scores = {a: sum(len(re.findall(rf"\b{re.escape(w)}", lower)) for w in words)
              for a, words in _PERSONA_RULE.items()}
    best = max(scores.values())
    winners = [a for a, s in scores.items() if s == best]
    return winners[0] if best > 0 and len(winners) == 1 else None


def _sentences(body: str) -> list[str]:
    return [s.strip().lower() for s in re.split(r"(?<=[.!?])\s+", body) if s.strip()]


def _bigrams(texts: Sequence[str]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for text in texts:
        words = re.findall(r"[\w'-]+", text.lower())
        out.extend(itertools.pairwise(words))
    return out


def _ratio(unique: int, total: int) -> float:
    return unique / total if total else 0.0


@dataclass(frozen=True, slots=True)
class ProductScores:
    fidelity: int
    contradictions: int
    passed: int
    persona_hits: int
    usr: float
    distinct_2: float


def score_product(product: Product, texts: Sequence[str]) -> ProductScores:
    """Scores for one product's descriptions, one per persona in PERSONAS order."""
    bodies = [t.split("\n", 1)[1] if "\n" in t else t for t in texts]
    sentences = [s for b in bodies for s in _sentences(b)]
    bigrams = _bigrams(bodies)
    return ProductScores(
        fidelity=sum(names_colour(b, product) and names_article(b, product)
                     and not contradictions(b, product) for b in bodies),
        contradictions=sum(bool(contradictions(t, product)) for t in texts),
        passed=sum(check_description(t, product).passed for t in texts),
        persona_hits=sum(recover_aspect(b) == p.aspect for b, p in zip(bodies, PERSONAS,
                                                                        strict=True)),
        usr=_ratio(len(set(sentences)), len(sentences)),
        distinct_2=_ratio(len(set(bigrams)), len(bigrams)),
    )


def generate_for(generator: DescriptionGenerator, products: Sequence[Product],
                 chunk: int = 1000) -> list[list[str]]:
    """Texts [product][persona], generated in chunks so progress shows."""
    requests = [TextRequest(product=p, controls=c, seed=p.product_id * 10 + i)
                for p in products for i, c in enumerate(PERSONAS)]
    texts: list[str] = []
    for start in tqdm(range(0, len(requests), chunk), desc="generate", unit="chunk"):
        texts += [g.text for g in generator.generate(requests[start : start + chunk])]
    n = len(PERSONAS)
    return [texts[i * n : (i + 1) * n] for i in range(len(products))]


def evaluate(model: TextModel, products: Sequence[Product], phrases: AspectPhrases,
             *, perplexity_pairs: int = 512, sample: bool = True) -> dict[str, Any]:
    """The eval JSON for these products (their texts under the 5 personas)."""
    texts = generate_for(DescriptionGenerator(model, sample=sample), products)
    scores = [score_product(p, t) for p, t in zip(products, texts, strict=True)]
    n = len(products) * len(PERSONAS)
    pairs = list(itertools.islice(training_pairs(products, phrases, seed=10_000),
                                  perplexity_pairs)) if products else []
    loss = validation_loss(model.model, model.tokenizer, pairs) if pairs else float("nan")
    all_bigrams = _bigrams([t.split("\n", 1)[-1] for ts in texts for t in ts])
    return {
        "model": model.name, "model_version": model.version, "sampled": sample,
        "products": len(products), "descriptions": n,
        "personas": [{"usage": p.usage, "age_band": p.age_band, "aspect": p.aspect}
                     for p in PERSONAS],
        "fidelity": _ratio(sum(s.fidelity for s in scores), n),
        "contradiction_rate": _ratio(sum(s.contradictions for s in scores), n),
        "gate_pass_rate": _ratio(sum(s.passed for s in scores), n),
        "usr": sum(s.usr for s in scores) / max(1, len(scores)),
        "distinct_2": sum(s.distinct_2 for s in scores) / max(1, len(scores)),
        "distinct_2_corpus": _ratio(len(set(all_bigrams)), len(all_bigrams)),
        "persona_accuracy": _ratio(sum(s.persona_hits for s in scores), n),
        "perplexity": math.exp(loss) if pairs else None,
        "examples": [{"product_id": p.product_id, "texts": t}
                     for p, t in zip(products[:3], texts[:3], strict=False)],
    }


def load_eval_products(styles: Path, split: str, limit: int | None) -> list[Product]:
    """Products of a catalog file: all, or one side of the id-hash split; first ``limit``."""
    products = read_styles(styles).products
    if split != "all":
        products = split_products(products, validation=split == "validation")
    return products[:limit] if limit else products


def eval_phrases(reviews: Path | None) -> AspectPhrases:
    """Validation-side review phrases for perplexity pairs (none: the shop's own bank)."""
    if reviews is None:
        return AspectPhrases({})
    return mine_reviews(reviews, validation=True)[0]
