#!/bin/sh
# Build muros-ha_<version>_<arch>.ipk WITHOUT the OpenWrt SDK, from a binary that
# scripts/cross-build.sh already produced (dist/<triple>/muros-ha).
#
#   scripts/build-ipk.sh TARGET_TRIPLE OUTDIR
#
# Environment (all optional):
#   BIN=path            binary to package (default dist/<triple>/muros-ha)
#   PKG_VERSION=x.y.z   default: the crate version from Cargo.toml
#   PKG_RELEASE=n       default 1; the package version is <PKG_VERSION>-r<PKG_RELEASE>,
#                       the form OpenWrt uses since 24.10 and apk accepts
#   OPENWRT_ARCH=name   override the OpenWrt package architecture (e.g. aarch64_generic)
#   SOURCE_DATE_EPOCH   mtime of every archive member (default: last commit time)
#
# Format (what opkg accepts, see /work/shared/openwrt-tools/README.md): a gzip'd
# tar holding ./debian-binary ("2.0"), ./data.tar.gz and ./control.tar.gz.
# Output is reproducible: sorted members, owner 0:0, fixed mtimes, gzip -n.
set -eu

usage() {
	echo "usage: $0 TARGET_TRIPLE OUTDIR" >&2
	exit 2
}
[ $# -eq 2 ] || usage
TRIPLE=$1
OUTDIR=$2

HERE=$(cd "$(dirname "$0")" && pwd)
TOP=$(cd "$HERE/.." && pwd)

# The OpenWrt architecture names of the reference targets (one per family;
# other subtargets of the same CPU family run the same binary, override with
# OPENWRT_ARCH).
default_arch() {
	case "$1" in
	x86_64-unknown-linux-musl) echo x86_64 ;;
	aarch64-unknown-linux-musl) echo aarch64_cortex-a53 ;;
	armv7-unknown-linux-musleabihf) echo arm_cortex-a7_neon-vfpv4 ;;
	mipsel-unknown-linux-musl) echo mipsel_24kc ;;
	mips-unknown-linux-musl) echo mips_24kc ;;
	*) return 1 ;;
	esac
}

ARCH=${OPENWRT_ARCH:-$(default_arch "$TRIPLE")} || {
	echo "$0: no OpenWrt architecture known for $TRIPLE; set OPENWRT_ARCH" >&2
	exit 2
}

BIN=${BIN:-$TOP/dist/$TRIPLE/muros-ha}
[ -f "$BIN" ] || {
	echo "$0: $BIN missing; run scripts/cross-build.sh $TRIPLE first" >&2
	exit 1
}

crate_version() {
	sed -n '/^\[package\]/,/^\[/s/^version *= *"\([^"]*\)".*/\1/p' "$TOP/Cargo.toml" | head -n 1
}
PKG_VERSION=${PKG_VERSION:-$(crate_version)}
PKG_RELEASE=${PKG_RELEASE:-1}
VERSION="$PKG_VERSION-r$PKG_RELEASE"
# apk (OpenWrt 25.x) rejects versions outside <digits>(.<digits>)*[letter][_suffix][-r<n>];
# keep ipk and apk builds of the same source comparable.
case "$PKG_VERSION" in
*[!0-9.]* | .* | *. | *..* | '')
	echo "$0: PKG_VERSION '$PKG_VERSION' is not a plain dotted number (apk would reject it)" >&2
	exit 2
	;;
esac

if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
	SOURCE_DATE_EPOCH=$(git -C "$TOP" log -1 --format=%ct 2>/dev/null || echo 0)
fi

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT INT TERM
DATA=$WORK/data
CTRL=$WORK/control
mkdir -p "$DATA" "$CTRL"

# install MODE SRC DEST: explicit modes, so the result never depends on umask
# or on the modes in the checkout.
put() {
	mkdir -p "$(dirname "$DATA$3")"
	cp "$2" "$DATA$3"
	chmod "$1" "$DATA$3"
}
put 0755 "$BIN" /usr/sbin/muros-ha
put 0755 "$TOP/files/muros-ha.init" /etc/init.d/muros-ha
# 0600: it holds the VRRP password.
put 0600 "$TOP/files/muros_ha.config" /etc/config/muros_ha
put 0755 "$TOP/files/muros-ha.uci-defaults" /etc/uci-defaults/muros-ha
put 0644 "$TOP/files/muros-ha.keep" /lib/upgrade/keep.d/muros-ha
# Not active: copied to /etc/hotplug.d/muros-ha/ by an admin who wants it (README).
put 0644 "$TOP/files/muros-ha.hotplug-example" /usr/share/muros-ha/50-notify.example
# The WAN proto that starts a takeover from the cached lease (issue 16).
put 0755 "$TOP/files/muros_dhcp.proto" /lib/netifd/proto/muros_dhcp.sh
put 0755 "$TOP/files/muros_dhcp.script" /lib/netifd/muros_dhcp.script
find "$DATA" -type d -exec chmod 0755 {} +

