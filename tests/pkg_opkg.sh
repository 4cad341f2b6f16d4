#!/bin/sh
# The .ipk from scripts/build-ipk.sh, installed, upgraded and removed by the REAL
# opkg (OpenWrt's opkg-lede) into offline roots, with maintainer scripts run.
# Also runs files/muros-ha.uci-defaults against keepalived configs with the real uci.
#
#   tests/pkg_opkg.sh          (no root needed; ~5 s once dist/x86_64-unknown-linux-musl/muros-ha exists)
#
# Needs: /work/shared/openwrt-tools (or OPENWRT_TOOLS_DIR), GNU tar, gzip.
# The x86_64 binary comes from dist/ (scripts/cross-build.sh) or is built with
# cargo for x86_64-unknown-linux-musl when missing.
# Ends with "N passed, M failed"; exit status 1 when anything failed.
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
TOP=$(cd "$HERE/.." && pwd)
TOOLS=${OPENWRT_TOOLS_DIR:-/work/shared/openwrt-tools}
OPKG=$TOOLS/bin/opkg
UCI=$TOOLS/bin/uci

PASS=0
FAIL=0
ok() { PASS=$((PASS + 1)); echo "ok   - $1"; }
nok() { FAIL=$((FAIL + 1)); echo "FAIL - $1"; }
check() { # check "scenario" command...
	name=$1
	shift
	if "$@"; then ok "$name"; else nok "$name"; fi
}

if [ ! -x "$OPKG" ] || [ ! -x "$UCI" ]; then
	echo "FAIL - opkg/uci not found under $TOOLS"
	echo "0 passed, 1 failed"
	exit 1
fi

T=$(mktemp -d "/tmp/muros-pkg-test.$$.XXXXXX")
cleanup() { rm -rf "$T"; }
trap cleanup EXIT INT TERM

X86=x86_64-unknown-linux-musl
BIN=$TOP/dist/$X86/muros-ha
if [ ! -x "$BIN" ]; then
	echo "# $BIN missing: building it with cargo (release, $X86)"
	CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$TOP/target} cargo build --quiet --release --locked \
		--manifest-path "$TOP/Cargo.toml" --target "$X86" || {
		echo "FAIL - cargo build for $X86"
		echo "0 passed, 1 failed"
		exit 1
	}
	mkdir -p "$(dirname "$BIN")"
	cp "${CARGO_TARGET_DIR:-$TOP/target}/$X86/release/muros-ha" "$BIN"
fi

export SOURCE_DATE_EPOCH=1764115200
OLD_IPK=$(BIN=$BIN "$TOP/scripts/build-ipk.sh" "$X86" "$T/v1") || exit 1
NEW_IPK=$(BIN=$BIN PKG_VERSION=0.1.1 "$TOP/scripts/build-ipk.sh" "$X86" "$T/v2") || exit 1
AGAIN_IPK=$(BIN=$BIN "$TOP/scripts/build-ipk.sh" "$X86" "$T/v1-again") || exit 1

check "the same inputs give a byte-identical ipk" cmp -s "$OLD_IPK" "$AGAIN_IPK"
check "the ipk is named like OpenWrt's (name_version-rN_arch.ipk)" \
	test "$(basename "$OLD_IPK")" = "muros-ha_0.1.0-r1_x86_64.ipk"

# --- an offline router root --------------------------------------------------
status_entry() { # name version
	printf 'Package: %s\nVersion: %s\nStatus: install user installed\nArchitecture: %s\n\n' "$1" "$2" "$3"
}
new_root() { # dir arch [with-deps]
	# The directories OpenWrt's base-files (and netifd: /lib/netifd/proto, where our
	# muros_dhcp proto goes) always has: opkg never removes directories, so a root
	# without them would show them as "left over".
	mkdir -p "$1/usr/lib/opkg/info" "$1/var/lock" "$1/var/opkg-lists" "$1/etc/config" \
		"$1/etc/init.d" "$1/etc/rc.d" "$1/etc/uci-defaults" "$1/lib/upgrade/keep.d" "$1/usr/sbin" "$1/usr/share" \
		"$1/lib/netifd/proto"
	{
		status_entry libc 1.2.5-r4 "$2"
		if [ "${3:-deps}" = deps ]; then
			status_entry keepalived 2.3.3-r3 "$2"
			status_entry conntrackd 1.4.8-r1 "$2"
			status_entry kmod-macvlan 6.6.80-r1 "$2"
		fi
	} >"$1/usr/lib/opkg/status"
	# Empty file lists for them, or opkg complains it cannot open them.
	for p in libc keepalived conntrackd kmod-macvlan; do : >"$1/usr/lib/opkg/info/$p.list"; done
	cat >"$1.conf" <<EOF
dest root /
lists_dir ext /var/opkg-lists
arch all 1
arch noarch 1
arch $2 10
EOF
}
opkg_in() { # root args...
	r=$1
	shift
	IPKG_INSTROOT="$r" "$OPKG" --offline-root "$r" --conf "$r.conf" --force-postinstall "$@"
}
tree() { # list every path under a root except opkg's own database and lock
	(cd "$1" && find . -path ./usr/lib/opkg -prune -o -path ./var/lock -prune -o -print | sort)
}
mode_of() { stat -c '%a' "$1"; }
owner_of() { stat -c '%u:%g' "$1"; }

