#!/usr/bin/env bash
# The Rasa engine in its own Python 3.10 environment (.venv-rasa), next to the product's.
#
#   scripts/rasa.sh install                 create .venv-rasa from rasa/requirements.txt (idempotent)
#   scripts/rasa.sh train [--split all|train]
#                                           `rasa train nlu` on data/nlu/{zh,bo}/*.yml (+ rasa/data)
#                                           into var/rasa/models/ (train: the held-out split excluded)
#   scripts/rasa.sh serve [--split all|train] [--background]
#                                           `rasa run --enable-api` on 127.0.0.1:$RASA_PORT (5005)
#   scripts/rasa.sh evaluate                train on the train split, serve it, evaluate both engines
#                                           over the same held-out split, write docs/benchmarks.md
#   scripts/rasa.sh stop                    stop a server started with --background
#   scripts/rasa.sh freeze                  write rasa/constraints.txt from the installed venv
#
# Environment: RASA_VENV, RASA_PORT, RASA_PYTHON (a python3.10 to build the venv with),
# RASA_DATA_DIR (an NLU data folder other than data/nlu, e.g. a frozen copy: train and
# evaluate both use it), RASA_TRAIN_TIMEOUT (seconds, default 3600).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${RASA_VENV:-$ROOT/.venv-rasa}
PROJECT=$ROOT/rasa
DATA=$(cd "${RASA_DATA_DIR:-$ROOT/data/nlu}" && pwd)
VAR=$ROOT/var/rasa
MODELS=$VAR/models
LOGS=$VAR/logs
PORT=${RASA_PORT:-5005}
HOST=127.0.0.1
URL="http://$HOST:$PORT"
PIDFILE=$VAR/server.pid
REQUIREMENTS=$PROJECT/requirements.txt
CONSTRAINTS=$PROJECT/constraints.txt
STAMP=$VENV/.minqing-requirements.sha256
UV=${UV:-uv}

say() { echo "rasa.sh: $*" >&2; }
die() { say "error: $*"; exit 1; }

# Rasa's logs are noisy and its telemetry phones home: keep it off, offline.
export RASA_TELEMETRY_ENABLED=false
export TF_CPP_MIN_LOG_LEVEL=2
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"  # custom components: nlu.rasa_components.*

mkdir -p "$MODELS" "$LOGS"

STAGING=""
STOP_ON_EXIT=0
cleanup() {
  if [ -n "$STAGING" ]; then rm -rf "$STAGING"; fi
  if [ "$STOP_ON_EXIT" = 1 ]; then cmd_stop; fi
}
trap cleanup EXIT

find_python() {
  if [ -n "${RASA_PYTHON:-}" ]; then
    echo "$RASA_PYTHON"
    return
  fi
  if command -v pyenv >/dev/null 2>&1; then
    local candidate
    candidate="$(pyenv root)/versions/3.10.13/bin/python"
    if [ -x "$candidate" ]; then
      echo "$candidate"
      return
    fi
  fi
  if command -v python3.10 >/dev/null 2>&1 && python3.10 -c 'import sys; assert sys.version_info[:2] == (3, 10)' 2>/dev/null; then
    command -v python3.10
    return
  fi
  die "Rasa 3.6 needs Python 3.10: none found (tried RASA_PYTHON, \$(pyenv root)/versions/3.10.13, python3.10 on PATH). Install one, e.g. \`pyenv install 3.10.13\` or \`apt-get install python3.10-venv\`."
}

requirements_digest() {
  cat "$REQUIREMENTS" "$CONSTRAINTS" 2>/dev/null | sha256sum | cut -d' ' -f1
}

