"""throttle rows expire

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 10:00:00.000000
"""

import sqlalchemy as sa

import models.base
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# When an existing row stops mattering: an hour after its last counted attempt (the counting
# window of resolvers.throttle at this revision), or when its lock-out ends if that is later.
EXPIRY = {
    "postgresql": "GREATEST(last_failure_at + interval '1 hour', COALESCE(locked_until, last_failure_at))",
    "sqlite": "max(datetime(last_failure_at, '+1 hour'), COALESCE(locked_until, last_failure_at))",
}


def upgrade() -> None:
    with op.batch_alter_table("login_throttles", schema=None) as batch_op:
        batch_op.add_column(sa.Column("expires_at", models.base.UTCDateTime(timezone=True), nullable=True))
    op.execute(f"UPDATE login_throttles SET expires_at = {EXPIRY[op.get_bind().dialect.name]}")
    with op.batch_alter_table("login_throttles", schema=None) as batch_op:
        batch_op.alter_column("expires_at", existing_type=models.base.UTCDateTime(timezone=True), nullable=False)
        batch_op.create_index(batch_op.f("ix_login_throttles_expires_at"), ["expires_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("login_throttles", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_login_throttles_expires_at"))
        batch_op.drop_column("expires_at")
