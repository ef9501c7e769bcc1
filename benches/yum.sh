#!/usr/bin/env bash
# Benchmark for [[yum]], two comparisons, each side by side in one run:
#  1. Metadata of the materialized repository: airgap's repodata generation from the RPM
#     headers against `createrepo_c --no-database` on the same RPM files. Target: no slower.
#  2. Resolution: `airgap lock` (cold cache: repomd, signature, primary, closure) against
#     `dnf download --resolve` of the same package in an empty install root, both from the same
#     loopback repository. Target: at least 5 times faster.
# The repository: the yum test fixture plus a generated chain of N packages (default 150).
# Usage: benches/yum.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
count="${1:-150}"
for tool in rpmbuild createrepo_c dnf bc; do
    command -v "$tool" >/dev/null || { apt-get update -qq && apt-get install -y -qq rpm createrepo-c dnf dnf-plugins-core bc >/dev/null; break; }
done
cargo build --release --locked --quiet
airgap="$PWD/target/release/airgap"
bash scripts/yum-fixture
work=$(mktemp -d /var/tmp/airgap-yum-bench.XXXXXX)
trap 'kill $(cat "$work/server.pid" 2>/dev/null) 2>/dev/null || true; rm -rf "$work"' EXIT
mkdir -p "$work/repo/Packages" "$work/specs"

echo "building $count chained RPMs with rpmbuild ..."
for i in $(seq 1 "$count"); do
    next=$(( i + 1 ))
    requires=""
    [ "$i" -lt "$count" ] && requires="Requires: chain-$next >= 1.0"
    cat > "$work/specs/chain-$i.spec" <<SPEC
%global debug_package %{nil}
%define _build_id_links none
Name: chain-$i
Version: 1.0
Release: 1
Summary: link $i of a generated dependency chain
License: MIT
BuildArch: x86_64
AutoReqProv: no
$requires
Provides: chain-capability-$i

%description
Link $i of the airgap yum benchmark's dependency chain.

%install
mkdir -p %{buildroot}/usr/share/chain
echo $i > %{buildroot}/usr/share/chain/$i

%files
/usr/share/chain/$i
SPEC
    rpmbuild --quiet --define "_topdir $work/build" --target x86_64 -bb "$work/specs/chain-$i.spec" >/dev/null 2>&1
done
find "$work/build/RPMS" -name '*.rpm' -exec cp {} "$work/repo/Packages/" \;
cp target/yum-fixture/repo/Packages/*.rpm "$work/repo/Packages/"
createrepo_c --quiet --no-database "$work/repo"
rpms=$(ls "$work/repo/Packages" | wc -l)

now() { date +%s.%N; }
echo "== metadata: createrepo_c vs airgap over $rpms RPMs"
cp -r "$work/repo" "$work/createrepo-copy"
start=$(now)
for _ in 1 2 3 4 5; do createrepo_c --quiet --no-database "$work/createrepo-copy" >/dev/null; done
createrepo_seconds=$(echo "($(now) - $start) / 5" | bc -l)
ours_metadata=$(cargo bench --quiet --bench yum_metadata -- "$work/repo/Packages" 2>/dev/null | tail -1 | awk '{print $2}')

port=$(( 20000 + RANDOM % 20000 ))
(cd "$work/repo" && python3 -m http.server "$port" --bind 127.0.0.1 >/dev/null 2>&1 & echo $! > "$work/server.pid")
sleep 0.5
mkdir -p "$work/workspace/manifests"
printf '[[yum]]\nname = "bench"\nurl = "http://127.0.0.1:%s/"\narch = "x86_64"\ninsecure = true\npackages = ["chain-1", "app"]\n' "$port" \
    > "$work/workspace/manifests/yum.toml"

echo "== resolution: dnf download --resolve vs airgap lock"
start=$(now)
dnf download -q --resolve --alldeps -y --releasever=9 --setopt=reposdir=/dev/null --nogpgcheck \
    --installroot="$work/dnf-root" --destdir="$work/dnf-download" \
    --repofrompath="bench,http://127.0.0.1:$port/" --repo=bench chain-1 app >/dev/null 2>&1
dnf_seconds=$(echo "$(now) - $start" | bc -l)
dnf_count=$(ls "$work/dnf-download" | wc -l)
start=$(now)
"$airgap" --quiet -C "$work/workspace" --cache "$work/cache" lock 2>/dev/null
ours_seconds=$(echo "$(now) - $start" | bc -l)
ours_count=$(grep -c '^\[\[yum.package\]\]' "$work/workspace/airgap.lock")

echo
printf 'metadata for %s RPMs:\n' "$rpms"
printf '  %-44s %8.4f s\n' "createrepo_c --no-database" "$createrepo_seconds"
printf '  %-44s %8.4f s\n' "airgap (primary, filelists, other, repomd, .asc)" "$ours_metadata"
printf '  ratio (airgap / createrepo_c): %.2f (target <= 1.00)\n' "$(echo "$ours_metadata / $createrepo_seconds" | bc -l)"
printf 'resolution of chain-1 and app (%s packages in the closure):\n' "$ours_count"
printf '  %-44s %8.3f s  (%s packages)\n' "dnf download --resolve --alldeps" "$dnf_seconds" "$dnf_count"
printf '  %-44s %8.3f s\n' "airgap lock (cold cache)" "$ours_seconds"
printf '  speed-up (dnf / airgap): %.1fx (target >= 5x)\n' "$(echo "$dnf_seconds / $ours_seconds" | bc -l)"
