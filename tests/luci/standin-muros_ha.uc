// STAND-IN for the muros-ha daemon's ubus object `muros_ha`, used by the LuCI
// browser test only while the real daemon (`muros-ha daemon`) is not built.
// It is NOT the daemon: it renders nothing, runs no keepalived and checks only a
// handful of rules. It answers with the JSON shapes of DESIGN.md so the views
// can be driven, and logs every call (one JSON object per line) to $STANDIN_LOG
// so the test can see what the browser asked for.
//
// usage: ucode -L <openwrt-web>/rootfs/usr/lib/ucode/'*.so' standin-muros_ha.uc
// env:   UBUS_SOCKET (bus), STANDIN_CONFDIR (uci dir of the stack), STANDIN_LOG
'use strict';

import { open, readfile } from 'fs';
import { connect } from 'ubus';
import { cursor } from 'uci';
import * as uloop from 'uloop';

const confdir = getenv('STANDIN_CONFDIR') ?? '/etc/config';
const logpath = getenv('STANDIN_LOG');
const started = time();

let maintenance = false;
// What the daemon does on SIGHUP (the init script's reload): one apply, counted and
// shown by `status` as applies {count, last}.
let applies = { count: 0, last: null };
let transitions = [
	{ time: started - 3600, from: 'BACKUP', to: 'MASTER', reason: 'stand-in: peer advert timeout',
	  actions: [ { action: 'conntrackd_commit', ok: true, ms: 12 },
	             { action: 'wan_up', ok: true, ms: 480 },
	             { action: 'start dnsmasq', ok: true, ms: 35 } ] }
];

function log_call(method, args) {
	if (!logpath) return;
	let f = open(logpath, 'a');
	if (!f) return;
	let a = { ...args };
	delete a.ubus_rpc_session;
	f.write(sprintf('%J\n', { time: time(), method, args: a }));
	f.close();
}

function load() {
	let c = cursor(confdir);
	c.load('muros_ha');
	c.load('network');
	return c;
}

function problems() {
	let c = load();
	let file = confdir + '/muros_ha';
	let errs = [];
	let err = (location, message, allowed) => push(errs, { file, line: 0, location, message, ...(allowed ? { allowed } : {}) });

	let g = c.get_all('muros_ha', 'global');
	if (!g) {
		err('global', 'section global is missing');
		return errs;
	}
	if (!(g.role in [ 'master', 'backup' ]))
		err('global.role', 'unknown role', 'master, backup');
	let auth = g.auth_type ?? 'ah';
	if (auth != 'none' && !length(g.password ?? ''))
		err('global.password', 'a password is required with authentication ' + auth);
	if (length(g.password ?? '') > 8)
		err('global.password', 'too long for VRRP authentication', 'at most 8 characters');

	let seen = {};
	let i = 0;
	c.foreach('muros_ha', 'vip', (s) => {
		// Same naming as the daemon (uci show): section name, else @vip[N].
		let where = s['.anonymous'] ? sprintf('@vip[%d]', i) : s['.name'];
		i++;
		if (!c.get('network', s.interface))
			err(where + '.interface', sprintf("interface '%s' is not defined in /etc/config/network", s.interface));
		let v = +s.vrid;
		if (!(v >= 1 && v <= 255))
			err(where + '.vrid', 'VRID out of range', '1-255');
		let key = s.interface + '/' + s.vrid;
		if (seen[key])
			err(where + '.vrid', sprintf('VRID %s already used on %s', s.vrid, s.interface));
		seen[key] = true;
	});

	let w = c.get_all('muros_ha', 'wan');
	if (w && w.macaddr) {
		let first = hex(substr(w.macaddr, 0, 2));
		if ((first & 2) == 0 || (first & 1) == 1)
			err('wan.macaddr', 'not a locally administered unicast MAC', '02:xx:xx:xx:xx:xx');
	}
	return errs;
}

