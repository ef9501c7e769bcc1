#!/usr/bin/env bash
# Benchmark for `airgap apply`: the time to add a 10 MB delta to a mirror of 1 GB and of 4 GB,
# side by side in one run. apply copies what the delta carries and hard-links the rest, so its
# time should follow the delta's size, not the mirror's. Target: within 20% of each other.
# Usage: benches/apply.sh
set -euo pipefail
cd "$(dirname "$0")/.."
command -v bc >/dev/null || { apt-get update -qq && apt-get install -y -qq bc >/dev/null; }
cargo build --release --locked --quiet
airgap="$PWD/target/release/airgap"
work=$(mktemp -d /var/tmp/airgap-apply-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
now() { date +%s.%N; }

results=()
for gib in 1 4; do
    ws="$work/ws-$gib"
    mkdir -p "$ws/manifests" "$ws/artifacts"
    : > "$ws/manifests/files.toml"
    for index in $(seq 1 $((gib * 10))); do
        head -c $((100 << 20)) /dev/urandom > "$ws/artifacts/part-$index"
        printf '[[file]]\nname = "part-%s"\nurl = "artifacts/part-%s"\n\n' "$index" "$index" >> "$ws/manifests/files.toml"
    done
    "$airgap" --quiet -C "$ws" --cache "$work/cache-$gib" materialize --to "$work/full-$gib"
    "$airgap" --quiet apply "$work/full-$gib" --to "$work/mirror-$gib" --key "$work/full-$gib/keys/airgap.asc"
    head -c $((10 << 20)) /dev/urandom > "$ws/artifacts/patch"
    printf '[[file]]\nname = "patch"\nurl = "artifacts/patch"\n' >> "$ws/manifests/files.toml"
    "$airgap" --quiet -C "$ws" --cache "$work/cache-$gib" materialize --to "$work/delta-$gib" --since "$work/full-$gib"
    # Five applies (each rolled back and pruned before the next); the median counts.
    times=()
    for _ in 1 2 3 4 5; do
        sync
        start=$(now)
        "$airgap" --quiet apply "$work/delta-$gib" --to "$work/mirror-$gib" --key "$work/full-$gib/keys/airgap.asc"
        times+=("$(echo "$(now) - $start" | bc -l)")
        "$airgap" --quiet apply --rollback --to "$work/mirror-$gib"
        "$airgap" --quiet apply --keep 1 --to "$work/mirror-$gib"
    done
    seconds=$(printf '%s\n' "${times[@]}" | sort -n | sed -n 3p)
    "$airgap" --quiet apply "$work/delta-$gib" --to "$work/mirror-$gib" --key "$work/full-$gib/keys/airgap.asc"
    "$airgap" --quiet verify "$work/mirror-$gib" --key "$work/full-$gib/keys/airgap.asc"
    results+=("$gib $seconds $(du -sh "$work/delta-$gib" | cut -f1)")
    rm -rf "$work/full-$gib" "$work/cache-$gib" "$ws/artifacts"
done
echo
printf 'apply of a 10 MB delta:\n'
for line in "${results[@]}"; do
    set -- $line
    printf '  into a %s GiB mirror: %6.3f s, median of 5 (delta on disk: %s)\n' "$1" "$2" "$3"
done
set -- ${results[0]}; small=$2
set -- ${results[1]}; large=$2
printf '  ratio (4 GiB / 1 GiB): %.2f (target 0.80 to 1.20)\n' "$(echo "$large / $small" | bc -l)"
