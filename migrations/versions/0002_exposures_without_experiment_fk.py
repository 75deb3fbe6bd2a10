"""exposures: no foreign key to experiments

The drain stores ten exposure rows per feed response. The foreign key's check ran a
``SELECT ... FOR KEY SHARE`` on the running experiment's row for every one of them: about 2.4
us of PostgreSQL CPU a row (a third of what storing a row cost), and a share lock that every
concurrent drain transaction takes on that same row. The experiment ids come from the
experiments table itself (the API's experiment cache), and experiments are stopped, never
deleted, so the check guarded nothing the writer can get wrong; a row with an unknown id is
simply in no report.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 13:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_FK = "fk_exposures_experiment_id_experiments"


def upgrade() -> None:
    with op.batch_alter_table("exposures", schema=None) as batch_op:
        batch_op.drop_constraint(op.f(_FK), type_="foreignkey")


def downgrade() -> None:
    # Fails while an exposure names an experiment that no longer exists; delete those first.
    with op.batch_alter_table("exposures", schema=None) as batch_op:
        batch_op.create_foreign_key(
            op.f(_FK), "experiments", ["experiment_id"], ["id"], ondelete="SET NULL"
        )
