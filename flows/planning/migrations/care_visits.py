"""care: a visit's place (office / private) and the start of never-visited contacts' visit clocks.

Revision ID: care_visits
Revises: 0010_planning_activity_types
Create Date: 2026-12-04 21:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = 'care_visits'
down_revision = '0010_planning_activity_types'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('care_visit', sa.Column('place', sa.Text(), nullable=True))
    op.create_table('care_cadence_start',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('cadence_key', sa.Text(), nullable=False),
    sa.Column('started', sa.Date(), nullable=False),
    sa.Column('at_us', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('cadence_key', name='uq_care_cadence_start'),
    )


def downgrade() -> None:
    op.drop_table('care_cadence_start')
    with op.batch_alter_table('care_visit') as batch:
        batch.drop_column('place')
