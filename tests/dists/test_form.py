"""What we send, field by field, against what `twine upload` sends for the same wheel and sdist.

Both clients post to the same recording server on 127.0.0.1, which keeps the raw request; the multipart body is
parsed with the standard library's email parser (an implementation independent of httpx and requests-toolbelt).
"""

from __future__ import annotations

import email.parser
import email.policy
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path

import pytest

from tests.fakes import FakeServer, Request, Response
from tests.fakes.sigstore_stack import SigstoreStack
from tests.support.builders import Dists
from tests.support.runner import run_cli

pytestmark = pytest.mark.timeout(120)

# Fields twine sends that we deliberately do not (or only when asked), and the other way round.
TWINE_ONLY = {"comment", "gpg_signature", "md5_digest", "requires", "provides", "obsoletes"}
OURS_ONLY = {"requires_python"}  # always sent (GitLab needs it), twine only when the metadata has it
# Fields where the value may legitimately differ, with the reason; everything else must be byte-identical.
KNOWN_DIFFERENCES = {
    "keywords": "twine joins the parsed keyword list with ', ', we with ',' (the metadata's own separator)",
}


@dataclass
class Upload:
    headers: dict[str, str]
    fields: dict[str, list[str]] = field(default_factory=dict)
    content: bytes = b""
    content_filename: str | None = None


class Recorder(FakeServer):
    """Answers 200 to every upload and keeps the raw requests."""

    def handle(self, request: Request) -> Response:
        return Response.text(200, "OK")

    def uploads(self) -> list[Upload]:
        return [parse_upload(r) for r in self.requests if r.method == "POST"]


def parse_upload(request: Request) -> Upload:
    """Parse multipart/form-data with email.parser: prepend the Content-Type header, read parts as MIME."""
    raw = f"Content-Type: {request.headers['content-type']}\r\nMIME-Version: 1.0\r\n\r\n".encode() + request.body
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(raw)
    assert message.is_multipart(), request.headers["content-type"]
    upload = Upload(headers=request.headers)
    for part in message.iter_parts():
        assert isinstance(part, Message)
        name = part.get_param("name", header="content-disposition")
        assert isinstance(name, str)
        payload = part.get_payload(decode=True)
        assert isinstance(payload, bytes)
        if name == "content":
            upload.content, upload.content_filename = payload, part.get_filename()
        else:
            upload.fields.setdefault(name, []).append(payload.decode("utf-8"))
    return upload


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    with Recorder() as server:
        yield server


def _copy_dists(built_dists: list[Path], directory: Path) -> list[Path]:
    directory.mkdir()
    return [Path(shutil.copy(d, directory / d.name)) for d in built_dists]


def _ours(
    recorder: Recorder, files: list[Path], cwd: Path, env: dict[str, str] | None = None
) -> tuple[dict[str, Upload], str]:
    """Upload with our CLI; the uploads received by file name, and what the CLI printed."""
    args = ["--publish-url", f"{recorder.url}/", "-u", "user", "-p", "secret", "--trusted-publishing", "never"]
    result = run_cli([*args, "--parallel", "1", *map(str, files)], cwd=cwd, env=env or {})
    assert result.returncode == 0, result.stdout + result.stderr
    return {u.content_filename or "?": u for u in recorder.uploads()}, result.stdout + result.stderr


