"""Feedhouse's attestation checks on a real Sigstore attestation (tests/shared/attestations/README.md):
what the structural checks accept, and that Sigstore's own verification (FEEDHOUSE_ATTESTATION_VERIFICATION
=sigstore) runs offline against the trust root the sigstore package ships, accepting it for its signer
and refusing it for anyone else or for other bytes."""

from __future__ import annotations

from pathlib import Path

import pytest
from pypi_attestations import Attestation
from sigstore.verify import policy

from shared import attestations

REAL = Path(__file__).parent / "attestations" / "pypi_attestations-0.0.19.tar.gz.publish.attestation"
FILENAME = "pypi_attestations-0.0.19.tar.gz"
SHA256 = "9bb1add04b1b4e182be6b0b80931593f7a291eb49d69b4fd728a5d4cbcdc4bd3"
SIGNER = policy.Identity(identity="jku@goto.fi", issuer="https://github.com/login/oauth")


@pytest.fixture
def real() -> Attestation:
    return Attestation.model_validate_json(REAL.read_text())


def test_a_real_attestation_passes_the_structural_checks(real):
    attestations._check_statement(real, FILENAME, SHA256)
    attestations._check_signature(real, attestations._certificate(real))


def test_sigstore_verifies_a_real_attestation_offline_for_its_signer(real):
    attestations.check_with_sigstore(real, FILENAME, SHA256, SIGNER)


@pytest.mark.parametrize(
    ("sha256", "identity"),
    [
        ("0" * 64, SIGNER),
        (SHA256, policy.Identity(identity="mallory@example.com", issuer="https://github.com/login/oauth")),
    ],
    ids=["other bytes", "another signer"],
)
def test_sigstore_refuses_it_for_other_bytes_or_another_signer(real, sha256, identity):
    with pytest.raises(attestations.AttestationsRejected, match="Sigstore verification failed"):
        attestations.check_with_sigstore(real, FILENAME, sha256, identity)
