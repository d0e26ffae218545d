"""planning kit drafts (flows/planning/kit_models.py)

Revision ID: 0008_planning_kit_draft
Revises: 0004_planning
Create Date: 2026-12-04 20:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0008_planning_kit_draft'
down_revision = '0004_planning'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('planning_kit_draft',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('instance_id', sa.Integer(), nullable=False),
    sa.Column('section', sa.Text(), nullable=False),
    sa.Column('rows', sa.Text(), nullable=False),
    sa.Column('source', sa.Text(), nullable=False),
    sa.Column('actor', sa.Text(), nullable=False),
    sa.Column('updated_us', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('instance_id', 'section', name='uq_planning_kit_draft_section')
    )


def downgrade() -> None:
    op.drop_table('planning_kit_draft')
