"""Signatures made by a tool nobody here wrote: Python's `cryptography` package signs in
cosign's formats, so the policy tests check airgap against bytes it did not produce.

  keygen DIR                       cosign.key / cosign.pub (ECDSA P-256, PEM)
  sign-image KEY HOST REPO DIGEST  a cosign simple-signing signature, pushed as sha256-<hex>.sig
  make-root DIR                    a test Sigstore: CA, CT log and transparency log keys, and
                                   their trusted_root.json
  sign-image-keyless ROOT IDENTITY ISSUER HOST REPO DIGEST
                                   cosign's classic keyless tag signature (certificate and log
                                   bundle as annotations), pushed as sha256-<hex>.sig
  bundle-image ROOT IDENTITY ISSUER HOST REPO DIGEST
                                   a keyless Sigstore bundle (v0.3) over the manifest digest,
                                   pushed as an OCI referrer (referrers tag schema)
  sign-blob KEY FILE OUT           cosign sign-blob: base64 DER signature of the file
  keyless-blob ROOT IDENTITY ISSUER FILE SIG CERT
                                   a keyless blob signature and its certificate (base64 PEM)
"""

import base64
import datetime
import hashlib
import json
import os
import struct
import sys
import urllib.request

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
SIMPLE_SIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
BUNDLE = "application/vnd.dev.sigstore.bundle.v0.3+json"
EMPTY = "application/vnd.oci.empty.v1+json"


def b64(data):
    return base64.b64encode(data).decode()


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def spki(public_key):
    return public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def load_key(path):
    with open(path, "rb") as handle:
        return serialization.load_pem_private_key(handle.read(), password=None)


def write(path, data):
    with open(path, "wb") as handle:
        handle.write(data)


def keygen(directory):
    key = ec.generate_private_key(ec.SECP256R1())
    write(
        os.path.join(directory, "cosign.key"),
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )
    write(
        os.path.join(directory, "cosign.pub"),
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
    )


# --- a registry, over its HTTP API -------------------------------------------------------


def push_blob(host, repo, data):
    digest = "sha256:" + sha256(data)
    start = urllib.request.Request(
        f"http://{host}/v2/{repo}/blobs/uploads/", method="POST", data=b""
    )
    with urllib.request.urlopen(start) as response:
        location = response.headers["Location"]
    if not location.startswith("http"):
        location = f"http://{host}{location}"
    separator = "&" if "?" in location else "?"
    put = urllib.request.Request(
        f"{location}{separator}digest={digest}",
        method="PUT",
        data=data,
        headers={"Content-Type": "application/octet-stream"},
    )
    urllib.request.urlopen(put).close()
    return {"mediaType": "", "digest": digest, "size": len(data)}


def push_manifest(host, repo, reference, manifest, media_type):
    data = json.dumps(manifest, separators=(",", ":")).encode()
    put = urllib.request.Request(
        f"http://{host}/v2/{repo}/manifests/{reference}",
        method="PUT",
        data=data,
        headers={"Content-Type": media_type},
    )
    urllib.request.urlopen(put).close()
    return {"mediaType": media_type, "digest": "sha256:" + sha256(data), "size": len(data)}


def subject_of(host, repo, digest):
    request = urllib.request.Request(
        f"http://{host}/v2/{repo}/manifests/{digest}",
        headers={"Accept": f"{OCI_MANIFEST}, {OCI_INDEX}"},
    )
    with urllib.request.urlopen(request) as response:
        body = response.read()
        media_type = response.headers["Content-Type"]
    return {"mediaType": media_type, "digest": digest, "size": len(body)}


def empty_config(host, repo, media_type):
    descriptor = push_blob(host, repo, b"{}")
    descriptor["mediaType"] = media_type
    return descriptor


