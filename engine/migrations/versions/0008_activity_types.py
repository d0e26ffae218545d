"""masterdata: the book's "12+1" contact scenarios replace the types shipped before them.

Each old type is rewritten to the book type engine.masterdata.models.LEGACY_ACTIVITY_TYPES names
(documented in docs/master-data.md); the mapping is one-way (downgrade leaves the rows as they are).

Revision ID: 0008_activity_types
Revises: 0002_masterdata
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0008_activity_types'
down_revision = '0002_masterdata'
branch_labels = ('activity_types',)
depends_on = None

# A copy, not an import: a migration must keep meaning what it meant when it was written.
MAPPING = {
    "technical_exchange": "other", "management_seminar": "topic_exchange", "onsite_meeting": "showcase_visit",
    "customer_training": "topic_exchange", "joint_innovation": "other", "business_event": "other",
    "cultural_sports": "other",
}


def upgrade() -> None:
    table = sa.table("marketing_activity", sa.column("type", sa.Text))
    for old, new in MAPPING.items():
        op.execute(table.update().where(table.c.type == old).values(type=new))


def downgrade() -> None:
    pass
