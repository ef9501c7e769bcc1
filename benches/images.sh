#!/usr/bin/env bash
# Benchmark for [[image]]: materialize a set of images from a loopback docker-registry (cold
# cache) side by side with `skopeo copy --all` of the same references into one OCI layout, in
# the same run. The set: one multi-arch index (2 platforms), four images sharing a base layer,
# one image with a 512 MiB layer. Prints wall time, peak RSS and the ratio.
#
# Usage: benches/images.sh [BIG_LAYER_MIB]      (default 512)
# Target (issue #3): at most half of skopeo's wall time, peak RSS under 64 MiB.
set -euo pipefail
cd "$(dirname "$0")/.."
big_mib="${1:-512}"

for tool in docker-registry skopeo /usr/bin/time python3 bc; do
    command -v "$tool" >/dev/null || { apt-get update -qq && apt-get install -y -qq docker-registry skopeo time python3 bc >/dev/null; break; }
done
cargo build --release --locked --quiet
airgap="$PWD/target/release/airgap"

work=$(mktemp -d /var/tmp/airgap-images-bench.XXXXXX)
registry_pid=""
trap '[ -n "$registry_pid" ] && kill "$registry_pid" 2>/dev/null; rm -rf "$work"' EXIT

port=$(( 20000 + RANDOM % 20000 ))
mkdir -p "$work/storage"
cat > "$work/registry.yml" <<YAML
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: $work/storage
http:
  addr: 127.0.0.1:$port
YAML
docker-registry serve "$work/registry.yml" >/dev/null 2>&1 &
registry_pid=$!
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/v2/" >/dev/null && break; sleep 0.1; done

echo "building images (one layer of $big_mib MiB) ..."
python3 - "$work/build" "$big_mib" <<'PY'
import gzip, hashlib, io, json, os, sys, tarfile
root, big = sys.argv[1], int(sys.argv[2])
os.makedirs(f"{root}/blobs/sha256", exist_ok=True)
def blob(data, media_type):
    digest = hashlib.sha256(data).hexdigest()
    with open(f"{root}/blobs/sha256/{digest}", "wb") as out:
        out.write(data)
    return {"mediaType": media_type, "digest": "sha256:" + digest, "size": len(data)}
def layer(name, size):
    payload = os.urandom(size)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        info = tarfile.TarInfo(name); info.size = size; info.mtime = 0
        archive.addfile(info, io.BytesIO(payload))
    tar = buffer.getvalue()
    return blob(gzip.compress(tar, compresslevel=1, mtime=0), "application/vnd.oci.image.layer.v1.tar+gzip"), "sha256:" + hashlib.sha256(tar).hexdigest()
def image(arch, layers):
    config = json.dumps({"architecture": arch, "os": "linux", "rootfs": {"type": "layers", "diff_ids": [diff for _, diff in layers]}}).encode()
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": blob(config, "application/vnd.oci.image.config.v1+json"),
                           "layers": [descriptor for descriptor, _ in layers]}).encode()
    return blob(manifest, "application/vnd.oci.image.manifest.v1+json")
entries = []
def tag(name, descriptor):
    entries.append(dict(descriptor, annotations={"org.opencontainers.image.ref.name": name}))
base = layer("base", 24 << 20)
for number in range(4):
    tag(f"shared-{number}", image("amd64", [base, layer(f"app{number}", 8 << 20)]))
amd64 = image("amd64", [base, layer("amd64", 16 << 20)])
arm64 = image("arm64", [base, layer("arm64", 16 << 20)])
index = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                    "manifests": [dict(amd64, platform={"os": "linux", "architecture": "amd64"}),
                                  dict(arm64, platform={"os": "linux", "architecture": "arm64"})]}).encode()
tag("multi", blob(index, "application/vnd.oci.image.index.v1+json"))
tag("big", image("amd64", [layer("big", big << 20)]))
with open(f"{root}/index.json", "w") as out:
    json.dump({"schemaVersion": 2, "manifests": entries}, out)
with open(f"{root}/oci-layout", "w") as out:
    out.write('{"imageLayoutVersion":"1.0.0"}')
PY
names="shared-0 shared-1 shared-2 shared-3 multi big"
mkdir -p "$work/workspace/manifests"
for name in $names; do
    skopeo copy --quiet --all --dest-tls-verify=false "oci:$work/build:$name" "docker://127.0.0.1:$port/bench/$name:1"
    printf '[[image]]\nref = "127.0.0.1:%s/bench/%s:1"\nplatforms = ["all"]\n\n' "$port" "$name" >> "$work/workspace/manifests/images.toml"
done
total_bytes=$(du -sb "$work/storage" | cut -f1)
echo "registry holds $(( total_bytes / 1048576 )) MiB"

now() { date +%s.%N; }

# Dirty pages from building and pushing would throttle whichever contender runs first.
sync
echo "== peer: skopeo copy --all, every reference into one OCI layout"
start=$(now)
peer_rss=0
for name in $names; do
    /usr/bin/time -f '%M' -o "$work/rss" skopeo copy --quiet --all --src-tls-verify=false \
        "docker://127.0.0.1:$port/bench/$name:1" "oci:$work/peer:127.0.0.1:$port/bench/$name:1"
    rss=$(tail -1 "$work/rss"); [ "$rss" -gt "$peer_rss" ] && peer_rss=$rss
done
peer_seconds=$(echo "$(now) - $start" | bc -l)

sync
echo "== airgap materialize (cold cache)"
start=$(now)
/usr/bin/time -f '%M %e %U %S' -o "$work/rss" env XDG_CONFIG_HOME="$work/config" "$airgap" --quiet \
    -C "$work/workspace" --cache "$work/cache" materialize --to "$work/media"
ours_seconds=$(echo "$(now) - $start" | bc -l)
ours_rss=$(tail -1 "$work/rss" | cut -d' ' -f1); echo "airgap: elapsed/user/sys $(tail -1 "$work/rss" | cut -d' ' -f2-)"
"$airgap" --quiet verify "$work/media"

echo
printf '%-40s %8.2f s   peak RSS %4s MiB\n' "skopeo copy --all (6 references)" "$peer_seconds" "$(( peer_rss / 1024 ))"
printf '%-40s %8.2f s   peak RSS %4s MiB\n' "airgap materialize" "$ours_seconds" "$(( ours_rss / 1024 ))"
printf 'wall time ratio (airgap / skopeo): %.2f   (target <= 0.50)\n' "$(echo "$ours_seconds / $peer_seconds" | bc -l)"