def sign_image(key_path, host, repo, digest):
    payload = simple_signing_payload(host, repo, digest)
    signature = load_key(key_path).sign(payload, ec.ECDSA(hashes.SHA256()))
    push_tag_signature(
        host, repo, digest, payload, {"dev.cosignproject.cosign/signature": b64(signature)}
    )


# --- a test Sigstore: CA (Fulcio), CT log, transparency log (Rekor) ---------------------


def make_root(directory):
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "airgap test fulcio")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    ct_key = ec.generate_private_key(ec.SECP256R1())
    log_key = ec.generate_private_key(ec.SECP256R1())
    for file_name, key in (("ca.key", ca_key), ("ct.key", ct_key), ("log.key", log_key)):
        write(
            os.path.join(directory, file_name),
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
        )
    write(os.path.join(directory, "ca.pem"), ca.public_bytes(serialization.Encoding.PEM))
    start = {"start": "2020-01-01T00:00:00Z"}

    def log(base_url, key):
        raw = spki(key.public_key())
        return {
            "baseUrl": base_url,
            "hashAlgorithm": "SHA2_256",
            "publicKey": {
                "rawBytes": b64(raw),
                "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                "validFor": start,
            },
            "logId": {"keyId": b64(hashlib.sha256(raw).digest())},
        }

    root = {
        "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
        "tlogs": [log("https://rekor.test", log_key)],
        "certificateAuthorities": [
            {
                "subject": {"organization": "airgap test", "commonName": "airgap test fulcio"},
                "uri": "https://fulcio.test",
                "certChain": {
                    "certificates": [
                        {"rawBytes": b64(ca.public_bytes(serialization.Encoding.DER))}
                    ]
                },
                "validFor": start,
            }
        ],
        "ctlogs": [log("https://ctfe.test", ct_key)],
        "timestampAuthorities": [],
    }
    write(os.path.join(directory, "trusted_root.json"), json.dumps(root, indent=2).encode())


def tls_vector(data, length_bytes):
    return len(data).to_bytes(length_bytes, "big") + data


