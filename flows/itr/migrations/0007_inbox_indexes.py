"""inbox indexes: partial indexes over the open issues only, for the my-work inbox (flows/itr/inbox.py).

(handler_emp_no) WHERE resolved_us IS NULL AND valid (rejected issues never reach an inbox), (submitter_emp_no) WHERE closed_us IS NULL,
(care_rep_emp_no) WHERE closed_us IS NULL: they hold open rows alone, so the inbox does not slow
down as closed issues pile up. On the "itr" branch after 0003_itr.

Revision ID: 0007_inbox_indexes
Revises: 0003_itr
Create Date: 2026-12-04 17:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0007_inbox_indexes'
down_revision = '0006_itr_counters'
branch_labels = None
depends_on = None

_INDEXES = (("ix_itr_issue_handler_open", "handler_emp_no", "resolved_us IS NULL AND valid"),
            ("ix_itr_issue_submitter_open", "submitter_emp_no", "closed_us IS NULL"),
            ("ix_itr_issue_care_open", "care_rep_emp_no", "closed_us IS NULL"))


def upgrade() -> None:
    for name, column, where in _INDEXES:
        op.create_index(name, 'itr_issue', [column], unique=False, sqlite_where=sa.text(where),
                        postgresql_where=sa.text(where))


def downgrade() -> None:
    for name, _column, _where in _INDEXES:
        op.drop_index(name, table_name='itr_issue')
