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
source benches/lib.sh
trap 'stop_registries; rm -rf "$work"' EXIT

port=$(start_registry storage)

echo "building images (one layer of $big_mib MiB) ..."
build_images "$work/build" "$big_mib" "{name}"
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
