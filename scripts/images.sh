#!/usr/bin/env bash
# `make images`: build every target of the production Dockerfile on this machine, with no
# container registry, then run each image the way production does (uid 10001, read-only
# root filesystem, host networking on loopback) and check it (tests/images). Everything
# created here — containers, images, the container storage — is removed at the end.
#
# How (../shared/spec/container-images.md): Debian's podman/buildah/mmdebstrap; a Debian
# bookworm root filesystem from mmdebstrap is seeded under the upstream base image names
# (python:3.11-slim-bookworm, and golang:1.26-bookworm with this machine's Go toolchain),
# and the Dockerfile is built unchanged with --pull=never, its base-image arguments
# pointing at those stand-ins by digest.
#
# Settings (environment):
#   IMAGES_CACHE_DIR   heavy, content-keyed caches (default ~/.cache/hosted-wasteland/images)
#   WL_SOURCE_TARBALL  the wl v0.4.0 source (default ../shared/third_party/wasteland-0.4.0.tar.gz)
#   IMAGES_EXPORT_DIR  when set, each image is also saved there as an OCI archive
#   IMAGES_KEEP=1      keep the store (printed) instead of removing it, for debugging
#   IMAGES_TARGETS     subset of targets to build and check (default: all five)
#   SOURCE_URL         the org.opencontainers.image.source label (default: git's origin)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
START=$SECONDS

