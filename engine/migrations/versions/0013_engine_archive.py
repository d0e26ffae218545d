"""engine: archive tables for `mcr archive` — flow_history, timer and outbox rows of closed instances
move to `<table>_archive` (same columns, ids kept, plus `archived_us`); `instance_archive` marks the
instances moved; `ix_outbox_instance` lets the move (and its "no unsent mail" check) find an
instance's outbox rows without a scan.

Branch "engine_archive" after 0012_notify_channels (the outbox archive copies its channel columns).

Revision ID: 0013_engine_archive
Revises: 0012_notify_channels
Create Date: 2026-12-05 00:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0013_engine_archive'
down_revision = '0012_notify_channels'
branch_labels = ('engine_archive',)
depends_on = None


def _text(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.Text(), nullable=nullable)


def _us(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.BigInteger(), nullable=nullable)


def upgrade() -> None:
    op.create_table('flow_history_archive',
                    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
                    sa.Column('instance_id', sa.Integer(), nullable=False),
                    _us('at_us'), _text('actor', False), _text('event', False), _text('from_state'),
                    _text('to_state', False), _text('payload', False), _text('client_event_id'),
                    sa.Column('version', sa.Integer(), nullable=False),
                    _us('archived_us'),
                    sa.PrimaryKeyConstraint('id'))
    op.create_index('ix_flow_history_archive_instance', 'flow_history_archive', ['instance_id', 'id'])
    op.create_index('uq_flow_history_archive_client_event_id', 'flow_history_archive', ['client_event_id'],
                    unique=True)
    op.create_table('timer_archive',
                    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
                    sa.Column('instance_id', sa.Integer(), nullable=False),
                    _text('timer_key', False), _text('name', False), _text('event', False), _text('state', False),
                    _us('due_us'), _text('catch_up', False), _text('status', False), _text('claimed_by'),
                    _us('claimed_until_us', True), _us('done_us', True), _text('note'),
                    _us('archived_us'),
                    sa.PrimaryKeyConstraint('id'))
    op.create_index('ix_timer_archive_instance', 'timer_archive', ['instance_id'])
    op.create_table('outbox_archive',
                    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
                    sa.Column('instance_id', sa.Integer(), nullable=True),
                    _text('dedupe_key'), _text('template', False), _text('locale', False),
                    _text('recipient', False), _text('subject', False), _text('body', False),
                    _text('status', False), sa.Column('attempts', sa.Integer(), nullable=False),
                    _us('next_attempt_us'), _text('claimed_by'), _us('claimed_until_us', True), _text('last_error'),
                    _us('created_us'), _us('sent_us', True), _text('channel', False), _text('target'),
                    _text('invite'), _us('archived_us'),
                    sa.PrimaryKeyConstraint('id'))
    op.create_index('ix_outbox_archive_instance', 'outbox_archive', ['instance_id'])
    op.create_table('instance_archive',
                    sa.Column('instance_id', sa.Integer(), autoincrement=False, nullable=False),
                    _us('archived_us'),
                    sa.PrimaryKeyConstraint('instance_id'))
    op.create_index('ix_outbox_instance', 'outbox', ['instance_id'])


def downgrade() -> None:
    """Puts archived rows back into the hot tables before dropping the archive (nothing is lost)."""
    for table, columns in (('flow_history', 'id, instance_id, at_us, actor, event, from_state, to_state, payload, '
                                            'client_event_id, version'),
                           ('timer', 'id, instance_id, timer_key, name, event, state, due_us, catch_up, status, '
                                     'claimed_by, claimed_until_us, done_us, note'),
                           ('outbox', 'id, instance_id, dedupe_key, template, locale, recipient, subject, body, '
                                      'status, attempts, next_attempt_us, claimed_by, claimed_until_us, last_error, '
                                      'created_us, sent_us, channel, target, invite')):
        op.execute(f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {table}_archive")
    op.drop_index('ix_outbox_instance', table_name='outbox')
    op.drop_table('instance_archive')
    for table in ('outbox_archive', 'timer_archive', 'flow_history_archive'):
        op.drop_table(table)
