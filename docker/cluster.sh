#!/usr/bin/env bash
# A local WDP swarm in containers (docker/compose.yaml), with Compose v2
# (`docker compose`) or v1 (`docker-compose`), whichever is installed.
#
#   docker/cluster.sh up [NODES]   bootstrap + NODES nodes (default 6); waits until healthy
#   docker/cluster.sh down         remove the containers, the network and the volumes
#   docker/cluster.sh chaos [...]  kill, pause, disconnect carriers; get every file back
#   docker/cluster.sh token        print the API node's token (for WDP_API_TOKEN)
#   docker/cluster.sh api          print the API's host address (for WDP_API)
#   docker/cluster.sh dashboard    print the dashboard's link (it carries the token)
#   docker/cluster.sh ps | logs [-f] [SERVICE]
#
# WDP_PROJECT names the compose project (default wdp), so several clusters
# can run side by side; WDP_API_PUBLISH / WDP_METRICS_PUBLISH / WDP_DASHBOARD_PUBLISH
# choose the host ports (default 127.0.0.1:5080, 127.0.0.1:9464 and 127.0.0.1:8080;
# "127.0.0.1:" = any free one).
# The image must exist: `make image` (or docker/build-image.sh) builds it.
set -euo pipefail
cd "$(dirname "$0")/.."

PROJECT=${WDP_PROJECT:-wdp}
FILE=docker/compose.yaml
HEALTH_TIMEOUT=${WDP_HEALTH_TIMEOUT:-180}

die() { echo "cluster: error: $*" >&2; exit 1; }

if docker compose version >/dev/null 2>&1; then
  COMPOSE=(docker compose)
elif command -v docker-compose >/dev/null; then
  COMPOSE=(docker-compose)
else
  die "neither 'docker compose' (Compose v2) nor 'docker-compose' is installed"
fi
compose() { "${COMPOSE[@]}" -f "$FILE" -p "$PROJECT" "$@"; }

containers() {
  docker ps -q --filter "label=com.docker.compose.project=$PROJECT" "$@"
}

wait_healthy() {
  local want=$1 deadline=$(( $(date +%s) + HEALTH_TIMEOUT )) healthy states
  while :; do
    states=$(containers | xargs -r docker inspect -f '{{.State.Health.Status}}')
    healthy=$(grep -c '^healthy$' <<<"$states" || true)
    [ "$healthy" -ge "$want" ] && { echo "cluster: $healthy containers healthy"; return 0; }
    if [ "$(date +%s)" -gt "$deadline" ]; then
      compose ps >&2 || true
      die "only $healthy of $want containers healthy after ${HEALTH_TIMEOUT} s; see: docker/cluster.sh logs"
    fi
    sleep 2
  done
}

api_address() {
  local port
  port=$(compose port bootstrap 5080 2>/dev/null | tail -n1) || true
  [ -n "$port" ] || die "the cluster '$PROJECT' is not running (start it with: make cluster-up)"
  echo "${port/0.0.0.0:/127.0.0.1:}"
}

dashboard_link() {
  local port
  port=$(compose port bootstrap 8080 2>/dev/null | tail -n1) || true
  [ -n "$port" ] || die "the cluster '$PROJECT' is not running (start it with: make cluster-up)"
  echo "http://${port/0.0.0.0:/127.0.0.1:}/#token=$(token)"
}

token() {
  compose exec -T bootstrap cat /data/api.token 2>/dev/null ||
    die "cannot read the API token: is the cluster '$PROJECT' running? (make cluster-up)"
}

cmd=${1:-}
shift || true
case $cmd in
  up)
    nodes=${1:-${NODES:-6}}
    [[ $nodes =~ ^[0-9]+$ ]] && [ "$nodes" -ge 1 ] || die "NODES must be a number >= 1, not '$nodes'"
    docker image inspect "${WDP_IMAGE:-wdp-node:latest}" >/dev/null 2>&1 ||
      die "no image ${WDP_IMAGE:-wdp-node:latest}: build it with 'make image'"
    compose up -d --scale node="$nodes"
    wait_healthy $(( nodes + 1 ))
    api=$(api_address)
    metrics=$(compose port bootstrap 9464 | tail -n1)
    cat <<EOT
cluster '$PROJECT' is up: bootstrap + $nodes nodes.
  API:     export WDP_API=$api WDP_API_TOKEN=\$(docker/cluster.sh token)
           then: wdp status | wdp put FILE | wdp get TICKET -o FILE
  metrics: curl http://${metrics/0.0.0.0:/127.0.0.1:}/metrics
  dashboard: open the link docker/cluster.sh dashboard prints (it carries the token)
  logs:    docker/cluster.sh logs -f
  chaos:   make chaos        tear down: make cluster-down
EOT
    ;;
  down)
    compose down --volumes --remove-orphans --timeout 5
    ;;
  chaos)
    PY=${PYTHON:-.venv/bin/python}
    [ -x "$PY" ] || PY=python3
    exec "$PY" -m wdp.ops.chaos --project "$PROJECT" "$@"
    ;;
  token) token ;;
  api) api_address ;;
  dashboard) dashboard_link ;;
  ps) compose ps ;;
  logs) compose logs "$@" ;;
  *)
    sed -n '2,16p' "$0" >&2
    exit 2
    ;;
esac
