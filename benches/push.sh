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
source benches/lib.sh
trap 'stop_registries; rm -rf "$work"' EXIT

echo "building images (one layer of $big_mib MiB) ..."
build_images "$work/workspace/build" "$big_mib" "registry.bench.internal/{name}:1"
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