def _twine(recorder: Recorder, files: list[Path], *extra: str) -> dict[str, Upload]:
    before = len(recorder.requests)
    command = [sys.executable, "-m", "twine", "upload", "--repository-url", f"{recorder.url}/", "-u", "user"]
    command += ["-p", "secret", "--non-interactive", "--disable-progress-bar", *extra, *map(str, files)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    uploads = [parse_upload(r) for r in recorder.requests[before:] if r.method == "POST"]
    return {u.content_filename or "?": u for u in uploads}


RICH_METADATA = """
license = "MIT"
keywords = ["publishing", "wheels", "index"]
authors = [{name = "Ada Lovelace", email = "ada@example.invalid"}]
maintainers = [{name = "Grace Hopper", email = "grace@example.invalid"}]
classifiers = ["Programming Language :: Python :: 3", "Operating System :: OS Independent"]
dependencies = ["packaging>=24", "httpx>=0.27; python_version >= '3.9'"]
optional-dependencies = {cli = ["rich>=13"], test = ["pytest>=8"]}
urls = {Homepage = "https://example.invalid/demo", Source = "https://example.invalid/demo/src"}
"""


def test_fields_match_twine(recorder: Recorder, dist_factory: Callable[..., Dists], tmp_path: Path) -> None:
    files = _copy_dists(list(dist_factory("rich-demo", "2.0.1", extra_metadata=RICH_METADATA)), tmp_path / "dist")
    ours, _ = _ours(recorder, files, tmp_path)
    theirs = _twine(recorder, files)
    assert sorted(ours) == sorted(theirs) == sorted(f.name for f in files)

    for path in files:
        mine, twine = ours[path.name], theirs[path.name]
        data = path.read_bytes()
        assert mine.content == data == twine.content, "the file must arrive byte for byte"
        assert mine.fields["sha256_digest"] == [hashlib.sha256(data).hexdigest()]
        assert mine.fields["blake2_256_digest"] == [hashlib.blake2b(data, digest_size=32).hexdigest()]
        assert "md5_digest" not in mine.fields

        names_mine, names_twine = set(mine.fields), set(twine.fields)
        assert names_mine - names_twine <= OURS_ONLY, f"{path.name}: only we send {names_mine - names_twine}"
        assert names_twine - names_mine <= TWINE_ONLY, f"{path.name}: only twine sends {names_twine - names_mine}"
        assert "requires_python" in mine.fields
        for name in ("name", "version", "filetype", "pyversion", "keywords", "classifiers", "requires_dist"):
            assert name in mine.fields, f"{path.name}: {name} missing (the test project sets it)"
        for name in sorted(names_mine & names_twine):
            if name in KNOWN_DIFFERENCES:
                continue
            assert mine.fields[name] == twine.fields[name], f"{path.name}: field {name!r} differs"
        for name in KNOWN_DIFFERENCES.keys() & names_mine & names_twine:
            split = [sorted(k.strip() for v in u.fields[name] for k in v.split(",")) for u in (mine, twine)]
            assert split[0] == split[1], f"{path.name}: {name} lists different items"


def test_body_is_streamed_with_content_length(recorder: Recorder, built_dists: list[Path], tmp_path: Path) -> None:
    files = _copy_dists(built_dists, tmp_path / "dist")
    for upload in _ours(recorder, files, tmp_path)[0].values():
        assert "transfer-encoding" not in upload.headers, "a chunked body breaks some registries' proxies"
        assert upload.headers["content-type"].startswith("multipart/form-data; boundary=")
    for request in recorder.requests:
        assert int(request.headers["content-length"]) == len(request.body)


def test_attestations_sent_as_json_array(recorder: Recorder, built_dists: list[Path], tmp_path: Path) -> None:
    files = _copy_dists(built_dists, tmp_path / "dist")
    wheel = next(f for f in files if f.name.endswith(".whl"))
    with SigstoreStack() as stack:  # a found attestation is sent only once it verifies (publisher/attest/planted.py)
        attestation = stack.attestation(wheel.name, hashlib.sha256(wheel.read_bytes()).hexdigest())
        (wheel.parent / f"{wheel.name}.publish.attestation").write_text(json.dumps(attestation))
        ours, _ = _ours(recorder, files, tmp_path, {"PUBLISHER_SIGSTORE_TRUST_CONFIG": str(stack.trust_config_path)})

    sent = ours[wheel.name].fields["attestations"]
    assert len(sent) == 1
    assert json.loads(sent[0]) == [attestation]
    assert all("attestations" not in u.fields for name, u in ours.items() if name != wheel.name)

    theirs = _twine(recorder, [wheel, wheel.parent / f"{wheel.name}.publish.attestation"], "--attestations")
    assert json.loads(theirs[wheel.name].fields["attestations"][0]) == json.loads(sent[0])


def test_big_file_streams_with_progress_every_tenth(
    recorder: Recorder, built_dists: list[Path], tmp_path: Path
) -> None:
    wheel = _copy_dists([d for d in built_dists if d.name.endswith(".whl")], tmp_path / "dist")[0]
    with zipfile.ZipFile(wheel, "a") as archive:  # incompressible padding: an 11 MiB wheel, still valid
        archive.writestr(zipfile.ZipInfo("demo_pkg/blob.bin"), os.urandom(11 * 1024 * 1024))
    uploads, output = _ours(recorder, [wheel], tmp_path)
    assert uploads[wheel.name].content == wheel.read_bytes()
    assert "transfer-encoding" not in uploads[wheel.name].headers
    percents = [int(m) for m in re.findall(r"^\s+(\d+)%\s", output, flags=re.M)]
    assert percents == list(range(10, 101, 10)), output
