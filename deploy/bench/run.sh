#!/usr/bin/env bash
# The figures of BENCHMARKS.md: Gatehouse (provider and resource API) as its own process on
# PostgreSQL, loaded by `gatehouse bench` in remote mode from a second process on the same
# machine, one scenario at a time, with the server's peak RSS during each.
#
# Usage: deploy/bench/run.sh [duration] [concurrency] [scenario…]
#   defaults: 15s, 32, client-credentials refresh introspect authorize resource-read
#   resource-write jwks discovery mixed
# Needs: Go, psql, PostgreSQL at GATEHOUSE_BENCH_ADMIN_URL (default
# postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable; a database gh_bench is recreated).
# GATEHOUSE_BENCH_PPROF=FILE writes a 10 s CPU profile of the server taken during the first
# scenario.
set -euo pipefail
cd "$(dirname "$0")/../.."
duration=${1:-15s}
conc=${2:-32}
shift $(( $# > 2 ? 2 : $# ))
scenarios=("$@")
[ ${#scenarios[@]} -gt 0 ] || scenarios=(client-credentials refresh introspect authorize resource-read resource-write jwks discovery mixed)

admin=${GATEHOUSE_BENCH_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable}
db=${admin/\/postgres\?/\/gh_bench?}
idp=127.0.0.1:18080
api=127.0.0.1:18090
dir=$(mktemp -d)
bin=$dir/gatehouse
go build -o "$bin" ./cmd/gatehouse
psql "$admin" -qc 'DROP DATABASE IF EXISTS gh_bench' -c 'CREATE DATABASE gh_bench'
export GATEHOUSE_DATABASE=$db GATEHOUSE_SECRET=$(head -c 32 /dev/urandom | base64) GATEHOUSE_MAIL_OUTBOX=
# The load comes from one address and one client: lift the token and introspection limits,
# which would otherwise measure the limiter. The login limit stays at its default; bench's
# sign-ins come from many addresses through X-Forwarded-For, which the server trusts from the
# loopback proxy.
export GATEHOUSE_TOKEN_RATE=100000000-M GATEHOUSE_TOKEN_CLIENT_RATE=100000000-M GATEHOUSE_INTROSPECT_RATE=100000000-M
"$bin" migrate up >/dev/null
field() { sed -n "s/.*\"$1\": \"\([^\"]*\)\".*/\1/p"; }
client=$("$bin" clients create --name "bench app" --grant-type client_credentials --grant-type authorization_code \
  --grant-type refresh_token --redirect-uri http://127.0.0.1/bench/app --scope "openid offline_access todos:read todos:write" \
  --audience "http://$api" -o json)
password=$(head -c 24 /dev/urandom | base64 | tr -d '/+=')
# Several people: one account signing in many times at once would only meet its throttle.
users=""
for i in $(seq 0 15); do
  echo "$password" | "$bin" users create --email "bench-$i@bench.invalid" --verified --password-stdin >/dev/null
  users="$users${users:+,}bench-$i@bench.invalid"
done
export GATEHOUSE_BENCH_CLIENT_ID=$(echo "$client" | field client_id)
export GATEHOUSE_BENCH_CLIENT_SECRET=$(echo "$client" | field client_secret)
export GATEHOUSE_BENCH_USERNAME=$users GATEHOUSE_BENCH_PASSWORD=$password
export GATEHOUSE_BENCH_REDIRECT_URI=http://127.0.0.1/bench/app GATEHOUSE_BENCH_RESOURCE_URL=http://$api
export GATEHOUSE_BENCH_ISSUER=http://$idp

"$bin" serve ${GATEHOUSE_BENCH_PPROF:+--pprof-addr 127.0.0.1:6060} --idp-addr $idp --resource-addr $api \
  --issuer http://$idp --resource-audience http://$api --trusted-proxies 127.0.0.1/32 \
  --log-format json --log-level "${GATEHOUSE_BENCH_LOG_LEVEL:-info}" >/dev/null 2>"$dir/server.log" &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null || true; rm -rf "$dir"' EXIT
for _ in $(seq 100); do curl -sf http://$idp/readyz >/dev/null && curl -sf http://$api/openapi.json >/dev/null && break; sleep 0.2; done
rss() { awk '/VmHWM/ {printf "%.0f MB", $2/1024}' /proc/$pid/status; }
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); PostgreSQL $(psql "$admin" -Atc 'show server_version'); $(go version | cut -d' ' -f3)"
echo "server RSS after start-up: $(rss) peak"
echo "gatehouse bench: $duration per scenario, $conc workers, remote mode"
for s in "${scenarios[@]}"; do
  echo 5 > /proc/$pid/clear_refs 2>/dev/null || true # restart the peak count: the figure is this scenario's
  if [ -n "${GATEHOUSE_BENCH_PPROF:-}" ] && [ -z "${prof:-}" ]; then
    curl -s "http://127.0.0.1:6060/debug/pprof/profile?seconds=10" -o "$GATEHOUSE_BENCH_PPROF" & prof=$!
  fi
  c=$conc
  # A sign-in hashes a password; the hasher runs one hash per core with a short queue and sheds
  # the rest with 503 (by design), so authorize runs with as many workers as that admits.
  [ "$s" != authorize ] || c=$(( conc < 8 ? conc : 8 ))
  extra=()
  # mixed runs at a steady rate below saturation, where operators run a service: flat out,
  # sign-ins (whose hashes run at idle priority) wait behind the rest and some get 503.
  [ "$s" != mixed ] || extra=(--rate "${GATEHOUSE_BENCH_MIXED_RATE:-1200}")
  "$bin" bench --duration "$duration" --concurrency "$c" "${extra[@]}" "$s" || echo "bench $s failed"
  echo "server peak RSS during $s: $(rss)"
done
[ -z "${prof:-}" ] || wait "$prof" || true
