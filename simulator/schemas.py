"""Request bodies of the simulator's own JSON API (`/sim/api/...`), validated with pydantic."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


class NewResident(_Body):
    """`POST /sim/api/residents`."""

    openid: str | None = Field(default=None, min_length=1, max_length=64)
    nickname: str | None = None
    following: bool = False


class TextIn(_Body):
    """A resident's text message; `bizmsgmenuid` when it answers a msgmenu."""

    type: Literal["text"]
    content: str = Field(min_length=1)
    bizmsgmenuid: str | None = None


class ImageIn(_Body):
    """A picture; without media_id a placeholder picture is stored and sent."""

    type: Literal["image"]
    media_id: str | None = None


class VoiceIn(_Body):
    """A voice message; format defaults to the stored media's format."""

    type: Literal["voice"]
    media_id: str
    format: str | None = None
    recognition: str | None = None


class LocationIn(_Body):
    """A location shared from the map."""

    type: Literal["location"]
    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)
    label: str = ""
    scale: int = 15


class LinkIn(_Body):
    """A shared link."""

    type: Literal["link"]
    title: str
    description: str = ""
    url: str


class EventIn(_Body):
    """Any event; key becomes EventKey (for subscribe pass `qrscene_<scene>` yourself)."""

    type: Literal["event"]
    event: str = Field(min_length=1)
    key: str | None = None
    ticket: str | None = None
    status: str | None = None
    msg_id: int | None = None
    latitude: float | None = None
    longitude: float | None = None
    precision: float | None = None


ResidentMessage = Annotated[
    TextIn | ImageIn | VoiceIn | LocationIn | LinkIn | EventIn, Field(discriminator="type")
]
RESIDENT_MESSAGE: TypeAdapter[ResidentMessage] = TypeAdapter(ResidentMessage)


class ScanIn(_Body):
    """`POST /sim/api/residents/{openid}/scan`: a registered ticket or a free scene."""

    scene: str | None = Field(default=None, min_length=1, max_length=64)
    ticket: str | None = None


class StaffMessageIn(_Body):
    """`POST /sim/api/wecom/users/{userid}/messages`."""

    content: str = Field(min_length=1)


class FaultsIn(_Body):
    """`POST /sim/api/faults`; `times` limits a fault to the next N calls."""

    model_config = ConfigDict(extra="forbid")

    wechat_api: str | None = None
    wecom_api: str | None = None
    wecom_appchat: str | None = None
    wecom_robot: str | None = None
    times: dict[str, int] = Field(default_factory=dict)


class ClockIn(_Body):
    """`POST /sim/api/clock`."""

    advance_seconds: float = 0.0
    reset: bool = False
