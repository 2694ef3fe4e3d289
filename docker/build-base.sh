#!/usr/bin/env bash
# Build a local Debian bookworm base image with Python 3.11, pulling nothing
# from a container registry: debootstrap a minimal root file system from the
# Debian mirror this machine's apt already uses, then `docker import` it.
#
#   docker/build-base.sh            # builds wdp-base:bookworm-py3.11 unless it exists
#   WDP_BASE_TAG=my/base:tag docker/build-base.sh
#   docker/build-base.sh --force    # rebuild the image (the cached tarball is reused)
#
# The root file system tarball is cached outside the checkout, in
# ${XDG_CACHE_HOME:-$HOME/.cache}/wdp/, so later runs and fresh clones import
# it in seconds. Needs root (debootstrap) and a Debian/Ubuntu host with apt.
set -euo pipefail

TAG=${WDP_BASE_TAG:-wdp-base:bookworm-py3.11}
SUITE=bookworm
# python3 is 3.11 on bookworm; python3-venv lets the image make its own venv.
# libgmp10 and zlib1g (needed by the wheels) are part of every minbase system.
PACKAGES=python3,python3-venv,libgmp10,zlib1g
CACHE_DIR=${XDG_CACHE_HOME:-$HOME/.cache}/wdp
# The cache key changes when the package list does.
KEY=$(printf '%s %s' "$SUITE" "$PACKAGES" | sha256sum | cut -c1-12)
TARBALL=$CACHE_DIR/rootfs-$SUITE-py3.11-$KEY.tar

force=0
for arg in "$@"; do
  case $arg in
    --force) force=1 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "build-base: unknown argument $arg (use --force or --help)" >&2; exit 2 ;;
  esac
done

die() { echo "build-base: error: $*" >&2; exit 1; }

command -v docker >/dev/null || die "docker is not installed"
docker info >/dev/null 2>&1 || die "cannot reach the Docker engine (is dockerd running, may you use it?)"

if [ "$force" = 0 ] && docker image inspect "$TAG" >/dev/null 2>&1; then
  echo "build-base: $TAG already exists"
  exit 0
fi

# The Debian mirror this host's apt uses (never a name written in this file).
debian_mirror() {
  local f url
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -r "$f" ] || continue
    # deb822 stanzas: the URIs of a stanza whose Suites include $SUITE itself.
    url=$(awk -v suite="$SUITE" '
      BEGIN { RS=""; FS="\n" }
      {
        uris=""; ok=0; deb=0
        for (i = 1; i <= NF; i++) {
          if ($i ~ /^URIs:/) { sub(/^URIs:[ \t]*/, "", $i); split($i, u, /[ \t]+/); uris=u[1] }
          if ($i ~ /^Suites:/) { n = split($i, s, /[ \t]+/); for (j = 2; j <= n; j++) if (s[j] == suite) ok=1 }
          if ($i ~ /^Types:/ && $i ~ /(^|[ \t])deb([ \t]|$)/) deb=1
          if ($i ~ /^Enabled:[ \t]*no/) ok=0
        }
        if (ok && deb && uris != "") { print uris; exit }
      }' "$f")
    [ -n "$url" ] && { echo "$url"; return; }
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -r "$f" ] || continue
    url=$(awk -v suite="$SUITE" '
      $1 == "deb" {
        i = 2; if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
        if ($(i+1) == suite) { print $i; exit }
      }' "$f")
    [ -n "$url" ] && { echo "$url"; return; }
  done
}

build_rootfs() {
  [ "$(id -u)" = 0 ] || die "debootstrap needs root: run this script with sudo (once; the result is cached in $CACHE_DIR)"
  if ! command -v debootstrap >/dev/null; then
    command -v apt-get >/dev/null || die "debootstrap is missing and this host has no apt-get: install debootstrap"
    echo "build-base: installing debootstrap"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
  fi
  local mirror
  mirror=$(debian_mirror)
  [ -n "$mirror" ] || die "no Debian $SUITE mirror in /etc/apt/sources.list{,.d/}: add one, or build on a bookworm host"
  local keyring=()
  [ -r /usr/share/keyrings/debian-archive-keyring.gpg ] &&
    keyring=(--keyring=/usr/share/keyrings/debian-archive-keyring.gpg)
  mkdir -p "$CACHE_DIR"
  local root
  root=$(mktemp -d "$CACHE_DIR/rootfs.XXXXXX")
  trap 'rm -rf "$root"' EXIT
  echo "build-base: debootstrap $SUITE from $mirror (a few minutes, once)"
  debootstrap --variant=minbase --include="$PACKAGES" "${keyring[@]}" \
    "$SUITE" "$root" "$mirror" >"$CACHE_DIR/debootstrap.log" 2>&1 ||
    die "debootstrap failed; see $CACHE_DIR/debootstrap.log"
  # Trim what a container never needs: package caches, docs, man pages, locales.
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* \
    "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/* \
    "$root"/var/log/* "$root"/debootstrap
  find "$root/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name 'locale.alias' -exec rm -rf {} +
  "$root/usr/bin/python3" -c 'import sys; assert sys.version_info[:2] == (3, 11), sys.version' ||
    die "the root file system's python3 is not 3.11"
  tar --numeric-owner -C "$root" -cf "$TARBALL.part" .
  mv "$TARBALL.part" "$TARBALL"
  rm -rf "$root"
  trap - EXIT
}

if [ ! -s "$TARBALL" ]; then
  build_rootfs
else
  echo "build-base: using cached $TARBALL"
fi

docker import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV LANG=C.UTF-8' \
  --change 'CMD ["/usr/bin/python3"]' \
  "$TARBALL" "$TAG" >/dev/null
echo "build-base: built $TAG ($(docker image inspect -f '{{.Size}}' "$TAG" | awk '{printf "%.0f MB", $1/1e6}'))"
