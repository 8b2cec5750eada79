# Image for the publish-dists Docker action. Runtime dependencies come only from requirements.lock (hashes
# required, no resolver run), in a venv so the same steps work on python:3.x-slim and on a Debian base whose
# python3 has no pip (python3-venv is enough).
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
# proxy). It is mounted for this one RUN and never stored in a layer. pip itself is removed afterwards: the
# image runs the action, it installs nothing.
COPY requirements.lock /tmp/requirements.lock
RUN --mount=type=secret,id=pip_cert \
    set -eu; \
    if [ -s /run/secrets/pip_cert ]; then export PIP_CERT=/run/secrets/pip_cert; fi; \
    python3 -m venv /opt/venv; \
    /opt/venv/bin/python -m pip install --no-cache-dir --require-hashes --no-deps -r /tmp/requirements.lock; \
    /opt/venv/bin/python -m pip uninstall --yes pip setuptools; \
    rm -rf /tmp/requirements.lock /root/.cache

COPY entrypoint.py /app/entrypoint.py
COPY publisher/ /app/publisher/

# No USER: GitHub runs Docker actions as root so that files written to /github/workspace keep working.
# Absolute path: the runner sets the working directory to /github/workspace.
ENTRYPOINT ["python", "/app/entrypoint.py"]
