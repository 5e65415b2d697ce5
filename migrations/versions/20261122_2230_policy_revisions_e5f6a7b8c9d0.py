"""policy revisions edited in the console

Revision ID: e5f6a7b8c9d0
Revises: d4e5f6a7b8c9
Create Date: 2026-11-22 22:30:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import governance.db

revision: str = "e5f6a7b8c9d0"
down_revision: str | None = "d4e5f6a7b8c9"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "policy_revisions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("policy_id", sa.String(length=64), nullable=False),
        sa.Column("content", sa.JSON(), nullable=False),
        sa.Column("edited_by", sa.String(length=128), nullable=False),
        sa.Column("created_at", governance.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("verified_by", sa.String(length=128), nullable=True),
        sa.Column("verified_on", sa.Date(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_policy_revisions")),
    )
    with op.batch_alter_table("policy_revisions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_policy_revisions_policy_id"), ["policy_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("policy_revisions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_policy_revisions_policy_id"))
    op.drop_table("policy_revisions")
