"""The offline Sigstore stack the attestation tests share: one key set per module and a running stack (Fulcio, Rekor,
trust config) per test (tests/fakes/sigstore_stack), beside the fake GitHub token service of tests/conftest.py."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.github_oidc import FakeGitHubOIDC
from tests.fakes.sigstore_stack import SigstoreStack, StackKeys


@pytest.fixture(scope="module")
def keys() -> StackKeys:
    return StackKeys.generate()


@pytest.fixture
def stack(github: FakeGitHubOIDC, keys: StackKeys) -> Iterator[SigstoreStack]:
    with SigstoreStack(github=github, keys=keys) as running:
        yield running
