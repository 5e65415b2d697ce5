"""Log output for operators: text or one JSON object per line, personal data and secrets masked.

The masking filter sits on the handler, so every record that reaches the output is masked,
whichever logger (ours, aiohttp's access log, SQLAlchemy's) produced it.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import unicodedata
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, TextIO

from bot.settings import LogFormat, LoggingSettings
from bot.wechat.api_client import mask_secrets

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
MASK = "***"

_STANDARD_ATTRIBUTES = frozenset(
    logging.LogRecord("", logging.INFO, "", 0, "", None, None).__dict__
) | {"message", "asctime", "taskName"}

_SECRET_KEYS = r"access_token|app_?secret|corp_?secret|secret|password|passwd|aes_key|token"
_SECRET_JSON_RE = re.compile(
    rf"""(["']?\b(?:{_SECRET_KEYS})["']?\s*[:=]\s*["'])([^"'\\]+)(["'])""", re.IGNORECASE
)
"""A secret as a JSON or Python-repr value: `"access_token": "…"`, `'password': '…'`."""
_PASSWORD_QUERY_RE = re.compile(r"(\b(?:password|passwd)=)[^&\s'\"]+", re.IGNORECASE)
"""`mask_secrets` covers tokens, secrets and keys in URLs; passwords in forms are added here."""
_PHONE_RE = re.compile(r"(?<!\d)(\d{3})(\d{4})(\d{4})(?!\d)")
"""11 digits in any script (ASCII, full-width, Tibetan); only mainland mobiles are masked."""
_OPENID_CHAR = r"[A-Za-z0-9_-]"
_OPENID_RE = re.compile(
    rf"(?<!{_OPENID_CHAR})(o{_OPENID_CHAR}{{3}}){_OPENID_CHAR}{{24}}(?!{_OPENID_CHAR})"
)
"""A WeChat openid: "o" and 27 URL-safe characters."""
_OPENID_FIELD_RE = re.compile(
    rf"""(\b(?:openid|touser|FromUserName|ToUserName)["']?\s*[:=>]\s*["']?(?:<!\[CDATA\[)?)"""
    rf"({_OPENID_CHAR}{{4}}){_OPENID_CHAR}+",
    re.IGNORECASE,
)
"""Openids named as such (any length: test and simulator ids are not always 28 characters)."""
_LINK_TOKEN_RE = re.compile(r"(/[sab]/)([A-Za-z0-9_-]{4})[A-Za-z0-9_.=-]{12,}")
"""Signed H5 links (`/s/<token>` status, `/b/<token>` booking, `/a/<token>` audio) open a
resident's case without login: the token is a credential."""
_OPENID_KEYS = frozenset({"openid", "user_id", "touser", "recipient", "from_user", "to_user"})
_SECRET_KEY_RE = re.compile(_SECRET_KEYS, re.IGNORECASE)


def _mask_phone(match: re.Match[str]) -> str:
    digits = "".join(str(unicodedata.digit(char)) for char in match.group(0))
    if digits[0] != "1" or digits[1] not in "3456789":
        return match.group(0)
    return f"{match.group(1)}****{match.group(3)}"


def mask_text(text: str) -> str:
    """Mask secrets, mobile numbers, openids and link tokens in free text (a log message)."""
    text = mask_secrets(text)
    text = _PASSWORD_QUERY_RE.sub(rf"\1{MASK}", text)
    text = _SECRET_JSON_RE.sub(rf"\1{MASK}\3", text)
    text = _PHONE_RE.sub(_mask_phone, text)
    text = _OPENID_FIELD_RE.sub(r"\1\2****", text)
    text = _OPENID_RE.sub(r"\1****", text)
    return _LINK_TOKEN_RE.sub(r"\1\2****", text)


def mask_value(key: str, value: Any) -> Any:
    """Mask one structured field (an `extra=` value) by its name first, then by its content."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if _SECRET_KEY_RE.search(key):
        return MASK
    if key.lower() in _OPENID_KEYS and isinstance(value, str):
        return value[:4] + "****"
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, Mapping):
        return {str(k): mask_value(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [mask_value(key, item) for item in value]
    return mask_text(str(value))


def extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    """What the caller passed with `extra=` (attributes a plain LogRecord does not have)."""
    return {
        key: value
        for key, value in record.__dict__.items()
        if key not in _STANDARD_ATTRIBUTES and not key.startswith("_")
    }


class MaskingFilter(logging.Filter):
    """Rewrites each record in place: message, traceback and extra fields masked, once."""

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "_minqing_masked", False):
            return True
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not hide the record
            message = f"{record.msg!r} % {record.args!r}"
        record.msg, record.args = mask_text(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_text(record.exc_text)
        if record.stack_info:
            record.stack_info = mask_text(record.stack_info)
        for key, value in extra_fields(record).items():
            setattr(record, key, mask_value(key, value))
        record._minqing_masked = True
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, message, extra fields, exc; UTF-8 as is."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in extra_fields(record).items():
            payload.setdefault(key, value)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            payload["exc"] = record.exc_text
        if record.stack_info:
            payload["stack"] = record.stack_info
        return json.dumps(payload, ensure_ascii=False, default=str)


def configure_logging(
    settings: LoggingSettings, *, stream: TextIO | None = None
) -> logging.Handler:
    """Install the one root handler (replacing a previous one of ours) and return it."""
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_minqing", False)]:
        root.removeHandler(old)
        old.close()
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(
        JsonFormatter() if settings.format is LogFormat.JSON else logging.Formatter(TEXT_FORMAT)
    )
    handler.addFilter(MaskingFilter())
    handler._minqing = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(settings.level)
    logging.captureWarnings(True)
    return handler
