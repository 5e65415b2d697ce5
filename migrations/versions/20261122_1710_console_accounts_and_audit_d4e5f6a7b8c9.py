"""console accounts and audit

Revision ID: d4e5f6a7b8c9
Revises: c3d4e5f6a7b8
Create Date: 2026-11-22 17:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import governance.db

revision: str = "d4e5f6a7b8c9"
down_revision: str | None = "c3d4e5f6a7b8"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "console_account",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("password_hash", sa.String(length=256), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("staff_id", sa.String(length=64), nullable=True),
        sa.Column("community_ids", sa.JSON(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("failed_logins", sa.Integer(), nullable=False),
        sa.Column("locked_until", governance.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("last_login_at", governance.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("created_at", governance.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("password_changed_at", governance.db.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["staff_id"],
            ["directory_staff.id"],
            name=op.f("fk_console_account_staff_id_directory_staff"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_console_account")),
        sa.UniqueConstraint("username", name=op.f("uq_console_account_username")),
    )
    with op.batch_alter_table("console_account", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_console_account_staff_id"), ["staff_id"], unique=False
        )

    op.create_table(
        "console_session",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("created_at", governance.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", governance.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", governance.db.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["console_account.id"],
            name=op.f("fk_console_session_account_id_console_account"),
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_console_session")),
    )
    with op.batch_alter_table("console_session", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_console_session_account_id"), ["account_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_console_session_expires_at"), ["expires_at"], unique=False
        )

    op.create_table(
        "console_audit",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", governance.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=True),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=48), nullable=False),
        sa.Column("target_type", sa.String(length=32), nullable=False),
        sa.Column("target_id", sa.String(length=128), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("ip", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["console_account.id"],
            name=op.f("fk_console_audit_account_id_console_account"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_console_audit")),
    )
    with op.batch_alter_table("console_audit", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_console_audit_account_id"), ["account_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_console_audit_at"), ["at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_console_audit_target_id"), ["target_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("console_audit", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_console_audit_target_id"))
        batch_op.drop_index(batch_op.f("ix_console_audit_at"))
        batch_op.drop_index(batch_op.f("ix_console_audit_account_id"))
    op.drop_table("console_audit")
    with op.batch_alter_table("console_session", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_console_session_expires_at"))
        batch_op.drop_index(batch_op.f("ix_console_session_account_id"))
    op.drop_table("console_session")
    with op.batch_alter_table("console_account", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_console_account_staff_id"))
    op.drop_table("console_account")
