"""docker/compose.yml: valid for the real Compose v2 parser, and the topology the README describes.

No Docker engine runs here: Compose's own `config` parses, validates against the compose-spec
schema, interpolates and normalises the file, and the tests read what it would run.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel, ValidationError

from bot.settings import DatabaseSettings, Environment, Settings
from tests.deploy.conftest import (
    CI_POSTGRES_PASSWORD,
    COMPOSE_FILE,
    DOCKER_DIR,
    ENV_TEMPLATE,
    RunCompose,
)

BOT_IMAGE = "minqing-bot:"
TOPOLOGY = {"postgres", "redis", "rasa", "migrate", "gateway", "scheduler", "nginx"}
COMPOSE_ONLY = {
    "POSTGRES_PASSWORD",
    "GATEWAY_REPLICAS",
    "MINQING_TAG",
    "HTTP_PORT",
    "HTTPS_PORT",
    "TLS_CERT_DIR",
    "MINQING_ENV_FILE",
}
"""Variables Compose interpolates into compose.yml; the bot never reads them."""
SECRETS = {
    "WECHAT__TOKEN",
    "WECHAT__APP_SECRET",
    "WECOM__CORP_SECRET",
    "WECOM__TOKEN",
    "WECOM__AES_KEY",
    "LINKS_SECRET",
}
"""What Settings refuses as a placeholder in production."""


def settings_env_names() -> set[str]:
    """Every environment variable Settings reads: `NAME`, or `GROUP__NAME` for a nested group."""
    names: set[str] = set()
    for name, field in Settings.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            names.update(f"{name}__{sub}".upper() for sub in annotation.model_fields)
        else:
            names.add(name.upper())
    return names


def template_names(path: Path) -> set[str]:
    """Variable names in an env file, the commented-out optional ones included."""
    pattern = re.compile(r"^#?\s*([A-Z][A-Z0-9_]*)=")
    return {m.group(1) for line in path.read_text().splitlines() if (m := pattern.match(line))}


def bot_services(rendered: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: service
        for name, service in rendered["services"].items()
        if str(service.get("image", "")).startswith(BOT_IMAGE)
    }


def replicas(service: dict[str, Any]) -> int:
    return int((service.get("deploy") or {}).get("replicas", 1))


def test_compose_file_validates_with_the_script() -> None:
    result = subprocess.run(
        ["bash", str(DOCKER_DIR.parent / "scripts" / "validate_compose.sh")],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "is valid" in result.stderr


@pytest.mark.parametrize(
    ("old", "new", "complaint"),
    [
        ("    image: postgres:16", "    imagez: postgres:16", "additional properties 'imagez'"),
        ("      replicas: ${GATEWAY_REPLICAS:-2}", "      replicas: two", "deploy.replicas"),
        ("        condition: service_healthy", "        condition: when_ready", "must be one of"),
        ("      migrate:\n", "      migrations:\n", 'undefined service "migrations"'),
        ("  media:\n", "  mediafiles:\n", "undefined volume media"),
    ],
    ids=["unknown-key", "replicas-not-a-number", "bad-condition", "unknown-dependency", "volume"],
)
def test_a_broken_copy_is_refused(
    run_compose: RunCompose, docker_copy: Path, old: str, new: str, complaint: str
) -> None:
    compose = docker_copy / "compose.yml"
    text = compose.read_text()
    assert old in text
    compose.write_text(text.replace(old, new, 1))
    result = run_compose("config", "--quiet", directory=docker_copy)
    assert result.returncode != 0
    assert complaint in result.stderr


def test_the_unbroken_copy_passes(run_compose: RunCompose, docker_copy: Path) -> None:
    """The broken-copy tests fail for their change, not because the copy itself is invalid."""
    result = run_compose("config", "--quiet", directory=docker_copy)
    assert result.returncode == 0, result.stderr


def test_postgres_password_is_required(run_compose: RunCompose) -> None:
    result = run_compose("config", "--quiet", env={})
    assert result.returncode != 0
    assert "POSTGRES_PASSWORD" in result.stderr


def test_the_bot_env_file_is_required(run_compose: RunCompose) -> None:
    env = {"POSTGRES_PASSWORD": "x", "MINQING_ENV_FILE": "nope"}
    result = run_compose("config", "--quiet", env=env)
    assert result.returncode != 0
    assert "nope" in result.stderr


def test_every_service_of_the_topology_exists(rendered: dict[str, Any]) -> None:
    services = rendered["services"]
    assert set(services) == TOPOLOGY
    assert services["postgres"]["image"].startswith("postgres:16")
    assert services["redis"]["image"].startswith("redis:7")
    assert services["rasa"]["build"]["dockerfile"] == "docker/Dockerfile.rasa"
    assert set(bot_services(rendered)) == {"migrate", "gateway", "scheduler"}
    for name in ("postgres", "redis", "rasa", "gateway", "scheduler", "nginx"):
        assert services[name]["healthcheck"]["test"], name


def test_gateways_are_several_and_never_schedule(rendered: dict[str, Any]) -> None:
    gateway = rendered["services"]["gateway"]
    assert replicas(gateway) >= 2
    assert gateway["environment"]["SCHEDULER__ENABLED"] == "false"
    assert gateway["command"] == ["serve"]


def test_exactly_one_process_runs_the_scheduler(rendered: dict[str, Any]) -> None:
    running = {
        name: replicas(service)
        for name, service in bot_services(rendered).items()
        if service["command"] == ["serve"]
        and service["environment"].get("SCHEDULER__ENABLED", "true").lower() != "false"
    }
    assert running == {"scheduler": 1}


def test_migrations_run_once_before_every_bot_process(rendered: dict[str, Any]) -> None:
    services = rendered["services"]
    assert services["migrate"]["command"] == ["migrate"]
    assert services["migrate"]["restart"] == "no"
    assert replicas(services["migrate"]) == 1
    for name in ("gateway", "scheduler"):
        depends = services[name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully"
        assert depends["postgres"]["condition"] == "service_healthy"
        assert depends["redis"]["condition"] == "service_healthy"
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_only_nginx_is_published(rendered: dict[str, Any]) -> None:
    published = {name for name, service in rendered["services"].items() if service.get("ports")}
    assert published == {"nginx"}
    targets = {port["target"] for port in rendered["services"]["nginx"]["ports"]}
    assert targets == {80, 443}


def test_media_is_one_volume_shared_by_the_serving_processes(rendered: dict[str, Any]) -> None:
    for name in ("gateway", "scheduler"):
        service = rendered["services"][name]
        mounts = {v["target"]: v for v in service["volumes"]}
        assert mounts["/app/var/media"]["type"] == "volume"
        assert mounts["/app/var/media"]["source"] == "media"
        assert service["environment"]["VOICE__MEDIA_DIR"] == "/app/var/media"
    assert {"pgdata", "redisdata", "media"} <= set(rendered["volumes"])


def test_the_bot_runs_in_production_on_postgres_and_redis(rendered: dict[str, Any]) -> None:
    for name, service in bot_services(rendered).items():
        env = service["environment"]
        assert env["ENVIRONMENT"] == "prod", name
        assert env["DATABASE__URL"] == (
            f"postgresql+asyncpg://minqing:{CI_POSTGRES_PASSWORD}@postgres:5432/minqing"
        )
        assert env["REDIS__URL"].startswith("redis://redis:6379/")
        assert env["NLU__RASA_URL"] == "http://rasa:5005"


def test_every_variable_named_for_the_bot_exists_in_settings() -> None:
    known = settings_env_names()
    raw = yaml.safe_load(COMPOSE_FILE.read_text())
    named: set[str] = set()
    for service in raw["services"].values():
        if str(service.get("image", "")).startswith(BOT_IMAGE):
            named.update(service.get("environment") or {})
    assert named, "no environment found on the bot services"
    named |= template_names(ENV_TEMPLATE) - COMPOSE_ONLY
    assert named - known == set()
    assert COMPOSE_ONLY & known == set()
    interpolated = set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*)", COMPOSE_FILE.read_text()))
    assert interpolated <= COMPOSE_ONLY


def test_the_template_cannot_start_the_bot_until_secrets_are_set(
    rendered: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The gateway's rendered environment, as the container gets it, read by Settings."""
    environment: dict[str, str] = rendered["services"]["gateway"]["environment"]
    for key in settings_env_names() | COMPOSE_ONLY:
        monkeypatch.delenv(key, raising=False)
    for key, value in environment.items():
        monkeypatch.setenv(key, value or "")
    with pytest.raises(ValidationError) as refused:
        Settings(_env_file=None)
    for name in SECRETS:
        assert name in str(refused.value)

    for name in SECRETS:
        monkeypatch.setenv(name, f"{name.lower()}-0123456789abcdef")
    settings = Settings(_env_file=None)
    assert settings.environment is Environment.PROD
    assert settings.host == "0.0.0.0"  # inside the container, behind nginx
    assert settings.scheduler.enabled is False
    assert settings.database.url.startswith("postgresql+asyncpg://")
    assert settings.redis.url == "redis://redis:6379/0"
    assert settings.console.secure_cookies is True
    assert str(settings.voice.media_dir) == "/app/var/media"
    assert settings.wechat.aes_key is None  # commented out in the template, not ""


