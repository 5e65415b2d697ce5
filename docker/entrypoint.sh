#!/bin/sh
# Entrypoint of the minqing bot image: one image, several roles.
#
#   serve        the gateway (/wechat, /wecom, /healthz, console, H5 pages). SCHEDULER__ENABLED
#                picks the role: false for the N gateway workers behind nginx, true for the
#                one scheduler (SLA sweep, digests, follow-ups, QR codes; one leader anyway).
#   migrate      `minqing db upgrade` once, then exit 0 (the compose `migrate` service; every
#                bot service waits for it with condition: service_completed_successfully).
#   healthcheck  exit 0 when this container's /healthz answers 200 (Docker HEALTHCHECK).
#   anything else is run as is, e.g. `minqing staff create --username admin --role system_admin`.
set -eu

role=${1:-serve}
[ $# -gt 0 ] && shift

case "$role" in
  serve)
    echo "minqing-entrypoint: gateway on ${HOST:-127.0.0.1}:${PORT:-8080}, scheduler enabled: ${SCHEDULER__ENABLED:-true}" >&2
    exec minqing serve "$@"
    ;;
  migrate)
    echo "minqing-entrypoint: running migrations (minqing db upgrade)" >&2
    exec minqing db upgrade
    ;;
  healthcheck)
    exec python -c '
import os, sys, urllib.request
url = "http://127.0.0.1:%s/healthz" % os.environ.get("PORT", "8080")
try:
    with urllib.request.urlopen(url, timeout=4) as response:
        sys.exit(0 if response.status == 200 else 1)
except Exception as error:
    print("healthcheck: %s: %s" % (url, error), file=sys.stderr)
    sys.exit(1)
'
    ;;
  *)
    exec "$role" "$@"
    ;;
esac
