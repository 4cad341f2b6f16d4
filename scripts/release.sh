#!/bin/sh
# Make a release: the source tarball and the feed-ready OpenWrt Makefile for it.
#
#   scripts/release.sh VERSION URL
#
# VERSION  the version being released; must equal the crate version in Cargo.toml and
#          PKG_VERSION in openwrt/Makefile at REF (bump and commit those first).
# URL      where the tarball will be published (the directory; it becomes
#          PKG_SOURCE_URL, so the SDK downloads URL/muros-ha-VERSION.tar.gz).
#
# Environment (optional):
#   REF=rev     what to archive (default HEAD): only committed files go in, so a dirty
#               work tree cannot leak into a release.
#   OUTDIR=dir  default dist/release
#
# Writes OUTDIR/muros-ha-VERSION.tar.gz (git archive, prefix muros-ha-VERSION/, which
# is OpenWrt's default PKG_BUILD_DIR name), OUTDIR/muros-ha-VERSION.tar.gz.sha256 and
# OUTDIR/Makefile: openwrt/Makefile at REF with its local-source blocks (#@local-begin
# .. #@local-end) left out and PKG_SOURCE, PKG_SOURCE_URL and PKG_HASH put at #@source.
# The tarball is reproducible: git archive stamps the commit time, gzip -n no name/time.
set -eu

usage() {
	echo "usage: $0 VERSION URL" >&2
	exit 2
}
[ $# -eq 2 ] || usage
VERSION=$1
URL=${2%/}
REF=${REF:-HEAD}

HERE=$(cd "$(dirname "$0")" && pwd)
TOP=$(cd "$HERE/.." && pwd)
OUTDIR=${OUTDIR:-$TOP/dist/release}

die() {
	echo "$0: $*" >&2
	exit 1
}

# apk accepts only <digits>(.<digits>)* here (see openwrt/Makefile); the tarball name
# and the Makefile line are built from it, so nothing else may get in.
case "$VERSION" in
'' | .* | *. | *..* | *[!0-9.]*) die "VERSION '$VERSION' is not a plain dotted number" ;;
esac
# The URL ends up in a Makefile: blanks, quotes, '$' (make expansion), '#' (comment)
# or a backslash would change what make reads.
case "$URL" in
http://* | https://*) ;;
*) die "URL '$URL' must start with http:// or https://" ;;
esac
case "$URL" in
*[[:space:]]* | *[\$\#\\\"\']*) die "URL '$URL' holds a character a Makefile would not keep as is" ;;
esac

cd "$TOP"
git rev-parse --verify --quiet "$REF^{commit}" >/dev/null || die "REF '$REF' is not a commit"

crate_version=$(git show "$REF:Cargo.toml" | sed -n 's/^version = "\(.*\)"$/\1/p' | head -n 1)
[ "$crate_version" = "$VERSION" ] || die "Cargo.toml at $REF says version '$crate_version', not '$VERSION'"
pkg_version=$(git show "$REF:openwrt/Makefile" | sed -n 's/^PKG_VERSION:=//p')
[ "$pkg_version" = "$VERSION" ] || die "openwrt/Makefile at $REF says PKG_VERSION '$pkg_version', not '$VERSION'"
git show "$REF:openwrt/Makefile" | grep -q '^#@source' || die "openwrt/Makefile at $REF has no #@source line"

NAME=muros-ha-$VERSION
TARBALL=$OUTDIR/$NAME.tar.gz
mkdir -p "$OUTDIR"
tmp=$TARBALL.tmp.$$
trap 'rm -f "$tmp" "$OUTDIR/Makefile.tmp.$$"' EXIT
git archive --format=tar --prefix="$NAME/" "$REF" | gzip -9n >"$tmp"
mv "$tmp" "$TARBALL"

HASH=$(sha256sum "$TARBALL" | cut -d ' ' -f 1)
printf '%s  %s\n' "$HASH" "$NAME.tar.gz" >"$TARBALL.sha256"

# URL and HASH reach awk through the environment: -v would interpret backslashes.
git show "$REF:openwrt/Makefile" |
	MUROS_URL=$URL MUROS_HASH=$HASH awk '
		/^#@local-begin/ { skip = 1; next }
		/^#@local-end/ { skip = 0; next }
		skip { next }
		/^#@source/ {
			print "PKG_SOURCE:=$(PKG_NAME)-$(PKG_VERSION).tar.gz"
			print "PKG_SOURCE_URL:=" ENVIRON["MUROS_URL"]
			print "PKG_HASH:=" ENVIRON["MUROS_HASH"]
			next
		}
		{ print }
	' >"$OUTDIR/Makefile.tmp.$$"
mv "$OUTDIR/Makefile.tmp.$$" "$OUTDIR/Makefile"

echo "$TARBALL"
echo "sha256 $HASH"
echo "$OUTDIR/Makefile (PKG_SOURCE_URL $URL)"