R=$T/root
new_root "$R" x86_64
BEFORE=$(tree "$R")

# --- dependencies are enforced -------------------------------------------------
RN=$T/nodeps
new_root "$RN" x86_64 nodeps
if opkg_in "$RN" install "$OLD_IPK" >"$T/nodeps.log" 2>&1; then
	nok "install without keepalived/conntrackd/kmod-macvlan is refused"
else
	if grep -q 'keepalived' "$T/nodeps.log"; then
		ok "install without keepalived/conntrackd/kmod-macvlan is refused"
	else
		nok "install without deps is refused, naming keepalived (log: $(tr '\n' ' ' <"$T/nodeps.log"))"
	fi
fi

# --- install ---------------------------------------------------------------------
if opkg_in "$R" install "$OLD_IPK" >"$T/install.log" 2>&1; then
	ok "0.1.0 installs into an offline root"
else
	nok "0.1.0 installs into an offline root: $(cat "$T/install.log")"
fi
check "opkg lists muros-ha 0.1.0-r1 as installed" \
	grep -qx 'muros-ha - 0.1.0-r1' "$(opkg_in "$R" list-installed >"$T/li" 2>&1; echo "$T/li")"

expect_file() { # path mode
	p=$R$1
	if [ ! -f "$p" ]; then
		nok "$1 is installed"
		return
	fi
	m=$(mode_of "$p")
	o=$(owner_of "$p")
	if [ "$m" = "$2" ] && [ "$o" = "0:0" ]; then
		ok "$1 is installed with mode $2, root:root"
	else
		nok "$1 is installed with mode $2, root:root (got $m $o)"
	fi
}
expect_file /usr/sbin/muros-ha 755
expect_file /etc/init.d/muros-ha 755
expect_file /etc/config/muros_ha 600
expect_file /etc/uci-defaults/muros-ha 755
expect_file /lib/upgrade/keep.d/muros-ha 644
expect_file /usr/share/muros-ha/50-notify.example 644
expect_file /lib/netifd/proto/muros_dhcp.sh 755
expect_file /lib/netifd/muros_dhcp.script 755
check "the hotplug example is not active as installed" test ! -e "$R/etc/hotplug.d/muros-ha/50-notify"

check "the installed binary runs and reports 0.1.0" \
	test "$("$R/usr/sbin/muros-ha" --version 2>/dev/null)" = "muros-ha 0.1.0"

opkg_in "$R" files muros-ha >"$T/files" 2>&1
for f in /usr/sbin/muros-ha /etc/init.d/muros-ha /etc/config/muros_ha /etc/uci-defaults/muros-ha /lib/upgrade/keep.d/muros-ha; do
	check "opkg files lists $f" grep -qxF "$R$f" "$T/files"
done
# opkg records conffiles with their md5 in the status file.
# shellcheck disable=SC2016 # the script takes the path as $1
check "/etc/config/muros_ha is recorded as a conffile" \
	sh -c 'awk "/^Package: muros-ha\$/,/^\$/" "$1" | grep -q "^Conffiles:" &&
		awk "/^Package: muros-ha\$/,/^\$/" "$1" | grep -q "^ /etc/config/muros_ha [0-9a-f]\{32\}"' _ "$R/usr/lib/opkg/status"

link_to_init() { [ -L "$1" ] && [ "$(readlink "$1")" = "../init.d/muros-ha" ]; }
check "postinst enabled the service: rc.d/S20muros-ha -> ../init.d/muros-ha" link_to_init "$R/etc/rc.d/S20muros-ha"
check "postinst enabled the service: rc.d/K80muros-ha -> ../init.d/muros-ha" link_to_init "$R/etc/rc.d/K80muros-ha"

check "the shipped config is valid UCI with enabled '0'" \
	test "$("$UCI" -c "$R/etc/config" -t "$T/save" -C '' get muros_ha.global.enabled 2>/dev/null)" = 0

