#!/usr/bin/env bash
# Discovery under load (issue #15), measured by the server itself: `passerelle serve`
# (release) on the gen_feed aggregate (default 10,000 IdPs), wrk sending one-to-five-word
# queries and e-mail lookups to /institutions; then the server's own latency histogram
# for that route (/metrics, first bucket 0.5 ms) and its CPU per request (utime + stime
# from /proc before and after ÷ requests). Needs wrk and openssl.
#   crates/saml-sp/benches/discovery-load.sh [IDPS] [SECONDS] [CONNECTIONS]
set -euo pipefail
cd "$(dirname "$0")/../../.."
idps="${1:-10000}"; secs="${2:-10}"; conns="${3:-16}"
target=target/discovery-bench; mkdir -p "$target"
port=8383

cargo build -q --release -p passerelle-saml-sp --example gen_feed
cargo build -q --release -p passerelle
feed=target/feeds/feed-$idps.xml
[[ -f $feed ]] || target/release/examples/gen_feed "$idps"

for k in signing encryption; do
  [[ -f $target/$k.key ]] || openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=bench $k" \
    -keyout "$target/$k.key" -out "$target/$k.crt" 2>/dev/null
done
[[ -f $target/secret ]] || openssl rand -hex 32 > "$target/secret"
cat > "$target/passerelle.toml" <<TOML
public_url = "http://localhost:$port"
listen = "127.0.0.1:$port"
secret_file = "$PWD/$target/secret"

[store]
url = "memory"

[mail]
from = "bench <bench@uness.test>"
transport = "outbox"
dir = "$PWD/$target/outbox"

[saml]
cache_dir = "$PWD/$target/cache"

[saml.sp]
entity_id = "http://localhost:$port/saml/metadata"
acs_url = "http://localhost:$port/saml/acs"
name_fr = "Bench"
name_en = "Bench"
description_fr = "Bench"
description_en = "Bench"
information_url = "https://www.uness.fr/"
privacy_url = "https://www.uness.fr/"
organization_name = "UNESS"
organization_url = "https://www.uness.fr/"

[[saml.sp.contacts]]
kind = "technical"
name = "Bench"
email = "tech@uness.test"

[saml.keys]
signing_key = "$PWD/$target/signing.key"
signing_cert = "$PWD/$target/signing.crt"
encryption_key = "$PWD/$target/encryption.key"
encryption_cert = "$PWD/$target/encryption.crt"

[[saml.federations]]
name = "bench"
file = "$PWD/$feed"
certs = ["$PWD/${feed%.xml}.pem"]
TOML

target/release/passerelle serve --config "$target/passerelle.toml" > "$target/server.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
until curl -sf "http://127.0.0.1:$port/readyz" >/dev/null; do sleep 0.5; done

cat > "$target/queries.lua" <<'LUA'
local paths = {
  "/institutions?q=univ", "/institutions?q=university", "/institutions?q=u",
  "/institutions?q=university%2042", "/institutions?q=universite%20de%20paris",
  "/institutions?q=university%20number%204%202%201", "/institutions?q=zzz",
  "/institutions?q=university&offset=20",
  "/institutions?email=prenom.nom%40etu.univ-4242.example.fr",
  "/institutions?email=x%40nowhere.example.com",
}
local i = 0
request = function()
  i = i + 1
  return wrk.format("GET", paths[(i % #paths) + 1])
end
LUA

ticks=$(getconf CLK_TCK)
cpu() { awk '{ print $14 + $15 }' "/proc/$pid/stat"; }
count() { curl -s "http://127.0.0.1:$port/metrics" | awk -v r='route="/institutions"' \
  'index($0, "http_request_duration_seconds_count") && index($0, r) { print $2 }'; }
before_cpu=$(cpu); before_n=$(count); before_n=${before_n:-0}
wrk -t2 -c"$conns" -d"${secs}s" --latency -s "$target/queries.lua" "http://127.0.0.1:$port" \
  | grep -E "Requests/sec|50%|99%|Non-2xx"
after_cpu=$(cpu); after_n=$(count)
n=$((after_n - before_n))
echo "server CPU per request: $(awk -v c=$((after_cpu - before_cpu)) -v t="$ticks" -v n="$n" \
  'BEGIN { printf "%.1f µs", c / t / n * 1e6 }') over $n requests"
echo "server histogram for /institutions (cumulative):"
curl -s "http://127.0.0.1:$port/metrics" | grep 'http_request_duration_seconds_bucket' \
  | grep 'route="/institutions"' | head -4
echo "RSS: $(awk '/VmRSS/ { print $2 / 1024 " MiB" }' "/proc/$pid/status")"
