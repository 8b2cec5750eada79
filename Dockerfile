# Image for the publish-dists Docker action. Runtime dependencies come only from requirements.lock (hashes
# required, wheels only, no resolver run), in a venv so the same steps work on python:3.x-slim and on a Debian
# base whose python3 has no pip (python3-venv is enough: scripts/container-test.sh builds such a base).
ARG BASE_IMAGE=python:3.12-slim
FROM ${BASE_IMAGE}

LABEL org.opencontainers.image.title="publish-dists" \
      org.opencontainers.image.description="Upload wheels and sdists to a named [[tool.uv.index]] or to PyPI" \
      org.opencontainers.image.licenses="MIT"

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    VIRTUAL_ENV=/opt/venv \
    PYTHONPATH=/app \
    PATH=/opt/venv/bin:$PATH

# A CA bundle for pip may be passed as the optional build secret `pip_cert` (needed behind a TLS-inspecting
# proxy). It is mounted for this one RUN and never stored in a layer. --only-binary: the image has no compiler,
# and a missing wheel (say for arm64) must fail here, not try an sdist build. Then pip and setuptools go, from
# the venv and from the base's own Python (python:*-slim ships pip): the image runs the action, it installs
# nothing.
COPY requirements.lock /tmp/requirements.lock
RUN --mount=type=secret,id=pip_cert \
    set -eu; \
    if [ -s /run/secrets/pip_cert ]; then export PIP_CERT=/run/secrets/pip_cert; fi; \
    python3 -m venv /opt/venv; \
    /opt/venv/bin/python -m pip install --no-cache-dir --require-hashes --no-deps --only-binary=:all: \
        -r /tmp/requirements.lock; \
    /opt/venv/bin/python -m pip uninstall --yes --quiet pip setuptools; \
    if /usr/local/bin/python3 -m pip --version >/dev/null 2>&1; then \
        /usr/local/bin/python3 -m pip uninstall --yes --quiet pip setuptools wheel; \
    fi; \
    rm -rf /tmp/requirements.lock /root/.cache

COPY entrypoint.py /app/entrypoint.py
COPY publisher/ /app/publisher/
# Bytecode made once here (PYTHONDONTWRITEBYTECODE stops each run from writing it): ~18 ms off every start.
# unchecked-hash: the files never change inside the image, so Python need not stat the sources.
RUN python3 -m compileall -q --invalidation-mode unchecked-hash /app

# No USER: GitHub runs Docker actions as root ("Docker actions must be run by the default Docker user (root)"),
# and the runner's file_commands and workspace belong to the runner's own user, which only root can write as.
# Absolute path: the runner sets the working directory to /github/workspace.
ENTRYPOINT ["python", "/app/entrypoint.py"]
