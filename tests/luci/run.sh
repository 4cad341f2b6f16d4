#!/usr/bin/env bash
# LuCI suite: the fast ACL/contract test, then the browser test on the real LuCI stack.
# Needs root, chromium + chromium-driver (apt) and python selenium (pip).
# MUROS_HA_BACKEND=auto|daemon|standin picks what answers for ubus object muros_ha.
set -uo pipefail
cd "$(dirname "$0")/../.."
rc=0
python3 tests/luci/test_acl_contract.py || rc=1
python3 tests/luci/browser_test.py || rc=1
# The same scenario against the ucode stand-in, which can also show what this stack
# cannot make the real daemon see (a split brain and its fence need VRRP traffic:
# tests/lab/faults.sh case 9 drives those end to end).
if [ "${MUROS_HA_BACKEND:-auto}" != standin ]; then
	MUROS_HA_BACKEND=standin python3 tests/luci/browser_test.py || rc=1
fi
exit $rc
