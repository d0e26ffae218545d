"""sample family: its one table, on its own branch after the master data.

Revision ID: 0001_sample_family
Revises: 0002_masterdata
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0001_sample_family'
down_revision = '0002_masterdata'
branch_labels = ('sample_family',)
depends_on = None


def upgrade() -> None:
    op.create_table('sample_family_note',
                    sa.Column('id', sa.Integer(), nullable=False),
                    sa.Column('text', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
                    sa.PrimaryKeyConstraint('id'))


def downgrade() -> None:
    op.drop_table('sample_family_note')
