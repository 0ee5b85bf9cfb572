#!/usr/bin/env bash
# Builds a current libnbd (nbdsh, nbdinfo, Python bindings) from Debian's
# trixie source package into $PREFIX, beside bookworm's libnbd 1.14.
#
# Why: bookworm's libnbd 1.14 predates NBD extended headers (libnbd 1.20
# added set_request_extended_headers), and trixie's binary packages need a
# newer glibc than bookworm has. The source package comes from Debian's own
# archive through apt (its hashes are checked against the signed Release
# file), into a private apt state directory so the machine's apt sources are
# left as they were. Idempotent: does nothing when $PREFIX/bin/nbdsh exists.
set -euo pipefail

PREFIX="${BG_LIBNBD_PREFIX:-/opt/blockgate-peers/libnbd}"
SUITE="${BG_LIBNBD_SUITE:-trixie}"
if [ -x "$PREFIX/bin/nbdsh" ]; then
  exit 0
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial" "$work/src"
cat >"$work/sources.list" <<EOF
deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian $SUITE main
EOF
apt_private=(
  -o "Dir::Etc::SourceList=$work/sources.list"
  -o "Dir::Etc::SourceParts=$work/none"
  -o "Dir::State::Lists=$work/lists"
  -o "APT::Sandbox::User=root"
)
apt-get "${apt_private[@]}" update -qq
(cd "$work/src" && apt-get "${apt_private[@]}" source -qq --download-only "libnbd/$SUITE")

tarball="$(ls "$work"/src/libnbd_*.orig.tar.gz | head -1)"
tar -xzf "$tarball" -C "$work/src"
srcdir="$(ls -d "$work"/src/libnbd-*/ | head -1)"

# Debian's python3 (not a pyenv shim on PATH) so the module matches /usr/bin/python3.
cd "$srcdir"
log="$work/build.log"
build() {
  PYTHON=/usr/bin/python3 ./configure --prefix="$PREFIX" \
    --with-python-installdir="$PREFIX/python" \
    --disable-ocaml --disable-golang --disable-rust --disable-fuse --disable-ublk \
    --disable-static --with-libxml2 --enable-python &&
    make -j"$(nproc)" && make install
}
build >"$log" 2>&1 || {
  tail -40 "$log" >&2
  echo "libnbd build failed" >&2
  exit 1
}
# TLS matters: the NBD TLS tests use this nbdsh too.
version="$(PYTHONPATH="$PREFIX/python" "$PREFIX/bin/nbdsh" -c 'assert h.supports_tls(); print(h.get_version())')" || {
  echo "libnbd build in $PREFIX does not run or lacks TLS" >&2
  exit 1
}
echo "libnbd $version installed in $PREFIX"
