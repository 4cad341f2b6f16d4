// Test stand-in for netifd's ubus object network.interface.<NETIF_NAME>: records every
// `up`/`down` call, and every muros_ha.transition event, one line each in NETIF_LOG;
// `status` says up (with a documentation address) between an `up` and a `down`.
// NETIF_DOWN_CMD (a JSON argv array), if set, runs on `down`: what the kernel does when
// the WAN goes down (masquerade deletes that interface's conntrack entries).
// PROCD_FLAGS_DIR, if set, also publishes procd's `service` object: `list {name}` says
// an instance runs when <dir>/running-<name> exists (the test init scripts' flag).
'use strict';
import { connect } from 'ubus';
import * as uloop from 'uloop';
import { open, access } from 'fs';

uloop.init();
let conn = connect(getenv('UBUS_SOCKET'));
if (!conn) {
	warn('netifd-standin: cannot connect to ubus\n');
	exit(1);
}
function rec(line) {
	if (getenv('NETIF_STAMP') && substr(line, 0, 5) != 'event') {
		// CLOCK_MONOTONIC seconds, for the bench's time-to-WAN-up
		let c = clock(true);
		line += sprintf(' %d.%09d', c[0], c[1]);
	}
	let f = open(getenv('NETIF_LOG'), 'a');
	f.write(line + '\n');
	f.close();
}
let is_up = false;
let obj = conn.publish('network.interface.' + getenv('NETIF_NAME'), {
	up: { call: function(req) { rec('up'); is_up = true; return 0; }, args: {} },
	status: { call: function(req) {
		return is_up ? { up: true, 'ipv4-address': [ { address: '198.51.100.23', mask: 24 } ] } : { up: false, pending: false };
	}, args: {} },
	down: { call: function(req) {
		rec('down');
		is_up = false;
		let cmd = getenv('NETIF_DOWN_CMD');
		if (cmd)
			system(json(cmd));
		return 0;
	}, args: {} },
});
let procd = getenv('PROCD_FLAGS_DIR');
let svc = procd ? conn.publish('service', {
	list: { call: function(req) {
		let n = req.args.name;
		rec('service list ' + n);
		if (!n || !access(procd + '/running-' + n))
			return {};
		let r = {};
		r[n] = { instances: {} };
		r[n].instances[n] = { running: true, pid: 1 };
		return r;
	}, args: { name: 'string' } },
}) : null;
let sub = conn.listener('muros_ha.transition', function(ev, data) {
	rec('event ' + sprintf('%J', data));
});
uloop.run();
