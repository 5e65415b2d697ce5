"""What the bot made of one voice message, handed from the pipeline to the dialogue."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from governance.petitions.voice import NewRecording

if TYPE_CHECKING:
    from voice.recognizer import Transcript


@dataclass(frozen=True, slots=True)
class HeardVoice:
    """The recording to store and, when recognition ran, its transcript and whether to trust it."""

    recording: NewRecording
    transcript: Transcript | None = None
    trusted: bool = False

    @property
    def text(self) -> str:
        """The transcript's text, "" when there is none."""
        return self.transcript.text if self.transcript is not None else ""