installed() {
  [ -x "$VENV/bin/rasa" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$(requirements_digest)" ] \
    && "$VENV/bin/python" -c 'import rasa, jieba, yaml, sklearn' >/dev/null 2>&1
}

cmd_install() {
  if installed; then
    say "install: $VENV is up to date (rasa $("$VENV/bin/python" -c 'import rasa; print(rasa.__version__)')); nothing to do"
    return
  fi
  local python log started
  python=$(find_python)
  "$python" -c 'import sys; assert sys.version_info[:2] == (3, 10), sys.version' \
    || die "$python is not Python 3.10"
  log=$LOGS/install.log
  started=$(date +%s)
  say "install: creating $VENV with $("$python" --version 2>&1) (pip log: $log; ~3 GB, several minutes)"
  rm -rf "$VENV"
  "$python" -m venv "$VENV"
  {
    "$VENV/bin/python" -m pip install --upgrade "pip==24.0" "wheel" \
      && if [ -f "$CONSTRAINTS" ]; then
        "$VENV/bin/python" -m pip install -r "$REQUIREMENTS" -c "$CONSTRAINTS"
      else
        "$VENV/bin/python" -m pip install -r "$REQUIREMENTS"
      fi
  } >"$log" 2>&1 || {
    tail -n 30 "$log" >&2
    die "install: pip failed; the whole log is $log"
  }
  "$VENV/bin/python" -c 'import rasa, jieba, yaml, sklearn' >>"$log" 2>&1 \
    || die "install: rasa does not import; see $log"
  requirements_digest >"$STAMP"
  local seconds size version packages
  seconds=$(($(date +%s) - started))
  size=$(du -sh "$VENV" | cut -f1)
  version=$("$VENV/bin/python" -c 'import rasa; print(rasa.__version__)')
  packages=$("$VENV/bin/python" -m pip list --format=freeze 2>/dev/null | wc -l)
  echo "$seconds $size" >"$VENV/.minqing-install"
  say "install: rasa $version in $VENV: $size, $packages packages, ${seconds} s"
}

cmd_freeze() {
  [ -x "$VENV/bin/python" ] || die "no $VENV; run \`make rasa-install\` first"
  {
    echo "# Every package of .venv-rasa as tested (scripts/rasa.sh freeze); used as pip constraints."
    "$VENV/bin/python" -m pip freeze --exclude-editable | grep -v -E '^(pip|setuptools|wheel)=='
  } >"$CONSTRAINTS"
  say "freeze: wrote $CONSTRAINTS ($(grep -c '==' "$CONSTRAINTS") pins)"
}

require_install() {
  installed || die "the Rasa environment is missing or outdated; run \`make rasa-install\`"
}

# The data fingerprint (training files, lexicon, Rasa project, components): one model name
# per data + split, so `train` is skipped when nothing changed.
data_fingerprint() {
  (
    cd "$DATA"
    find zh bo -maxdepth 1 -name '*.yml' -print0 | sort -z | xargs -0 cat
    find lexicon -type f -print0 | sort -z | xargs -0 cat
    cd "$ROOT"
    find rasa/config.yml rasa/data nlu/rasa_components nlu/tokenize.py \
      nlu/language.py nlu/lexicon.py nlu/training_data.py -type f \( -name '*.py' -o -name '*.yml' -o -name '*.txt' \) -print0 \
      | sort -z | xargs -0 cat
    cat "$REQUIREMENTS"
  ) | sha256sum | cut -c1-12
}

model_path() { # split
  echo "$MODELS/minqing-nlu-$1-$(data_fingerprint).tar.gz"
}

parse_split() { # args... -> sets SPLIT, BACKGROUND
  SPLIT=all
  BACKGROUND=0
  while [ $# -gt 0 ]; do
    case "$1" in
      --split) SPLIT=${2:?--split needs all or train}; shift 2 ;;
      --split=*) SPLIT=${1#--split=}; shift ;;
      --background) BACKGROUND=1; shift ;;
      *) die "unknown option $1" ;;
    esac
  done
  case "$SPLIT" in all | train) ;; *) die "--split must be all or train, not $SPLIT" ;; esac
}

