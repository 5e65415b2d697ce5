"""Typed configuration of the simulator.

Its own knobs come from `SIMULATOR__*` variables; the account secrets are read from the very
variables the bot uses (`WECHAT__TOKEN`, `WECOM__AES_KEY`, ...) so one `.env` drives both.
Tests construct it directly with keyword arguments.
"""

from __future__ import annotations

from pydantic import BaseModel, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

AES_KEY_LENGTH = 43


def _check_aes_key(value: str) -> str:
    if len(value) != AES_KEY_LENGTH:
        raise ValueError(f"an EncodingAESKey has {AES_KEY_LENGTH} characters")
    return value


class WeChatSide(BaseModel):
    """The official account as the platform knows it (`WECHAT__*`)."""

    token: str = "dev-token"
    app_id: str = "wx-dev-appid"
    app_secret: str = "dev-secret"
    aes_key: str | None = None
    """Set → safe mode: requests and passive replies are AES-encrypted."""
    original_id: str = "gh_minqing_dev"
    """The account's original id, sent as ToUserName."""

    @field_validator("aes_key")
    @classmethod
    def _valid_key(cls, value: str | None) -> str | None:
        return None if not value else _check_aes_key(value)


class WeComSide(BaseModel):
    """The staff-side WeCom self-built app (`WECOM__*`)."""

    corp_id: str = "ww-dev-corp"
    corp_secret: str = "dev-secret"
    agent_id: int = 1000002
    token: str = "dev-token"
    aes_key: str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"

    @field_validator("aes_key")
    @classmethod
    def _valid_key(cls, value: str) -> str:
        return _check_aes_key(value)


class SimulatorConfig(BaseSettings):
    """Everything the simulator can be told from outside."""

    model_config = SettingsConfigDict(
        env_prefix="SIMULATOR__",
        env_nested_delimiter="__",
        extra="ignore",
        env_file=".env",
        env_file_encoding="utf-8",
    )

    host: str = "127.0.0.1"
    port: int = 8081
    gateway_url: str = "http://127.0.0.1:8080/wechat"
    wecom_callback_url: str = "http://127.0.0.1:8080/wecom"
    post_timeout_seconds: float = 5.0
    post_attempts: int = Field(default=3, ge=1)
    permanent_qr_limit: int = 100_000
    cs_window_hours: float = 48.0
    cs_messages_per_window: int = 5
    event_window_seconds: float = 60.0
    """A follow, QR scan or menu click opens a short customer-service window..."""
    event_messages_per_window: int = 3
    """...allowing this many messages."""
    media_ttl_seconds: float = 3 * 24 * 3600
    template_dedup_seconds: float = 600.0
    template_event_delay_seconds: float = 0.2
    """Pause before TEMPLATESENDJOBFINISH, so the bot has the msgid before the event."""
    robot_messages_per_minute: int = 20
    token_overlap_seconds: float = 300.0
    token_ttl_seconds: int = 7200
    fault_timeout_seconds: float = 30.0
    """How long the `timeout` fault holds an API call before answering 504."""
    wechat: WeChatSide = Field(default_factory=WeChatSide, validation_alias="wechat")
    wecom: WeComSide = Field(default_factory=WeComSide, validation_alias="wecom")

    @property
    def safe_mode(self) -> bool:
        """True when the official account uses AES (safe) mode."""
        return self.wechat.aes_key is not None
