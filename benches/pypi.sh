#!/usr/bin/env bash
# Benchmark for [[pypi]], side by side in one run: resolving Kubespray v2.31.0's Python
# requirements (ansible 11.13.0 and its closure) for CPython 3.11 on manylinux_2_28_x86_64
# from the same loopback index (scripts/pypi-fixture, served by Python's http.server):
#   airgap lock (cold cache)   vs   pip install --dry-run --report --no-cache-dir (resolution only)
# Each RUNS times (default 5); prints the median of each and the ratio.
# Usage: benches/pypi.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-5}"
cargo build --release --locked --quiet
bash scripts/pypi-fixture
airgap="$PWD/target/release/airgap"
fixture="$PWD/target/pypi-fixture"
work=$(mktemp -d /var/tmp/airgap-pypi-bench.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
port=$(( 20000 + RANDOM % 20000 ))
python3 -m http.server --bind 127.0.0.1 --directory "$fixture/index" "$port" >/dev/null 2>&1 &
for _ in $(seq 50); do curl -fs "http://127.0.0.1:$port/simple/" >/dev/null && break; sleep 0.1; done
index="http://127.0.0.1:$port/simple"
mkdir -p "$work/ws/manifests"
cp "$fixture/requirements.txt" "$work/ws/requirements.txt"
printf '[[pypi]]\nname = "admin"\nindex = "%s"\nrequirements = "requirements.txt"\npython = "3.11"\nplatforms = ["manylinux_2_28_x86_64"]\n' "$index" > "$work/ws/manifests/pypi.toml"
now() { date +%s.%N; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
: > "$work/ours"; : > "$work/pip"
for _ in $(seq "$runs"); do
    rm -rf "$work/cache" "$work/ws/airgap.lock"
    start=$(now); "$airgap" --quiet -C "$work/ws" --cache "$work/cache" lock; echo "$(now) - $start" | bc -l >> "$work/ours"
    start=$(now)
    "$fixture/venv/bin/pip" install --quiet --disable-pip-version-check --no-cache-dir --dry-run --ignore-installed \
        --only-binary=:all: --python-version 3.11 --implementation cp --platform manylinux_2_28_x86_64 \
        --platform manylinux2014_x86_64 --target "$work/target" --report "$work/report.json" \
        --index-url "$index" -r "$fixture/requirements.txt"
    echo "$(now) - $start" | bc -l >> "$work/pip"
done
ours=$(median < "$work/ours"); pip=$(median < "$work/pip")
printf 'airgap lock: %.3f s   pip --dry-run --report: %.3f s   ratio %.2f (median of %s runs; %s packages)\n' \
    "$ours" "$pip" "$(echo "$ours / $pip" | bc -l)" "$runs" "$(grep -c '^\[\[pypi.package\]\]' "$work/ws/airgap.lock")"
