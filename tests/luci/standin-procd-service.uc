// STAND-IN for procd's ubus object `service`, as far as a LuCI Save & Apply reaches
// it: rpcd's `uci apply` calls `service event {type: "config.change", data: {package}}`
// for each committed package, and procd answers by running the reload of every
// service with a matching procd_add_reload_trigger. For muros_ha that is
// /etc/init.d/muros-ha reload, whose reload_service sends SIGHUP to the running,
// enabled daemon (files/muros-ha.init; tests/daemon_ubus.rs runs that script for real).
// The openwrt-web stack has no procd, so this does that last step: SIGHUP to
// $STANDIN_DAEMON_PID. Every event is logged to $STANDIN_LOG (one JSON object a line).
//
// usage: ucode -L <openwrt-web>/rootfs/usr/lib/ucode/'*.so' standin-procd-service.uc
// env:   UBUS_SOCKET, STANDIN_DAEMON_PID, STANDIN_LOG
'use strict';

import { open } from 'fs';
import { connect } from 'ubus';
import * as uloop from 'uloop';

const pid = getenv('STANDIN_DAEMON_PID');
const logpath = getenv('STANDIN_LOG');

function log_event(ev) {
	if (!logpath) return;
	let f = open(logpath, 'a');
	if (!f) return;
	f.write(sprintf('%J\n', { time: time(), method: 'service.event', args: ev }));
	f.close();
}

uloop.init();

let conn = connect(getenv('UBUS_SOCKET') ?? '/var/run/ubus/ubus.sock');
if (!conn) {
	warn('standin-procd-service: cannot connect to ubus\n');
	exit(1);
}

let obj = conn.publish('service', {
	event: { args: { type: '', data: {} }, call: (req) => {
		log_event(req.args);
		// procd's reload trigger for muros_ha; the argv goes to execvp, no shell.
		if (req.args.type == 'config.change' && req.args.data?.package == 'muros_ha' && pid)
			system([ 'kill', '-HUP', pid ]);
		return 0;
	} }
});

if (!obj) {
	warn('standin-procd-service: publish failed\n');
	exit(1);
}

uloop.run();
