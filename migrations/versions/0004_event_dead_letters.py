"""interactions: event ids unique per principal; event_dead_letters for unstorable events

Event ids were unique across all clients, so one API key could squat another's ids: its
events were answered 202 and dropped as duplicates. Each interaction now records the API key
(principal) that sent it and ids are unique per (principal, event_id); rows stored before this
revision get principal "". A worker that meets an event it cannot store stores the rest of the
batch and writes the bad one to event_dead_letters with its reason.

On PostgreSQL, rows stored before this revision that cannot be read back (an occurred_at
before year 1 UTC is stored as BC, which psycopg cannot convert; they broke the index rebuild,
the user's feed refresh and every later batch of that user) or that poison every sum (a NaN or
infinite value) are moved to event_dead_letters. SQLite stores no such timestamps.

Revision ID: 0004
Revises: 0002
Create Date: 2026-12-01 23:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("interactions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("principal", sa.String(length=128), nullable=False, server_default="")
        )
        batch_op.drop_constraint("uq_interactions_event_id", type_="unique")
        batch_op.create_unique_constraint(
            "uq_interactions_principal_event_id", ["principal", "event_id"]
        )
    op.create_table(
        "event_dead_letters",
        sa.Column("id", _BigId, autoincrement=True, nullable=False),
        sa.Column("principal", sa.String(length=128), nullable=False),
        sa.Column("event_id", sa.String(length=64), nullable=True),
        sa.Column("field", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_dead_letters")),
    )
    if op.get_bind().dialect.name == "postgresql":
        _move_unreadable_rows()


# Read on the server as text (never converted by the driver, which is what fails).
_UNREADABLE = ("occurred_at < TIMESTAMPTZ '0001-01-01 00:00:00+00' "
               "OR value IN ('NaN'::float8, 'Infinity'::float8, '-Infinity'::float8)")


def _move_unreadable_rows() -> None:
    op.execute(f"""
        INSERT INTO event_dead_letters (principal, event_id, field, reason, payload, received_at)
        SELECT principal, event_id,
               CASE WHEN occurred_at < TIMESTAMPTZ '0001-01-01 00:00:00+00'
                    THEN 'occurred_at' ELSE 'value' END,
               'stored before revision 0004 but unreadable (a BC time or a non-finite value)',
               json_build_object('event_id', event_id, 'user_id', user_id,
                                 'product_id', product_id, 'kind', kind,
                                 'occurred_at', occurred_at::text, 'value', value::text,
                                 'exposure_id', exposure_id)::text,
               now()
        FROM interactions WHERE {_UNREADABLE}
    """)
    op.execute(f"DELETE FROM interactions WHERE {_UNREADABLE}")


def downgrade() -> None:
    # Fails while two principals share an event id; delete or rename those rows first.
    op.drop_table("event_dead_letters")
    with op.batch_alter_table("interactions", schema=None) as batch_op:
        batch_op.drop_constraint("uq_interactions_principal_event_id", type_="unique")
        batch_op.create_unique_constraint("uq_interactions_event_id", ["event_id"])
        batch_op.drop_column("principal")
