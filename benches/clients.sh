#!/usr/bin/env bash
# A node fleet's day one: CLIENTS concurrent clients (default 1,000) pulling the same five
# images from `airgap serve`, side by side in one run with nginx serving the very same bytes
# (the manifests and blobs as static files of the same tree), which stands for what the
# loopback and this machine can move at all.
# Each image is a 16 MiB base layer shared by all five, a 2 MiB layer of its own and a config;
# every client connection walks the pull sequence (manifest by tag, config, layers) of the
# five images over and over for SECONDS. wrk (2 threads) keeps all connections open at once and
# reports throughput, errors and latency percentiles; the run fails on any error.
# Usage: benches/clients.sh [CLIENTS] [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
clients="${1:-1000}"
seconds="${2:-20}"
for tool in wrk nginx python3 bc; do
    command -v "$tool" >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk nginx-light python3 bc >/dev/null; break; }
done
ulimit -n "$(( clients * 4 + 1024 ))"
cargo build --release --locked --quiet
airgap="$PWD/target/release/airgap"
work=$(mktemp -d /var/tmp/airgap-clients-bench.XXXXXX)
chmod 755 "$work"
pids=()
trap 'for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; kill $(cat "$work/nginx.pid" 2>/dev/null) 2>/dev/null || true; rm -rf "$work"' EXIT

echo "building a media tree with five images ..."
mkdir -p "$work/workspace/manifests"
python3 - "$work/workspace/oci" "$work/paths" <<'PY'
import hashlib, json, os, sys
root, paths = sys.argv[1], sys.argv[2]
os.makedirs(f"{root}/blobs/sha256", exist_ok=True)
def blob(data, media_type):
    digest = hashlib.sha256(data).hexdigest()
    with open(f"{root}/blobs/sha256/{digest}", "wb") as out:
        out.write(data)
    return {"mediaType": media_type, "digest": "sha256:" + digest, "size": len(data)}
layer = "application/vnd.oci.image.layer.v1.tar"
base = blob(os.urandom(16 << 20), layer)
index, lines = [], []
for number in range(5):
    own = blob(os.urandom(2 << 20), layer)
    config = blob(json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": [base["digest"], own["digest"]]}}).encode(),
                  "application/vnd.oci.image.config.v1+json")
    manifest = blob(json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                                "config": config, "layers": [base, own]}).encode(), "application/vnd.oci.image.manifest.v1+json")
    index.append(dict(manifest, annotations={"org.opencontainers.image.ref.name": f"registry.fleet.internal/fleet/app-{number}:1.0"}))
    # airgap path, nginx path (the same bytes as a static file of the tree)
    repo = f"/v2/fleet/app-{number}"
    lines.append(f"{repo}/manifests/1.0?ns=registry.fleet.internal /oci/blobs/sha256/{manifest['digest'][7:]}")
    for part in (config, base, own):
        lines.append(f"{repo}/blobs/{part['digest']} /oci/blobs/sha256/{part['digest'][7:]}")
json.dump({"schemaVersion": 2, "manifests": index}, open(f"{root}/index.json", "w"))
open(f"{root}/oci-layout", "w").write('{"imageLayoutVersion":"1.0.0"}')
open(paths, "w").write("\n".join(lines) + "\n")
PY
# The layout names each image by its full reference, which is how the lock finds it.
for number in 0 1 2 3 4; do
    printf '[[image]]\nref = "registry.fleet.internal/fleet/app-%s:1.0"\nlayout = "oci"\n\n' "$number"
done > "$work/workspace/manifests/fleet.toml"
XDG_CONFIG_HOME="$work/config" "$airgap" --quiet -C "$work/workspace" --cache "$work/cache" materialize --to "$work/media"
chmod -R a+rX "$work/media"

port_ours=$(( 20000 + RANDOM % 10000 )); port_nginx=$(( port_ours + 1 ))
"$airgap" --quiet serve "$work/media" --listen "127.0.0.1:$port_ours" --max-connections $(( clients + 64 )) >/dev/null 2>&1 & pids+=($!)
cat > "$work/nginx.conf" <<NGINX
daemon on; worker_processes 2; worker_rlimit_nofile $(( clients * 4 )); pid $work/nginx.pid; error_log $work/nginx-error.log;
events { worker_connections $(( clients * 2 )); }
http { access_log off; sendfile on; tcp_nopush on; keepalive_requests 1000000; client_body_temp_path $work;
  proxy_temp_path $work; fastcgi_temp_path $work; uwsgi_temp_path $work; scgi_temp_path $work;
  server { listen 127.0.0.1:$port_nginx backlog=4096; root $work/media; } }
