#!/usr/bin/env bash
# Benchmark for `airgap push`: a media tree's images pushed into an empty loopback
# docker-registry, side by side in the same run with `skopeo copy --all oci:DIR/oci:<ref>
# docker://...` of each reference into another empty one. The set, one repository per image
# as Kubespray's images are: one multi-arch index (2 platforms), four images sharing a 24 MiB
# base layer, one image with a big layer. Also prints what the registry alone needs to take
# the big layer in one request: no client can push faster than that.
#
# Usage: benches/push.sh [BIG_LAYER_MIB]      (default 512)
# Target (issue #9): at most half of skopeo's wall time.
set -euo pipefail
cd "$(dirname "$0")/.."
big_mib="${1:-512}"

for tool in docker-registry skopeo /usr/bin/time python3 bc curl; do
    command -v "$tool" >/dev/null || { apt-get update -qq && apt-get install -y -qq docker-registry skopeo time python3 bc curl >/dev/null; break; }
done
cargo build --release --locked --quiet
airgap="$PWD/target/release/airgap"

work=$(mktemp -d /var/tmp/airgap-push-bench.XXXXXX)
pids=()
trap 'for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done; rm -rf "$work"' EXIT

# An empty registry; prints its port.
start_registry() {
    local name=$1 port=$(( 20000 + RANDOM % 20000 ))
    mkdir -p "$work/$name"
    cat > "$work/$name.yml" <<YAML
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $work/$name
http:
  addr: 127.0.0.1:$port
YAML
    docker-registry serve "$work/$name.yml" >/dev/null 2>&1 &
    pids+=($!)
    for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/v2/" >/dev/null && break; sleep 0.1; done
    echo "$port"
}

echo "building images (one layer of $big_mib MiB) ..."
python3 - "$work/workspace/build" "$big_mib" <<'PY'
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
    entries.append(dict(descriptor, annotations={"org.opencontainers.image.ref.name": f"registry.bench.internal/{name}:1"}))
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
    printf '[[image]]\nref = "registry.bench.internal/%s:1"\nlayout = "build"\nplatforms = ["all"]\n\n' "$name" >> "$work/workspace/manifests/images.toml"
done
XDG_CONFIG_HOME="$work/config" "$airgap" --quiet -C "$work/workspace" --cache "$work/cache" materialize --to "$work/media"
echo "media holds $(( $(du -sb "$work/media/oci" | cut -f1) / 1048576 )) MiB of images"
peer_port=$(start_registry peer)
ours_port=$(start_registry ours)

now() { date +%s.%N; }
sync
echo "== peer: skopeo copy --all oci:DIR/oci:<ref> docker://..., each reference"
start=$(now)
peer_rss=0
for name in $names; do
    /usr/bin/time -f '%M' -o "$work/rss" skopeo copy --quiet --all --dest-tls-verify=false \
        "oci:$work/media/oci:registry.bench.internal/$name:1" "docker://127.0.0.1:$peer_port/$name:1"
    rss=$(tail -1 "$work/rss"); [ "$rss" -gt "$peer_rss" ] && peer_rss=$rss
done
peer_seconds=$(echo "$(now) - $start" | bc -l)

sync
echo "== airgap push"
start=$(now)
/usr/bin/time -f '%M %e %U %S' -o "$work/rss" "$airgap" push "$work/media" --registry "127.0.0.1:$ours_port/mirror"
ours_seconds=$(echo "$(now) - $start" | bc -l)
ours_rss=$(tail -1 "$work/rss" | cut -d' ' -f1); echo "airgap: elapsed/user/sys $(tail -1 "$work/rss" | cut -d' ' -f2-)"
for name in $names; do
    ours=$(skopeo inspect --raw --tls-verify=false "docker://127.0.0.1:$ours_port/mirror/registry.bench.internal/$name:1" | sha256sum | cut -d' ' -f1)
    peer=$(skopeo inspect --raw --tls-verify=false "docker://127.0.0.1:$peer_port/$name:1" | sha256sum | cut -d' ' -f1)
    [ "$ours" = "$peer" ] || { echo "digest differs for $name: $ours vs $peer"; exit 1; }
done

# The registry alone: every blob of the layout in one monolithic PUT each, 4 at a time, from
# curl, with no HEAD, mount or manifest. What no client can go below.
floor_port=$(start_registry floor)
put_blob() {
    local file=$1 port=$2 location
    location=$(curl -si -X POST "http://127.0.0.1:$port/v2/floor/blobs/uploads/" | tr -d '\r' | sed -n 's/^[Ll]ocation: //p')
    curl -fs -o /dev/null -X PUT -H "Content-Type: application/octet-stream" -T "$file" "$location&digest=sha256:$(basename "$file")"
}
export -f put_blob
sync
start=$(now)
find "$work/media/oci/blobs/sha256" -type f -size +4k | xargs -P 4 -I{} bash -c 'put_blob {} '"$floor_port"
floor_seconds=$(echo "$(now) - $start" | bc -l)

echo
printf '%-40s %8.2f s\n' "registry alone (curl PUT of each blob)" "$floor_seconds"
printf '%-40s %8.2f s   peak RSS %4s MiB\n' "skopeo copy --all (6 references)" "$peer_seconds" "$(( peer_rss / 1024 ))"
printf '%-40s %8.2f s   peak RSS %4s MiB\n' "airgap push" "$ours_seconds" "$(( ours_rss / 1024 ))"
printf 'wall time ratio (airgap / skopeo): %.2f   (target <= 0.50)\n' "$(echo "$ours_seconds / $peer_seconds" | bc -l)"
