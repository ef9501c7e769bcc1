#!/usr/bin/env bash
# Benchmark for [[file]]: materialize N GiB of files from a loopback nginx, side by side with
# the same machine's curl + sha256sum of the same bytes, in the same run; then `airgap verify`
# of the tree against `sha256sum -c SHA256SUMS`. Prints throughput, ratios and peak RSS.
#
# Usage: benches/files.sh [TOTAL_MIB] [FILES]     (default: 2048 MiB in 8 files)
# Targets (issue #2): materialize >= 80% of curl+sha256sum throughput, peak RSS < 64 MiB;
# verify at least as fast as sha256sum -c.
set -euo pipefail
cd "$(dirname "$0")/.."
total_mib="${1:-2048}"
count="${2:-8}"
per_file=$(( total_mib / count ))

for tool in nginx curl sha256sum /usr/bin/time; do
    command -v "$tool" >/dev/null || { apt-get update -qq && apt-get install -y -qq nginx-light curl coreutils time >/dev/null; break; }
done
cargo build --release --locked --quiet
airgap="$PWD/target/release/airgap"

work=$(mktemp -d /var/tmp/airgap-bench.XXXXXX)
trap 'kill $(cat "$work/nginx.pid" 2>/dev/null) 2>/dev/null || true; rm -rf "$work"' EXIT
chmod 755 "$work"
mkdir -p "$work/www/dl" "$work/workspace/manifests" "$work/peer" "$work/logs"

echo "generating $count files of $per_file MiB ..."
: > "$work/workspace/manifests/files.toml"
for i in $(seq 1 "$count"); do
    head -c "${per_file}M" /dev/urandom > "$work/www/dl/blob-$i.bin"
done

port=$(( 20000 + RANDOM % 20000 ))
cat > "$work/nginx.conf" <<NGINX
daemon on;
worker_processes 2;
pid $work/nginx.pid;
error_log $work/logs/error.log;
events { worker_connections 256; }
http {
    access_log off;
    sendfile on;
    client_body_temp_path $work/logs;
    proxy_temp_path $work/logs;
    fastcgi_temp_path $work/logs;
    uwsgi_temp_path $work/logs;
    scgi_temp_path $work/logs;
    server {
        listen 127.0.0.1:$port;
        root $work/www;
    }
}
NGINX
nginx -c "$work/nginx.conf"
sleep 0.3

for i in $(seq 1 "$count"); do
    digest=$(sha256sum "$work/www/dl/blob-$i.bin" | cut -d' ' -f1)
    printf '[[file]]\nname = "blob-%s"\nurl = "http://127.0.0.1:%s/dl/blob-%s.bin"\nsha256 = "%s"\n\n' \
        "$i" "$port" "$i" "$digest" >> "$work/workspace/manifests/files.toml"
done
# Warm the page cache on the server side for both contenders alike.
cat "$work/www/dl/"*.bin > /dev/null

now() { date +%s.%N; }
bytes=$(( total_mib * 1024 * 1024 ))

# Dirty pages from generating the data would throttle whichever contender runs first.
sync
echo "== peer: curl + sha256sum"
start=$(now)
for i in $(seq 1 "$count"); do
    curl -fsS -o "$work/peer/blob-$i.bin" "http://127.0.0.1:$port/dl/blob-$i.bin"
done
curl_seconds=$(echo "$(now) - $start" | bc -l)
(cd "$work/peer" && sha256sum blob-*.bin > /dev/null)
peer_seconds=$(echo "$(now) - $start" | bc -l)

sync
echo "== airgap materialize (cold cache)"
start=$(now)
/usr/bin/time -f '%M' -o "$work/rss" env XDG_CONFIG_HOME="$work/config" "$airgap" --quiet \
    -C "$work/workspace" --cache "$work/cache" materialize --to "$work/media"
ours_seconds=$(echo "$(now) - $start" | bc -l)
rss_kib=$(tail -1 "$work/rss")

echo "== verify: sha256sum -c SHA256SUMS"
start=$(now)
(cd "$work/media" && sha256sum -c --quiet SHA256SUMS)
sums_seconds=$(echo "$(now) - $start" | bc -l)

echo "== verify: airgap verify"
start=$(now)
/usr/bin/time -f '%M' -o "$work/rss-verify" "$airgap" --quiet verify "$work/media" 2>/dev/null
verify_seconds=$(echo "$(now) - $start" | bc -l)
verify_rss_kib=$(tail -1 "$work/rss-verify")

mibps() { echo "scale=1; $bytes / 1048576 / $1" | bc -l; }
echo
printf '%-34s %8.2f s  %8s MiB/s   (curl alone %.2f s)\n' "curl + sha256sum" "$peer_seconds" "$(mibps "$peer_seconds")" "$curl_seconds"
printf '%-34s %8.2f s  %8s MiB/s   peak RSS %s MiB\n' "airgap materialize" "$ours_seconds" "$(mibps "$ours_seconds")" "$(( rss_kib / 1024 ))"
printf 'materialize throughput ratio (airgap / peer): %.2f   (target >= 0.80)\n' "$(echo "$peer_seconds / $ours_seconds" | bc -l)"
printf '%-34s %8.2f s  %8s MiB/s\n' "sha256sum -c SHA256SUMS" "$sums_seconds" "$(mibps "$sums_seconds")"
printf '%-34s %8.2f s  %8s MiB/s   peak RSS %s MiB\n' "airgap verify" "$verify_seconds" "$(mibps "$verify_seconds")" "$(( verify_rss_kib / 1024 ))"
printf 'verify speed ratio (airgap / sha256sum -c): %.2f   (target >= 1.00)\n' "$(echo "$sums_seconds / $verify_seconds" | bc -l)"