cmd_train() {
  parse_split "$@"
  require_install
  local target log started seconds
  target=$(model_path "$SPLIT")
  if [ -f "$target" ]; then
    say "train: $target is up to date (same data, split $SPLIT); nothing to do"
    return
  fi
  STAGING=$(mktemp -d "${TMPDIR:-/tmp}/minqing-rasa-data.XXXXXX")
  # Only the YAML training files (the README.md files would break Rasa's loader); with
  # --split train the held-out examples are left out (nlu.training_data.split_examples).
  "$VENV/bin/python" -m nlu.rasa_components.export --data "$DATA" --split "$SPLIT" --out "$STAGING/nlu" >&2
  cp "$PROJECT"/data/*.yml "$STAGING/"
  log=$LOGS/train-$SPLIT.log
  started=$(date +%s)
  say "train: rasa train nlu (split $SPLIT) -> $target (log: $log)"
  (
    cd "$ROOT"
    timeout "${RASA_TRAIN_TIMEOUT:-3600}" "$VENV/bin/rasa" train nlu \
      --config "$PROJECT/config.yml" \
      --domain "$PROJECT/domain.yml" \
      --nlu "$STAGING" \
      --out "$MODELS" \
      --fixed-model-name "$(basename "$target" .tar.gz)"
  ) >"$log" 2>&1 || {
    tail -n 40 "$log" >&2
    die "train: rasa train failed; the whole log is $log"
  }
  rm -rf "$STAGING"
  STAGING=""
  [ -f "$target" ] || die "train: rasa reported success but $target is missing; see $log"
  seconds=$(($(date +%s) - started))
  # keep the newest model of each split only
  find "$MODELS" -name "minqing-nlu-$SPLIT-*.tar.gz" ! -path "$target" -delete
  say "train: done in ${seconds} s: $target ($(du -h "$target" | cut -f1))"
  echo "$seconds" >"$VAR/train-$SPLIT.seconds"
}

server_pid() {
  [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null && cat "$PIDFILE"
}

wait_ready() { # pid log -> seconds until /status answers with a model
  local pid=$1 log=$2 started=$SECONDS
  while ! curl -fsS "$URL/status" 2>/dev/null | grep -q '"model_file"'; do
    kill -0 "$pid" 2>/dev/null || { tail -n 40 "$log" >&2; die "serve: the server died; see $log"; }
    [ $((SECONDS - started)) -lt "${RASA_START_TIMEOUT:-600}" ] || die "serve: not ready after ${RASA_START_TIMEOUT:-600} s; see $log"
    sleep 1
  done
  echo $((SECONDS - started))
}

cmd_serve() {
  parse_split "$@"
  require_install
  local model log
  model=$(model_path "$SPLIT")
  if [ ! -f "$model" ]; then
    # the newest model of that split, even if the data changed since
    model=$(ls -t "$MODELS"/minqing-nlu-"$SPLIT"-*.tar.gz 2>/dev/null | head -n 1 || true)
    [ -n "$model" ] || die "serve: no $SPLIT model in $MODELS; run \`make rasa-train\` first"
    say "serve: the data changed since $model was trained"
  fi
  # NLU only: no channels (credentials), no action server, tracker or lock store (endpoints).
  local args=(run --enable-api -i "$HOST" -p "$PORT" --model "$model")
  if [ "$BACKGROUND" = 0 ]; then
    say "serve: $URL with $model (Ctrl-C stops)"
    cd "$ROOT" && exec "$VENV/bin/rasa" "${args[@]}"
  fi
  if pid=$(server_pid); then
    die "serve: a server is already running (pid $pid); \`scripts/rasa.sh stop\` first"
  fi
  if curl -fsS "$URL/" >/dev/null 2>&1; then
    die "serve: something already answers on $URL"
  fi
  log=$LOGS/server.log
  (cd "$ROOT" && exec "$VENV/bin/rasa" "${args[@]}") >"$log" 2>&1 &
  echo $! >"$PIDFILE"
  local ready
  ready=$(wait_ready "$!" "$log")
  echo "$ready" >"$VAR/startup.seconds"
  say "serve: $URL ready in ${ready} s (pid $(cat "$PIDFILE"), model $(basename "$model"), log $log)"
}

cmd_stop() {
  local pid
  if pid=$(server_pid); then
    kill "$pid"
    for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
    say "stop: stopped the server (pid $pid)"
  fi
  rm -f "$PIDFILE"
}

rss_mib() { # pid -> resident memory of the process and its children, MiB
  local total=0 p
  for p in $1 $(pgrep -P "$1" 2>/dev/null || true); do
    total=$((total + $(awk '/^VmRSS/ {print $2}' "/proc/$p/status" 2>/dev/null || echo 0)))
  done
  echo $((total / 1024))
}

free_port() {
  "$VENV/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

cmd_evaluate() {
  require_install
  cmd_train --split train
  # A server of its own, on a free port unless RASA_PORT says otherwise: a developer's
  # `make rasa-serve` (port 5005) and another checkout's evaluation are left alone.
  PIDFILE=$VAR/evaluate-server.pid
  cmd_stop
  PORT=${RASA_PORT:-$(free_port)}
  URL="http://$HOST:$PORT"
  STOP_ON_EXIT=1
  cmd_serve --split train --background
  local pid facts install_seconds install_size
  pid=$(server_pid)
  read -r install_seconds install_size <"$VENV/.minqing-install" 2>/dev/null || true
  facts=$VAR/facts.json
  cat >"$facts" <<JSON
{
  "pid": $pid,
  "install": "${install_size:-$(du -sh "$VENV" | cut -f1)}${install_seconds:+, installed in ${install_seconds} s}",
  "train_seconds": $(cat "$VAR/train-train.seconds" 2>/dev/null || echo null),
  "startup_seconds": $(cat "$VAR/startup.seconds"),
  "rss_mib_after_startup": $(rss_mib "$pid")
}
JSON
  say "evaluate: both engines on the held-out split (embedded in-process, Rasa over HTTP)"
  (
    cd "$ROOT"
    NLU__DATA_DIR="$DATA" "$UV" run minqing nlu evaluate --engine both --rasa-url "$URL" --rasa-facts "$facts" \
      --write docs/benchmarks.md --json "$VAR/evaluation.json"
  ) >"$LOGS/evaluate.md"
  cat "$LOGS/evaluate.md"
  say "evaluate: wrote the NLU section of docs/benchmarks.md (raw numbers: $VAR/evaluation.json)"
}

cmd_ci() {
  # CI: install, train on the train split, serve, score both engines into docs/benchmarks.md,
  # then run the live tests against the same server before it stops.
  cmd_install
  cmd_evaluate
  say "ci: live tests against $URL"
  (
    cd "$ROOT"
    MINQING_TEST_RASA_URL="$URL" "$UV" run pytest -q -p no:cacheprovider -m rasa_live tests/nlu/test_nlu_rasa_live.py
  )
}

main() {
  local command=${1:-}
  [ $# -gt 0 ] && shift
  case "$command" in
    install) cmd_install "$@" ;;
    freeze) cmd_freeze "$@" ;;
    train) cmd_train "$@" ;;
    serve) cmd_serve "$@" ;;
    stop) cmd_stop "$@" ;;
    evaluate) cmd_evaluate "$@" ;;
    ci) cmd_ci "$@" ;;
    *) die "usage: scripts/rasa.sh {install|train|serve|evaluate|ci|stop|freeze} [--split all|train]" ;;
  esac
}

main "$@"
