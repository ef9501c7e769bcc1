# Shared by the image benchmarks (sourced; expects $work).

# start_registry NAME: an empty loopback docker-registry storing into $work/NAME; prints its
# port. Its pid goes to $work/NAME.pid, so that stop_registries finds it (this runs in the
# subshell of $(...), where a variable would be lost).
start_registry() {
    local name=$1 port=$(( 20000 + RANDOM % 20000 ))
    mkdir -p "$work/$name"
    cat > "$work/$name.yml" <<YAML
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $work/$name
http:
  addr: 127.0.0.1:$port
YAML
    docker-registry serve "$work/$name.yml" >/dev/null 2>&1 &
    echo $! > "$work/$name.pid"
    for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/v2/" >/dev/null && break; sleep 0.1; done
    echo "$port"
}

stop_registries() {
    local pid_file
    for pid_file in "$work"/*.pid; do
        [ -e "$pid_file" ] && kill "$(cat "$pid_file")" 2>/dev/null
    done
    return 0
}

# build_images ROOT BIG_MIB REF_FORMAT: an OCI layout at ROOT with four images sharing a
# 24 MiB base layer (shared-0..3), a two-platform index (multi) and an image with one layer of
# BIG_MIB (big); each named REF_FORMAT with {name} replaced, e.g. "{name}".
build_images() {
    python3 - "$1" "$2" "$3" <<'PY'
import gzip, hashlib, io, json, os, sys, tarfile
root, big, ref_format = sys.argv[1], int(sys.argv[2]), sys.argv[3]
os.makedirs(f"{root}/blobs/sha256", exist_ok=True)
def blob(data, media_type):
    digest = hashlib.sha256(data).hexdigest()
    with open(f"{root}/blobs/sha256/{digest}", "wb") as out:
        out.write(data)
    return {"mediaType": media_type, "digest": "sha256:" + digest, "size": len(data)}
def layer(name, size):
    payload = os.urandom(size)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        info = tarfile.TarInfo(name); info.size = size; info.mtime = 0
        archive.addfile(info, io.BytesIO(payload))
    tar = buffer.getvalue()
    return blob(gzip.compress(tar, compresslevel=1, mtime=0), "application/vnd.oci.image.layer.v1.tar+gzip"), "sha256:" + hashlib.sha256(tar).hexdigest()
def image(arch, layers):
    config = json.dumps({"architecture": arch, "os": "linux", "rootfs": {"type": "layers", "diff_ids": [diff for _, diff in layers]}}).encode()
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": blob(config, "application/vnd.oci.image.config.v1+json"),
                           "layers": [descriptor for descriptor, _ in layers]}).encode()
    return blob(manifest, "application/vnd.oci.image.manifest.v1+json")
entries = []
def tag(name, descriptor):
    entries.append(dict(descriptor, annotations={"org.opencontainers.image.ref.name": ref_format.format(name=name)}))
base = layer("base", 24 << 20)
for number in range(4):
    tag(f"shared-{number}", image("amd64", [base, layer(f"app{number}", 8 << 20)]))
amd64 = image("amd64", [base, layer("amd64", 16 << 20)])
arm64 = image("arm64", [base, layer("arm64", 16 << 20)])
index = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                    "manifests": [dict(amd64, platform={"os": "linux", "architecture": "amd64"}),
                                  dict(arm64, platform={"os": "linux", "architecture": "arm64"})]}).encode()
tag("multi", blob(index, "application/vnd.oci.image.index.v1+json"))
tag("big", image("amd64", [layer("big", big << 20)]))
with open(f"{root}/index.json", "w") as out:
    json.dump({"schemaVersion": 2, "manifests": entries}, out)
with open(f"{root}/oci-layout", "w") as out:
    out.write('{"imageLayoutVersion":"1.0.0"}')
PY
}
