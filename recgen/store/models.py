"""SQLAlchemy 2 ORM models. Portable across SQLite (embedded default) and PostgreSQL.

Indexes follow the queries that are actually made:
- interactions by (user, time) for profile rebuilds and by product for popularity;
- generated assets by cache key (idempotent writes) and by (product, persona) for reuse;
- exposures by (experiment, arm) and by user for the A/B report's joins.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Deterministic constraint names so Alembic migrations are identical on both backends.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite only auto-increments INTEGER PRIMARY KEY; BigInteger elsewhere.
BigId = BigInteger().with_variant(Integer(), "sqlite")


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class ProductRow(Base):
    __tablename__ = "products"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    gender: Mapped[str] = mapped_column(String(16))
    master_category: Mapped[str] = mapped_column(String(32))
    sub_category: Mapped[str] = mapped_column(String(64))
    article_type: Mapped[str] = mapped_column(String(64), index=True)
    base_colour: Mapped[str] = mapped_column(String(32))
    colour_group: Mapped[str] = mapped_column(String(32))
    season: Mapped[str | None] = mapped_column(String(16))
    usage: Mapped[str | None] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(256))
    image_path: Mapped[str | None] = mapped_column(String(512))
    # From the shop's copy (descriptions.jsonl, migration 0003); NULL where not loaded.
    brand: Mapped[str | None] = mapped_column(String(64))
    price: Mapped[float | None] = mapped_column(Numeric(10, 2, asdecimal=False))
    discounted_price: Mapped[float | None] = mapped_column(Numeric(10, 2, asdecimal=False))
    # none_as_null: None is SQL NULL ("not loaded"), not the JSON value null.
    attributes: Mapped[dict[str, str] | None] = mapped_column(JSON(none_as_null=True))
    description: Mapped[str | None] = mapped_column(Text)
    facts: Mapped[dict[str, str] | None] = mapped_column(JSON(none_as_null=True))
    copy_consistent: Mapped[bool | None] = mapped_column(Boolean)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class UserRow(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # Cold-start attributes given at sign-up (all optional).
    gender: Mapped[str | None] = mapped_column(String(16))
    age: Mapped[int | None] = mapped_column(Integer)
    signup_preferences: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class InteractionRow(Base):
    __tablename__ = "interactions"
    __table_args__ = (
        Index("ix_interactions_user_time", "user_id", "occurred_at"),
        Index("ix_interactions_product", "product_id"),
        # A client may resend a batch; the same event id is stored once per principal (the
        # API key's name), so one client's ids can never shadow another's.
        UniqueConstraint("principal", "event_id", name="uq_interactions_principal_event_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    # The API key that sent the event ("" for events loaded by the CLI or the simulators).
    principal: Mapped[str] = mapped_column(String(128), default="", server_default="")
    event_id: Mapped[str | None] = mapped_column(String(64))
    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="CASCADE"))
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    value: Mapped[float | None] = mapped_column(Float)
    exposure_id: Mapped[str | None] = mapped_column(String(64), index=True)


class EventDeadLetterRow(Base):
    """An event a worker could not store, with why: kept so that nothing a 202 accepted is
    lost without trace. ``payload`` is the event as ASCII JSON (a NUL or a lone surrogate is
    escaped), so any payload fits the text column."""

    __tablename__ = "event_dead_letters"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    principal: Mapped[str] = mapped_column(String(128), default="")
    event_id: Mapped[str | None] = mapped_column(String(64))
    field: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(Text)
    payload: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class UserProfileRow(Base):
    """The latest profile of a user: embedding bytes (float32) and interpretable affinities."""

    __tablename__ = "user_profiles"

    user_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    model_version: Mapped[str] = mapped_column(String(64))
    vector: Mapped[bytes] = mapped_column(LargeBinary)
    affinities: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    persona_id: Mapped[int | None] = mapped_column(Integer, index=True)
    event_count: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class PersonaRow(Base):
    __tablename__ = "personas"
    __table_args__ = (UniqueConstraint("model_version", "index", name="uq_personas_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    model_version: Mapped[str] = mapped_column(String(64))
    index: Mapped[int] = mapped_column(Integer)
    controls: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    size: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class GeneratedAssetRow(Base):
    """Audit record of one generated asset: who it was for, what made it, what the gates said."""

    __tablename__ = "generated_assets"
    __table_args__ = (
        UniqueConstraint("cache_key", name="uq_generated_assets_cache_key"),
        Index("ix_generated_assets_product_persona", "product_id", "persona_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(8))
    user_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    persona_id: Mapped[int | None] = mapped_column(Integer)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"))
    model_name: Mapped[str] = mapped_column(String(128))
    model_version: Mapped[str] = mapped_column(String(64))
    seed: Mapped[int] = mapped_column(BigInteger)
    conditions: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    gate_passed: Mapped[bool] = mapped_column(Boolean)
    gate_reasons: Mapped[list[str]] = mapped_column(JSON, default=list)
    cache_key: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ExperimentRow(Base):
    __tablename__ = "experiments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    salt: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="draft")
    traffic_share: Mapped[float] = mapped_column(Float, default=1.0)
    # {"stock": 0.5, "generated": 0.5}
    arms: Mapped[dict[str, float]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    stopped_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class AssignmentRow(Base):
    """A user's arm in an experiment: derived by hashing, stored for forced (QA) overrides."""

    __tablename__ = "assignments"

    experiment_id: Mapped[int] = mapped_column(
        ForeignKey("experiments.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    arm: Mapped[str] = mapped_column(String(32))
    forced: Mapped[bool] = mapped_column(Boolean, default=False)
    assigned_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ExposureRow(Base):
    __tablename__ = "exposures"
    __table_args__ = (
        Index("ix_exposures_experiment_arm", "experiment_id", "arm"),
        Index("ix_exposures_user", "user_id"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    # An experiments.id, without a foreign key: its per-row check cost a third of the drain's
    # PostgreSQL time (migration 0002 says why nothing is lost).
    experiment_id: Mapped[int | None] = mapped_column(Integer)
    user_id: Mapped[int] = mapped_column(BigInteger)
    product_id: Mapped[int] = mapped_column(Integer)
    arm: Mapped[str | None] = mapped_column(String(32))
    content: Mapped[str] = mapped_column(String(16))  # "generated" | "stock"
    asset_key: Mapped[str | None] = mapped_column(Text)
    served_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ApiKeyRow(Base):
    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    # sha256 of the key; the key itself is shown once at creation and never stored.
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[list[str]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
