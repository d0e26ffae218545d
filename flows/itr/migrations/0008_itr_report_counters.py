"""itr report counters: the indexes the monitoring report reads through (flows/itr/reports.py).

(unit_code, start_us, end_us) on itr_counter: every report figure of one unit and window in one
look-up (the rows themselves are `r:<figure>:<type>` counters in the same table, no new column);
(office_code) WHERE resolved_us IS NULL AND valid on itr_issue: the "open now" figures read the
open issues alone. On the "itr" branch after 0007_inbox_indexes (lane itrweb).

Revision ID: 0008_itr_report_counters
Revises: 0007_inbox_indexes
Create Date: 2026-12-04 20:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0008_itr_report_counters'
down_revision = '0007_inbox_indexes'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_itr_counter_unit_window', 'itr_counter', ['unit_code', 'start_us', 'end_us'], unique=False)
    op.create_index('ix_itr_issue_office_open', 'itr_issue', ['office_code'], unique=False,
                    sqlite_where=sa.text("resolved_us IS NULL AND valid"),
                    postgresql_where=sa.text("resolved_us IS NULL AND valid"))


def downgrade() -> None:
    op.drop_index('ix_itr_issue_office_open', table_name='itr_issue')
    op.drop_index('ix_itr_counter_unit_window', table_name='itr_counter')
