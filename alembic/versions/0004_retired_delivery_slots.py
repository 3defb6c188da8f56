"""retired delivery slots

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 00:31:14.713745
"""

import sqlalchemy as sa

import models.base
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("delivery_slots", schema=None) as batch_op:
        batch_op.add_column(sa.Column("retired_at", models.base.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("delivery_slots", schema=None) as batch_op:
        batch_op.drop_column("retired_at")
