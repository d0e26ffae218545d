"""engine: notification channels on the outbox — the channel of a row (mail, wecom, dingtalk), the
robot it goes to (rules/notify.yaml), and the calendar invitation a reminder mail carries.

Branch "engine_notify" after 0001_engine (engine tables only). Rows queued before it are mail
without an invitation: `channel` defaults to 'mail'.

Revision ID: 0012_notify_channels
Revises: 0001_engine
Create Date: 2026-12-04 21:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0012_notify_channels'
down_revision = '0001_engine'
branch_labels = ('engine_notify',)
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('outbox') as batch:
        batch.add_column(sa.Column('channel', sa.Text(), server_default='mail', nullable=False))
        batch.add_column(sa.Column('target', sa.Text(), nullable=True))
        batch.add_column(sa.Column('invite', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('outbox') as batch:
        batch.drop_column('invite')
        batch.drop_column('target')
        batch.drop_column('channel')