# Installed-Size in bytes, as OpenWrt's ipkg-build writes it.
INSTALLED_SIZE=$(find "$DATA" -type f -exec cat {} + | wc -c | tr -d ' ')

cat >"$CTRL/control" <<EOF
Package: muros-ha
Version: $VERSION
Depends: libc, keepalived, conntrackd, kmod-macvlan
Source: muros-ha
SourceName: muros-ha
License: GPL-2.0-only
Section: net
Maintainer: muros-ha maintainers
Architecture: $ARCH
Installed-Size: $INSTALLED_SIZE
Description: High availability for a pair of OpenWrt routers: keepalived (VRRP)
 + conntrackd state sync + a shared-MAC DHCP WAN, configured from
 /etc/config/muros_ha, with a ubus object for LuCI.
EOF

printf '/etc/config/muros_ha\n' >"$CTRL/conffiles"

# Maintainer scripts: on an OpenWrt root (image build, or a live router) hand
# over to base-files' default_postinst/default_prerm exactly like packages
# built by the SDK do; they enable the init script, and on a live router
# (IPKG_INSTROOT empty) run the uci-defaults and start the service.
cat >"$CTRL/postinst" <<'EOF'
#!/bin/sh
[ "${IPKG_NO_SCRIPT}" = "1" ] && exit 0
if [ -s "${IPKG_INSTROOT}/lib/functions.sh" ]; then
	. "${IPKG_INSTROOT}/lib/functions.sh"
	default_postinst "$0" "$@"
	exit $?
fi
# A root without OpenWrt's base-files (e.g. a test root): do the offline part
# only, enabling the service at boot the way rc.common's enable would.
[ -n "${IPKG_INSTROOT}" ] || exit 0
init="${IPKG_INSTROOT}/etc/init.d/muros-ha"
start=$(sed -n 's/^START=\([0-9][0-9]*\)$/\1/p' "$init")
stop=$(sed -n 's/^STOP=\([0-9][0-9]*\)$/\1/p' "$init")
mkdir -p "${IPKG_INSTROOT}/etc/rc.d"
[ -n "$start" ] && ln -sf ../init.d/muros-ha "${IPKG_INSTROOT}/etc/rc.d/S${start}muros-ha"
[ -n "$stop" ] && ln -sf ../init.d/muros-ha "${IPKG_INSTROOT}/etc/rc.d/K${stop}muros-ha"
exit 0
EOF

cat >"$CTRL/prerm" <<'EOF'
#!/bin/sh
if [ -s "${IPKG_INSTROOT}/lib/functions.sh" ]; then
	. "${IPKG_INSTROOT}/lib/functions.sh"
	default_prerm "$0" "$@"
	exit $?
fi
[ -n "${IPKG_INSTROOT}" ] || exit 0
# An upgrade keeps the service enabled.
[ "${PKG_UPGRADE:-0}" = "1" ] && exit 0
for link in "${IPKG_INSTROOT}"/etc/rc.d/[SK][0-9][0-9]muros-ha; do
	[ -L "$link" ] && rm -f "$link"
done
exit 0
EOF
chmod 0644 "$CTRL/control" "$CTRL/conffiles"
chmod 0755 "$CTRL/postinst" "$CTRL/prerm"

# Reproducible tar: names sorted, numeric owner 0:0, one mtime, no pax
# headers with atimes; gzip -n leaves name and time out of the gzip header.
rtar() {
	dir=$1
	out=$2
	shift 2
	(cd "$dir" && tar --format=gnu --sort=name --numeric-owner --owner=0 --group=0 \
		--mtime="@$SOURCE_DATE_EPOCH" -cf - "$@") | gzip -n -9 >"$out"
}

rtar "$DATA" "$WORK/data.tar.gz" .
rtar "$CTRL" "$WORK/control.tar.gz" .
printf '2.0\n' >"$WORK/debian-binary"
chmod 0644 "$WORK/data.tar.gz" "$WORK/control.tar.gz" "$WORK/debian-binary"

mkdir -p "$OUTDIR"
IPK="$OUTDIR/muros-ha_${VERSION}_${ARCH}.ipk"
# The outer archive keeps opkg-build's member order, not a sorted one.
(cd "$WORK" && tar --format=gnu --numeric-owner --owner=0 --group=0 \
	--mtime="@$SOURCE_DATE_EPOCH" -cf - ./debian-binary ./data.tar.gz ./control.tar.gz) |
	gzip -n -9 >"$IPK.tmp"
mv "$IPK.tmp" "$IPK"
echo "$IPK"
