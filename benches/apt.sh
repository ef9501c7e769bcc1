#!/usr/bin/env bash
# Benchmark for [[apt]], two comparisons, each side by side in one run:
#  1. Resolution over Debian's full bookworm main index (~63,000 packages, fetched once from the
#     Debian mirror, then served from loopback): `airgap lock` (cold cache: fetch, verify, parse,
#     resolve) against `apt-get update` + `apt-get -s install` of the same node package list.
#     Target: no slower than apt.
#     Then the same list with every package pinned (`name=version`, the versions just locked):
#     `airgap lock` resolving again from the warm cache, unpinned and pinned, against
#     `apt-get -s install name=version ...`. Target: pins cost at most 20% over no pins.
#  2. Metadata of the materialized repository: airgap's Packages/Release generation against
#     `apt-ftparchive packages` over the same .deb files (the apt test fixture's).
#     Target: at most half of apt-ftparchive's time.
#  With BASELINE=/path/to/an/older/airgap, that binary's lock runs too (cold and warm cache),
#  for a before/after of a change on the same index in the same run.
# Usage: [BASELINE=BINARY] benches/apt.sh
set -euo pipefail
cd "$(dirname "$0")/.."
for tool in nginx apt-ftparchive /usr/bin/time bc curl; do
    command -v "$tool" >/dev/null || { apt-get update -qq && apt-get install -y -qq nginx-light apt-utils time bc curl >/dev/null; break; }
done
cargo build --release --locked --quiet
airgap="$PWD/target/release/airgap"
bash scripts/apt-fixture
work=$(mktemp -d /var/tmp/airgap-apt-bench.XXXXXX)
chmod 755 "$work"
trap 'kill $(cat "$work/nginx.pid" 2>/dev/null) 2>/dev/null || true; rm -rf "$work"' EXIT
packages="conntrack socat ipset ipvsadm ebtables curl rsync unzip e2fsprogs xfsprogs bash-completion nfs-common iptables apparmor"

echo "fetching Debian bookworm's main/binary-amd64 index from the Debian mirror (once) ..."
dists="$work/www/debian/dists/bookworm"
mkdir -p "$dists/main/binary-amd64/by-hash/SHA256"
curl -fsS -o "$dists/InRelease" http://deb.debian.org/debian/dists/bookworm/InRelease
hash=$(awk '/^SHA256:/{s=1;next} /^[^ ]/{s=0} s && $3=="main/binary-amd64/Packages.xz"{print $1}' "$dists/InRelease")
curl -fsS -o "$dists/main/binary-amd64/by-hash/SHA256/$hash" "http://deb.debian.org/debian/dists/bookworm/main/binary-amd64/by-hash/SHA256/$hash"
cp "$dists/main/binary-amd64/by-hash/SHA256/$hash" "$dists/main/binary-amd64/Packages.xz"
chmod -R a+rX "$work/www"

port=$(( 20000 + RANDOM % 20000 ))
cat > "$work/nginx.conf" <<NGINX
daemon on; worker_processes 2; pid $work/nginx.pid; error_log $work/error.log;
events { worker_connections 64; }
http { access_log off; sendfile on; client_body_temp_path $work; proxy_temp_path $work;
  fastcgi_temp_path $work; uwsgi_temp_path $work; scgi_temp_path $work;
  server { listen 127.0.0.1:$port; root $work/www; } }
NGINX
nginx -c "$work/nginx.conf"
sleep 0.3
url="http://127.0.0.1:$port/debian"

mkdir -p "$work/workspace/manifests" "$work/workspace/keys"
cp /usr/share/keyrings/debian-archive-keyring.gpg "$work/workspace/keys/"
list=$(printf '"%s", ' $packages)
cat > "$work/workspace/manifests/apt.toml" <<TOML
[[apt]]
name = "debian"
url = "$url"
suite = "bookworm"
components = ["main"]
architectures = ["amd64"]
keyring = "keys/debian-archive-keyring.gpg"
packages = [${list%, }]
TOML

root="$work/aptroot"
mkdir -p "$root/etc/apt/sources.list.d" "$root/etc/apt/apt.conf.d" "$root/etc/apt/preferences.d" \
    "$root/etc/apt/trusted.gpg.d" "$root/var/lib/apt/lists/partial" "$root/var/cache/apt/archives/partial" \
    "$root/var/lib/dpkg" "$root/var/log/apt"
: > "$root/var/lib/dpkg/status"
printf 'Types: deb\nURIs: %s\nSuites: bookworm\nComponents: main\nArchitectures: amd64\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$url" \
    > "$root/etc/apt/sources.list.d/debian.sources"
cat > "$root/apt.conf" <<CONF
Dir "$root/";
Dir::State::status "$root/var/lib/dpkg/status";
APT::Architecture "amd64";
APT::Architectures { "amd64"; };
APT::Sandbox::User "root";
Debug::NoLocking "true";
Acquire::Languages "none";
APT::Install-Recommends "false";
CONF

now() { date +%s.%N; }
echo "== apt: apt-get update + apt-get -s install"
start=$(now)
APT_CONFIG="$root/apt.conf" apt-get update -qq >/dev/null
APT_CONFIG="$root/apt.conf" apt-get -s install $packages > "$work/apt-simulation"
apt_seconds=$(echo "$(now) - $start" | bc -l)
apt_count=$(grep -c '^Inst ' "$work/apt-simulation")

