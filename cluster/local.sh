#!/usr/bin/env bash
# A Ray head on 127.0.0.1 (free ports, its own temp dir), stopped by its own pid; with
# --workers N, N worker nodes too (each its own `ray start`, raylet, object store and temp dir),
# a multi-node cluster on one machine, stopped by the pids recorded in <dir>/head.json.
#   cluster/local.sh start [--num-cpus 4] [--dir /tmp/duse-head-$UID] [--auth token]
#   cluster/local.sh start --num-cpus 0 --workers 2 --worker-cpus 3 [--object-store-mb 256]
#   cluster/local.sh status
#   cluster/local.sh stop
# Same as `duse cluster local up|status|down` (docs/cluster.md 1). Never use `ray stop`: it kills
# every Ray on the host.
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
