"""survey: the sampling period counters (≥ 10 % of the smaller projects per period), the period and
coverage of each draw, the project assessment (quality rating) and the annual survey's improvement items.

Branch "survey" after 0005_survey. Existing draws keep no period (they were decided by the draw alone);
the counters start from the first project closed after the upgrade.

Revision ID: 0008_survey_quota_quality
Revises: 0005_survey
Create Date: 2026-12-04 21:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0008_survey_quota_quality'
down_revision = '0005_survey'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('survey_project_draw', schema=None) as batch_op:
        batch_op.add_column(sa.Column('period', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('coverage_done', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('coverage_base', sa.Integer(), nullable=True))
    op.create_table('survey_sample_period',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('period', sa.Text(), nullable=False),
    sa.Column('closed', sa.Integer(), nullable=False),
    sa.Column('selected', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('period', name='uq_survey_sample_period')
    )
    op.create_table('survey_project_assessment',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('project_code', sa.Text(), nullable=False),
    sa.Column('score', sa.Integer(), nullable=False),
    sa.Column('comment', sa.Text(), nullable=True),
    sa.Column('at_us', sa.BigInteger(), nullable=False),
    sa.Column('actor', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['project_code'], ['project.code'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('project_code', name='uq_survey_project_assessment_project')
    )
    op.create_table('survey_improvement',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('customer_code', sa.Text(), nullable=False),
    sa.Column('team_code', sa.Text(), nullable=True),
    sa.Column('category', sa.Text(), nullable=False),
    sa.Column('item', sa.Text(), nullable=False),
    sa.Column('average', sa.Float(), nullable=False),
    sa.Column('threshold', sa.Float(), nullable=False),
    sa.Column('status', sa.Text(), nullable=False),
    sa.Column('issue_id', sa.Integer(), nullable=True),
    sa.Column('opened_us', sa.BigInteger(), nullable=False),
    sa.Column('closed_us', sa.BigInteger(), nullable=True),
    sa.Column('closed_by', sa.Text(), nullable=True),
    sa.Column('resolution', sa.Text(), nullable=True),
    sa.Column('instance_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['customer_code'], ['customer.code'], ),
    sa.ForeignKeyConstraint(['instance_id'], ['flow_instance.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('year', 'customer_code', 'category', 'item', name='uq_survey_improvement_item')
    )
    with op.batch_alter_table('survey_improvement', schema=None) as batch_op:
        batch_op.create_index('ix_survey_improvement_team_status', ['team_code', 'status'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('survey_improvement', schema=None) as batch_op:
        batch_op.drop_index('ix_survey_improvement_team_status')
    op.drop_table('survey_improvement')
    op.drop_table('survey_project_assessment')
    op.drop_table('survey_sample_period')
    with op.batch_alter_table('survey_project_draw', schema=None) as batch_op:
        batch_op.drop_column('coverage_base')
        batch_op.drop_column('coverage_done')
        batch_op.drop_column('period')
