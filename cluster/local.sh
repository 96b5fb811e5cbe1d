#!/usr/bin/env bash
# A Ray head on 127.0.0.1 (free ports, its own temp dir), stopped by its own pid.
#   cluster/local.sh start [--num-cpus 4] [--dir /tmp/duse-head-$UID]
#   cluster/local.sh status
#   cluster/local.sh stop
# Same as `duse cluster local up|status|down`. Never use `ray stop`: it kills every Ray on the host.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${PYTHON:-$root/.venv/bin/python}"
[[ -x "$python" ]] || python="$(command -v python3)"
verb="${1:-}"
shift || true
case "$verb" in
  start) verb=up ;;
  stop) verb=down ;;
  status) ;;
  *) echo "usage: $0 start|stop|status [options]" >&2; exit 2 ;;
esac
cd "$root"
exec "$python" -m engine.cli cluster local "$verb" "$@"
