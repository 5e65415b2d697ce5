"""Residents' voice messages as WeChat delivers them: uploads become AMR-NB (sox), AMR and Speex
pass unchanged, browsers get a playable preview, and undecodable audio is refused clearly."""

from __future__ import annotations

import io
import subprocess
from pathlib import Path
from typing import Any

from aiohttp import FormData
from aiohttp.test_utils import TestClient
from conftest import StartGateway, StartSimulator
from pydub import AudioSegment  # type: ignore[import-untyped]
from simhelpers import tone_wav

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "voice"


async def _upload(client: TestClient, data: bytes, filename: str, ctype: str) -> Any:
    form = FormData()
    form.add_field("file", data, filename=filename, content_type=ctype)
    response = await client.post("/sim/api/residents/o-voice/media", data=form)
    return response.status, await response.json()


async def _media(client: TestClient, media_id: str) -> tuple[str, bytes]:
    response = await client.get(f"/sim/media/{media_id}")
    assert response.status == 200
    return response.content_type, await response.read()


def _webm(source: Path, target: Path) -> bytes:
    """A browser-style recording (Opus in WebM) made from a fixture with ffmpeg."""
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-i", str(source), "-c:a", "libopus", str(target)],
        check=True,
        capture_output=True,
    )
    return target.read_bytes()


async def test_a_browser_recording_becomes_amr_nb_with_the_original_as_preview(
    client: TestClient, tmp_path: Path
) -> None:
    recording = _webm(FIXTURES / "zh_booking.amr", tmp_path / "recording.webm")
    status, uploaded = await _upload(client, recording, "recording.webm", "audio/webm")
    assert status == 200, uploaded
    assert (uploaded["kind"], uploaded["format"]) == ("voice", "amr")
    content_type, amr = await _media(client, uploaded["media_id"])
    assert content_type == "audio/amr"
    assert amr.startswith(b"#!AMR\n"), "AMR-NB magic, as WeChat's own recorder writes"
    decoded = AudioSegment.from_file(io.BytesIO(amr), format="amr")
    original = AudioSegment.from_file(io.BytesIO(recording), format="webm")
    assert decoded.frame_rate == 8000
    assert decoded.channels == 1
    assert abs(len(decoded) - len(original)) < 150, "same length within an AMR frame or so"
    preview_type, preview = await _media(client, uploaded["preview_media_id"])
    assert preview_type == "audio/webm"
    assert preview == recording


async def test_amr_and_speex_pass_unchanged_and_get_a_wav_preview(client: TestClient) -> None:
    for name, fmt in (("zh_streetlight_badframes.amr", "amr"), ("zh_heating.spx", "speex")):
        data = (FIXTURES / name).read_bytes()
        status, uploaded = await _upload(client, data, name, "application/octet-stream")
        assert status == 200, uploaded
        assert uploaded["format"] == fmt
        assert (await _media(client, uploaded["media_id"]))[1] == data
        preview_type, preview = await _media(client, uploaded["preview_media_id"])
        assert preview_type == "audio/wav"
        assert len(AudioSegment.from_file(io.BytesIO(preview), format="wav")) > 3000


async def test_audio_that_cannot_be_decoded_is_refused_with_a_reason(client: TestClient) -> None:
    fake = b"ID3\x03" + b"\x00" * 64
    status, body = await _upload(client, fake, "broken.mp3", "audio/mpeg")
    assert status == 400
    assert "could not turn this mp3 file into a voice message" in body["error"]


async def test_the_bot_receives_format_amr_and_the_chat_shows_the_preview(
    start_gateway: StartGateway, start_simulator: StartSimulator
) -> None:
    gateway = await start_gateway(reply=lambda msg: None)
    client = await start_simulator(gateway)
    form = FormData()
    form.add_field("type", "voice")
    form.add_field("file", tone_wav(2.0), filename="tone.wav", content_type="audio/wav")
    result = await (await client.post("/sim/api/residents/o-r/messages", data=form)).json()
    assert result["delivered"] is True
    [received] = gateway.received
    assert received.message.format == "amr"
    [sent] = await (await client.get("/sim/api/residents/o-r/chat")).json()
    assert sent["media_id"] == received.message.media_id
    preview_type, preview = await _media(client, sent["preview_media_id"])
    assert preview_type == "audio/wav"
    assert abs(len(AudioSegment.from_file(io.BytesIO(preview), format="wav")) - 2000) < 50
