"""engine: rules pinned like flow definitions — registered rules versions (who, when, what changed),
the file texts by digest, and the version each instance started under.

Branch "engine_rules" after 0001_engine (engine tables only). Instances started before this
revision have no rules version: they run on the current registered one.

Revision ID: 0007_rules_version
Revises: 0001_engine
Create Date: 2026-12-04 18:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0007_rules_version'
down_revision = '0001_engine'
branch_labels = ('engine_rules',)
depends_on = None


def upgrade() -> None:
    op.create_table('rules_version',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('digest', sa.Text(), nullable=False),
    sa.Column('files', sa.Text(), nullable=False),
    sa.Column('registered_us', sa.BigInteger(), nullable=False),
    sa.Column('registered_by', sa.Text(), nullable=False),
    sa.Column('changes', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_rules_version_digest', 'rules_version', ['digest'], unique=False)
    op.create_table('rules_source',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('digest', sa.Text(), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('source', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('digest', name='uq_rules_source_digest')
    )
    op.add_column('flow_instance', sa.Column('rules_version', sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('flow_instance') as batch:
        batch.drop_column('rules_version')
    op.drop_table('rules_source')
    op.drop_index('ix_rules_version_digest', table_name='rules_version')
    op.drop_table('rules_version')
