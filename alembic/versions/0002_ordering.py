"""ordering

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 23:45:36.088103
"""

import sqlalchemy as sa

import models.base
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "products",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("unit", sa.String(length=20), nullable=False),
        sa.Column("category", sa.String(length=100), nullable=False),
        sa.Column("unit_price_minor", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("vat_rate", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("search_text", sa.Text(), nullable=False),
        sa.Column("created_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_products")),
        sa.UniqueConstraint("sku", name=op.f("uq_products_sku")),
    )
    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.create_index("ix_products_active_id", ["active", "id"], unique=False)
        batch_op.create_index("ix_products_category_id", ["category", "id"], unique=False)

    op.create_table(
        "delivery_locations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("street", sa.String(length=200), nullable=False),
        sa.Column("postal_code", sa.String(length=20), nullable=False),
        sa.Column("city", sa.String(length=100), nullable=False),
        sa.Column("created_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["company_id"],
            ["companies.id"],
            name=op.f("fk_delivery_locations_company_id_companies"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_delivery_locations")),
    )
    with op.batch_alter_table("delivery_locations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_delivery_locations_company_id"), ["company_id"], unique=False)

    op.create_table(
        "order_number_counters",
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("last_number", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["company_id"],
            ["companies.id"],
            name=op.f("fk_order_number_counters_company_id_companies"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("company_id", "year", name=op.f("pk_order_number_counters")),
    )
    op.create_table(
        "delivery_slots",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("location_id", sa.Integer(), nullable=False),
        sa.Column("weekday", sa.Integer(), nullable=False),
        sa.Column("starts_at", sa.Time(), nullable=False),
        sa.Column("ends_at", sa.Time(), nullable=False),
        sa.ForeignKeyConstraint(
            ["location_id"],
            ["delivery_locations.id"],
            name=op.f("fk_delivery_slots_location_id_delivery_locations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_delivery_slots")),
    )
    with op.batch_alter_table("delivery_slots", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_delivery_slots_location_id"), ["location_id"], unique=False)

    op.create_table(
        "end_customers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.Column("location_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("last_ordered_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_end_customers_company_id_companies"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["location_id"], ["delivery_locations.id"], name=op.f("fk_end_customers_location_id_delivery_locations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_end_customers")),
    )
    with op.batch_alter_table("end_customers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_end_customers_company_id"), ["company_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_end_customers_location_id"), ["location_id"], unique=False)

    op.create_table(
        "orders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.Column("buyer_id", sa.Integer(), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("number", sa.String(length=30), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("reference", sa.String(length=200), nullable=False),
        sa.Column("po_number", sa.String(length=100), nullable=False),
        sa.Column("end_customer_id", sa.Integer(), nullable=True),
        sa.Column("location_id", sa.Integer(), nullable=True),
        sa.Column("delivery_slot_id", sa.Integer(), nullable=True),
        sa.Column("delivery_date", sa.Date(), nullable=True),
        sa.Column("delivery_street", sa.String(length=200), nullable=False),
        sa.Column("delivery_postal_code", sa.String(length=20), nullable=False),
        sa.Column("delivery_city", sa.String(length=100), nullable=False),
        sa.Column("payment_method", sa.String(length=20), nullable=True),
        sa.Column("net_minor", sa.Integer(), nullable=False),
        sa.Column("vat_minor", sa.Integer(), nullable=False),
        sa.Column("gross_minor", sa.Integer(), nullable=False),
        sa.Column("credited_minor", sa.Integer(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=100), nullable=True),
        sa.Column("content_digest", sa.String(length=64), nullable=True),
        sa.Column("created_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("submitted_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("updated_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["buyer_id"], ["memberships.id"], name=op.f("fk_orders_buyer_id_memberships")),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_orders_company_id_companies"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["delivery_slot_id"], ["delivery_slots.id"], name=op.f("fk_orders_delivery_slot_id_delivery_slots")
        ),
        sa.ForeignKeyConstraint(
            ["end_customer_id"], ["end_customers.id"], name=op.f("fk_orders_end_customer_id_end_customers")
        ),
        sa.ForeignKeyConstraint(["group_id"], ["groups.id"], name=op.f("fk_orders_group_id_groups")),
        sa.ForeignKeyConstraint(
            ["location_id"], ["delivery_locations.id"], name=op.f("fk_orders_location_id_delivery_locations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orders")),
        sa.UniqueConstraint("buyer_id", "idempotency_key", name="uq_orders_buyer_idempotency_key"),
        sa.UniqueConstraint("company_id", "number", name="uq_orders_company_number"),
    )
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.create_index("ix_orders_buyer_submitted", ["buyer_id", "submitted_at", "id"], unique=False)
        batch_op.create_index("ix_orders_company_gross", ["company_id", "gross_minor", "id"], unique=False)
        batch_op.create_index("ix_orders_company_submitted", ["company_id", "submitted_at", "id"], unique=False)
        batch_op.create_index("ix_orders_end_customer", ["end_customer_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_orders_group_id"), ["group_id"], unique=False)
        batch_op.create_index(
            "uq_orders_one_draft_per_buyer",
            ["buyer_id"],
            unique=True,
            sqlite_where=sa.text("status = 'draft'"),
            postgresql_where=sa.text("status = 'draft'"),
        )

    op.create_table(
        "saved_carts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("shared", sa.Boolean(), nullable=False),
        sa.Column("created_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_saved_carts_company_id_companies"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["memberships.id"], name=op.f("fk_saved_carts_owner_id_memberships"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_saved_carts")),
        sa.UniqueConstraint("owner_id", "name", name="uq_saved_carts_owner_name"),
    )
    with op.batch_alter_table("saved_carts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_saved_carts_company_id"), ["company_id"], unique=False)

    op.create_table(
        "order_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("actor_user_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("from_status", sa.String(length=20), nullable=True),
        sa.Column("to_status", sa.String(length=20), nullable=True),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("created_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_user_id"], ["users.id"], name=op.f("fk_order_events_actor_user_id_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_order_events_order_id_orders"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_events")),
    )
    with op.batch_alter_table("order_events", schema=None) as batch_op:
        batch_op.create_index("ix_order_events_order_id", ["order_id", "id"], unique=False)

    op.create_table(
        "order_lines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("substitution_allowed", sa.Boolean(), nullable=False),
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("unit", sa.String(length=20), nullable=False),
        sa.Column("unit_price_minor", sa.Integer(), nullable=False),
        sa.Column("vat_rate", sa.Integer(), nullable=False),
        sa.Column("net_minor", sa.Integer(), nullable=False),
        sa.Column("vat_minor", sa.Integer(), nullable=False),
        sa.Column("returned_quantity", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_order_lines_order_id_orders"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["product_id"], ["products.id"], name=op.f("fk_order_lines_product_id_products")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_lines")),
        sa.UniqueConstraint("order_id", "product_id", name="uq_order_lines_order_product"),
    )
    with op.batch_alter_table("order_lines", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_order_lines_order_id"), ["order_id"], unique=False)

    op.create_table(
        "saved_cart_lines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("saved_cart_id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("substitution_allowed", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["product_id"], ["products.id"], name=op.f("fk_saved_cart_lines_product_id_products")),
        sa.ForeignKeyConstraint(
            ["saved_cart_id"],
            ["saved_carts.id"],
            name=op.f("fk_saved_cart_lines_saved_cart_id_saved_carts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_saved_cart_lines")),
        sa.UniqueConstraint("saved_cart_id", "product_id", name="uq_saved_cart_lines_cart_product"),
    )
    with op.batch_alter_table("saved_cart_lines", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_saved_cart_lines_saved_cart_id"), ["saved_cart_id"], unique=False)

    op.create_table(
        "line_returns",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_line_id", sa.Integer(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("credited_minor", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("recorded_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["order_line_id"],
            ["order_lines.id"],
            name=op.f("fk_line_returns_order_line_id_order_lines"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["recorded_by_id"], ["users.id"], name=op.f("fk_line_returns_recorded_by_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_line_returns")),
    )
    with op.batch_alter_table("line_returns", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_line_returns_order_line_id"), ["order_line_id"], unique=False)

    with op.batch_alter_table("companies", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("order_payment_method", sa.String(length=20), server_default="card", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("companies", schema=None) as batch_op:
        batch_op.drop_column("order_payment_method")

    with op.batch_alter_table("line_returns", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_line_returns_order_line_id"))

    op.drop_table("line_returns")
    with op.batch_alter_table("saved_cart_lines", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_saved_cart_lines_saved_cart_id"))

    op.drop_table("saved_cart_lines")
    with op.batch_alter_table("order_lines", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_order_lines_order_id"))

    op.drop_table("order_lines")
    with op.batch_alter_table("order_events", schema=None) as batch_op:
        batch_op.drop_index("ix_order_events_order_id")

    op.drop_table("order_events")
    with op.batch_alter_table("saved_carts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_saved_carts_company_id"))

    op.drop_table("saved_carts")
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_orders_one_draft_per_buyer",
            sqlite_where=sa.text("status = 'draft'"),
            postgresql_where=sa.text("status = 'draft'"),
        )
        batch_op.drop_index(batch_op.f("ix_orders_group_id"))
        batch_op.drop_index("ix_orders_end_customer")
        batch_op.drop_index("ix_orders_company_submitted")
        batch_op.drop_index("ix_orders_company_gross")
        batch_op.drop_index("ix_orders_buyer_submitted")

    op.drop_table("orders")
    with op.batch_alter_table("end_customers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_end_customers_location_id"))
        batch_op.drop_index(batch_op.f("ix_end_customers_company_id"))

    op.drop_table("end_customers")
    with op.batch_alter_table("delivery_slots", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_delivery_slots_location_id"))

    op.drop_table("delivery_slots")
    op.drop_table("order_number_counters")
    with op.batch_alter_table("delivery_locations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_delivery_locations_company_id"))

    op.drop_table("delivery_locations")
    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.drop_index("ix_products_category_id")
        batch_op.drop_index("ix_products_active_id")

    op.drop_table("products")
