#!/usr/bin/env bash
# Scale benchmark: how each command's time and peak RSS grow with the number of images.
# For each N, a loopback docker-registry is filled by a generator with N images in N
# repositories that share four 1 MiB base layers (mounted across repositories, as registries
# store real images) and each have a small unique layer and config. Every workspace also has an
# [[apt]] entry over a signed loopback index of 60,000 packages (the apt test fixture's real
# node packages plus generated ones that depend on each other, Debian main's size), so the
# resolver's index is in every figure; its own cost is measured once, alone. Then, per N:
#   lock (cold cache), lock --offline with nothing changed, materialize (cold), materialize
#   (warm: nothing to fetch), verify, diff (one image added), serve start-up, push into an
#   empty registry, apply (the tree into an empty mirror),
# and the registry's own ceiling for the cold materialize: a bounded parallel curl (16 at a
# time, as many as the generator) of the same manifest and blob requests.
# Prints time and peak RSS per command for each N, and the growth ratio of the last N to the
# first.
# Usage: benches/scale.sh [N...]      (default: 100 1000)
set -euo pipefail
cd "$(dirname "$0")/.."
counts=("$@")
[ ${#counts[@]} -gt 0 ] || counts=(100 1000)
for tool in docker-registry curl python3 bc gpg apt-ftparchive; do
    command -v "$tool" >/dev/null || { apt-get update -qq && apt-get install -y -qq docker-registry curl python3 bc gpg apt-utils >/dev/null; break; }
done
bash scripts/apt-fixture
[ -x /usr/bin/time ] || { apt-get update -qq && apt-get install -y -qq time >/dev/null; }
cargo build --release --locked
airgap="$PWD/target/release/airgap"
work=$(mktemp -d /var/tmp/airgap-scale-bench.XXXXXX)
source benches/lib.sh
trap 'stop_registries; kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
now() { date +%s.%N; }

# fill HOST N: N images bench/app-<i>:1 on the registry at HOST.
fill() {
    python3 - "$1" "$2" <<'PY'
import concurrent.futures, hashlib, json, os, sys, urllib.request
host, count = sys.argv[1], int(sys.argv[2])
def put_blob(repo, data, mount_from=None):
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    if mount_from:
        request = urllib.request.Request(f"http://{host}/v2/{repo}/blobs/uploads/?mount={digest}&from={mount_from}", method="POST", data=b"")
        with urllib.request.urlopen(request) as response:
            if response.status == 201:
                return {"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": digest, "size": len(data)}
            location = response.headers["Location"]
    else:
        with urllib.request.urlopen(urllib.request.Request(f"http://{host}/v2/{repo}/blobs/uploads/", method="POST", data=b"")) as response:
            location = response.headers["Location"]
    if not location.startswith("http"):
        location = f"http://{host}{location}"
    separator = "&" if "?" in location else "?"
    urllib.request.urlopen(urllib.request.Request(f"{location}{separator}digest={digest}", method="PUT", data=data,
                                                  headers={"Content-Type": "application/octet-stream"})).close()
    return {"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": digest, "size": len(data)}
bases = [os.urandom(1 << 20) for _ in range(4)]
for number, base in enumerate(bases):
    put_blob("bench/base", base)
def image(index):
    repo = f"bench/app-{index}"
    base = put_blob(repo, bases[index % 4], mount_from="bench/base")
    unique = put_blob(repo, os.urandom(512) + str(index).encode())
    config = put_blob(repo, json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": [base["digest"], unique["digest"]]}}).encode())
    config["mediaType"] = "application/vnd.oci.image.config.v1+json"
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": config, "layers": [base, unique]}).encode()
    urllib.request.urlopen(urllib.request.Request(f"http://{host}/v2/{repo}/manifests/1", method="PUT", data=manifest,
                                                  headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"})).close()
    return repo, "sha256:" + hashlib.sha256(manifest).hexdigest(), [config["digest"], base["digest"], unique["digest"]]
with concurrent.futures.ThreadPoolExecutor(16) as pool:
    images = list(pool.map(image, range(count)))
# The requests a cold materialize makes, for the curl ceiling: one manifest and three blobs each.
with open(os.environ["REQUESTS"], "w") as out:
    for repo, manifest, blobs in images:
        out.write(f"manifest http://{host}/v2/{repo}/manifests/{manifest}\n")
        for blob in blobs:
            out.write(f"blob http://{host}/v2/{repo}/blobs/{blob}\n")
PY
}

# measure NAME COMMAND...: wall seconds and peak RSS (MiB) of one run, appended to $results.
measure() {
    local name=$1
    shift
    local start=$(now)
    /usr/bin/time -f "%M" -o "$work/rss" "$@" >/dev/null 2>"$work/stderr" || { cat "$work/stderr" >&2; return 1; }
    local seconds=$(echo "$(now) - $start" | bc -l)
    local rss=$(( $(tail -n 1 "$work/rss") / 1024 ))
    printf '%s %s %.3f %s\n' "$n" "$name" "$seconds" "$rss" >> "$work/results"
}

# The apt index: the fixture's packages and 60,000 generated ones, served over loopback.
fixture="$PWD/target/apt-fixture"
big="$work/apt"
mkdir -p "$big/dists/stable/main/binary-amd64"
cp -r "$fixture/repo/pool" "$big/"
python3 - "$fixture/repo/dists/stable/main/binary-amd64/Packages" "$big/dists/stable/main/binary-amd64/Packages" <<'PY'
import hashlib, random, sys
real, out = sys.argv[1], sys.argv[2]
random.seed(7)
with open(out, "w") as index:
    index.write(open(real).read().rstrip("\n") + "\n\n")
    for number in range(60000):
        depends = ", ".join(f"bench-lib{random.randrange(60000):05d} (>= 1.{random.randrange(9)})" for _ in range(random.randrange(4)))
        digest = hashlib.sha256(str(number).encode()).hexdigest()
        index.write(f"Package: bench-lib{number:05d}\nVersion: 1.{number % 9}.{number}-1\nArchitecture: amd64\n"
                    f"Maintainer: Bench <bench@example.org>\nInstalled-Size: {number % 5000 + 12}\n"
                    + (f"Depends: {depends}\n" if depends else "")
                    + f"Priority: optional\nSection: libs\nFilename: pool/main/b/bench-lib{number:05d}_1.{number}-1_amd64.deb\n"
                    f"Size: {number % 90000 + 1000}\nSHA256: {digest}\n"
                    f"Description: generated library number {number} for the scale bench\n"
                    f" so that the index is as large as Debian main's, with a long description line.\n\n")
PY
gzip -6nk "$big/dists/stable/main/binary-amd64/Packages"
xz -T0 -k "$big/dists/stable/main/binary-amd64/Packages"
(cd "$big" && apt-ftparchive -o APT::FTPArchive::Release::Suite=stable -o APT::FTPArchive::Release::Codename=stable \
    -o APT::FTPArchive::Release::Architectures=amd64 -o APT::FTPArchive::Release::Components=main \
    release dists/stable > "$work/Release" && mv "$work/Release" dists/stable/Release)
GNUPGHOME="$fixture/gnupg" gpg --batch --yes --local-user 'airgap test archive' --clearsign \
    -o "$big/dists/stable/InRelease" "$big/dists/stable/Release"
apt_port=$(( 20000 + RANDOM % 20000 ))
python3 -m http.server --bind 127.0.0.1 --directory "$big" "$apt_port" >/dev/null 2>&1 &
for _ in $(seq 50); do curl -fs "http://127.0.0.1:$apt_port/dists/stable/InRelease" >/dev/null && break; sleep 0.1; done
apt_entry() {
    printf '[[apt]]\nname = "bench"\nurl = "http://127.0.0.1:%s"\nsuite = "stable"\ncomponents = ["main"]\n' "$apt_port"
    printf 'architectures = ["amd64"]\nkeyring = "keys/archive.gpg"\npackages = [%s]\n' \
        "$(for package in $(cat "$fixture/packages"); do printf '"%s", ' "$package"; done)"
}
echo "apt index: $(grep -c '^Package:' "$big/dists/stable/main/binary-amd64/Packages") packages, $(( $(stat -c %s "$big/dists/stable/main/binary-amd64/Packages") / 1048576 )) MiB"

: > "$work/results"
# The index alone: what lock and materialize cost for the apt entry without any image.
n=apt
mkdir -p "$work/ws-apt/manifests" "$work/ws-apt/keys"
cp "$fixture/keys/archive.gpg" "$work/ws-apt/keys/"
apt_entry > "$work/ws-apt/manifests/apt.toml"
measure "lock (60k apt index alone)" "$airgap" -C "$work/ws-apt" --cache "$work/cache-apt" lock
measure "materialize (apt alone)" "$airgap" -C "$work/ws-apt" --cache "$work/cache-apt" materialize --locked --to "$work/media-apt"
rm -rf "$work/ws-apt" "$work/cache-apt" "$work/media-apt"
for n in "${counts[@]}"; do
    echo "== N = $n: filling the registry"
    port=$(start_registry "registry-$n")
    host="127.0.0.1:$port"
    export REQUESTS="$work/requests-$n"
    fill "$host" "$n"
    ws="$work/ws-$n"
    mkdir -p "$ws/manifests" "$ws/keys"
    cp "$fixture/keys/archive.gpg" "$ws/keys/"
    for index in $(seq 0 $((n - 1))); do
        printf '[[image]]\nref = "%s/bench/app-%s:1"\n\n' "$host" "$index"
    done > "$ws/manifests/images.toml"
    apt_entry > "$ws/manifests/apt.toml"
    cache="$work/cache-$n"
    media="$work/media-$n"
    measure "lock (cold)" "$airgap" -C "$ws" --cache "$cache" lock
    rm -rf "$cache"
    measure "lock --offline" "$airgap" -C "$ws" --cache "$cache" lock --offline
    measure "materialize (cold)" "$airgap" -C "$ws" --cache "$cache" materialize --locked --to "$media"
    measure "materialize (warm)" "$airgap" -C "$ws" --cache "$cache" materialize --locked --to "$media"
    measure "verify" "$airgap" verify "$media"
    cp "$ws/airgap.lock" "$work/before-$n.lock"
    measure "diff" "$airgap" diff "$work/before-$n.lock" "$ws/airgap.lock"
    # serve: time to its Serving line, RSS once it serves.
    serve_port=$(( 30000 + RANDOM % 20000 ))
    start=$(now)
    "$airgap" serve "$media" --listen "127.0.0.1:$serve_port" 2>"$work/serve.log" &
    serve_pid=$!
    until grep -q Serving "$work/serve.log" 2>/dev/null; do sleep 0.01; done
    seconds=$(echo "$(now) - $start" | bc -l)
    curl -fs "http://127.0.0.1:$serve_port/v2/_catalog" >/dev/null
    rss=$(( $(awk '/VmHWM/ {print $2}' "/proc/$serve_pid/status") / 1024 ))
    kill "$serve_pid"; wait "$serve_pid" 2>/dev/null || true
    printf '%s %s %.3f %s\n' "$n" "serve start-up" "$seconds" "$rss" >> "$work/results"
    target_port=$(start_registry "target-$n")
    measure "push" "$airgap" push "$media" --registry "http://127.0.0.1:$target_port/mirror"
    key="$media/keys/airgap.asc"
    measure "apply (full tree)" "$airgap" apply "$media" --to "$work/mirror-$n" --key "$key"
    # The registry's ceiling: the same requests a cold materialize makes, 16 at a time.
    start=$(now)
    # 50 URLs per curl (one connection reused), each with its own -o /dev/null.
    awk '{print "-o"; print "/dev/null"; print $2}' "$REQUESTS" | xargs -P 16 -n 150 curl -fs \
        -H 'Accept: application/vnd.oci.image.manifest.v1+json'
    seconds=$(echo "$(now) - $start" | bc -l)
    printf '%s %s %.3f %s\n' "$n" "registry ceiling (curl x16)" "$seconds" "-" >> "$work/results"
    rm -rf "$cache" "$media" "$work/mirror-$n"
    stop_registries
    rm -f "$work"/*.pid
done

echo
grep '^apt ' "$work/results" | while read -r _ line; do
    set -- $line
    printf '%-40s %10s s / %5s MiB\n' "${*:1:$(($# - 2))}" "${@: -2:1}" "${@: -1}"
done
sed -i '/^apt /d' "$work/results"
first=${counts[0]}
last=${counts[$((${#counts[@]} - 1))]}
printf '%-28s' "command"
for n in "${counts[@]}"; do printf ' %18s' "N=$n s / MiB"; done
printf ' %10s\n' "x($last/$first)"
awk '{ $1=""; sub(/^ /, ""); name=$0; sub(/ [^ ]+ [^ ]+$/, "", name); print name }' "$work/results" | awk '!seen[$0]++' |
while read -r name; do
    printf '%-28s' "$name"
    for n in "${counts[@]}"; do
        line=$(grep -F "$n $name " "$work/results" | head -n 1)
        set -- $line
        shift $(( $# - 2 ))
        printf ' %10s / %5s' "$1" "$2"
    done
    a=$(grep -F "$first $name " "$work/results" | awk '{print $(NF-1)}')
    b=$(grep -F "$last $name " "$work/results" | awk '{print $(NF-1)}')
    printf ' %10.1f\n' "$(echo "$b / $a" | bc -l)"
done
