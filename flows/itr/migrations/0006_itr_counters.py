"""itr counters: window counters for the quota and the callback coverage (flows/itr/counters.py), and
the indexes that make the callback policy's per-contact and per-office look-ups index-only.

Branch "itr" after 0003_itr. Counter rows are created on first read of a window (one scan), so an
existing database needs no data migration.

Revision ID: 0006_itr_counters
Revises: 0003_itr
Create Date: 2026-12-04 18:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0006_itr_counters'
down_revision = '0003_itr'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('itr_counter',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('metric', sa.Text(), nullable=False),
    sa.Column('unit_code', sa.Text(), nullable=False),
    sa.Column('start_us', sa.BigInteger(), nullable=False),
    sa.Column('end_us', sa.BigInteger(), nullable=False),
    sa.Column('n', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('metric', 'unit_code', 'start_us', 'end_us', name='uq_itr_counter_window')
    )
    op.create_index('ix_itr_callback_decision_contact', 'itr_callback_decision', ['contact_code'], unique=False)
    op.create_index('ix_itr_callback_decision_owed', 'itr_callback_decision',
                    ['office_code', 'carry_pending', 'carried_to', 'id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_itr_callback_decision_owed', table_name='itr_callback_decision')
    op.drop_index('ix_itr_callback_decision_contact', table_name='itr_callback_decision')
    op.drop_table('itr_counter')