def der_octet_string(data):
    length = len(data)
    if length < 0x80:
        encoded = bytes([length])
    else:
        raw = length.to_bytes((length.bit_length() + 7) // 8, "big")
        encoded = bytes([0x80 | len(raw)]) + raw
    return b"\x04" + encoded + data


def leaf(root_dir, identity, issuer):
    """A Fulcio-style certificate: short-lived, code signing, the identity as SAN, the OIDC
    issuer in Sigstore's extension, and an embedded SCT from the test CT log."""
    ca_key = load_key(os.path.join(root_dir, "ca.key"))
    ct_key = load_key(os.path.join(root_dir, "ct.key"))
    with open(os.path.join(root_dir, "ca.pem"), "rb") as handle:
        ca = x509.load_pem_x509_certificate(handle.read())
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    serial = x509.random_serial_number()

    def builder():
        return (
            x509.CertificateBuilder()
            .subject_name(x509.Name([]))
            .issuer_name(ca.subject)
            .public_key(key.public_key())
            .serial_number(serial)
            .not_valid_before(now - datetime.timedelta(minutes=1))
            .not_valid_after(now + datetime.timedelta(minutes=10))
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False)
            .add_extension(x509.SubjectAlternativeName([x509.RFC822Name(identity)]), critical=True)
            .add_extension(
                x509.UnrecognizedExtension(
                    x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.1"), issuer.encode()
                ),
                critical=False,
            )
        )

    precert = builder().sign(ca_key, hashes.SHA256())
    ct_id = hashlib.sha256(spki(ct_key.public_key())).digest()
    issuer_key_hash = hashlib.sha256(spki(ca.public_key())).digest()
    timestamp = int(now.timestamp() * 1000)
    signed = (
        b"\x00\x00"
        + struct.pack(">Q", timestamp)
        + b"\x00\x01"
        + issuer_key_hash
        + tls_vector(precert.tbs_certificate_bytes, 3)
        + tls_vector(b"", 2)
    )
    sct_signature = ct_key.sign(signed, ec.ECDSA(hashes.SHA256()))
    sct = (
        b"\x00"
        + ct_id
        + struct.pack(">Q", timestamp)
        + tls_vector(b"", 2)
        + b"\x04\x03"
        + tls_vector(sct_signature, 2)
    )
    sct_list = tls_vector(tls_vector(sct, 2), 2)
    certificate = (
        builder()
        .add_extension(
            x509.UnrecognizedExtension(
                x509.ObjectIdentifier("1.3.6.1.4.1.11129.2.4.2"), der_octet_string(sct_list)
            ),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    return key, certificate, now


def log_entry(root_dir, certificate, now, digest_bytes, signature):
    """A hashedrekord entry of the test transparency log over `digest_bytes`, with the log's
    signed entry timestamp and a one-leaf inclusion proof."""
    log_key = load_key(os.path.join(root_dir, "log.key"))
    pem = certificate.public_bytes(serialization.Encoding.PEM)
    body = json.dumps(
        {
            "apiVersion": "0.0.1",
            "kind": "hashedrekord",
            "spec": {
                "data": {"hash": {"algorithm": "sha256", "value": digest_bytes.hex()}},
                "signature": {"content": b64(signature), "publicKey": {"content": b64(pem)}},
            },
        },
        sort_keys=True,
        separators=(",", ":"),
    ).encode()
    log_id = hashlib.sha256(spki(log_key.public_key())).digest()
    integrated = int(now.timestamp())
    promise = json.dumps(
        {"body": b64(body), "integratedTime": integrated, "logID": log_id.hex(), "logIndex": 0},
        sort_keys=True,
        separators=(",", ":"),
    ).encode()
    signed_entry_timestamp = log_key.sign(promise, ec.ECDSA(hashes.SHA256()))
    root_hash = hashlib.sha256(b"\x00" + body).digest()
    note = f"rekor.test - 1\n1\n{b64(root_hash)}\n"
    note_signature = log_key.sign(note.encode(), ec.ECDSA(hashes.SHA256()))
    checkpoint = note + "\n\u2014 rekor.test " + b64(log_id[:4] + note_signature) + "\n"
    return {
        "body": body,
        "log_id": log_id,
        "integrated": integrated,
        "set": signed_entry_timestamp,
        "root_hash": root_hash,
        "checkpoint": checkpoint,
    }


def bundle_over(root_dir, identity, issuer, digest_bytes):
    key, certificate, now = leaf(root_dir, identity, issuer)
    signature = key.sign(digest_bytes, ec.ECDSA(utils.Prehashed(hashes.SHA256())))
    entry = log_entry(root_dir, certificate, now, digest_bytes, signature)
    return {
        "mediaType": BUNDLE,
        "verificationMaterial": {
            "certificate": {"rawBytes": b64(certificate.public_bytes(serialization.Encoding.DER))},
            "tlogEntries": [
                {
                    "logIndex": "0",
                    "logId": {"keyId": b64(entry["log_id"])},
                    "kindVersion": {"kind": "hashedrekord", "version": "0.0.1"},
                    "integratedTime": str(entry["integrated"]),
                    "inclusionPromise": {"signedEntryTimestamp": b64(entry["set"])},
                    "inclusionProof": {
                        "logIndex": "0",
                        "rootHash": b64(entry["root_hash"]),
                        "treeSize": "1",
                        "hashes": [],
                        "checkpoint": {"envelope": entry["checkpoint"]},
                    },
                    "canonicalizedBody": b64(entry["body"]),
                }
            ],
        },
        "messageSignature": {
            "messageDigest": {"algorithm": "SHA2_256", "digest": b64(digest_bytes)},
            "signature": b64(signature),
        },
    }


def simple_signing_payload(host, repo, digest):
    return json.dumps(
        {
            "critical": {
                "identity": {"docker-reference": f"{host}/{repo}"},
                "image": {"docker-manifest-digest": digest},
                "type": "cosign container image signature",
            },
            "optional": None,
        },
        separators=(",", ":"),
    ).encode()


def push_tag_signature(host, repo, digest, payload, annotations):
    layer = push_blob(host, repo, payload)
    layer["mediaType"] = SIMPLE_SIGNING
    layer["annotations"] = annotations
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": empty_config(host, repo, "application/vnd.oci.image.config.v1+json"),
        "layers": [layer],
    }
    tag = "sha256-" + digest.split(":", 1)[1] + ".sig"
    push_manifest(host, repo, tag, manifest, OCI_MANIFEST)


def sign_image_keyless(root_dir, identity, issuer, host, repo, digest):
    """cosign's classic keyless signature: the simple-signing payload under the .sig tag, with
    the certificate, its chain and the log's bundle as annotations (as registry.k8s.io's)."""
    payload = simple_signing_payload(host, repo, digest)
    key, certificate, now = leaf(root_dir, identity, issuer)
    signature = key.sign(payload, ec.ECDSA(hashes.SHA256()))
    entry = log_entry(root_dir, certificate, now, hashlib.sha256(payload).digest(), signature)
    with open(os.path.join(root_dir, "ca.pem"), "rb") as handle:
        chain = handle.read().decode()
    rekor_bundle = {
        "SignedEntryTimestamp": b64(entry["set"]),
        "Payload": {
            "body": b64(entry["body"]),
            "integratedTime": entry["integrated"],
            "logIndex": 0,
            "logID": entry["log_id"].hex(),
        },
    }
    push_tag_signature(
        host,
        repo,
        digest,
        payload,
        {
            "dev.cosignproject.cosign/signature": b64(signature),
            "dev.sigstore.cosign/certificate": certificate.public_bytes(
                serialization.Encoding.PEM
            ).decode(),
            "dev.sigstore.cosign/chain": chain,
            "dev.sigstore.cosign/bundle": json.dumps(rekor_bundle),
        },
    )


def bundle_image(root_dir, identity, issuer, host, repo, digest):
    bundle = bundle_over(root_dir, identity, issuer, bytes.fromhex(digest.split(":", 1)[1]))
    layer = push_blob(host, repo, json.dumps(bundle).encode())
    layer["mediaType"] = BUNDLE
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": BUNDLE,
        "config": empty_config(host, repo, EMPTY),
        "layers": [layer],
        "subject": subject_of(host, repo, digest),
    }
    referrer = push_manifest(host, repo, "bundle-" + sha256(os.urandom(8))[:12], manifest, OCI_MANIFEST)
    referrer["artifactType"] = BUNDLE
    # The referrers tag schema, for registries without the referrers API.
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [referrer]}
    push_manifest(host, repo, "sha256-" + digest.split(":", 1)[1], index, OCI_INDEX)


def sign_blob(key_path, file_path, out):
    with open(file_path, "rb") as handle:
        data = handle.read()
    signature = load_key(key_path).sign(data, ec.ECDSA(hashes.SHA256()))
    write(out, base64.b64encode(signature))


def keyless_blob(root_dir, identity, issuer, file_path, signature_out, certificate_out):
    with open(file_path, "rb") as handle:
        data = handle.read()
    key, certificate, _ = leaf(root_dir, identity, issuer)
    write(signature_out, base64.b64encode(key.sign(data, ec.ECDSA(hashes.SHA256()))))
    write(certificate_out, base64.b64encode(certificate.public_bytes(serialization.Encoding.PEM)))


COMMANDS = {
    "keygen": keygen,
    "sign-image": sign_image,
    "make-root": make_root,
    "bundle-image": bundle_image,
    "sign-image-keyless": sign_image_keyless,
    "sign-blob": sign_blob,
    "keyless-blob": keyless_blob,
}

if __name__ == "__main__":
    COMMANDS[sys.argv[1]](*sys.argv[2:])