function status() {
	let c = load();
	let g = c.get_all('muros_ha', 'global') ?? {};
	let role = g.role ?? 'backup';
	let prio = +(g.priority ?? (role == 'master' ? 150 : 100));
	let state = maintenance ? 'BACKUP' : uc(role);
	let instances = [];
	c.foreach('muros_ha', 'vip', (s) => push(instances, {
		name: s['.anonymous'] ? s.interface : s['.name'], interface: s.interface, device: c.get('network', s.interface, 'device') ?? s.interface,
		vrid: +s.vrid, address: s.address, state
	}));
	let w = c.get_all('muros_ha', 'wan');
	let services = map(g.service ?? [], (n) => ({ name: n, running: state == 'MASTER' }));
	let last = transitions[length(transitions) - 1];
	let r = {
		version: '0.0.0-standin',
		enabled: g.enabled != '0',
		config_valid: length(problems()) == 0,
		role, priority: prio,
		effective_priority: maintenance ? 1 : prio,
		maintenance, state, instances,
		wan: w ? { interface: w.interface, device: w.interface, up: state == 'MASTER',
		           address: state == 'MASTER' ? '198.51.100.10' : null,
		           cached_lease: { address: '198.51.100.10/24', gateway: '198.51.100.1', dns: [], valid_s: 300 } } : null,
		services,
		sync: { interface: g.sync_interface, device: c.get('network', g.sync_interface ?? '', 'device') ?? g.sync_interface,
		        mode: g.sync_mode ?? 'multicast', conntrackd_running: true, stats: {} },
		peer: { role: state == 'MASTER' ? 'BACKUP' : 'MASTER', last_seen: time() - 1, state: 'in_sync', connected: true,
			local_key: 'q3kR8m0pDkI9cV1xT7uYy2bN5sW4eLh6fJ0aZgC3oQs=', drift: [], refused: [] },
		last_transition: { time: last.time, from: last.from, to: last.to, reason: last.reason },
		last_failover: { time: last.time, from: last.from, ms: 180, ok: true,
		                 steps: { wan_ms: 37, services_ms: 141, conntrack_ms: 10 } },
		alerts: [],
		applies
	};
	// A split brain to show, when the test hands one in (fence, last_split_brain): the
	// real daemon's comes from VRRP traffic, which tests/lab/faults.sh case 9 drives.
	let sp = getenv('STANDIN_SPLIT');
	let extra = sp ? json(readfile(sp) ?? 'null') : null;
	if (type(extra) == 'object')
		for (let key in extra)
			r[key] = extra[key];
	return r;
}

function apply_config(how) {
	log_call('apply', { via: how });
	let e = problems();
	applies.count++;
	// Renders nothing: a stand-in must not pretend to write keepalived.conf.
	applies.last = { valid: length(e) == 0, errors: e, changed: [], reloaded: [], seq: applies.count, time: time() };
	return applies.last;
}

uloop.init();

let conn = connect(getenv('UBUS_SOCKET') ?? '/var/run/ubus/ubus.sock');
if (!conn) {
	warn('standin-muros_ha: cannot connect to ubus\n');
	exit(1);
}

// LuCI adds ubus_rpc_session to every call; ucode rejects undeclared arguments.
const sess = { ubus_rpc_session: 'string' };

let obj = conn.publish('muros_ha', {
	status: { args: { ...sess }, call: (req) => { log_call('status', req.args); return status(); } },
	validate: { args: { ...sess }, call: (req) => {
		log_call('validate', req.args);
		let e = problems();
		return { valid: length(e) == 0, errors: e };
	} },
	apply: { args: { ...sess }, call: (req) => apply_config('ubus') },
	history: { args: { limit: 0, ...sess }, call: (req) => {
		log_call('history', req.args);
		let n = req.args.limit ?? 50;
		return { transitions: slice(reverse([ ...transitions ]), 0, n) };
	} },
	handover: { args: { ...sess }, call: (req) => {
		log_call('handover', req.args);
		// The stand-in has no peer: refuse, as the daemon does without a peer link.
		return 4;
	} },
	maintenance: { args: { enable: true, ...sess }, call: (req) => {
		log_call('maintenance', req.args);
		let want = !!req.args.enable;
		if (want != maintenance) {
			push(transitions, { time: time(), from: maintenance ? 'BACKUP' : 'MASTER', to: want ? 'BACKUP' : 'MASTER',
			                    reason: want ? 'maintenance on' : 'maintenance off', actions: [] });
			maintenance = want;
		}
		let st = status();
		return { maintenance, effective_priority: st.effective_priority };
	} }
});

if (!obj) {
	warn('standin-muros_ha: publish failed\n');
	exit(1);
}

uloop.signal('HUP', () => apply_config('SIGHUP'));

uloop.run();
