"""interactions: event ids unique per principal; event_dead_letters for unstorable events

Event ids were unique across all clients, so one API key could squat another's ids: its
events were answered 202 and dropped as duplicates. Each interaction now records the API key
(principal) that sent it and ids are unique per (principal, event_id); rows stored before this
revision get principal "". A worker that meets an event it cannot store stores the rest of the
batch and writes the bad one to event_dead_letters with its reason.

Revision ID: 0004
Revises: 0002
Create Date: 2026-12-01 23:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0002"
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


def downgrade() -> None:
    # Fails while two principals share an event id; delete or rename those rows first.
    op.drop_table("event_dead_letters")
    with op.batch_alter_table("interactions", schema=None) as batch_op:
        batch_op.drop_constraint("uq_interactions_principal_event_id", type_="unique")
        batch_op.create_unique_constraint("uq_interactions_event_id", ["event_id"])
        batch_op.drop_column("principal")