echo "== airgap lock (cold cache)"
start=$(now)
/usr/bin/time -f '%M' -o "$work/rss" "$airgap" --quiet -C "$work/workspace" --cache "$work/cache" lock
ours_seconds=$(echo "$(now) - $start" | bc -l)
ours_count=$(grep -c '^\[\[apt.package\]\]' "$work/workspace/airgap.lock")
grep '^Inst ' "$work/apt-simulation" | awk '{print $2, substr($3,2)}' | sort > "$work/theirs.txt"
awk -F'"' '/^\[\[apt.package/{p=1} p && /^name = /{n=$2} p && /^version = /{print n, $2}' "$work/workspace/airgap.lock" | sort > "$work/ours.txt"
if diff "$work/theirs.txt" "$work/ours.txt" > "$work/closure.diff"; then same=yes; else same=NO; cp "$work/closure.diff" /tmp/airgap-apt-closure.diff; fi

echo "== airgap lock --update (warm cache), unpinned then pinned"
start=$(now)
"$airgap" --quiet -C "$work/workspace" --cache "$work/cache" lock --update
warm_seconds=$(echo "$(now) - $start" | bc -l)
pins=""
for name in $packages; do
    version=$(awk -v want="$name" '$1 == want {print $2}' "$work/ours.txt")
    pins="$pins \"$name=$version\","
done
sed -i "s|^packages = .*|packages = [${pins%,}]|" "$work/workspace/manifests/apt.toml"
start=$(now)
"$airgap" --quiet -C "$work/workspace" --cache "$work/cache" lock
pinned_seconds=$(echo "$(now) - $start" | bc -l)
awk -F'"' '/^\[\[apt.package/{p=1} p && /^name = /{n=$2} p && /^version = /{print n, $2}' "$work/workspace/airgap.lock" | sort > "$work/ours-pinned.txt"
pinned_args=$(echo "$pins" | tr -d '",')
APT_CONFIG="$root/apt.conf" apt-get -s install $pinned_args | grep '^Inst ' | awk '{print $2, substr($3,2)}' | sort > "$work/theirs-pinned.txt"
if diff -q "$work/theirs-pinned.txt" "$work/ours-pinned.txt" >/dev/null; then same_pinned=yes; else same_pinned=NO; fi

if [ -n "${BASELINE:-}" ]; then
    echo "== baseline $BASELINE: lock cold, then lock --update warm (unpinned)"
    mkdir -p "$work/baseline/manifests" "$work/baseline/keys"
    cp "$work/workspace/keys/"* "$work/baseline/keys/"
    sed "s|^packages = .*|packages = [${list%, }]|" "$work/workspace/manifests/apt.toml" > "$work/baseline/manifests/apt.toml"
    start=$(now)
    "$BASELINE" --quiet -C "$work/baseline" --cache "$work/baseline-cache" lock
    baseline_cold=$(echo "$(now) - $start" | bc -l)
    start=$(now)
    "$BASELINE" --quiet -C "$work/baseline" --cache "$work/baseline-cache" lock --update
    baseline_warm=$(echo "$(now) - $start" | bc -l)
fi

echo "== metadata: apt-ftparchive packages vs airgap over the fixture's .deb files"
fixture="$PWD/target/apt-fixture/repo"
start=$(now)
for _ in 1 2 3 4 5 6 7 8 9 10; do (cd "$fixture" && apt-ftparchive packages pool/main > /dev/null); done
ftparchive_seconds=$(echo "($(now) - $start) / 10" | bc -l)
metadata_line=$(cargo bench --quiet --bench apt_metadata -- "$fixture" 2>/dev/null | tail -1)
ours_metadata_seconds=$(echo "$metadata_line" | awk '{print $2}')

echo
printf 'resolution, Debian main (%s packages asked):\n' "$(echo $packages | wc -w)"
printf '  %-42s %7.2f s  (%s packages)\n' "apt-get update + apt-get -s install" "$apt_seconds" "$apt_count"
printf '  %-42s %7.2f s  (%s packages, peak RSS %s MiB)\n' "airgap lock" "$ours_seconds" "$ours_count" "$(( $(tail -1 "$work/rss") / 1024 ))"
printf '  same closure as apt: %s; ratio (airgap / apt): %.2f (target <= 1.00)\n' "$same" "$(echo "$ours_seconds / $apt_seconds" | bc -l)"
printf 'resolution again from the warm cache:\n'
printf '  %-42s %7.2f s\n' "airgap lock --update, unpinned" "$warm_seconds"
printf '  %-42s %7.2f s  (same closure as apt with the pins: %s)\n' "airgap lock, every package pinned" "$pinned_seconds" "$same_pinned"
printf '  ratio (pinned / unpinned): %.2f (target <= 1.20)\n' "$(echo "$pinned_seconds / $warm_seconds" | bc -l)"
if [ -n "${BASELINE:-}" ]; then
    printf 'baseline (%s), same index:\n' "$BASELINE"
    printf '  %-42s %7.2f s   (this build: %.2f s)\n' "lock, cold cache" "$baseline_cold" "$ours_seconds"
    printf '  %-42s %7.2f s   (this build: %.2f s)\n' "lock --update, warm cache" "$baseline_warm" "$warm_seconds"
fi
printf 'metadata for %s .deb files:\n' "$(ls "$fixture/pool/main" | wc -l)"
printf '  %-42s %9.4f s\n' "apt-ftparchive packages" "$ftparchive_seconds"
printf '  %-42s %9.4f s\n' "airgap (Packages, .gz, .xz, Release, signatures)" "$ours_metadata_seconds"
printf '  ratio (airgap / apt-ftparchive): %.2f (target <= 0.50)\n' "$(echo "$ours_metadata_seconds / $ftparchive_seconds" | bc -l)"
