"""voice petitions and audio

Revision ID: c3d4e5f6a7b8
Revises: b4214813cb0c
Create Date: 2026-11-22 17:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import governance.db

revision: str = "c3d4e5f6a7b8"
down_revision: str | None = "b4214813cb0c"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("petition_petition", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "awaiting_transcription",
                sa.Boolean(),
                server_default=sa.false(),
                nullable=False,
            )
        )
        batch_op.create_index(
            batch_op.f("ix_petition_petition_awaiting_transcription"),
            ["awaiting_transcription"],
            unique=False,
        )
    op.create_table(
        "voice_recording",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("openid", sa.String(length=64), nullable=False),
        sa.Column("petition_id", sa.Integer(), nullable=True),
        sa.Column("media_id", sa.String(length=256), nullable=False),
        sa.Column("original_path", sa.String(length=512), nullable=True),
        sa.Column("original_format", sa.String(length=16), nullable=False),
        sa.Column("mp3_path", sa.String(length=512), nullable=True),
        sa.Column("wav_path", sa.String(length=512), nullable=True),
        sa.Column("duration_seconds", sa.Float(), nullable=True),
        sa.Column("transcript", sa.Text(), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=True),
        sa.Column("language_probability", sa.Float(), nullable=True),
        sa.Column("avg_logprob", sa.Float(), nullable=True),
        sa.Column("no_speech_prob", sa.Float(), nullable=True),
        sa.Column("engine", sa.String(length=16), nullable=False),
        sa.Column("trusted", sa.Boolean(), nullable=False),
        sa.Column("problem", sa.String(length=24), nullable=True),
        sa.Column("created_at", governance.db.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["petition_id"],
            ["petition_petition.id"],
            name=op.f("fk_voice_recording_petition_id_petition_petition"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_voice_recording")),
    )
    with op.batch_alter_table("voice_recording", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_voice_recording_openid"), ["openid"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_voice_recording_petition_id"), ["petition_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_voice_recording_created_at"), ["created_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("voice_recording", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_voice_recording_created_at"))
        batch_op.drop_index(batch_op.f("ix_voice_recording_petition_id"))
        batch_op.drop_index(batch_op.f("ix_voice_recording_openid"))
    op.drop_table("voice_recording")
    with op.batch_alter_table("petition_petition", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_petition_petition_awaiting_transcription"))
        batch_op.drop_column("awaiting_transcription")
