"""products: the shop's copy and attributes

What the text engine needs from descriptions.jsonl, beside the styles.csv attributes: brand,
price and discounted price, the cleaned articleAttributes (JSON), the cleaned description,
the facts its copy states (JSON) and whether that copy agrees with the product's attributes.
All nullable: NULL means not loaded (a product known only from styles.csv), so the existing
rows and every writer that does not know these columns stay valid.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COLUMNS = (
    ("brand", sa.String(length=64)),
    ("price", sa.Numeric(precision=10, scale=2, asdecimal=False)),
    ("discounted_price", sa.Numeric(precision=10, scale=2, asdecimal=False)),
    ("attributes", sa.JSON()),
    ("description", sa.Text()),
    ("facts", sa.JSON()),
    ("copy_consistent", sa.Boolean()),
)


def upgrade() -> None:
    with op.batch_alter_table("products", schema=None) as batch_op:
        for name, type_ in _COLUMNS:
            batch_op.add_column(sa.Column(name, type_, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("products", schema=None) as batch_op:
        for name, _ in reversed(_COLUMNS):
            batch_op.drop_column(name)
