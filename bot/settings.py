"""The one typed configuration of the bot.

Values come from, in priority order: keyword arguments (tests), environment variables, a `.env`
file, then the defaults below. Nested groups use `__`: `WECHAT__TOKEN`, `DATABASE__URL`.
Every variable is listed in `.env.example` and in the README's configuration table.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEV_WECOM_AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
"""The development default (also the simulator's): public, so refused in production."""
PLACEHOLDER_SECRETS = frozenset(
    {"", "change-me", "dev-token", "dev-secret", "dev-links-secret", DEV_WECOM_AES_KEY}
)


class Environment(StrEnum):
    DEV = "dev"
    TEST = "test"
    PROD = "prod"


class NluEngineName(StrEnum):
    EMBEDDED = "embedded"
    RASA = "rasa"


class WeChatSettings(BaseModel):
    """The WeChat official account."""

    token: SecretStr = SecretStr("dev-token")
    """Server token configured in the WeChat admin console; signs callbacks."""
    app_id: str = "wx-dev-appid"
    app_secret: SecretStr = SecretStr("dev-secret")
    aes_key: SecretStr | None = None
    """43-character EncodingAESKey; set → safe (AES) mode."""
    previous_aes_key: SecretStr | None = None
    """The key before the last rotation, still accepted for decryption."""
    api_base_url: str = "https://api.weixin.qq.com"
    reply_budget_seconds: float = 4.0
    """Turns done within this answer passively; slower ones go by customer-service message."""
    max_concurrent_turns: int = 16
    """Turns one worker runs at once; more wait for a slot (their reply goes out later) instead
    of exhausting the database and Redis pools under a burst."""
    max_concurrent_checks: int = 64
    """Replay checks and dedup claims one worker runs at once; more wait within the reply budget.
    With the turns' own Redis calls this stays under the Redis client's 100 connections."""
    max_body_bytes: int = 64 * 1024
    replay_window_seconds: int = 300
    status_template_id: str = "status-template"
    """Template used for status pushes once the 48-hour customer-service window has closed."""


class WeComSettings(BaseModel):
    """The staff side: a WeCom self-built app and its handler groups."""

    corp_id: str = "ww-dev-corp"
    corp_secret: SecretStr = SecretStr("dev-secret")
    agent_id: int = 1000002
    token: SecretStr = SecretStr("dev-token")
    aes_key: SecretStr = SecretStr(DEV_WECOM_AES_KEY)
    api_base_url: str = "https://qyapi.weixin.qq.com"
    robot_webhook_key: SecretStr | None = None
    """Group robot key: the fallback channel when the app's group cannot be reached."""


class DatabaseSettings(BaseModel):
    url: str = f"sqlite+aiosqlite:///{PROJECT_ROOT / 'var' / 'minqing.db'}"
    echo: bool = False
    pool_size: int = Field(default=20, ge=1)
    """PostgreSQL connections a process keeps open: at least the concurrent turns
    (``WECHAT__MAX_CONCURRENT_TURNS``) plus the outbox and jobs, or bursts open and close
    connections (a server process each) for every few messages."""
    max_overflow: int = Field(default=10, ge=0)
    """Extra connections a burst may open beyond the pool, closed again when returned. Every
    process may hold ``pool_size + max_overflow``: keep workers × that below the server's
    ``max_connections``."""


class RedisSettings(BaseModel):
    url: str | None = None
    """Set to share dedup, locks and the token cache between several workers."""


class NluSettings(BaseModel):
    engine: NluEngineName = NluEngineName.EMBEDDED
    data_dir: Path = PROJECT_ROOT / "data" / "nlu"
    model_dir: Path = PROJECT_ROOT / "var" / "nlu"
    confidence_threshold: float = 0.45
    """Below this intent confidence the bot asks instead of guessing."""
    category_threshold: float = 0.35
    """Lower than the intent bar: the read-back summary shows the category and lets it be fixed."""
    rasa_url: str = "http://127.0.0.1:5005"
    rasa_timeout_seconds: float = 2.0


class DialogueSettings(BaseModel):
    idle_timeout_minutes: int = 30
    """A draft left alone this long expires with a polite message on the next turn."""


class OutboxSettings(BaseModel):
    max_attempts: int = 8
    base_delay_seconds: float = 2.0
    max_delay_seconds: float = 600.0
    poll_seconds: float = 1.0
    batch_size: int = 50


class SchedulerSettings(BaseModel):
    enabled: bool = True
    timezone: str = "Asia/Shanghai"
    sla_sweep_seconds: float = 60.0
    """How often due times are checked for 50 % / 80 % / breach nudges."""


class VoiceAsr(StrEnum):
    WHISPER = "whisper"
    """faster-whisper with the Whisper base model from PyPI (offline, Mandarin)."""
    WECHAT = "wechat"
    """Only WeChat's own Recognition field, when present."""
    NONE = "none"
    """No recognition: every voice message goes to a person."""


class VoiceSettings(BaseModel):
    asr: VoiceAsr = VoiceAsr.WHISPER
    model_dir: Path = PROJECT_ROOT / "var" / "whisper-base"
    """Where model.bin is assembled once from the two PyPI data packages."""
    media_dir: Path = PROJECT_ROOT / "var" / "media"
    """Originals, WAV/MP3 conversions and staff-recorded prompt clips."""
    prompts_dir: Path = PROJECT_ROOT / "data" / "prompts"
    min_avg_logprob: float = -1.0
    """Below this average log-probability a transcript is not trusted: a person listens."""
    max_no_speech_prob: float = 0.6
    cpu_threads: int = 2
    max_concurrent: int = 1
    """Recognitions at once per worker (each uses `cpu_threads`)."""


class ConsoleSettings(BaseModel):
    session_hours: int = 12
    max_failed_logins: int = 5
    lockout_minutes: int = 15
    secure_cookies: bool = False
    """Set true behind HTTPS (production): cookies are then sent over HTTPS only."""


class RateLimitSettings(BaseModel):
    """Per-resident spam limit, shared by all workers through the key-value store."""

    messages_per_window: int = 20
    window_seconds: int = 60
    """Over the limit a resident is asked once to slow down; petitions always go through."""


class LogFormat(StrEnum):
    TEXT = "text"
    JSON = "json"
    """One JSON object per line (ts, level, logger, message, extra fields): for log shippers."""


class LoggingSettings(BaseModel):
    format: LogFormat = LogFormat.TEXT
    level: str = "INFO"
    """Root level: DEBUG, INFO, WARNING, ERROR or CRITICAL."""
    access_log: bool = True
    """One line per HTTP request from the gateway. Off behind nginx (docker/compose.yml), which
    writes the same line without the query string, at no cost to the gateway's CPU."""

    @field_validator("level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.strip().upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError(f"unknown log level {value!r}")
        return level


class MetricsSettings(BaseModel):
    token: SecretStr | None = None
    """Bearer token that opens /metrics from anywhere; without it only private addresses may."""
    allow_private_networks: bool = True
    """Scrapers on loopback or private addresses (the compose network) need no token."""


class Settings(BaseSettings):
    """Everything the bot can be told from outside."""

    model_config = SettingsConfigDict(
        env_file=".env", env_nested_delimiter="__", extra="ignore", env_file_encoding="utf-8"
    )

    environment: Environment = Environment.DEV
    host: str = "127.0.0.1"
    port: int = 8080
    public_base_url: str = "http://127.0.0.1:8080"
    """Where residents' H5 links and staff console links point."""
    links_secret: SecretStr = SecretStr("dev-links-secret")
    """Signs residents' H5 status links (no login): keep it secret, rotate to revoke all links."""
    link_ttl_days: int = 90
    prefecture: str = "lhasa"
    """Whose holiday overrides the working-day calendar uses by default."""
    data_dir: Path = PROJECT_ROOT / "data"
    wechat: WeChatSettings = Field(default_factory=WeChatSettings)
    wecom: WeComSettings = Field(default_factory=WeComSettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    redis: RedisSettings = Field(default_factory=RedisSettings)
    nlu: NluSettings = Field(default_factory=NluSettings)
    dialogue: DialogueSettings = Field(default_factory=DialogueSettings)
    outbox: OutboxSettings = Field(default_factory=OutboxSettings)
    scheduler: SchedulerSettings = Field(default_factory=SchedulerSettings)
    voice: VoiceSettings = Field(default_factory=VoiceSettings)
    console: ConsoleSettings = Field(default_factory=ConsoleSettings)
    rate_limit: RateLimitSettings = Field(default_factory=RateLimitSettings)
    logging: LoggingSettings = Field(default_factory=LoggingSettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)

    @model_validator(mode="after")
    def _refuse_placeholder_secrets_in_production(self) -> Settings:
        if self.environment is Environment.PROD:
            weak = [
                name
                for name, secret in (
                    ("WECHAT__TOKEN", self.wechat.token),
                    ("WECHAT__APP_SECRET", self.wechat.app_secret),
                    ("WECOM__CORP_SECRET", self.wecom.corp_secret),
                    ("WECOM__TOKEN", self.wecom.token),
                    ("WECOM__AES_KEY", self.wecom.aes_key),
                    ("LINKS_SECRET", self.links_secret),
                )
                if secret.get_secret_value() in PLACEHOLDER_SECRETS
            ]
            if weak:
                raise ValueError(f"placeholder secrets in production: {', '.join(weak)}")
        return self
