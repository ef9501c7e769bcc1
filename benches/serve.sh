#!/usr/bin/env bash
# Benchmark for `airgap serve`, side by side in one run on the same machine and the same bytes:
#  - registry: wrk (64 connections, 10 s) on a manifest and on a 64 MiB blob, against Debian's
#    docker-registry serving the same image. Targets: at least 5x its manifest requests/s, at
#    least its blob throughput.
#  - static files: wrk on a 1 MiB file against nginx serving the same file. Target: at least 80%
#    of nginx's requests/s and transfer rate.
# Every run must finish with zero errors (no socket errors, no non-2xx answers).
# Usage: benches/serve.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-10}"
for tool in wrk nginx docker-registry skopeo python3; do
    command -v "$tool" >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk nginx-light docker-registry skopeo >/dev/null; break; }
done
cargo build --release --locked --quiet
airgap="$PWD/target/release/airgap"
work=$(mktemp -d /var/tmp/airgap-serve-bench.XXXXXX)
chmod 755 "$work"
pids=()
trap 'for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; kill $(cat "$work/nginx.pid" 2>/dev/null) 2>/dev/null || true; rm -rf "$work"' EXIT

echo "building a media tree with one image (a 64 MiB layer) and a 1 MiB file ..."
mkdir -p "$work/workspace/manifests" "$work/workspace/artifacts"
head -c 1M /dev/urandom > "$work/workspace/artifacts/file.bin"
python3 - "$work/workspace/oci" <<'PY'
import gzip, hashlib, io, json, os, sys, tarfile
root = sys.argv[1]
os.makedirs(f"{root}/blobs/sha256", exist_ok=True)
def blob(data, media_type):
    digest = hashlib.sha256(data).hexdigest()
    open(f"{root}/blobs/sha256/{digest}", "wb").write(data)
    return {"mediaType": media_type, "digest": "sha256:" + digest, "size": len(data)}
payload = os.urandom(64 << 20)
buffer = io.BytesIO()
with tarfile.open(fileobj=buffer, mode="w") as archive:
    info = tarfile.TarInfo("big"); info.size = len(payload); info.mtime = 0
    archive.addfile(info, io.BytesIO(payload))
