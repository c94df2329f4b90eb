"""Attestations (PEP 740): checked when uploaded, kept as the file's provenance, served as PyPI serves them.

An upload may carry an ``attestations`` form field: a JSON array of PEP 740 attestation objects (twine
``upload --attestations`` and ``uv publish`` send the ``<file>.publish.attestation`` files beside a
dist). As on PyPI, they are taken only from a trusted publisher whose identity Sigstore certifies, a
GitHub Actions workflow (shared/trusted_publishing.py): the publisher is what a provenance object
names, and only then is there an identity to check the certificate against. ``pypi-attestations``
(the library Warehouse uses) parses them and builds the provenance object.

What is verified, offline, for each attestation:
- its shape (pypi-attestations' ``Attestation`` model), bounded in size, count and nesting;
- its in-toto statement: exactly one subject, named as the uploaded file (the same distribution), whose
  sha256 is the uploaded file's, and a predicate type PyPI knows (publish/v1 or SLSA provenance v1);
- the DSSE signature over the statement, with the public key of the attestation's certificate;
- the certificate's Fulcio identity extensions against the publisher (pypi-attestations' policy for
  GitHub: issuer ``https://token.actions.githubusercontent.com``, source repository, and the build
  config URI naming the publisher's workflow file at the certificate's own ref or commit).

What is not, by default: that Fulcio issued the certificate, that the signature was made within the
certificate's ten-minute validity (the time comes from the transparency log), and that the signature
is in the Rekor transparency log (its signed entry timestamp and inclusion proof). A self-made
certificate with the right extensions passes; the publisher identity that counts is the one the upload
authenticated with (the trusted publisher's token), which the certificate must agree with.
FEEDHOUSE_ATTESTATION_VERIFICATION=sigstore adds those checks (``check_with_sigstore``), offline,
against the trust root the installed sigstore package ships: keeping it current takes TUF updates
from Sigstore's servers, which Feedhouse never fetches (this project's machines cannot reach them).
"""

from __future__ import annotations

import json
from typing import Any

import sigstore.errors
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import ValidationError
from pypi_attestations import (
    Attestation,
    AttestationBundle,
    AttestationError,
    AttestationType,
    Distribution,
    GitHubPublisher,
    Provenance,
)
from sigstore.verify.policy import VerificationPolicy

from shared import trusted_publishing
from shared.distributions import parse_distribution_filename
from shared.errors import BadRequest
from shared.names import PUBLISHER_PREFIX, is_publisher_key
from shared.settings import SIGSTORE
from shared.storage import Storage

# An attestation is a few kilobytes (a certificate, a transparency log entry, a small statement);
# twine sends one per dist, a publish and an SLSA provenance make two.
MAX_ATTESTATIONS = 8
MAX_FIELD_BYTES = 256 * 1024
# The deepest attestation (transparency entry → inclusion proof → checkpoint) is nested 6 levels.
MAX_DEPTH = 16
IN_TOTO_STATEMENT_V1 = "https://in-toto.io/Statement/v1"
_DSSE_PAYLOAD_TYPE = "application/vnd.in-toto+json"
# Sigstore signs with the hash that matches the key's curve.
_CURVE_HASHES: dict[type[ec.EllipticCurve], type[hashes.HashAlgorithm]] = {
    ec.SECP256R1: hashes.SHA256,
    ec.SECP384R1: hashes.SHA384,
}


class AttestationsRejected(BadRequest):
    code = "invalid_attestations"


def _refuse(message: str) -> AttestationsRejected:
    return AttestationsRejected(f"Invalid attestations supplied during upload: {message}")


def _depth(value: Any) -> int:
    """How deeply ``value`` nests arrays and objects, walked without recursion."""
    deepest, pending = 0, [(value, 1)]
    while pending:
        item, level = pending.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        deepest = max(deepest, level)
        if level > MAX_DEPTH:
            break
        pending.extend((child, level + 1) for child in children)
    return deepest


def _parse(field: str) -> list[Attestation]:
    if len(field.encode()) > MAX_FIELD_BYTES:
        raise _refuse(f"the field is larger than {MAX_FIELD_BYTES} bytes.")
    try:
        raw = json.loads(field)
    except RecursionError:
        raise _refuse(f"the JSON nests deeper than {MAX_DEPTH} levels.") from None
    except ValueError as exc:
        raise _refuse(f"the field is not JSON ({exc}).") from None
    if not isinstance(raw, list) or not raw:
        raise _refuse("the field must be a JSON array of one or more attestation objects.")
    if len(raw) > MAX_ATTESTATIONS:
        raise _refuse(f"at most {MAX_ATTESTATIONS} attestations are accepted per file.")
    if _depth(raw) > MAX_DEPTH:
        raise _refuse(f"the JSON nests deeper than {MAX_DEPTH} levels.")
    try:
        return [Attestation.model_validate(item) for item in raw]
    except ValidationError as exc:
        errors = exc.errors()[:5]
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or '(top)'}: {e['msg']}" for e in errors)
        raise _refuse(f"not a PEP 740 attestation object ({problems}).") from None


