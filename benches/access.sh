#!/usr/bin/env bash
# Benchmark for serve's access control, side by side in one run on the same media: manifest
# requests/s (64 connections) and 64 MiB blob throughput (8 connections) through `airgap serve`
# with plain TLS, then with mutual TLS (--client-ca, a client certificate on every connection),
# then with TLS and --htpasswd (Basic on every request). The same client (benches/load.rs,
# reqwest with rustls) drives each. Target: mutual TLS within 15% of plain TLS.
# Usage: benches/access.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-10}"
for tool in python3 bc curl openssl htpasswd; do
    command -v "$tool" >/dev/null || { apt-get update -qq && apt-get install -y -qq python3 bc curl openssl apache2-utils >/dev/null; break; }
done
cargo build --release --locked --quiet
cargo bench --bench load --no-run --quiet 2>/dev/null
load=$(ls -t target/release/deps/load-* | grep -v '\.d$' | head -1)
airgap="$PWD/target/release/airgap"
work=$(mktemp -d /var/tmp/airgap-access-bench.XXXXXX)
source benches/lib.sh
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

echo "building a media tree with an image of one 64 MiB layer ..."
build_images "$work/workspace/build" 64 "registry.bench.internal/{name}:1"
mkdir -p "$work/workspace/manifests"
printf '[[image]]\nref = "registry.bench.internal/big:1"\nlayout = "build"\n' > "$work/workspace/manifests/images.toml"
XDG_CONFIG_HOME="$work/config" "$airgap" --quiet -C "$work/workspace" --cache "$work/cache" materialize --to "$work/media"
manifest=$(python3 -c "import json,sys; print(json.load(open('$work/media/oci/index.json'))['manifests'][0]['digest'])")
layer=$(ls -S "$work/media/oci/blobs/sha256" | head -1)

echo "making a server CA, a client CA and a client certificate with openssl ..."
cd "$work"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=server-ca -keyout server-ca.key -out server-ca.pem 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=127.0.0.1 -keyout server.key -out server.csr 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\n' > server.ext
openssl x509 -req -in server.csr -CA server-ca.pem -CAkey server-ca.key -CAcreateserial -days 2 -extfile server.ext -out server.pem 2>/dev/null
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=client-ca -keyout client-ca.key -out client-ca.pem 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=node1 -keyout client.key -out client.csr 2>/dev/null
printf 'extendedKeyUsage=clientAuth\n' > client.ext
openssl x509 -req -in client.csr -CA client-ca.pem -CAkey client-ca.key -CAcreateserial -days 2 -extfile client.ext -out client.pem 2>/dev/null
htpasswd -cbB htpasswd node bench-password 2>/dev/null
cd - >/dev/null

run() { # LABEL "SERVE ARGS" "CERT KEY" [USER:PASSWORD]
    local label=$1 serve_args=$2 identity=$3 basic=${4:-}
    local port=$(( 20000 + RANDOM % 20000 ))
    # shellcheck disable=SC2086
    "$airgap" --quiet serve "$work/media" --listen "127.0.0.1:$port" \
        --tls-cert "$work/server.pem" --tls-key "$work/server.key" $serve_args >/dev/null 2>&1 &
    local pid=$!
    sleep 0.5
    local base="https://127.0.0.1:$port/v2/registry.bench.internal/big"
    # shellcheck disable=SC2086
    read -r m_rps _ m_err < <(LOAD_BASIC="$basic" "$load" "$base/manifests/$manifest" 64 "$seconds" "$work/server-ca.pem" $identity)
    # shellcheck disable=SC2086
    read -r _ b_mib b_err < <(LOAD_BASIC="$basic" "$load" "$base/blobs/sha256:$layer" 8 "$seconds" "$work/server-ca.pem" $identity)
    kill "$pid"; wait "$pid" 2>/dev/null || true
    printf '  %-16s manifests %8s req/s   blob %8s MiB/s   errors %s\n' "$label" "$m_rps" "$b_mib" "$((m_err + b_err))"
    echo "$m_rps $b_mib" > "$work/result-${label// /_}"
}

echo "== ${seconds}s per measurement"
run "TLS" "" ""
run "mutual TLS" "--client-ca $work/client-ca.pem" "$work/client.pem $work/client.key"
run "TLS + htpasswd" "--htpasswd $work/htpasswd" "" "node:bench-password"
read -r tls_m tls_b < "$work/result-TLS"
read -r mtls_m mtls_b < "$work/result-mutual_TLS"
read -r basic_m basic_b < "$work/result-TLS_+_htpasswd"
printf 'mutual TLS / TLS: manifests %.2f, blob %.2f (target >= 0.85 each)\n' \
    "$(echo "$mtls_m / $tls_m" | bc -l)" "$(echo "$mtls_b / $tls_b" | bc -l)"
printf 'htpasswd / TLS:   manifests %.2f, blob %.2f\n' \
    "$(echo "$basic_m / $tls_m" | bc -l)" "$(echo "$basic_b / $tls_b" | bc -l)"
