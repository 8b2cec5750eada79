#!/usr/bin/env bash
# Regenerate requirements.lock: the runtime dependencies of [project] dependencies, pinned with hashes.
#
# Why these flags: the image is built for linux/amd64 and linux/arm64 on CPython 3.11+ (the debootstrap base
# has 3.11, the default python:3.12-slim base 3.12), so the lock is universal from 3.11 up, with environment
# markers, and lists the hashes of every wheel of each pinned version. The native action (native/setup.sh) installs
# the same file on macOS and Windows runners, which the platform markers (pywin32-ctypes, secretstorage) serve. Local find-links and file:// indexes
# from the machine's pip/uv configuration are ignored so the lock only ever names PyPI.
set -euo pipefail
cd "$(dirname "$0")/.."

UV="${UV:-.venv/bin/uv}"
export SSL_CERT_FILE="${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}"
env -u UV_FIND_LINKS -u UV_EXTRA_INDEX_URL -u UV_INDEX -u UV_DEFAULT_INDEX -u UV_INDEX_URL \
    "$UV" pip compile pyproject.toml \
    --no-config \
    --universal \
    --python-version 3.11 \
    --generate-hashes \
    --index-url https://pypi.org/simple \
    --no-header \
    --quiet \
    --output-file requirements.lock \
    "$@"

# Prepend a header that says how to regenerate (uv's own header would record machine-specific paths).
tmp="$(mktemp)"
{
    echo "# Runtime dependencies of publish-dists, pinned with hashes. Do not edit: run scripts/lock.sh."
    cat requirements.lock
} > "$tmp"
mv "$tmp" requirements.lock
grep -q 'file://' requirements.lock && { echo "requirements.lock names a local index" >&2; exit 1; }
echo "requirements.lock: $(grep -c '^[a-z]' requirements.lock) packages"
