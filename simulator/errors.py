"""Error codes the simulated platforms answer with (the real ones where they exist)."""

from __future__ import annotations

from enum import IntEnum


class Err(IntEnum):
    """errcode values, shared by the WeChat and WeCom sides."""

    OK = 0
    INVALID_CREDENTIAL = 40001
    INVALID_GRANT_TYPE = 40002
    INVALID_OPENID = 40003
    INVALID_MEDIA_TYPE = 40004
    INVALID_FILE_TYPE = 40005
    INVALID_FILE_SIZE = 40006
    INVALID_MEDIA_ID = 40007
    INVALID_MESSAGE_TYPE = 40008
    INVALID_APPID = 40013
    INVALID_ACCESS_TOKEN = 40014
    INVALID_TEMPLATE_ID = 40037
    INVALID_AGENTID = 40056
    INVALID_PARAMETER = 40058
    INVALID_ARGS = 40097
    INVALID_APPSECRET = 40125
    MISSING_ACCESS_TOKEN = 41001
    MEDIA_DATA_MISSING = 41005
    ACCESS_TOKEN_EXPIRED = 42001
    REQUIRE_SUBSCRIBE = 43004
    EMPTY_CONTENT = 44004
    FREQUENCY_LIMIT = 45009
    OUT_OF_RESPONSE_WINDOW = 45015
    QR_LIMIT_REACHED = 45029
    DATA_FORMAT_ERROR = 47001
    ARGUMENT_INVALID = 47003
    INVALID_CHATID = 86001
    CHAT_NOT_FOUND = 86003
    INVALID_CHAT_NAME = 86004
    INVALID_CHAT_MEMBERS = 86006
    CHAT_EXISTS = 86215
    INVALID_WEBHOOK_KEY = 93000


ERRMSG: dict[Err, str] = {
    Err.OK: "ok",
    Err.INVALID_CREDENTIAL: "invalid credential, access_token is invalid or not latest",
    Err.INVALID_GRANT_TYPE: "invalid grant_type",
    Err.INVALID_OPENID: "invalid openid",
    Err.INVALID_MEDIA_TYPE: "invalid media type",
    Err.INVALID_FILE_TYPE: "invalid file type",
    Err.INVALID_FILE_SIZE: "invalid meida size",
    Err.INVALID_MEDIA_ID: "invalid media_id",
    Err.INVALID_MESSAGE_TYPE: "invalid message type",
    Err.INVALID_APPID: "invalid appid",
    Err.INVALID_ACCESS_TOKEN: "invalid access_token",
    Err.INVALID_TEMPLATE_ID: "invalid template_id",
    Err.INVALID_AGENTID: "invalid agentid",
    Err.INVALID_PARAMETER: "invalid parameter",
    Err.INVALID_ARGS: "invalid args",
    Err.INVALID_APPSECRET: "invalid appsecret",
    Err.MISSING_ACCESS_TOKEN: "access_token missing",
    Err.MEDIA_DATA_MISSING: "media data missing",
    Err.ACCESS_TOKEN_EXPIRED: "access_token expired",
    Err.REQUIRE_SUBSCRIBE: "require subscribe",
    Err.EMPTY_CONTENT: "empty content",
    Err.FREQUENCY_LIMIT: "freq limit",
    Err.OUT_OF_RESPONSE_WINDOW: "response out of time limit or subscription is canceled",
    Err.QR_LIMIT_REACHED: "qrcode count out of limit",
    Err.DATA_FORMAT_ERROR: "data format error",
    Err.ARGUMENT_INVALID: "argument invalid!",
    Err.INVALID_CHATID: "invalid chatid",
    Err.CHAT_NOT_FOUND: "chatid not found",
    Err.INVALID_CHAT_NAME: "invalid chat name",
    Err.INVALID_CHAT_MEMBERS: "invalid chat member count",
    Err.CHAT_EXISTS: "chatid already exists",
    Err.INVALID_WEBHOOK_KEY: "invalid webhook url",
}


class ApiError(Exception):
    """Raised by state rules; handlers turn it into `{"errcode", "errmsg"}`."""

    def __init__(self, code: Err, detail: str | None = None) -> None:
        self.code = code
        self.errmsg = ERRMSG[code] + (f": {detail}" if detail else "")
        super().__init__(self.errmsg)
