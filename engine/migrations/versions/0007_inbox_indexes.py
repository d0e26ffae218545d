"""inbox indexes: the my-work inbox reads open issues only (handler, submitter, care representative).

Replaces ix_itr_issue_handler (handler_emp_no) by (handler_emp_no, resolved_us), whose prefix serves
the same look-ups; adds (submitter_emp_no, closed_us) and (care_rep_emp_no, closed_us).
On the "itr" branch after 0003_itr.

Revision ID: 0007_inbox_indexes
Revises: 0003_itr
Create Date: 2026-12-04 17:20:00
"""

from __future__ import annotations

from alembic import op


revision = '0007_inbox_indexes'
down_revision = '0003_itr'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('itr_issue', schema=None) as batch_op:
        batch_op.drop_index('ix_itr_issue_handler')
        batch_op.create_index('ix_itr_issue_handler_open', ['handler_emp_no', 'resolved_us'], unique=False)
        batch_op.create_index('ix_itr_issue_submitter_open', ['submitter_emp_no', 'closed_us'], unique=False)
        batch_op.create_index('ix_itr_issue_care_open', ['care_rep_emp_no', 'closed_us'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('itr_issue', schema=None) as batch_op:
        batch_op.drop_index('ix_itr_issue_care_open')
        batch_op.drop_index('ix_itr_issue_submitter_open')
        batch_op.drop_index('ix_itr_issue_handler_open')
        batch_op.create_index('ix_itr_issue_handler', ['handler_emp_no'], unique=False)