def _check_statement(attestation: Attestation, filename: str, sha256: str) -> None:
    try:
        statement = json.loads(attestation.envelope.statement)
    except ValueError:
        raise _refuse("the envelope's statement is not JSON.") from None
    if not isinstance(statement, dict) or statement.get("_type") != IN_TOTO_STATEMENT_V1:
        raise _refuse(f"the statement is not an in-toto statement ({IN_TOTO_STATEMENT_V1}).")
    subjects = statement.get("subject")
    if not isinstance(subjects, list) or len(subjects) != 1 or not isinstance(subjects[0], dict):
        raise _refuse("the statement must have exactly one subject.")
    subject = subjects[0]
    name, digest = subject.get("name"), subject.get("digest")
    if not isinstance(name, str) or not _same_distribution(name, filename):
        raise _refuse(f"the statement's subject {name!r} is not the uploaded file '{filename}'.")
    attested = digest.get("sha256") if isinstance(digest, dict) else None
    if attested != sha256:
        raise _refuse(
            f"the statement covers a file with another digest (sha256 {attested!r}), not the uploaded "
            f"'{filename}' (sha256 {sha256})."
        )
    known = [t.value for t in AttestationType]
    if statement.get("predicateType") not in known:
        raise _refuse(
            f"unknown predicate type {statement.get('predicateType')!r}; known: {', '.join(known)}."
        )


def _same_distribution(subject: str, filename: str) -> bool:
    """Whether the subject names the uploaded distribution (as pypi-attestations compares: the parsed
    name, version and tags, not the spelling)."""
    if subject == filename:
        return True
    try:
        return parse_distribution_filename(subject).identity == parse_distribution_filename(filename).identity
    except BadRequest:
        return False


def _pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE's pre-authentication encoding, what the signature covers. Hand-written: sigstore's own is
    private, and the spec's definition is this one line."""
    kind = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def _certificate(attestation: Attestation) -> x509.Certificate:
    try:
        return x509.load_der_x509_certificate(attestation.verification_material.certificate)
    except ValueError:
        raise _refuse("the verification material's certificate is not a DER X.509 certificate.") from None


def _check_signature(attestation: Attestation, certificate: x509.Certificate) -> None:
    key = certificate.public_key()
    algorithm = _CURVE_HASHES.get(type(key.curve)) if isinstance(key, ec.EllipticCurvePublicKey) else None
    if algorithm is None:
        raise _refuse("the certificate's key is not an ECDSA P-256 or P-384 key, as Sigstore issues.")
    assert isinstance(key, ec.EllipticCurvePublicKey)
    signed = _pae(_DSSE_PAYLOAD_TYPE, attestation.envelope.statement)
    try:
        key.verify(attestation.envelope.signature, signed, ec.ECDSA(algorithm()))
    except InvalidSignature:
        raise _refuse("the envelope's signature was not made by the certificate's key.") from None


def _check_identity(publisher: GitHubPublisher, certificate: x509.Certificate) -> None:
    # pypi-attestations' policy for the publisher, as Warehouse applies it through Attestation.verify.
    try:
        publisher._as_policy().verify(certificate)  # the library's only way to the policy
    except (sigstore.errors.VerificationError, x509.ExtensionNotFound, ValueError) as exc:
        raise _refuse(
            f"the signing certificate's identity is not the trusted publisher's (GitHub repository "
            f"'{publisher.repository}', workflow '{publisher.workflow}'): {exc}"
        ) from None


def signing_publisher(storage: Storage, feed_key: str, uploader: str) -> GitHubPublisher:
    """The publisher an upload by ``uploader`` may carry attestations for, as a provenance object
    names it; AttestationsRejected unless the uploader is a GitHub Actions trusted publisher of the
    feed (as on PyPI: no other uploader has an identity Sigstore certifies to check them against)."""
    publisher_id = uploader.removeprefix(PUBLISHER_PREFIX) if is_publisher_key(uploader) else None
    publisher = trusted_publishing.find(storage, feed_key, publisher_id) if publisher_id else None
    if publisher is None:
        raise _refuse(
            "attestations are accepted only from a trusted publisher (a GitHub Actions workflow "
            "registered on the feed, publishing with the token it exchanged), as on PyPI."
        )
    if publisher.kind != trusted_publishing.GITHUB or not publisher.repository or not publisher.workflow:
        raise _refuse(
            f"attestations are accepted only from GitHub Actions trusted publishers; this is a "
            f"{publisher.kind} publisher, whose identity Sigstore does not certify."
        )
    return GitHubPublisher(
        repository=publisher.repository, workflow=publisher.workflow, environment=publisher.environment
    )


def check_with_sigstore(
    attestation: Attestation, filename: str, sha256: str, identity: GitHubPublisher | VerificationPolicy
) -> None:
    """Sigstore's own verification (FEEDHOUSE_ATTESTATION_VERIFICATION=sigstore), as Warehouse runs it,
    offline: against the trust root the installed sigstore package ships, never refreshed over TUF
    (that needs Sigstore's servers). It is what trusts Fulcio's CA and Rekor's keys, so an attestation
    signed under keys newer than the installed sigstore release is refused until it is upgraded."""
    try:
        attestation.verify(identity, Distribution(name=filename, digest=sha256), offline=True)
    except (AttestationError, sigstore.errors.Error) as exc:
        raise _refuse(f"Sigstore verification failed: {exc}") from None


def provenance(
    field: str, *, filename: str, sha256: str, publisher: GitHubPublisher, verification: str
) -> bytes:
    """The provenance object (JSON) of an upload's ``attestations`` field by ``publisher``;
    AttestationsRejected when any attestation fails a check. ``verification`` is
    FEEDHOUSE_ATTESTATION_VERIFICATION."""
    attestations = _parse(field)
    for attestation in attestations:
        _check_statement(attestation, filename, sha256)
        certificate = _certificate(attestation)
        _check_signature(attestation, certificate)
        _check_identity(publisher, certificate)
        if verification == SIGSTORE:
            check_with_sigstore(attestation, filename, sha256, publisher)
    bundle = AttestationBundle(publisher=publisher, attestations=attestations)
    return Provenance(attestation_bundles=[bundle]).model_dump_json().encode()
