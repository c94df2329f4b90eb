"""PEP 740 attestations made in the test, shaped as Sigstore makes them for a GitHub Actions workflow.

A generated P-256 key signs the in-toto statement (a DSSE envelope), and a certificate made here for
that key carries the Fulcio extensions GitHub Actions' identity gives (issuer, source repository, its
ref, the build config URI naming the workflow file). Fulcio did not issue it and no transparency log
holds the signature: what Feedhouse cannot verify offline (see shared/attestations.py) is exactly
what such an attestation lacks.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

PUBLISH_V1 = "https://docs.pypi.org/attestations/publish/v1"
GITHUB_ISSUER = "https://token.actions.githubusercontent.com"
_FULCIO = "1.3.6.1.4.1.57264.1."


def _utf8_string(value: str) -> bytes:
    """A DER UTF8String, as Fulcio encodes its extensions' values."""
    data = value.encode()
    length = len(data)
    encoded = (
        bytes([length])
        if length < 0x80
        else bytes([0x81 if length < 0x100 else 0x82]) + (length.to_bytes(1 if length < 0x100 else 2, "big"))
    )
    return b"\x0c" + encoded + data


def certificate(
    key: ec.EllipticCurvePrivateKey,
    *,
    repository: str,
    workflow: str,
    ref: str = "refs/heads/main",
    issuer: str = GITHUB_ISSUER,
) -> bytes:
    """A DER certificate for ``key`` with GitHub Actions' Fulcio identity extensions, signed by itself."""
    claims = {
        "8": issuer,  # Issuer (V2)
        "12": f"https://github.com/{repository}",  # Source Repository URI
        "14": ref,  # Source Repository Ref
        "18": f"https://github.com/{repository}/.github/workflows/{workflow}@{ref}",  # Build Config URI
    }
    now = datetime.datetime.now(datetime.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "sigstore.dev")])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(minutes=10))
    )
    for arc, value in claims.items():
        oid = x509.ObjectIdentifier(_FULCIO + arc)
        builder = builder.add_extension(x509.UnrecognizedExtension(oid, _utf8_string(value)), critical=False)
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


def statement(
    filename: str, data: bytes, *, sha256: str | None = None, predicate_type: str = PUBLISH_V1
) -> bytes:
    return json.dumps(
        {
            "_type": "https://in-toto.io/Statement/v1",
            "subject": [{"name": filename, "digest": {"sha256": sha256 or hashlib.sha256(data).hexdigest()}}],
            "predicateType": predicate_type,
            "predicate": None,
        }
    ).encode()


def attestation(
    filename: str,
    data: bytes,
    *,
    repository: str,
    workflow: str = "release.yml",
    signed_by: ec.EllipticCurvePrivateKey | None = None,
    certified_repository: str | None = None,
    certified_workflow: str | None = None,
    payload: bytes | None = None,
) -> dict[str, Any]:
    """A PEP 740 attestation of ``data`` as ``filename``; the keywords make it wrong in one way each."""
    key = ec.generate_private_key(ec.SECP256R1())
    cert = certificate(
        key, repository=certified_repository or repository, workflow=certified_workflow or workflow
    )
    body = payload if payload is not None else statement(filename, data)
    pae = b"DSSEv1 %d %s %d %s" % (28, b"application/vnd.in-toto+json", len(body), body)
    signature = (signed_by or key).sign(pae, ec.ECDSA(hashes.SHA256()))
    return {
        "version": 1,
        "verification_material": {
            "certificate": base64.b64encode(cert).decode(),
            "transparency_entries": [
                {
                    "logIndex": "1",
                    "logId": {"keyId": base64.b64encode(b"\0" * 32).decode()},
                    "kindVersion": {"kind": "dsse", "version": "0.0.1"},
                    "integratedTime": "1700000000",
                    "canonicalizedBody": base64.b64encode(b"{}").decode(),
                }
            ],
        },
        "envelope": {
            "statement": base64.b64encode(body).decode(),
            "signature": base64.b64encode(signature).decode(),
        },
    }
