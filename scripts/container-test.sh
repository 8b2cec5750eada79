#!/usr/bin/env bash
# Build the action's image with podman and run it the way GitHub's runner runs a Docker action
# (tests/container). Why podman: these machines have no Docker daemon and reach no container registry, so the
# base image is made locally with debootstrap from Debian packages and passed as BASE_IMAGE.
#
# Environment (all optional):
#   PUBLISHER_IMAGE   tag of the image to build and test        (localhost/publish-dists:dev)
#   BASE_IMAGE        base image; built with debootstrap when it is the default and missing
#                                                               (localhost/debian-py:bookworm)
#   DEBIAN_MIRROR     mirror for debootstrap                    (http://deb.debian.org/debian)
#   PIP_CERT          CA bundle handed to pip in the build as a secret (/etc/ssl/certs/ca-certificates.crt)
#   PYTHON            interpreter with pytest and the dev dependencies (.venv/bin/python)
#   REBUILD_BASE=1    rebuild the base image even if it exists
set -euo pipefail
cd "$(dirname "$0")/.."

PUBLISHER_IMAGE="${PUBLISHER_IMAGE:-localhost/publish-dists:dev}"
DEFAULT_BASE="localhost/debian-py:bookworm"
BASE_IMAGE="${BASE_IMAGE:-$DEFAULT_BASE}"
DEBIAN_MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
PYTHON="${PYTHON:-.venv/bin/python}"
CA_BUNDLE="${PIP_CERT:-${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}}"

log() { printf '\n==> %s\n' "$*" >&2; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

started="$(now)"

if [ "$(id -u)" -ne 0 ]; then
    echo "container-test.sh runs podman and debootstrap as root; run it as root (e.g. sudo -E make container-test)" >&2
    exit 1
fi

# --- tools -------------------------------------------------------------------------------------------------
missing=()
for tool in podman buildah runc debootstrap; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
# debootstrap on Ubuntu needs Debian's archive key to verify bookworm.
if [ ! -e /usr/share/keyrings/debian-archive-keyring.gpg ]; then
    missing+=(debian-archive-keyring)
fi
if [ "${#missing[@]}" -gt 0 ]; then
    log "installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# crun fails here ("cgroups in hybrid mode not supported") and podman run needs explicit ulimits.
CONTAINERS_CONF="${TMPDIR:-/tmp}/publish-dists-containers.conf"
cat > "$CONTAINERS_CONF" <<'CONF'
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]
[engine]
runtime = "runc"
CONF
export CONTAINERS_CONF
podman --version

# --- base image --------------------------------------------------------------------------------------------
if [ "$BASE_IMAGE" = "$DEFAULT_BASE" ]; then
    if [ "${REBUILD_BASE:-0}" = 1 ] || ! podman image exists "$BASE_IMAGE"; then
        log "building $BASE_IMAGE with debootstrap"
        t="$(now)"
        rootfs="$(mktemp -d /var/tmp/publish-dists-rootfs.XXXXXX)"
        trap 'rm -rf "$rootfs"' EXIT
        debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
            bookworm "$rootfs" "$DEBIAN_MIRROR" > "$rootfs.log" 2>&1 \
            || { tail -n 30 "$rootfs.log" >&2; rm -f "$rootfs.log"; exit 1; }
        rm -f "$rootfs.log"
        # What a runtime image never needs: downloaded .debs, apt lists, docs, man pages, translations.
        rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* \
            "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/locale/*
        tar -C "$rootfs" -c . | podman import --quiet - "$BASE_IMAGE" >/dev/null
        rm -rf "$rootfs"
        trap - EXIT
        echo "base image built in $(elapsed "$t") s"
    else
        echo "base image $BASE_IMAGE exists (REBUILD_BASE=1 to rebuild)"
    fi
fi

# --- our image ---------------------------------------------------------------------------------------------
log "building $PUBLISHER_IMAGE on $BASE_IMAGE"
build_args=(--build-arg "BASE_IMAGE=$BASE_IMAGE" --tag "$PUBLISHER_IMAGE")
if [ -s "$CA_BUNDLE" ]; then
    build_args+=(--secret "id=pip_cert,src=$CA_BUNDLE")
fi
t="$(now)"
podman build --quiet "${build_args[@]}" . >/dev/null
build_seconds="$(elapsed "$t")"
size_bytes="$(podman image inspect --format '{{.Size}}' "$PUBLISHER_IMAGE")"
base_bytes="$(podman image inspect --format '{{.Size}}' "$BASE_IMAGE")"
echo "image $PUBLISHER_IMAGE built in $build_seconds s"
awk -v s="$size_bytes" -v b="$base_bytes" \
    'BEGIN { printf "image size: %.1f MB (base %.1f MB, added %.1f MB)\n", s / 1e6, b / 1e6, (s - b) / 1e6 }'

# --- tests -------------------------------------------------------------------------------------------------
log "running tests/container against $PUBLISHER_IMAGE"
t="$(now)"
PUBLISHER_IMAGE="$PUBLISHER_IMAGE" "$PYTHON" -m pytest tests/container -p no:cacheprovider
echo "container tests took $(elapsed "$t") s; container-test total $(elapsed "$started") s"