CACHE_DIR=${IMAGES_CACHE_DIR:-$HOME/.cache/hosted-wasteland/images}
WL_SOURCE_TARBALL=${WL_SOURCE_TARBALL:-$ROOT/../shared/third_party/wasteland-0.4.0.tar.gz}
WL_SOURCE_SHA256=9c7c1cc9409541fbaa1d12244bd93207e41851fb9e15d326da50c943719a0d09
read -r -a TARGETS <<<"${IMAGES_TARGETS:-gateway registry board-sync executor control-server}"
PYTHON_STANDIN=docker.io/library/python:3.11-slim-bookworm
GO_STANDIN=docker.io/library/golang:1.26-bookworm
GO_WANT=go1.26
CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct)}
VCS_REF=$(git rev-parse HEAD)
VERSION=$(git describe --tags --always --dirty 2>/dev/null || echo "$VCS_REF")
# org.opencontainers.image.source; the Dockerfile has a default.
SOURCE_URL=${SOURCE_URL:-$(git config --get remote.origin.url || echo https://github.com/kilo-org/hosted-wasteland)}
export SOURCE_DATE_EPOCH

log() { printf '[images +%3ds] %s\n' "$((SECONDS - START))" "$*"; }

# ------------------------------------------------------------------------ host tools
need=()
for tool in podman buildah mmdebstrap skopeo runc; do
  command -v "$tool" >/dev/null || need+=("$tool")
done
if ((${#need[@]})); then
  log "installing Debian packages: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends podman buildah mmdebstrap skopeo runc uidmap \
    >/dev/null
fi
GOROOT_HOST=$(go env GOROOT)
case "$(go env GOVERSION)" in
  "$GO_WANT" | "$GO_WANT".*) ;;
  *) echo "need $GO_WANT.x on the host for the golang stand-in, found $(go env GOVERSION)" >&2; exit 1 ;;
esac
if [[ -n ${UV_VERSION:-} ]] && ! grep -q "^uv==$UV_VERSION " docker/uv-requirements.txt; then
  echo "docker/uv-requirements.txt does not pin uv==$UV_VERSION like the Makefile" >&2
  exit 1
fi
echo "$WL_SOURCE_SHA256  $WL_SOURCE_TARBALL" | sha256sum -c --quiet - || {
  echo "WL_SOURCE_TARBALL $WL_SOURCE_TARBALL missing or not the pinned wl v0.4.0 source" >&2
  exit 1
}

# ------------------------------------------------------ a private, throwaway store
mkdir -p "$CACHE_DIR/buildah-tmp"
WORK=$(mktemp -d /var/tmp/hosted-wasteland-images.XXXXXX)
STAGED=third_party/wasteland-0.4.0.tar.gz
cat >"$WORK/storage.conf" <<EOF
[storage]
driver = "overlay"
graphroot = "$WORK/storage"
runroot = "$WORK/run"
EOF
# This machine's: no CAP_SYS_RESOURCE (podman's default nofile limit cannot be set) and
# hybrid cgroups, which crun refuses and runc handles.
cat >"$WORK/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$WORK/events.log"
tmp_dir = "$WORK/libpod"
volume_path = "$WORK/volumes"
[network]
network_config_dir = "$WORK/networks"
EOF
# Outgoing TLS is intercepted here: uv and pip inside the build trust the host's CA
# bundle, mounted for the RUN steps only (it never lands in a layer).
printf 'system-certs = true\n' >"$WORK/uv.toml"
printf '[global]\ncert = %s\n' "$CA_BUNDLE" >"$WORK/pip.conf"
export CONTAINERS_STORAGE_CONF=$WORK/storage.conf CONTAINERS_CONF=$WORK/containers.conf

cleanup() {
  local rc=$?
  rm -f "$ROOT/$STAGED"
  rmdir "$ROOT/third_party" 2>/dev/null || true
  if [[ ${IMAGES_KEEP:-} == 1 ]]; then
    log "kept the store: CONTAINERS_STORAGE_CONF=$WORK/storage.conf CONTAINERS_CONF=$WORK/containers.conf"
    exit "$rc"
  fi
  podman rm --all --force --time 0 >/dev/null 2>&1 || true
  buildah rm --all >/dev/null 2>&1 || true
  # The store is private to this run: its images go with it, once nothing is mounted.
  findmnt -rn -o TARGET | grep -F "$WORK/" | sort -r | xargs -r umount 2>/dev/null || true
  findmnt -rn -o TARGET | grep -F "$WORK/" | sort -r | xargs -r umount -l 2>/dev/null || true
  rm -rf "$WORK"
  log "removed containers, images and the store"
  exit "$rc"
}
trap cleanup EXIT

# ----------------------------------------------------- the Debian base root filesystem
# Cached by a key over everything that shapes it; SOURCE_DATE_EPOCH keeps it stable.
INCLUDE=python3,python3-venv,ca-certificates,libstdc++6,netbase,tzdata
DPKG_OPTS=(
  --dpkgopt='path-exclude=/usr/share/man/*'
  --dpkgopt='path-exclude=/usr/share/doc/*'
  --dpkgopt='path-include=/usr/share/doc/*/copyright'
  --dpkgopt='path-exclude=/usr/share/locale/*'
  --dpkgopt='path-exclude=/usr/share/info/*'
  --dpkgopt='path-exclude=/usr/share/lintian/*'
)
MIRROR=http://deb.debian.org/debian
KEY=$(printf '%s\n' v1 bookworm essential merged-usr "$INCLUDE" "${DPKG_OPTS[@]}" "$MIRROR" \
  "$(mmdebstrap --version)" | sha256sum | cut -c1-16)
ROOTFS=$CACHE_DIR/rootfs-bookworm-$KEY.tar
if [[ ! -s $ROOTFS ]]; then
  log "building the bookworm root filesystem (mmdebstrap, cached as $(basename "$ROOTFS"))"
  mmdebstrap --quiet --variant=essential --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
    --include="$INCLUDE" "${DPKG_OPTS[@]}" bookworm "$ROOTFS.part.tar" "$MIRROR" \
    >"$WORK/mmdebstrap.log" 2>&1 || { cat "$WORK/mmdebstrap.log" >&2; exit 1; }
  mv "$ROOTFS.part.tar" "$ROOTFS"
else
  log "bookworm root filesystem from the cache ($(basename "$ROOTFS"))"
fi

# ------------------------------------------------ stand-ins under the upstream names
log "seeding $PYTHON_STANDIN and $GO_STANDIN"
podman import --quiet \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV LANG=C.UTF-8' --change 'CMD ["python3"]' \
  "$ROOTFS" "$PYTHON_STANDIN" >/dev/null
ctr=$(buildah from --pull=never --quiet "$PYTHON_STANDIN")
buildah copy --quiet "$ctr" "$GOROOT_HOST" /usr/local/go >/dev/null
buildah config --env GOPATH=/go \
  --env PATH=/go/bin:/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  --workingdir /go "$ctr"
buildah commit --quiet --rm "$ctr" "$GO_STANDIN" >/dev/null
digest() { podman image inspect --format '{{.Digest}}' "$1"; }
PYTHON_IMAGE=$PYTHON_STANDIN@$(digest "$PYTHON_STANDIN")
GO_IMAGE=$GO_STANDIN@$(digest "$GO_STANDIN")

# ------------------------------------------------------------------ build the targets
mkdir -p third_party
cp "$WL_SOURCE_TARBALL" "$STAGED"
declare -A REFS=()
for target in "${TARGETS[@]}"; do
  ref=localhost/hosted-wasteland/$target:$VERSION
  log "building $target"
  # TMPDIR: buildah keeps RUN --mount=type=cache folders (uv, Go) under it.
  TMPDIR=$CACHE_DIR/buildah-tmp podman build -f Dockerfile --pull=never --network=host \
    --target "$target" --timestamp "$SOURCE_DATE_EPOCH" \
    --build-arg PYTHON_IMAGE="$PYTHON_IMAGE" --build-arg GO_IMAGE="$GO_IMAGE" \
    --build-arg SOURCE_DATE_EPOCH="$SOURCE_DATE_EPOCH" \
    --build-arg VERSION="$VERSION" --build-arg VCS_REF="$VCS_REF" \
    --build-arg WL_SOURCE="$STAGED" \
    -v "$CA_BUNDLE:$CA_BUNDLE:ro" -v "$WORK/uv.toml:/etc/uv/uv.toml:ro" \
    -v "$WORK/pip.conf:/etc/pip.conf:ro" \
    --build-arg SOURCE_URL="$SOURCE_URL" \
    -t "$ref" . >"$WORK/build-$target.log" 2>&1 || {
    tail -n 60 "$WORK/build-$target.log" >&2
    exit 1
  }
  REFS[$target]=$ref
done
podman images --filter reference='localhost/hosted-wasteland/*' \
  --format '{{.Repository}}:{{.Tag}} {{.Size}}'

if [[ -n ${IMAGES_EXPORT_DIR:-} ]]; then
  mkdir -p "$IMAGES_EXPORT_DIR"
  for target in "${TARGETS[@]}"; do
    skopeo copy --quiet "containers-storage:${REFS[$target]}" \
      "oci-archive:$IMAGES_EXPORT_DIR/$target.tar:${REFS[$target]}"
  done
  log "saved OCI archives in $IMAGES_EXPORT_DIR"
fi

# ------------------------------------------------------------------ run and check them
json="{"
for target in "${TARGETS[@]}"; do json+="\"$target\": \"${REFS[$target]}\","; done
json="${json%,}}"
log "running the images (tests/images)"
WASTELAND_IMAGES=$json WASTELAND_IMAGES_VCS_REF=$VCS_REF .venv/bin/pytest tests/images -q \
  -p no:cacheprovider
log "all images built and checked"
