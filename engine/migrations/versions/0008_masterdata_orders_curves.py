"""masterdata: monthly orders per customer and the value-return curve (customer watch, SPEC §8a)

Branch "masterdata_orders" after 0002_masterdata (lane profiles).

Revision ID: 0008_masterdata_orders_curves
Revises: 0002_masterdata
Create Date: 2026-12-04 21:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0008_masterdata_orders_curves'
down_revision = '0002_masterdata'
branch_labels = ('masterdata_orders',)
depends_on = None


def upgrade() -> None:
    op.create_table('customer_orders',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('customer_code', sa.Text(), nullable=False),
    sa.Column('month', sa.Text(), nullable=False),
    sa.Column('amount_usd', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['customer_code'], ['customer.code'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('customer_code', 'month', name='uq_customer_orders_month')
    )
    op.create_index(op.f('ix_customer_orders_customer_code'), 'customer_orders', ['customer_code'], unique=False)
    op.create_table('customer_value_curve',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('customer_code', sa.Text(), nullable=False),
    sa.Column('start_year', sa.Integer(), nullable=False),
    sa.Column('year1_usd', sa.BigInteger(), nullable=False),
    sa.Column('year3_usd', sa.BigInteger(), nullable=False),
    sa.Column('year5_usd', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['customer_code'], ['customer.code'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('customer_code', name='uq_customer_value_curve_customer')
    )


def downgrade() -> None:
    op.drop_table('customer_value_curve')
    op.drop_index(op.f('ix_customer_orders_customer_code'), table_name='customer_orders')
    op.drop_table('customer_orders')
