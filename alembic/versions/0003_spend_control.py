"""spend control

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21 23:51:06.425152
"""

import sqlalchemy as sa

import models.base
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=True),
        sa.Column("actor_user_id", sa.Integer(), nullable=True),
        sa.Column("entity", sa.String(length=40), nullable=False),
        sa.Column("entity_id", sa.Integer(), nullable=True),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=True),
        sa.Column("created_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_user_id"], ["users.id"], name=op.f("fk_audit_log_actor_user_id_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_audit_log_company_id_companies"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index("ix_audit_log_company_id", ["company_id", "id"], unique=False)

    op.create_table(
        "budgets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("owner_type", sa.String(length=20), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("period", sa.String(length=20), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=True),
        sa.Column("ends_on", sa.Date(), nullable=True),
        sa.Column("amount_minor", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_budgets_company_id_companies"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_budgets")),
    )
    with op.batch_alter_table("budgets", schema=None) as batch_op:
        batch_op.create_index("ix_budgets_owner", ["company_id", "owner_type", "owner_id"], unique=False)

    op.create_table(
        "cost_centres",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("street", sa.String(length=200), nullable=False),
        sa.Column("postal_code", sa.String(length=20), nullable=False),
        sa.Column("city", sa.String(length=100), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_cost_centres_company_id_companies"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cost_centres")),
        sa.UniqueConstraint("company_id", "code", name="uq_cost_centres_company_code"),
    )
    with op.batch_alter_table("cost_centres", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_cost_centres_company_id"), ["company_id"], unique=False)

    op.create_table(
        "credit_accounts",
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.Column("credit_limit_minor", sa.Integer(), nullable=False),
        sa.Column("outstanding_minor", sa.Integer(), nullable=False),
        sa.Column("updated_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_credit_accounts_company_id_companies"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("company_id", name=op.f("pk_credit_accounts")),
    )
    op.create_table(
        "invoice_applications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("applied_by_id", sa.Integer(), nullable=True),
        sa.Column("decided_by_id", sa.Integer(), nullable=True),
        sa.Column("decision_note", sa.Text(), nullable=False),
        sa.Column("created_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("decided_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["applied_by_id"],
            ["users.id"],
            name=op.f("fk_invoice_applications_applied_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["company_id"],
            ["companies.id"],
            name=op.f("fk_invoice_applications_company_id_companies"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["decided_by_id"],
            ["users.id"],
            name=op.f("fk_invoice_applications_decided_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invoice_applications")),
    )
    with op.batch_alter_table("invoice_applications", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_invoice_applications_company_id"), ["company_id"], unique=False)

    op.create_table(
        "approval_rules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("condition", sa.String(length=30), nullable=False),
        sa.Column("threshold_minor", sa.Integer(), nullable=True),
        sa.Column("cost_centre_id", sa.Integer(), nullable=True),
        sa.Column("category", sa.String(length=100), nullable=True),
        sa.Column("applies_to_roles", sa.JSON(), nullable=False),
        sa.Column("applies_to_group_ids", sa.JSON(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_approval_rules_company_id_companies"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["cost_centre_id"],
            ["cost_centres.id"],
            name=op.f("fk_approval_rules_cost_centre_id_cost_centres"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_approval_rules")),
    )
    with op.batch_alter_table("approval_rules", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_approval_rules_company_id"), ["company_id"], unique=False)

    op.create_table(
        "budget_usage",
        sa.Column("budget_id", sa.Integer(), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("committed_minor", sa.Integer(), nullable=False),
        sa.Column("spent_minor", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["budget_id"], ["budgets.id"], name=op.f("fk_budget_usage_budget_id_budgets"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("budget_id", "period_start", name=op.f("pk_budget_usage")),
    )
    op.create_table(
        "approval_tiers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("rule_id", sa.Integer(), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("roles", sa.JSON(), nullable=False),
        sa.Column("membership_ids", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["rule_id"],
            ["approval_rules.id"],
            name=op.f("fk_approval_tiers_rule_id_approval_rules"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_approval_tiers")),
        sa.UniqueConstraint("rule_id", "level", name="uq_approval_tiers_rule_level"),
    )
    op.create_table(
        "member_cost_centres",
        sa.Column("membership_id", sa.Integer(), nullable=False),
        sa.Column("cost_centre_id", sa.Integer(), nullable=False),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["cost_centre_id"],
            ["cost_centres.id"],
            name=op.f("fk_member_cost_centres_cost_centre_id_cost_centres"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["membership_id"],
            ["memberships.id"],
            name=op.f("fk_member_cost_centres_membership_id_memberships"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("membership_id", "cost_centre_id", name=op.f("pk_member_cost_centres")),
    )
    with op.batch_alter_table("member_cost_centres", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_member_cost_centres_cost_centre_id"), ["cost_centre_id"], unique=False)

    op.create_table(
        "member_monthly_spend",
        sa.Column("membership_id", sa.Integer(), nullable=False),
        sa.Column("month_start", sa.Date(), nullable=False),
        sa.Column("committed_minor", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["membership_id"],
            ["memberships.id"],
            name=op.f("fk_member_monthly_spend_membership_id_memberships"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("membership_id", "month_start", name=op.f("pk_member_monthly_spend")),
    )
    op.create_table(
        "order_approval_steps",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.Column("rule_id", sa.Integer(), nullable=True),
        sa.Column("rule_name", sa.String(length=200), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("roles", sa.JSON(), nullable=False),
        sa.Column("membership_ids", sa.JSON(), nullable=False),
        sa.Column("approver_keys", sa.Text(), nullable=False),
        sa.Column("is_current", sa.Boolean(), nullable=False),
        sa.Column("decided_by_id", sa.Integer(), nullable=True),
        sa.Column("decision", sa.String(length=20), nullable=True),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("decided_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["company_id"],
            ["companies.id"],
            name=op.f("fk_order_approval_steps_company_id_companies"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["decided_by_id"],
            ["memberships.id"],
            name=op.f("fk_order_approval_steps_decided_by_id_memberships"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_order_approval_steps_order_id_orders"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["rule_id"],
            ["approval_rules.id"],
            name=op.f("fk_order_approval_steps_rule_id_approval_rules"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_approval_steps")),
    )
    with op.batch_alter_table("order_approval_steps", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_order_approval_steps_company_id"), ["company_id"], unique=False)
        batch_op.create_index("ix_order_approval_steps_current", ["company_id", "is_current"], unique=False)
        batch_op.create_index("ix_order_approval_steps_order", ["order_id", "rule_name", "level"], unique=False)

    op.create_table(
        "order_charges",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("budget_id", sa.Integer(), nullable=True),
        sa.Column("period_start", sa.Date(), nullable=True),
        sa.Column("amount_minor", sa.Integer(), nullable=False),
        sa.Column("released", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["budget_id"], ["budgets.id"], name=op.f("fk_order_charges_budget_id_budgets"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_order_charges_order_id_orders"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_charges")),
    )
    with op.batch_alter_table("order_charges", schema=None) as batch_op:
        batch_op.create_index("ix_order_charges_order", ["order_id"], unique=False)

    with op.batch_alter_table("companies", schema=None) as batch_op:
        batch_op.add_column(sa.Column("invoice_enabled", sa.Boolean(), server_default=sa.false(), nullable=False))

    with op.batch_alter_table("memberships", schema=None) as batch_op:
        batch_op.add_column(sa.Column("order_limit_minor", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("monthly_limit_minor", sa.Integer(), nullable=True))

    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.add_column(sa.Column("cost_centre_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("warnings", sa.JSON(), server_default=sa.text("'[]'"), nullable=False))
        batch_op.create_index(batch_op.f("ix_orders_cost_centre_id"), ["cost_centre_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_orders_cost_centre_id_cost_centres"), "cost_centres", ["cost_centre_id"], ["id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_orders_cost_centre_id_cost_centres"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_orders_cost_centre_id"))
        batch_op.drop_column("warnings")
        batch_op.drop_column("cost_centre_id")

    with op.batch_alter_table("memberships", schema=None) as batch_op:
        batch_op.drop_column("monthly_limit_minor")
        batch_op.drop_column("order_limit_minor")

    with op.batch_alter_table("companies", schema=None) as batch_op:
        batch_op.drop_column("invoice_enabled")

    with op.batch_alter_table("order_charges", schema=None) as batch_op:
        batch_op.drop_index("ix_order_charges_order")

    op.drop_table("order_charges")
    with op.batch_alter_table("order_approval_steps", schema=None) as batch_op:
        batch_op.drop_index("ix_order_approval_steps_order")
        batch_op.drop_index("ix_order_approval_steps_current")
        batch_op.drop_index(batch_op.f("ix_order_approval_steps_company_id"))

    op.drop_table("order_approval_steps")
    op.drop_table("member_monthly_spend")
    with op.batch_alter_table("member_cost_centres", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_member_cost_centres_cost_centre_id"))

    op.drop_table("member_cost_centres")
    op.drop_table("approval_tiers")
    op.drop_table("budget_usage")
    with op.batch_alter_table("approval_rules", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_approval_rules_company_id"))

    op.drop_table("approval_rules")
    with op.batch_alter_table("invoice_applications", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_invoice_applications_company_id"))

    op.drop_table("invoice_applications")
    op.drop_table("credit_accounts")
    with op.batch_alter_table("cost_centres", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cost_centres_company_id"))

    op.drop_table("cost_centres")
    with op.batch_alter_table("budgets", schema=None) as batch_op:
        batch_op.drop_index("ix_budgets_owner")

    op.drop_table("budgets")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_log_company_id")

    op.drop_table("audit_log")
