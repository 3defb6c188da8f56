"""money as 64-bit integers

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 01:21:59.661861
"""

import sqlalchemy as sa

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("approval_rules", schema=None) as batch_op:
        batch_op.alter_column(
            "threshold_minor", existing_type=sa.INTEGER(), type_=sa.BigInteger(), existing_nullable=True
        )

    with op.batch_alter_table("budget_usage", schema=None) as batch_op:
        batch_op.alter_column(
            "committed_minor", existing_type=sa.INTEGER(), type_=sa.BigInteger(), existing_nullable=False
        )
        batch_op.alter_column("spent_minor", existing_type=sa.INTEGER(), type_=sa.BigInteger(), existing_nullable=False)

    with op.batch_alter_table("budgets", schema=None) as batch_op:
        batch_op.alter_column(
            "amount_minor", existing_type=sa.INTEGER(), type_=sa.BigInteger(), existing_nullable=False
        )

    with op.batch_alter_table("credit_accounts", schema=None) as batch_op:
        batch_op.alter_column(
            "credit_limit_minor", existing_type=sa.INTEGER(), type_=sa.BigInteger(), existing_nullable=False
        )
        batch_op.alter_column(
            "outstanding_minor", existing_type=sa.INTEGER(), type_=sa.BigInteger(), existing_nullable=False
        )

    with op.batch_alter_table("line_returns", schema=None) as batch_op:
        batch_op.alter_column(
            "credited_minor", existing_type=sa.INTEGER(), type_=sa.BigInteger(), existing_nullable=False
        )

    with op.batch_alter_table("member_monthly_spend", schema=None) as batch_op:
        batch_op.alter_column(
            "committed_minor", existing_type=sa.INTEGER(), type_=sa.BigInteger(), existing_nullable=False
        )

    with op.batch_alter_table("memberships", schema=None) as batch_op:
        batch_op.alter_column(
            "order_limit_minor", existing_type=sa.INTEGER(), type_=sa.BigInteger(), existing_nullable=True
        )
        batch_op.alter_column(
            "monthly_limit_minor", existing_type=sa.INTEGER(), type_=sa.BigInteger(), existing_nullable=True
        )

    with op.batch_alter_table("order_charges", schema=None) as batch_op:
        batch_op.alter_column(
            "amount_minor", existing_type=sa.INTEGER(), type_=sa.BigInteger(), existing_nullable=False
        )

    with op.batch_alter_table("order_lines", schema=None) as batch_op:
        batch_op.alter_column(
            "unit_price_minor", existing_type=sa.INTEGER(), type_=sa.BigInteger(), existing_nullable=False
        )
        batch_op.alter_column("net_minor", existing_type=sa.INTEGER(), type_=sa.BigInteger(), existing_nullable=False)
        batch_op.alter_column("vat_minor", existing_type=sa.INTEGER(), type_=sa.BigInteger(), existing_nullable=False)

    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.alter_column("net_minor", existing_type=sa.INTEGER(), type_=sa.BigInteger(), existing_nullable=False)
        batch_op.alter_column("vat_minor", existing_type=sa.INTEGER(), type_=sa.BigInteger(), existing_nullable=False)
        batch_op.alter_column("gross_minor", existing_type=sa.INTEGER(), type_=sa.BigInteger(), existing_nullable=False)
        batch_op.alter_column(
            "credited_minor", existing_type=sa.INTEGER(), type_=sa.BigInteger(), existing_nullable=False
        )

    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.alter_column(
            "unit_price_minor", existing_type=sa.INTEGER(), type_=sa.BigInteger(), existing_nullable=False
        )


def downgrade() -> None:
    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.alter_column(
            "unit_price_minor", existing_type=sa.BigInteger(), type_=sa.INTEGER(), existing_nullable=False
        )

    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.alter_column(
            "credited_minor", existing_type=sa.BigInteger(), type_=sa.INTEGER(), existing_nullable=False
        )
        batch_op.alter_column("gross_minor", existing_type=sa.BigInteger(), type_=sa.INTEGER(), existing_nullable=False)
        batch_op.alter_column("vat_minor", existing_type=sa.BigInteger(), type_=sa.INTEGER(), existing_nullable=False)
        batch_op.alter_column("net_minor", existing_type=sa.BigInteger(), type_=sa.INTEGER(), existing_nullable=False)

    with op.batch_alter_table("order_lines", schema=None) as batch_op:
        batch_op.alter_column("vat_minor", existing_type=sa.BigInteger(), type_=sa.INTEGER(), existing_nullable=False)
        batch_op.alter_column("net_minor", existing_type=sa.BigInteger(), type_=sa.INTEGER(), existing_nullable=False)
        batch_op.alter_column(
            "unit_price_minor", existing_type=sa.BigInteger(), type_=sa.INTEGER(), existing_nullable=False
        )

    with op.batch_alter_table("order_charges", schema=None) as batch_op:
        batch_op.alter_column(
            "amount_minor", existing_type=sa.BigInteger(), type_=sa.INTEGER(), existing_nullable=False
        )

    with op.batch_alter_table("memberships", schema=None) as batch_op:
        batch_op.alter_column(
            "monthly_limit_minor", existing_type=sa.BigInteger(), type_=sa.INTEGER(), existing_nullable=True
        )
        batch_op.alter_column(
            "order_limit_minor", existing_type=sa.BigInteger(), type_=sa.INTEGER(), existing_nullable=True
        )

    with op.batch_alter_table("member_monthly_spend", schema=None) as batch_op:
        batch_op.alter_column(
            "committed_minor", existing_type=sa.BigInteger(), type_=sa.INTEGER(), existing_nullable=False
        )

    with op.batch_alter_table("line_returns", schema=None) as batch_op:
        batch_op.alter_column(
            "credited_minor", existing_type=sa.BigInteger(), type_=sa.INTEGER(), existing_nullable=False
        )

    with op.batch_alter_table("credit_accounts", schema=None) as batch_op:
        batch_op.alter_column(
            "outstanding_minor", existing_type=sa.BigInteger(), type_=sa.INTEGER(), existing_nullable=False
        )
        batch_op.alter_column(
            "credit_limit_minor", existing_type=sa.BigInteger(), type_=sa.INTEGER(), existing_nullable=False
        )

    with op.batch_alter_table("budgets", schema=None) as batch_op:
        batch_op.alter_column(
            "amount_minor", existing_type=sa.BigInteger(), type_=sa.INTEGER(), existing_nullable=False
        )

    with op.batch_alter_table("budget_usage", schema=None) as batch_op:
        batch_op.alter_column("spent_minor", existing_type=sa.BigInteger(), type_=sa.INTEGER(), existing_nullable=False)
        batch_op.alter_column(
            "committed_minor", existing_type=sa.BigInteger(), type_=sa.INTEGER(), existing_nullable=False
        )

    with op.batch_alter_table("approval_rules", schema=None) as batch_op:
        batch_op.alter_column(
            "threshold_minor", existing_type=sa.BigInteger(), type_=sa.INTEGER(), existing_nullable=True
        )
