#!/usr/bin/env bash
# Load run for the token endpoint (issue #4): Passerelle's code exchanges (real Redis,
# signed ID token, access token, refresh token) against panva's oidc-provider serving
# client_credentials in the same run. Needs wrk, node/npm, redis-server.
#   crates/oidc-provider/benches/token-load.sh [SECONDS] [CONNECTIONS]
set -euo pipefail
cd "$(dirname "$0")/../../.."
secs="${1:-10}"; conns="${2:-32}"; threads=2
target=target/oidc-bench; mkdir -p "$target"
redis_port=6391
redis-server --port "$redis_port" --save "" --appendonly no --daemonize yes --logfile "$target/redis.log"
trap 'redis-cli -p $redis_port shutdown nosave >/dev/null 2>&1 || true; kill $(jobs -p) 2>/dev/null || true' EXIT

cargo build -q --release -p passerelle-oidc-provider --example bench_server
for alg in EdDSA ES256 RS256; do
  mint=$((secs * 20000))
  REDIS_URL=redis://127.0.0.1:$redis_port PORT=8181 MINT=$mint ALG=$alg CODES=$target/codes.txt \
    target/release/examples/bench_server > "$target/server.log" 2>&1 &
  pid=$!
  until grep -q ready "$target/server.log" 2>/dev/null; do sleep 0.5; done
  echo "== passerelle code exchange, ID token $alg"
  CODES=$target/codes.txt THREADS=$threads wrk -t$threads -c"$conns" -d"${secs}s" --latency \
    -s crates/oidc-provider/benches/token.lua http://127.0.0.1:8181 | grep -E "Requests/sec|99%|50%|Non-2xx"
  kill $pid; wait $pid 2>/dev/null || true
done

if [[ ! -d "$target/panva/node_modules/oidc-provider" ]]; then
  mkdir -p "$target/panva"
  echo '{"private":true,"type":"module"}' > "$target/panva/package.json"
  (cd "$target/panva" && npm install --silent --no-audit --no-fund oidc-provider@9)
fi
cp crates/oidc-provider/benches/panva/server.mjs "$target/panva/"
(cd "$target/panva" && PORT=8282 node server.mjs > server.log 2>&1) &
until grep -q ready "$target/panva/server.log" 2>/dev/null; do sleep 0.5; done
echo "== panva oidc-provider client_credentials"
wrk -t$threads -c"$conns" -d"${secs}s" --latency -s crates/oidc-provider/benches/panva/client_credentials.lua \
  http://127.0.0.1:8282/token | grep -E "Requests/sec|99%|50%|Non-2xx"