tar = buffer.getvalue()
layer = blob(gzip.compress(tar, compresslevel=1, mtime=0), "application/vnd.oci.image.layer.v1.tar+gzip")
config = blob(json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(tar).hexdigest()]}}).encode(), "application/vnd.oci.image.config.v1+json")
manifest = blob(json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json", "config": config, "layers": [layer]}).encode(), "application/vnd.oci.image.manifest.v1+json")
json.dump({"schemaVersion": 2, "manifests": [dict(manifest, annotations={"org.opencontainers.image.ref.name": "1.0"})]}, open(f"{root}/index.json", "w"))
open(f"{root}/oci-layout", "w").write('{"imageLayoutVersion":"1.0.0"}')
print(layer["digest"], manifest["digest"])
PY
layer=$(ls -S "$work/workspace/oci/blobs/sha256" | head -1)
cat > "$work/workspace/manifests/media.toml" <<TOML
[[file]]
name = "file"
url = "artifacts/file.bin"
path = "bench/file.bin"

[[image]]
ref = "registry.bench.internal/bench/app:1.0"
layout = "oci"
TOML
XDG_CONFIG_HOME="$work/config" "$airgap" --quiet -C "$work/workspace" --cache "$work/cache" materialize --to "$work/media"

port_registry=$(( 20000 + RANDOM % 10000 )); port_ours=$(( port_registry + 1 )); port_nginx=$(( port_registry + 2 ))
mkdir -p "$work/storage"
printf 'version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: 127.0.0.1:%s\n' "$work/storage" "$port_registry" > "$work/registry.yml"
docker-registry serve "$work/registry.yml" >/dev/null 2>&1 & pids+=($!)
"$airgap" --quiet serve "$work/media" --listen "127.0.0.1:$port_ours" >/dev/null 2>&1 & pids+=($!)
cat > "$work/nginx.conf" <<NGINX
daemon on; worker_processes 2; pid $work/nginx.pid; error_log $work/nginx-error.log;
events { worker_connections 1024; }
http { access_log off; sendfile on; tcp_nopush on; client_body_temp_path $work; proxy_temp_path $work;
  fastcgi_temp_path $work; uwsgi_temp_path $work; scgi_temp_path $work;
  server { listen 127.0.0.1:$port_nginx; root $work/media; } }
NGINX
nginx -c "$work/nginx.conf"
sleep 1
skopeo copy --quiet --dest-tls-verify=false "oci:$work/workspace/oci:1.0" "docker://127.0.0.1:$port_registry/bench/app:1.0"
chmod -R a+rX "$work/media"

accept="Accept: application/vnd.oci.image.manifest.v1+json"
run_wrk() { # label url [header]
    local label=$1 url=$2 header=${3:-X-Bench: 1}
    wrk -t2 -c64 -d"${seconds}s" --timeout 30s -H "$header" "$url" > "$work/wrk.out" 2>&1
    local rps transfer errors
    rps=$(awk '/^Requests\/sec:/{print $2}' "$work/wrk.out")
    transfer=$(awk '/^Transfer\/sec:/{print $2}' "$work/wrk.out")
    errors=$(grep -E 'Socket errors|Non-2xx' "$work/wrk.out" | tr '\n' ' ' || true)
    printf '  %-40s %12s req/s %12s/s  %s\n' "$label" "$rps" "$transfer" "${errors:-0 errors}"
    echo "$rps"
}
to_mib() { # wrk transfer like 1.23GB -> MiB
    echo "$1" | awk '{v=$1; u=substr(v, length(v)-1); n=substr(v, 1, length(v)-2); if (u=="GB") n*=1024; else if (u=="KB") n/=1024; else if (u!="MB") n/=1048576; print n}'
}

echo "== registry: manifest"
registry_manifest=$(run_wrk "docker-registry" "http://127.0.0.1:$port_registry/v2/bench/app/manifests/1.0" "$accept" | tee /dev/stderr | tail -1)
ours_manifest=$(run_wrk "airgap serve" "http://127.0.0.1:$port_ours/v2/bench/app/manifests/1.0" "$accept" | tee /dev/stderr | tail -1)
echo "== registry: 64 MiB blob"
run_wrk "docker-registry" "http://127.0.0.1:$port_registry/v2/bench/app/blobs/sha256:$layer" > "$work/registry-blob" ; cat "$work/registry-blob" | head -1
registry_blob=$(awk '/^Transfer\/sec:/{print $2}' "$work/wrk.out")
run_wrk "airgap serve" "http://127.0.0.1:$port_ours/v2/bench/app/blobs/sha256:$layer" > "$work/ours-blob"; cat "$work/ours-blob" | head -1
ours_blob=$(awk '/^Transfer\/sec:/{print $2}' "$work/wrk.out")
echo "== static 1 MiB file"
run_wrk "nginx" "http://127.0.0.1:$port_nginx/files/bench/file.bin" > "$work/nginx-file"; cat "$work/nginx-file" | head -1
nginx_rps=$(awk '/^Requests\/sec:/{print $2}' "$work/wrk.out"); nginx_transfer=$(awk '/^Transfer\/sec:/{print $2}' "$work/wrk.out")
run_wrk "airgap serve" "http://127.0.0.1:$port_ours/files/bench/file.bin" > "$work/ours-file"; cat "$work/ours-file" | head -1
ours_rps=$(awk '/^Requests\/sec:/{print $2}' "$work/wrk.out"); ours_transfer=$(awk '/^Transfer\/sec:/{print $2}' "$work/wrk.out")

echo
printf 'manifest requests/s: airgap %s vs docker-registry %s = %.1fx (target >= 5x)\n' "$ours_manifest" "$registry_manifest" "$(echo "$ours_manifest / $registry_manifest" | bc -l)"
printf 'blob throughput: airgap %s/s vs docker-registry %s/s = %.2fx (target >= 1x)\n' "$ours_blob" "$registry_blob" "$(echo "$(to_mib "$ours_blob") / $(to_mib "$registry_blob")" | bc -l)"
printf 'static file requests/s: airgap %s vs nginx %s = %.2f (target >= 0.80)\n' "$ours_rps" "$nginx_rps" "$(echo "$ours_rps / $nginx_rps" | bc -l)"
printf 'static file transfer: airgap %s/s vs nginx %s/s = %.2f (target >= 0.80)\n' "$ours_transfer" "$nginx_transfer" "$(echo "$(to_mib "$ours_transfer") / $(to_mib "$nginx_transfer")" | bc -l)"
