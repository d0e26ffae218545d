"""planning launches from the sales-management page and their per-team task states
(flows/planning/models.py Launch, LaunchTask; flows/planning/progress.py)

Revision ID: 0012_planning_launch
Revises: care_visits
Create Date: 2026-12-04 20:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0012_planning_launch'
down_revision = 'care_visits'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('planning_launch',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('attempt', sa.Integer(), nullable=False),
    sa.Column('status', sa.Text(), nullable=False),
    sa.Column('teams', sa.Integer(), nullable=False),
    sa.Column('actor', sa.Text(), nullable=False),
    sa.Column('client_event_id', sa.Text(), nullable=True),
    sa.Column('worker', sa.Text(), nullable=True),
    sa.Column('started_us', sa.BigInteger(), nullable=False),
    sa.Column('finished_us', sa.BigInteger(), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('client_event_id', name='uq_planning_launch_client_event'),
    sa.UniqueConstraint('year', 'attempt', name='uq_planning_launch_attempt')
    )
    op.create_table('planning_launch_task',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('launch_id', sa.Integer(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('team_code', sa.Text(), nullable=False),
    sa.Column('state', sa.Text(), nullable=False),
    sa.Column('outcome', sa.Text(), nullable=True),
    sa.Column('instance_id', sa.Integer(), nullable=True),
    sa.Column('runs', sa.Integer(), nullable=False),
    sa.Column('message', sa.Text(), nullable=True),
    sa.Column('updated_us', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['launch_id'], ['planning_launch.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('launch_id', 'team_code', name='uq_planning_launch_task_team')
    )


def downgrade() -> None:
    op.drop_table('planning_launch_task')
    op.drop_table('planning_launch')
