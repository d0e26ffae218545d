"""masterdata: the PBC's visit commitment on a key contact's card (contact.visit_pbc, JSON).

Branch "care_pbc" after 0002_masterdata (the contact table); read by flows/planning/care.py.

Revision ID: care_contact_pbc
Revises: 0002_masterdata
Create Date: 2026-12-04 21:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = 'care_contact_pbc'
down_revision = '0002_masterdata'
branch_labels = ('care_pbc',)
depends_on = None


def upgrade() -> None:
    op.add_column('contact', sa.Column('visit_pbc', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('contact') as batch:
        batch.drop_column('visit_pbc')