def test_nginx_balances_over_the_gateway_service(rendered: dict[str, Any]) -> None:
    nginx_conf = (DOCKER_DIR / "nginx.conf").read_text()
    port = rendered["services"]["gateway"]["environment"]["PORT"]
    assert re.search(rf"^\s*server gateway:{port} resolve\b", nginx_conf, re.MULTILINE)
    assert nginx_conf.count("proxy_pass http://gateways;") >= 2
    mounts = {v["target"]: v for v in rendered["services"]["nginx"]["volumes"]}
    assert mounts["/etc/nginx/nginx.conf"]["source"] == str(DOCKER_DIR / "nginx.conf")
    for directive in ("ssl_certificate", "ssl_certificate_key"):
        path = re.search(rf"^\s*{directive}\s+(\S+);", nginx_conf, re.MULTILINE)
        assert path is not None
        assert path.group(1).startswith("/etc/nginx/certs/")
    assert mounts["/etc/nginx/certs"]["read_only"] is True
    assert rendered["services"]["nginx"]["depends_on"]["gateway"]["condition"] == "service_healthy"
    # no query strings (signatures, openids) in the access log
    assert "$request_uri" not in nginx_conf.split("log_format", 1)[1].split(";", 1)[0]


def test_postgres_accepts_every_process_full_pool(rendered: dict[str, Any]) -> None:
    """Each bot process may hold pool + overflow connections; the server must take them all."""
    services = rendered["services"]
    command = services["postgres"]["command"]
    limits = [int(arg.split("=", 1)[1]) for arg in command if arg.startswith("max_connections=")]
    assert limits, "postgres keeps its default max_connections (100)"
    database = DatabaseSettings()
    per_process = database.pool_size + database.max_overflow
    processes = sum(replicas(service) for service in bot_services(rendered).values())
    assert processes * per_process < limits[0]
