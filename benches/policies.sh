#!/usr/bin/env bash
# Benchmark for signature policies: what checking signatures adds. N repositories on a
# loopback docker-registry, each holding an image and its cosign signature (made by Python's
# cryptography, tests/it/oracles/sign.py); `airgap lock` from a cold cache with and without a
# key policy, and `airgap verify` of the materialized tree with and without --policies, side
# by side in one run.
# Usage: benches/policies.sh [N]        (default 100)
set -euo pipefail
cd "$(dirname "$0")/.."
count="${1:-100}"
for tool in docker-registry skopeo python3 bc; do
    command -v "$tool" >/dev/null || { apt-get update -qq && apt-get install -y -qq docker-registry skopeo python3 bc >/dev/null; break; }
done
[ -x target/pyenv/bin/python ] || python3 -m venv target/pyenv
target/pyenv/bin/python -c "import cryptography" 2>/dev/null || target/pyenv/bin/pip install --quiet "cryptography==46.*"
cargo build --release --locked --quiet
airgap="$PWD/target/release/airgap"
work=$(mktemp -d /var/tmp/airgap-policies-bench.XXXXXX)
source benches/lib.sh
trap 'stop_registries; rm -rf "$work"' EXIT
now() { date +%s.%N; }

port=$(start_registry storage)
host="127.0.0.1:$port"
build_images "$work/build" 1 "{name}"
ws="$work/workspace"
mkdir -p "$ws/manifests" "$ws/keys"
target/pyenv/bin/python tests/it/oracles/sign.py keygen "$ws/keys"
echo "pushing and signing $count images ..."
for index in $(seq 1 "$count"); do
    skopeo copy --quiet --dest-tls-verify=false "oci:$work/build:shared-$((index % 4))" "docker://$host/bench/app-$index:1"
    digest="sha256:$(skopeo inspect --raw --tls-verify=false "docker://$host/bench/app-$index:1" | sha256sum | cut -d' ' -f1)"
    target/pyenv/bin/python tests/it/oracles/sign.py sign-image "$ws/keys/cosign.key" "$host" "bench/app-$index" "$digest"
    printf '[[image]]\nref = "%s/bench/app-%s:1"\n\n' "$host" "$index" >> "$ws/manifests/images.toml"
done

run_lock() {
    rm -rf "$work/cache" "$ws/airgap.lock"
    local start=$(now)
    "$airgap" --quiet -C "$ws" --cache "$work/cache" lock
    echo "$(now) - $start" | bc -l
}
without=$(run_lock)
printf '[[policy]]\nname = "bench"\nimages = ["%s/bench/*"]\nkey = "keys/cosign.pub"\n' "$host" > "$ws/manifests/policy.toml"
with=$(run_lock)
"$airgap" --quiet -C "$ws" --cache "$work/cache" materialize --locked --to "$work/media"
start=$(now); "$airgap" --quiet verify "$work/media"; verify_plain=$(echo "$(now) - $start" | bc -l)
start=$(now); "$airgap" --quiet verify "$work/media" --policies; verify_policies=$(echo "$(now) - $start" | bc -l)
echo
printf 'lock of %s images, cold cache:   %7.3f s without a policy, %7.3f s with a key policy (ratio %.2f)\n' \
    "$count" "$without" "$with" "$(echo "$with / $without" | bc -l)"
printf 'verify of the materialized tree: %7.3f s, with --policies %7.3f s (ratio %.2f)\n' \
    "$verify_plain" "$verify_policies" "$(echo "$verify_policies / $verify_plain" | bc -l)"
