"""profiles: CP/VP documents per customer and year, their review rounds, customer-watch runs

Branch "profiles" after 0002_masterdata.

Revision ID: 0008_profiles
Revises: 0002_masterdata
Create Date: 2026-12-04 21:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0008_profiles'
down_revision = '0002_masterdata'
branch_labels = ('profiles',)
depends_on = None


def upgrade() -> None:
    op.create_table('profile_doc',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('customer_code', sa.Text(), nullable=False),
    sa.Column('kind', sa.Text(), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('instance_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.Text(), nullable=False),
    sa.Column('round', sa.Integer(), nullable=False),
    sa.Column('content', sa.Text(), nullable=False),
    sa.Column('updated_us', sa.BigInteger(), nullable=False),
    sa.Column('updated_by', sa.Text(), nullable=False),
    sa.Column('accepted_us', sa.BigInteger(), nullable=True),
    sa.ForeignKeyConstraint(['customer_code'], ['customer.code'], ),
    sa.ForeignKeyConstraint(['instance_id'], ['flow_instance.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('customer_code', 'kind', 'year', name='uq_profile_doc_year')
    )
    op.create_index('ix_profile_doc_instance', 'profile_doc', ['instance_id'], unique=False)
    op.create_table('profile_review',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('doc_id', sa.Integer(), nullable=False),
    sa.Column('round', sa.Integer(), nullable=False),
    sa.Column('reviewer_emp_no', sa.Text(), nullable=False),
    sa.Column('decision', sa.Text(), nullable=False),
    sa.Column('comments', sa.Text(), nullable=False),
    sa.Column('at_us', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['doc_id'], ['profile_doc.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('doc_id', 'round', name='uq_profile_review_round')
    )
    op.create_table('watch_run',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('period', sa.Text(), nullable=False),
    sa.Column('first_month', sa.Text(), nullable=False),
    sa.Column('last_month', sa.Text(), nullable=False),
    sa.Column('at_us', sa.BigInteger(), nullable=False),
    sa.Column('actor', sa.Text(), nullable=False),
    sa.Column('report', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('period', name='uq_watch_run_period')
    )


def downgrade() -> None:
    op.drop_table('watch_run')
    op.drop_table('profile_review')
    op.drop_index('ix_profile_doc_instance', table_name='profile_doc')
    op.drop_table('profile_doc')
