"""planning: action-plan rows move to the book's "12+1" contact scenarios (see engine migration
0008_activity_types for the mapping, documented in docs/master-data.md).

Revision ID: 0010_planning_activity_types
Revises: 0008_planning_kit_draft
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0010_planning_activity_types'
down_revision = '0008_planning_kit_draft'
branch_labels = None
depends_on = None

MAPPING = {
    "technical_exchange": "other", "management_seminar": "topic_exchange", "onsite_meeting": "showcase_visit",
    "customer_training": "topic_exchange", "joint_innovation": "other", "business_event": "other",
    "cultural_sports": "other",
}


def upgrade() -> None:
    table = sa.table("planning_activity", sa.column("activity_type", sa.Text))
    for old, new in MAPPING.items():
        op.execute(table.update().where(table.c.activity_type == old).values(activity_type=new))


def downgrade() -> None:
    pass
