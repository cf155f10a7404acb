# Shared helpers for scripts/test, scripts/demo, scripts/bench and scripts/chaos. Source it.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# Installs what is missing (Debian, as root): hiredis headers, redis-server, pkg-config.
# (scripts/sentinel-check runs its sentinels as `redis-server FILE --sentinel`: Debian's separate
# redis-sentinel package is not needed.)
ensure_deps() {
  local missing=()
  pkg-config --exists hiredis 2>/dev/null || missing+=(libhiredis-dev)
  command -v redis-server >/dev/null || missing+=(redis-server)
  command -v redis-cli >/dev/null || missing+=(redis-tools)
  command -v pkg-config >/dev/null || missing+=(pkg-config)
  command -v procps >/dev/null 2>&1 || command -v ps >/dev/null || missing+=(procps)
  if ((${#missing[@]})); then
    if [[ $(id -u) -ne 0 ]]; then
      echo "missing packages: ${missing[*]}; install them (apt-get install ${missing[*]}) or run as root" >&2
      exit 1
    fi
    say "installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
  command -v swift >/dev/null || { echo "swift (6.x) is not on PATH; install a Swift toolchain first" >&2; exit 1; }
}

# What only the tests need: promtool and the prometheus server (Debian's prometheus package; the
# server runs only inside scripts/prometheus-check, on a private port) and iproute2 (network
# namespaces for scripts/fleet-check).
ensure_test_deps() {
  local missing=()
  command -v promtool >/dev/null && command -v prometheus >/dev/null || missing+=(prometheus)
  command -v ip >/dev/null || missing+=(iproute2)
  ((${#missing[@]})) || return 0
  [[ $(id -u) -eq 0 ]] || { echo "missing: ${missing[*]}; install them (apt-get install ${missing[*]}) or run as root" >&2; exit 1; }
  say "installing ${missing[*]} (promtool, ip)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# Prints a free TCP port on loopback.
free_port() {
  local port
  for _ in $(seq 1 200); do
    port=$((20000 + RANDOM % 12000))  # below the ephemeral range (32768+), where a retrying client can self-connect
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then echo "$port"; return; fi
  done
  echo "no free port found" >&2; return 1
}

# start_redis DIR PORT [extra redis-server args...]: a private server, daemonized, waits until it answers.
start_redis() {
  local dir=$1 port=$2; shift 2
  mkdir -p "$dir"
  redis-server --port "$port" --bind 127.0.0.1 --dir "$dir" --save "" --appendonly no \
    --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" "$@" >/dev/null
  for _ in $(seq 1 100); do
    [[ $(redis-cli -p "$port" ping 2>/dev/null) == PONG ]] && return 0
    sleep 0.05
  done
  echo "redis-server did not start on port $port; see $dir/redis.log" >&2
  return 1
}

stop_redis() {
  local dir=$1
  [[ -f $dir/redis.pid ]] || return 0
  local pid; pid=$(cat "$dir/redis.pid" 2>/dev/null || true)
  [[ -n $pid ]] && kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  kill -9 "$pid" 2>/dev/null || true
}

# Installs what the Playwright robot needs (Debian's chromium, python3 with venv) and a venv at
# $ROOT/.venv-rpa with examples/rpa/requirements.txt. Exports RPA_PYTHON and CHROMIUM_PATH.
ensure_rpa_deps() {
  local missing=()
  [[ -x /usr/lib/chromium/chromium ]] || missing+=(chromium)
  command -v python3 >/dev/null || missing+=(python3)
  python3 -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3-venv)
  if ((${#missing[@]})); then
    [[ $(id -u) -eq 0 ]] || { echo "missing packages: ${missing[*]}; install them (apt-get install ${missing[*]}) or run as root" >&2; exit 1; }
    say "installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
  local venv=$ROOT/.venv-rpa req=$ROOT/examples/rpa/requirements.txt
  if [[ ! -x $venv/bin/python || ! -f $venv/.installed || $req -nt $venv/.installed ]]; then
    say "creating $venv (Playwright from PyPI; the browser is Debian's chromium)"
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check -r "$req"
    touch "$venv/.installed"
  fi
  # The robot is written on the Python SDK: (re)installed when clients/python changed.
  if [[ ! -f $venv/.sdk-installed ]] || sdk_changed_since "$venv/.sdk-installed"; then
    "$venv/bin/pip" install -q --disable-pip-version-check "$ROOT/clients/python"
    touch "$venv/.sdk-installed"
  fi
  export RPA_PYTHON=$venv/bin/python CHROMIUM_PATH=/usr/lib/chromium/chromium
  # Playwright must never try to download a browser of its own.
  export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
}

# start_portal DIR: the mock portal on a free loopback port; sets PORTAL_URL and PORTAL_PID.
start_portal() {
  local dir=$1
  mkdir -p "$dir"
  rm -f "$dir/portal.port"
  "${RPA_PYTHON:-python3}" "$ROOT/examples/rpa/portal.py" --port 0 --port-file "$dir/portal.port" 2>"$dir/portal.log" &
  PORTAL_PID=$!
  for _ in $(seq 1 100); do [[ -s $dir/portal.port ]] && break; sleep 0.05; done
  [[ -s $dir/portal.port ]] || { echo "the mock portal did not start; see $dir/portal.log" >&2; return 1; }
  export PORTAL_URL="http://127.0.0.1:$(cat "$dir/portal.port")"
}

# sdk_changed_since STAMP: true when a file of the Python SDK (clients/python) is newer than STAMP.
sdk_changed_since() {
  [[ -n $(find "$ROOT/clients/python/pyproject.toml" "$ROOT/clients/python/src" -newer "$1" -type f -print -quit 2>/dev/null) ]]
}

# A venv at $ROOT/.venv-sdk with the Python SDK (clients/python) and pytest, for its tests.
# Exports SDK_PYTHON.
ensure_sdk_venv() {
  local venv=$ROOT/.venv-sdk
  command -v python3 >/dev/null && python3 -c 'import ensurepip, venv' 2>/dev/null \
    || { echo "python3 with venv is missing (apt-get install python3-venv)" >&2; exit 1; }
  if [[ ! -x $venv/bin/python || ! -f $venv/.installed ]]; then
    say "creating $venv (redis-py and pytest from PyPI)"
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check pytest
    touch "$venv/.installed"
  fi
  if [[ ! -f $venv/.sdk-installed ]] || sdk_changed_since "$venv/.sdk-installed"; then
    "$venv/bin/pip" install -q --disable-pip-version-check "$ROOT/clients/python"
    touch "$venv/.sdk-installed"
  fi
  export SDK_PYTHON=$venv/bin/python
}
