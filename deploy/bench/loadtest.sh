#!/usr/bin/env bash
# Load test of the provider's hot paths with wrk (a separate process on the same machine):
# client-credentials tokens, JWKS, discovery and introspection, on PostgreSQL, and the server's
# peak RSS. Usage: deploy/bench/loadtest.sh [seconds] [connections]
# Needs: Go, wrk (apt-get install wrk), PostgreSQL at GATEHOUSE_BENCH_DATABASE_URL (default
# postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable; a database gh_bench is recreated).
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-15}
conns=${2:-32}
admin=${GATEHOUSE_BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable}
db=${admin/\/postgres\?/\/gh_bench?}
addr=127.0.0.1:18080
bin=$(mktemp -d)/gatehouse
go build -o "$bin" ./cmd/gatehouse
psql "$admin" -qc 'DROP DATABASE IF EXISTS gh_bench' -c 'CREATE DATABASE gh_bench'
export GATEHOUSE_DATABASE_URL=$db GATEHOUSE_SECRET=$(head -c 32 /dev/urandom | base64)
# wrk is one client from one address: lift the per-IP and per-client rate limits, which would
# otherwise measure the limiter.
export GATEHOUSE_TOKEN_RATE=100000000-M GATEHOUSE_TOKEN_CLIENT_RATE=100000000-M GATEHOUSE_INTROSPECT_RATE=100000000-M
"$bin" migrate up >/dev/null
client=$("$bin" clients create --name bench --grant-type client_credentials --scope "todos:read" --audience https://api.example -o json)
id=$(echo "$client" | sed -n 's/.*"client_id": "\(.*\)".*/\1/p')
secret=$(echo "$client" | sed -n 's/.*"client_secret": "\(.*\)".*/\1/p')
"$bin" serve idp ${GATEHOUSE_BENCH_PPROF:+--pprof-addr 127.0.0.1:6060} --idp-addr $addr --issuer http://$addr --log-format json --log-level "${GATEHOUSE_BENCH_LOG_LEVEL:-info}" >/dev/null 2>"$bin.log" &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null || true' EXIT
for _ in $(seq 50); do curl -sf http://$addr/readyz >/dev/null && break; sleep 0.2; done
echo "--- RSS after start-up: $(grep VmHWM /proc/$pid/status | awk '{print $2/1024 " MB"}') peak"
echo 5 > /proc/$pid/clear_refs 2>/dev/null || true # reset the peak so the figure below is the load's
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); PostgreSQL $(psql "$admin" -Atc 'show server_version')"
echo "wrk: ${secs}s, ${conns} connections, 2 threads"
run() {
  local name=$1; shift
  echo "--- $name"
  wrk -t2 -c"$conns" -d"${secs}s" --latency "$@" | grep -E 'Requests/sec|non-200|p50|Non-2xx|Socket errors'
}
profile() { # profile the server during the next scenario when GATEHOUSE_BENCH_PPROF_SCENARIO names it
  if [ -n "${GATEHOUSE_BENCH_PPROF:-}" ] && [ "${GATEHOUSE_BENCH_PPROF_SCENARIO:-introspection}" = "$1" ]; then
    curl -s "http://127.0.0.1:6060/debug/pprof/profile?seconds=$((secs-2))" -o "$GATEHOUSE_BENCH_PPROF" &
    prof=$!
  fi
}
profile cc
BODY="grant_type=client_credentials&scope=todos:read" AUTH="$id:$secret" run "client credentials (ES256 JWT)" -s deploy/bench/post.lua http://$addr/oauth2/token
run "JWKS" http://$addr/.well-known/jwks.json
run "discovery" http://$addr/.well-known/openid-configuration
token=$(curl -s -u "$id:$secret" -d grant_type=client_credentials http://$addr/oauth2/token | sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p')
profile introspection
BODY="token=$token" AUTH="$id:$secret" run "introspection" -s deploy/bench/post.lua http://$addr/oauth2/introspect
[ -z "${prof:-}" ] || wait "$prof" || true
echo "--- peak RSS of the server under load: $(grep VmHWM /proc/$pid/status | awk '{print $2/1024 " MB"}')"