NGINX
nginx -c "$work/nginx.conf"
for _ in $(seq 50); do curl -fs "http://127.0.0.1:$port_ours/healthz" >/dev/null && break; sleep 0.1; done

# The wrk script: each connection cycles through the pull sequence of all five images.
write_script() { # COLUMN (1 = airgap paths, 2 = nginx paths) NAME [FILTER]
    {
        echo "paths = {"
        grep -e "${3:-.}" "$work/paths" | awk -v c="$1" '{printf "  \"%s\",\n", $c}'
        echo "}"
        cat <<'LUA'
local index = 0
request = function()
    index = index % #paths + 1
    return wrk.format("GET", paths[index], {["Accept"] = "application/vnd.oci.image.manifest.v1+json"})
end
done = function(summary, latency, requests)
    io.write(string.format("RESULT %d %d %d %d %d %d %.0f %.0f %.0f %.0f\n",
        summary.requests, summary.bytes,
        summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
        summary.errors.status, summary.duration, latency.max,
        latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9)))
end
LUA
    } > "$work/$2.lua"
}
write_script 1 airgap
write_script 2 nginx
write_script 1 airgap-manifests /manifests/
write_script 2 nginx-manifests /manifests/

run() { # SCRIPT PORT
    wrk -t2 -c"$clients" -d"${seconds}s" --timeout 60s -s "$work/$1.lua" "http://127.0.0.1:$2" > "$work/$1.out" 2>&1
    grep '^RESULT' "$work/$1.out" | tail -1
}
echo "== $clients clients, ${seconds}s each: whole pulls (manifests, configs, layers)"
nginx_result=$(run nginx "$port_nginx")
ours_result=$(run airgap "$port_ours")
report() { # LABEL RESULT
    set -- $1 $2
    local label=$1 requests=$3 bytes=$4 errors=$5 status=$6 micros=$7 max=$8 p50=$9 p90=${10} p99=${11} p999=${12}
    local seconds_run=$(echo "$micros / 1000000" | bc -l)
    printf '  %-14s %9.0f req/s %9.1f MiB/s  errors %s (non-2xx %s)  latency p50 %6.1f ms  p90 %6.1f ms  p99 %7.1f ms  p99.9 %7.1f ms  max %7.1f ms\n' \
        "$label" "$(echo "$requests / $seconds_run" | bc -l)" "$(echo "$bytes / $seconds_run / 1048576" | bc -l)" "$errors" "$status" \
        "$(echo "$p50 / 1000" | bc -l)" "$(echo "$p90 / 1000" | bc -l)" "$(echo "$p99 / 1000" | bc -l)" "$(echo "$p999 / 1000" | bc -l)" "$(echo "$max / 1000" | bc -l)"
    echo "$bytes $micros $errors $status" > "$work/$label.sum"
}
report nginx "$nginx_result"
report airgap "$ours_result"
# A layer's latency is its size over a fair share of the bandwidth; what a client waits for a
# manifest shows whether the server stays responsive to everyone under that load.
echo "   (fair share per client: $(echo "$(awk '{print $1 / $2 * 1000000 / 1048576}' "$work/airgap.sum") / $clients" | bc -l | xargs printf '%.2f') MiB/s, so a 16 MiB layer takes $(echo "16 * $clients / $(awk '{print $1 / $2 * 1000000 / 1048576}' "$work/airgap.sum")" | bc -l | xargs printf '%.1f') s)"
echo "== $clients clients, ${seconds}s each: manifests only (resolving tags)"
report nginx-manifests "$(run nginx-manifests "$port_nginx")"
report airgap-manifests "$(run airgap-manifests "$port_ours")"
read -r _ _ me ms < "$work/airgap-manifests.sum"
read -r nb nm ne ns < "$work/nginx.sum"
read -r ob om oe os < "$work/airgap.sum"
printf 'aggregate throughput: airgap %.1f MiB/s vs nginx %.1f MiB/s = %.2f of the ceiling\n' \
    "$(echo "$ob / $om * 1000000 / 1048576" | bc -l)" "$(echo "$nb / $nm * 1000000 / 1048576" | bc -l)" "$(echo "($ob / $om) / ($nb / $nm)" | bc -l)"
if [ "$oe" != 0 ] || [ "$os" != 0 ] || [ "$me" != 0 ] || [ "$ms" != 0 ]; then
    echo "airgap serve answered $((oe + me)) connection errors and $((os + ms)) non-2xx responses" >&2
    exit 1
fi