# --- the user edits the config, then upgrades ---------------------------------
"$UCI" -c "$R/etc/config" -t "$T/save" -C '' set muros_ha.global.enabled=1
"$UCI" -c "$R/etc/config" -t "$T/save" -C '' set muros_ha.global.role=backup
"$UCI" -c "$R/etc/config" -t "$T/save" -C '' commit muros_ha
EDITED=$(cat "$R/etc/config/muros_ha")

if opkg_in "$R" install "$NEW_IPK" >"$T/upgrade.log" 2>&1; then
	ok "0.1.1 upgrades 0.1.0"
else
	nok "0.1.1 upgrades 0.1.0: $(cat "$T/upgrade.log")"
fi
check "opkg lists muros-ha 0.1.1-r1 after the upgrade" \
	grep -qx 'muros-ha - 0.1.1-r1' "$(opkg_in "$R" list-installed >"$T/li2" 2>&1; echo "$T/li2")"
check "the upgrade keeps the locally edited /etc/config/muros_ha" \
	test "$(cat "$R/etc/config/muros_ha")" = "$EDITED"
check "the kept config is still mode 600" test "$(mode_of "$R/etc/config/muros_ha")" = 600
check "the package's new default lands beside it as muros_ha-opkg" \
	cmp -s "$R/etc/config/muros_ha-opkg" "$TOP/files/muros_ha.config"
check "the service stays enabled across the upgrade" link_to_init "$R/etc/rc.d/S20muros-ha"

# --- remove ---------------------------------------------------------------------
if opkg_in "$R" remove muros-ha >"$T/remove.log" 2>&1; then
	ok "muros-ha removes"
else
	nok "muros-ha removes: $(cat "$T/remove.log")"
fi
check "opkg says it keeps the modified conffile" grep -qF "Not deleting modified conffile $R/etc/config/muros_ha" "$T/remove.log"
check "the modified config survives removal" test "$(cat "$R/etc/config/muros_ha")" = "$EDITED"
AFTER=$(tree "$R")
LEFT=$(printf '%s\n' "$AFTER" | grep -vxF "$(printf '%s\n' "$BEFORE")" || true)
# opkg never removes a directory: the example's (empty by then) stays.
EXPECTED_LEFT=$(printf '%s\n' ./etc/config/muros_ha ./etc/config/muros_ha-opkg ./usr/share/muros-ha)
if [ "$LEFT" = "$EXPECTED_LEFT" ]; then
	ok "remove leaves nothing but the edited config, opkg's muros_ha-opkg and the empty example directory"
else
	nok "remove leaves nothing but the edited config, opkg's muros_ha-opkg and the empty example directory; left: $(echo "$LEFT" | tr '\n' ' ')"
fi
# shellcheck disable=SC2016
check "opkg no longer lists muros-ha" \
	sh -c '! grep -q "^muros-ha " "$1"' _ "$(opkg_in "$R" list-installed >"$T/li3" 2>&1; echo "$T/li3")"

# --- an untouched install removes completely -------------------------------------
R2=$T/clean
new_root "$R2" x86_64
B2=$(tree "$R2")
opkg_in "$R2" install "$OLD_IPK" >"$T/i2.log" 2>&1
opkg_in "$R2" remove muros-ha >"$T/r2.log" 2>&1
check "install then remove of an untouched package leaves the root as it was (but for the empty example directory)" \
	test "$(tree "$R2" | grep -vxF ./usr/share/muros-ha)" = "$B2"

