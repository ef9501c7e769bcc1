#!/usr/bin/env bash
# Benchmark for `airgap import kubespray`: one import of Kubespray v2.31.0's defaults (the test
# data laid out as a Kubespray tree) for the default configuration on amd64+arm64, and the
# --all listing. Target (issue #10): well under a second. There is no peer to run here:
# Kubespray's contrib/offline/generate_list.sh needs the whole Kubespray tree and
# ansible-playbook.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v hyperfine >/dev/null || { apt-get update -qq && apt-get install -y -qq hyperfine >/dev/null; }
cargo build --release --locked --quiet
airgap="$PWD/target/release/airgap"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
data=data/kubespray-v2.31.0
mkdir -p "$work/kubespray/roles/kubespray_defaults/defaults/main" "$work/kubespray/roles/kubespray_defaults/vars/main"
cp "$data/roles_kubespray_defaults_defaults_main_download.yml" "$work/kubespray/roles/kubespray_defaults/defaults/main/download.yml"
cp "$data/roles_kubespray_defaults_defaults_main_main.yml" "$work/kubespray/roles/kubespray_defaults/defaults/main/main.yml"
cp "$data/roles_kubespray_defaults_vars_main_checksums.yml" "$work/kubespray/roles/kubespray_defaults/vars/main/checksums.yml"
cp "$data/roles_kubespray_defaults_vars_main_main.yml" "$work/kubespray/roles/kubespray_defaults/vars/main/main.yml"
hyperfine --warmup 3 --shell=none \
    "$airgap import kubespray $work/kubespray --arch amd64,arm64" \
    "$airgap import kubespray $work/kubespray --arch amd64,arm64 --all"
