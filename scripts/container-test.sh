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
#   STORAGE_ROOT      keep podman's images under this directory instead of the machine's store: with an empty
#                     directory, this is a fresh machine's run (debootstrap, then a build with no cached layer)
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
    # podman (rootful, as GitHub's runner uses docker) and debootstrap need root; GitHub's runners and most CI
    # machines have password-less sudo.
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        exec sudo -n --preserve-env=PATH,PUBLISHER_IMAGE,BASE_IMAGE,DEBIAN_MIRROR,PIP_CERT,PYTHON,REBUILD_BASE,STORAGE_ROOT \
            bash "$0" "$@"
    fi
    echo "container-test.sh runs podman and debootstrap as root: run it as root or with password-less sudo" >&2
    exit 1
fi

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
timings=()

# --- tools -------------------------------------------------------------------------------------------------
t="$(now)"
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
timings+=("tools $(elapsed "$t") s")

# crun fails here ("cgroups in hybrid mode not supported") and podman run needs explicit ulimits.
scratch="$(mktemp -d "${TMPDIR:-/tmp}/publish-dists-container-test.XXXXXX")"
rootfs=""
# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
    [ -z "$rootfs" ] || rm -rf "$rootfs" "$rootfs.log"
    rm -rf "$scratch"
}
trap cleanup EXIT
export CONTAINERS_CONF="$scratch/containers.conf"
cat > "$CONTAINERS_CONF" <<'CONF'
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]
[engine]
runtime = "runc"
CONF
if [ -n "${STORAGE_ROOT:-}" ]; then
    mkdir -p "$STORAGE_ROOT"
    export CONTAINERS_STORAGE_CONF="$scratch/storage.conf"
    printf '[storage]\ndriver = "overlay"\ngraphroot = "%s/graph"\nrunroot = "%s/run"\n' \
        "$STORAGE_ROOT" "$STORAGE_ROOT" > "$CONTAINERS_STORAGE_CONF"
    echo "podman storage: $STORAGE_ROOT"
fi
podman --version

# --- base image --------------------------------------------------------------------------------------------
t="$(now)"
if [ "$BASE_IMAGE" = "$DEFAULT_BASE" ]; then
    if [ "${REBUILD_BASE:-0}" = 1 ] || ! podman image exists "$BASE_IMAGE"; then
        log "building $BASE_IMAGE with debootstrap"
        rootfs="$(mktemp -d /var/tmp/publish-dists-rootfs.XXXXXX)"
        debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
            bookworm "$rootfs" "$DEBIAN_MIRROR" > "$rootfs.log" 2>&1 \
            || { tail -n 30 "$rootfs.log" >&2; exit 1; }
        # What a runtime image never needs: downloaded .debs, apt lists, docs, man pages, translations.
        rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* \
            "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/locale/*
        tar -C "$rootfs" -c . | podman import --quiet - "$BASE_IMAGE" >/dev/null
        rm -rf "$rootfs" "$rootfs.log"
        rootfs=""
        echo "base image built in $(elapsed "$t") s"
    else
        echo "base image $BASE_IMAGE exists (REBUILD_BASE=1 to rebuild)"
    fi
fi
timings+=("base image $(elapsed "$t") s")

# --- our image ---------------------------------------------------------------------------------------------
log "building $PUBLISHER_IMAGE on $BASE_IMAGE"
# --network host: pip reaches PyPI as the machine does, without podman's bridge and its NAT rules.
build_args=(--network host --build-arg "BASE_IMAGE=$BASE_IMAGE" --tag "$PUBLISHER_IMAGE")
if [ -s "$CA_BUNDLE" ]; then
    build_args+=(--secret "id=pip_cert,src=$CA_BUNDLE")
fi
t="$(now)"
podman build --quiet "${build_args[@]}" . >/dev/null
timings+=("image build $(elapsed "$t") s")
size_bytes="$(podman image inspect --format '{{.Size}}' "$PUBLISHER_IMAGE")"
base_bytes="$(podman image inspect --format '{{.Size}}' "$BASE_IMAGE")"
echo "image $PUBLISHER_IMAGE built in $(elapsed "$t") s"
image_size="$(awk -v s="$size_bytes" -v b="$base_bytes" \
    'BEGIN { printf "%.1f MB (base %.1f MB, added by the Dockerfile %.1f MB)", s / 1e6, b / 1e6, (s - b) / 1e6 }')"
echo "image size: $image_size"

# --- tests -------------------------------------------------------------------------------------------------
log "running tests/container against $PUBLISHER_IMAGE"
t="$(now)"
status=0
PUBLISHER_IMAGE="$PUBLISHER_IMAGE" PUBLISHER_BASE_IMAGE="$BASE_IMAGE" PYTHONDONTWRITEBYTECODE=1 \
    "$PYTHON" -m pytest tests/container -p no:cacheprovider || status=$?
timings+=("container tests $(elapsed "$t") s")

log "container-test: image size $image_size"
printf '    %s\n' "${timings[@]}" "total $(elapsed "$started") s" >&2
exit "$status"