# --- every cross-built binary packages for its OpenWrt architecture --------------
for dir in "$TOP"/dist/*/; do
	triple=$(basename "$dir")
	[ "$triple" = "$X86" ] && continue
	[ -f "$dir/muros-ha" ] || continue
	ipk=$("$TOP/scripts/build-ipk.sh" "$triple" "$T/arch-$triple" 2>"$T/arch-$triple.log") || {
		nok "$triple: build-ipk.sh"
		continue
	}
	arch=$(sed -n 's/^Architecture: //p' "$(cd "$T" && mkdir -p "x-$triple" && cd "x-$triple" &&
		tar xzf "$ipk" && tar xzf control.tar.gz ./control && echo "$T/x-$triple/control")")
	RA=$T/root-$triple
	new_root "$RA" "$arch"
	if opkg_in "$RA" install "$ipk" >"$T/ia-$triple.log" 2>&1 && [ -x "$RA/usr/sbin/muros-ha" ]; then
		ok "$triple: installs as $arch"
	else
		nok "$triple: installs as $arch: $(cat "$T/ia-$triple.log")"
	fi
done

# --- uci-defaults against real keepalived configs ----------------------------------
# The script calls plain `uci`; a wrapper puts the real uci on a private
# config/save dir, and logger on a file, so nothing of this host is touched.
run_defaults() { # keepalived-config-text
	D=$T/defaults.$PASS.$FAIL
	mkdir -p "$D/bin" "$D/config" "$D/save"
	[ -n "$1" ] && printf '%s' "$1" >"$D/config/keepalived"
	cat >"$D/bin/uci" <<EOF
#!/bin/sh
exec "$UCI" -c "$D/config" -t "$D/save" -C '' "\$@"
EOF
	cat >"$D/bin/logger" <<EOF
#!/bin/sh
echo "\$*" >>"$D/logger.log"
EOF
	chmod 755 "$D/bin/uci" "$D/bin/logger"
	PATH="$D/bin:$PATH" sh "$TOP/files/muros-ha.uci-defaults"
	echo "$?" >"$D/rc"
}
alt_of() { "$UCI" -c "$D/config" -t "$D/save" -C '' -q get keepalived.globals.alt_config_file; }

run_defaults "config globals 'globals'
	option enabled '0'
"
check "uci-defaults points keepalived at /etc/keepalived/keepalived.conf when unset" \
	test "$(alt_of)" = /etc/keepalived/keepalived.conf
check "uci-defaults keeps keepalived's other options" \
	test "$("$UCI" -c "$D/config" -t "$D/save" -C '' -q get keepalived.globals.enabled)" = 0
check "uci-defaults exits 0" test "$(cat "$D/rc")" = 0
FIRST=$(cat "$D/config/keepalived")
PATH="$D/bin:$PATH" sh "$TOP/files/muros-ha.uci-defaults"
check "uci-defaults run twice changes nothing more" test "$(cat "$D/config/keepalived")" = "$FIRST"

run_defaults "config globals 'globals'
	option alt_config_file '/etc/my-keepalived.conf'
"
check "uci-defaults never overwrites an alt_config_file the user set" test "$(alt_of)" = /etc/my-keepalived.conf

run_defaults "config globals 'globals'

config vrrp_instance
	option name 'VI_1'
	option interface 'br-lan'
"
check "uci-defaults leaves a keepalived configured through UCI alone" test -z "$(alt_of)"
check "... and says why in the log" grep -q 'vrrp_instance' "$D/logger.log"

run_defaults ""
# shellcheck disable=SC2016
check "uci-defaults without /etc/config/keepalived does nothing and exits 0" \
	sh -c '[ ! -e "$1/config/keepalived" ] && [ "$(cat "$1/rc")" = 0 ]' _ "$D"

# The fw4 include: created next to a firewall config, once, with the admin's lines kept.
run_defaults "config globals 'globals'
"
printf '%s' "# admin's note
config defaults
	option input 'REJECT'
" >"$D/config/firewall"
PATH="$D/bin:$PATH" sh "$TOP/files/muros-ha.uci-defaults"
fw_get() { "$UCI" -c "$D/config" -t "$D/save" -C '' -q get "firewall.muros_ha.$1"; }
check "uci-defaults adds config include 'muros_ha' to /etc/config/firewall" \
	test "$("$UCI" -c "$D/config" -t "$D/save" -C '' -q get firewall.muros_ha)" = include
check "... of type nftables at the top of fw4's input chain" \
	test "$(fw_get type) $(fw_get position) $(fw_get chain)" = "nftables chain-prepend input"
check "... naming the snippet render writes" test "$(fw_get path)" = /etc/muros-ha/fw4-input.nft
check "... keeping the firewall's own settings" \
	test "$("$UCI" -c "$D/config" -t "$D/save" -C '' -q get firewall.@defaults[0].input)" = REJECT
FW_FIRST=$(cat "$D/config/firewall")
PATH="$D/bin:$PATH" sh "$TOP/files/muros-ha.uci-defaults"
check "a second run leaves /etc/config/firewall alone" test "$(cat "$D/config/firewall")" = "$FW_FIRST"

# --- shell hygiene of every shipped script ----------------------------------------
for s in "$TOP/files/muros-ha.init" "$TOP/files/muros-ha.uci-defaults" "$TOP/scripts/"*.sh "$0"; do
	check "sh -n $(basename "$s")" sh -n "$s"
done
if command -v shellcheck >/dev/null 2>&1; then
	# dash: POSIX plus `local`, which OpenWrt's busybox ash has too.
	for s in "$TOP/files/muros-ha.init" "$TOP/files/muros-ha.uci-defaults" "$TOP/scripts/"*.sh "$0"; do
		check "shellcheck $(basename "$s")" shellcheck -s dash "$s"
	done
else
	echo "# shellcheck not installed: skipped (apt-get install shellcheck)"
	[ "${CI:-}" = true ] && nok "shellcheck is required when CI=true"
fi

echo "$PASS passed, $FAIL failed"
[ "$FAIL" = 0 ]
