"""`SigstoreStack`: Fulcio, its CT log and Rekor on loopback, plus the trust config that names them.

    with SigstoreStack() as stack:                       # also starts a FakeGitHubOIDC, trusted by Fulcio
        token = IdentityToken(stack.identity_token())     # audience `sigstore`, claims of `stack.github.claims`
        context = SigningContext.from_trust_config(stack.client_trust_config())
        ...
        stack.verifier()                                  # sigstore's Verifier over this stack's trusted root

Issuers: by default the stack starts its own `FakeGitHubOIDC` (`stack.github`) and Fulcio trusts its key. Pass
`github=` to trust a fake the test already runs, and/or `issuers={ISSUER: key | PEM | JWKS URL}` for others (a JWKS
URL is fetched when a token needs it, as Fulcio does); with only `issuers=`, no fake GitHub is started.

Faults: `stack.fulcio.fail_next`, `stack.fulcio.identity_check`, `stack.rekor.fail_next`, `stack.rekor.down()`.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self
from urllib.parse import quote

from tests.fakes.github_oidc import ISSUER, FakeGitHubOIDC
from tests.fakes.sigstore_stack.ctlog import CTLog
from tests.fakes.sigstore_stack.fulcio import FakeFulcio
from tests.fakes.sigstore_stack.keys import StackKeys
from tests.fakes.sigstore_stack.oidc import CLIENT_ID, KeySource, TrustedIssuers
from tests.fakes.sigstore_stack.rekor import FakeRekor
from tests.fakes.sigstore_stack.trust import client_trust_config

if TYPE_CHECKING:
    from sigstore.models import ClientTrustConfig, TrustedRoot
    from sigstore.sign import SigningContext
    from sigstore.verify import Verifier

# The TUF repositories whose cached trusted root sigstore-python reads in offline mode (`Verifier.production(
# offline=True)`, which is what `pypi_attestations.Attestation.verify(..., offline=True)` uses).
TUF_URLS = ("https://tuf-repo-cdn.sigstore.dev", "https://tuf-repo-cdn.sigstage.dev")


class SigstoreStack:
    def __init__(
        self,
        issuers: Mapping[str, KeySource] | None = None,
        *,
        github: FakeGitHubOIDC | None = None,
        keys: StackKeys | None = None,
        trust_config_path: Path | None = None,
    ) -> None:
        self.keys = keys or StackKeys.generate()
        self._owns_github = github is None and issuers is None
        self.github = FakeGitHubOIDC() if self._owns_github else github
        self.issuers = TrustedIssuers(issuers)
        if self.github is not None:
            self.issuers.add(ISSUER, self.github.public_key)
        self.ct_log = CTLog(self.keys.ct_key, [self.keys.root])
        self.fulcio = FakeFulcio(self.keys, self.ct_log, self.issuers)
        self.rekor = FakeRekor(self.keys.rekor_key, name=f"rekor.{self.keys.organization}")
        self._trust_config_path = trust_config_path
        self._tempdir: Path | None = None

    # -- lifecycle ----------------------------------------------------------------------------------------------
    def start(self) -> Self:
        try:
            if self._owns_github and self.github is not None:
                self.github.start()
            self.fulcio.start()
            self.rekor.start()
            if self._trust_config_path is None:
                self._tempdir = Path(tempfile.mkdtemp(prefix="sigstore-stack-"))
                self._trust_config_path = self._tempdir / "trust_config.json"
            self._trust_config_path.write_text(self.trust_config_json)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        self.rekor.stop()
        self.fulcio.stop()
        if self._owns_github and self.github is not None:
            self.github.stop()
        if self._tempdir is not None:
            shutil.rmtree(self._tempdir, ignore_errors=True)
            self._tempdir = self._trust_config_path = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    # -- trust --------------------------------------------------------------------------------------------------
    @property
    def trust_config(self) -> dict[str, Any]:
        """The ClientTrustConfig document (a fresh dict: tests may tamper with it)."""
        return client_trust_config(
            self.keys, fulcio_url=self.fulcio.url, rekor_url=self.rekor.url, ct_log_url=f"{self.fulcio.url}/ct"
        )

    @property
    def trust_config_json(self) -> str:
        return json.dumps(self.trust_config, indent=2)

    @property
    def trust_config_path(self) -> Path:
        """Where `start()` wrote the trust config (the given path, or a file in a temporary directory)."""
        assert self._trust_config_path is not None, "stack not started"
        return self._trust_config_path

    def client_trust_config(self) -> ClientTrustConfig:
        from sigstore.models import ClientTrustConfig

        return ClientTrustConfig.from_json(self.trust_config_json)

    def trusted_root(self) -> TrustedRoot:
        return self.client_trust_config().trusted_root

    def signing_context(self) -> SigningContext:
        from sigstore.sign import SigningContext

        return SigningContext.from_trust_config(self.client_trust_config())

    def verifier(self) -> Verifier:
        from sigstore.verify import Verifier

        return Verifier(trusted_root=self.trusted_root())

    def seed_tuf_cache(self, cache_home: Path) -> Path:
        """Write this stack's trusted root where sigstore-python's offline mode reads it, under `cache_home`.

        With `XDG_CACHE_HOME=cache_home` (Linux), `Verifier.production(offline=True)`, and so
        `pypi_attestations.Attestation.verify(publisher, dist, offline=True)`, verify against this stack and no
        other, without network: offline mode reads the cached `trusted_root.json` unverified. Returns `cache_home`.
        """
        config = self.trust_config
        for url in TUF_URLS:
            target = cache_home / "sigstore-python" / "tuf" / quote(url, safe="")
            target.mkdir(parents=True, exist_ok=True)
            (target / "trusted_root.json").write_text(json.dumps(config["trustedRoot"]))
            (target / "signing_config.v0.2.json").write_text(json.dumps(config["signingConfig"]))
        return cache_home

    def attestation(self, name: str, sha256: str) -> dict[str, Any]:
        """A PEP 740 attestation of the file `name` with `sha256`, signed and logged by this stack for the identity of
        `identity_token()`: what an earlier publish step would have left beside a dist."""
        from pypi_attestations import Attestation, Distribution
        from sigstore.oidc import IdentityToken

        with self.signing_context().signer(IdentityToken(self.identity_token())) as signer:
            attestation = Attestation.sign(signer, Distribution(name=name, digest=sha256))
        return json.loads(attestation.model_dump_json())  # type: ignore[no-any-return]

    # -- identities ---------------------------------------------------------------------------------------------
    def identity_token(self, **claims: Any) -> str:
        """A token from the stack's fake GitHub for audience `sigstore`; `claims` override (None removes) claims."""
        assert self.github is not None, "this stack has no FakeGitHubOIDC (pass github= or no issuers=)"
        return self.github.issue(CLIENT_ID, **claims)
