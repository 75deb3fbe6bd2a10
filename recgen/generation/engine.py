"""GenerationEngine: (subject, product) pairs in, assets with full provenance out.

A *subject* is who an asset is made for: one user (their own controls and taste) or, with
persona sharing, a persona whose assets every member reuses. The engine builds the
conditions (product attributes + controls + taste/profile vectors), de-duplicates requests
whose cache key is equal (same kind, product, subject, model version), generates the rest in
batches, and turns any generation error into a failed asset for that one request so the
caller serves stock content for it and the rest of the batch goes on.

Seeds are derived from the asset key and a base seed, so the same request always gets the
same seed (deterministic output for deterministic models) whatever batch it arrives in.

The engine takes its collaborators in ``__init__`` and never reads settings;
``build_engine(settings)`` wires the real models.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from recgen.core.keys import asset_key
from recgen.core.types import (
    AssetKind,
    GateResult,
    GeneratedImage,
    GeneratedText,
    ImageRequest,
    PersonaControls,
    Product,
    TextRequest,
)

if TYPE_CHECKING:
    from recgen.core.config import Settings

log = logging.getLogger(__name__)

ALL_KINDS: tuple[AssetKind, ...] = ("text", "image")


class TextModelLike(Protocol):
    """What the engine needs of the text model (name/version for keys and audit)."""

    @property
    def name(self) -> str: ...
    @property
    def version(self) -> str: ...
    def generate(self, requests: Sequence[TextRequest]) -> list[GeneratedText]: ...


class ImageModelLike(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def version(self) -> str: ...
    def generate(self, requests: Sequence[ImageRequest]) -> list[GeneratedImage]: ...


Req = TypeVar("Req", TextRequest, ImageRequest)
Gen = TypeVar("Gen", GeneratedText, GeneratedImage)


@dataclass(frozen=True, slots=True)
class ModelHandle(Generic[Req, Gen]):
    """A model as the engine sees it: identity (for keys and audit) and a batched generate."""

    name: str
    version: str
    generate: Callable[[Sequence[Req]], list[Gen]]


@dataclass(frozen=True, slots=True)
class Subject:
    """Who assets are generated for: a user, or a persona shared by many users."""

    controls: PersonaControls
    user_id: int | None = None
    persona_id: int | None = None
    taste_vector: tuple[float, ...] | None = None
    profile_vector: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        if (self.user_id is None) == (self.persona_id is None):
            raise ValueError("a subject is exactly one of a user or a persona")


@dataclass(frozen=True, slots=True)
class Asset:
    """One generated asset and its provenance. ``payload`` is UTF-8 text or PNG bytes."""

    kind: AssetKind
    key: str
    product_id: int
    user_id: int | None
    persona_id: int | None
    model_name: str
    model_version: str
    seed: int
    conditions: dict[str, Any]
    gate: GateResult
    payload: bytes | None  # None when generation itself failed
    generated: bool = True  # False: generation raised; the gate says why

    @property
    def servable(self) -> bool:
        return self.payload is not None and self.gate.passed


def seed_for(key: str, base_seed: int) -> int:
    digest = hashlib.blake2b(f"{base_seed}:{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") & 0x7FFFFFFF  # fits torch.manual_seed and BIGINT


def _vector_digest(vector: tuple[float, ...] | None) -> dict[str, Any] | None:
    # The audit row keeps which vector conditioned the asset, not hundreds of floats.
    if vector is None:
        return None
    raw = ",".join(f"{v:.6g}" for v in vector).encode()
    return {"dim": len(vector), "sha1": hashlib.sha1(raw).hexdigest()[:16]}


def conditions_for(subject: Subject, product: Product) -> dict[str, Any]:
    return {
        "product": {
            "gender": product.gender,
            "article_type": product.article_type,
            "base_colour": product.base_colour,
            "colour_group": product.colour_group,
            "season": product.season,
            "usage": product.usage,
        },
        "controls": asdict(subject.controls),
        "taste_vector": _vector_digest(subject.taste_vector),
        "profile_vector": _vector_digest(subject.profile_vector),
    }


@dataclass(frozen=True, slots=True)
class AssetJob:
    """One planned asset: its key (provenance), who and what it is for, and its seed."""

    kind: AssetKind
    key: str
    subject: Subject
    product: Product
    seed: int


R = TypeVar("R")
Out = TypeVar("Out", GeneratedText, GeneratedImage)


class GenerationEngine:
    def __init__(
        self,
        *,
        text: TextModelLike,
        image: ImageModelLike,
        seed: int = 0,
        text_batch_size: int = 256,
        image_batch_size: int = 64,
    ) -> None:
        self.text = text
        self.image = image
        self.seed = seed
        self.text_batch_size = text_batch_size
        self.image_batch_size = image_batch_size

    @classmethod
    def from_settings(
        cls, settings: Settings, *, text: TextModelLike, image: ImageModelLike
    ) -> GenerationEngine:
        """An engine around these models with the configured seed and batch sizes."""
        return cls(
            text=text,
            image=image,
            seed=settings.generation_seed,
            text_batch_size=settings.generation_text_batch_size,
            image_batch_size=settings.generation_image_batch_size,
        )

    @property
    def model_versions(self) -> dict[str, str]:
        return {"text": self.text.version, "image": self.image.version}

    def key(self, kind: AssetKind, product_id: int, subject: Subject) -> str:
        model = self.text if kind == "text" else self.image
        return asset_key(
            kind,
            product_id,
            model_version=model.version,
            user_id=subject.user_id,
            persona_id=subject.persona_id,
        )

    def plan(
        self, pairs: Sequence[tuple[Subject, Product]], kinds: Sequence[AssetKind] = ALL_KINDS
    ) -> list[AssetJob]:
        """One job per distinct key among ``pairs`` x ``kinds`` (first-seen order).

        Equal keys (same kind, product, subject, model version) are planned once: this is
        where requests for the same (product, persona) inside one batch are merged.
        """
        jobs: dict[str, AssetJob] = {}
        for kind in kinds:
            for subject, product in pairs:
                key = self.key(kind, product.product_id, subject)
                if key not in jobs:
                    jobs[key] = AssetJob(kind, key, subject, product, seed_for(key, self.seed))
        return list(jobs.values())

    def run(self, jobs: Sequence[AssetJob]) -> list[Asset]:
        """Generate the planned assets in batches per model; failures become failed assets."""
        text_jobs = [j for j in jobs if j.kind == "text"]
        image_jobs = [j for j in jobs if j.kind == "image"]
        return [
            *self._run(
                text_jobs,
                self._text_requests,
                self.text.generate,
                _identity(self.text),
                self.text_batch_size,
            ),
            *self._run(
                image_jobs,
                self._image_requests,
                self.image.generate,
                _identity(self.image),
                self.image_batch_size,
            ),
        ]

    def generate(
        self, pairs: Sequence[tuple[Subject, Product]], kinds: Sequence[AssetKind] = ALL_KINDS
    ) -> list[Asset]:
        return self.run(self.plan(pairs, kinds))

    @staticmethod
    def _text_requests(jobs: Sequence[AssetJob]) -> list[TextRequest]:
        return [
            TextRequest(
                product=j.product,
                controls=j.subject.controls,
                seed=j.seed,
                profile_vector=j.subject.profile_vector,
            )
            for j in jobs
        ]

    @staticmethod
    def _image_requests(jobs: Sequence[AssetJob]) -> list[ImageRequest]:
        return [
            ImageRequest(product=j.product, seed=j.seed, taste_vector=j.subject.taste_vector)
            for j in jobs
        ]

    def _run(
        self,
        jobs: Sequence[AssetJob],
        to_requests: Callable[[Sequence[AssetJob]], list[R]],
        model: Callable[[Sequence[R]], list[Out]],
        identity: tuple[str, str],
        batch_size: int,
    ) -> list[Asset]:
        assets: list[Asset] = []
        for start in range(0, len(jobs), batch_size):
            batch = jobs[start : start + batch_size]
            try:
                outputs = model(to_requests(batch))
                if len(outputs) != len(batch):
                    raise RuntimeError(f"model returned {len(outputs)} for {len(batch)} requests")
                assets.extend(_asset(j, o) for j, o in zip(batch, outputs, strict=True))
            except Exception:
                # One bad request must not cost the others their assets: retry one by one.
                log.exception(
                    "batch of %d %s requests failed; retrying singly", len(batch), batch[0].kind
                )
                assets.extend(self._run_single(j, to_requests, model, identity) for j in batch)
        return assets

    @staticmethod
    def _run_single(
        job: AssetJob,
        to_requests: Callable[[Sequence[AssetJob]], list[R]],
        model: Callable[[Sequence[R]], list[Out]],
        identity: tuple[str, str],
    ) -> Asset:
        try:
            (output,) = model(to_requests([job]))
            return _asset(job, output)
        except Exception as exc:
            log.warning("generation failed for %s: %s", job.key, exc)
            return Asset(
                kind=job.kind,
                key=job.key,
                product_id=job.product.product_id,
                user_id=job.subject.user_id,
                persona_id=job.subject.persona_id,
                model_name=identity[0],
                model_version=identity[1],
                seed=job.seed,
                conditions=conditions_for(job.subject, job.product),
                gate=GateResult(False, (f"generation_error: {type(exc).__name__}: {exc}"[:200],)),
                payload=None,
                generated=False,
            )


def _identity(model: TextModelLike | ImageModelLike) -> tuple[str, str]:
    return model.name, model.version


def _asset(job: AssetJob, output: GeneratedText | GeneratedImage) -> Asset:
    payload = output.text.encode() if isinstance(output, GeneratedText) else output.png
    return Asset(
        kind=job.kind,
        key=job.key,
        product_id=job.product.product_id,
        user_id=job.subject.user_id,
        persona_id=job.subject.persona_id,
        model_name=output.model_name,
        model_version=output.model_version,
        seed=output.seed,
        conditions=conditions_for(job.subject, job.product),
        gate=output.gate,
        payload=payload,
    )
