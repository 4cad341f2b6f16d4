'use strict';
'require view';
'require form';
'require uci';
'require rpc';
'require ui';
'require poll';

/*
 * The MurOS "High availability" form on top of /etc/config/muros_ha.
 *
 * Client-side datatypes catch what can be checked in the browser (VRID range,
 * CIDR syntax, MAC syntax, per-interface VRID clashes). The daemon has the last
 * word: "Save & Apply" commits the uci changes through rpcd, whose commit fires
 * procd's reload trigger for muros_ha; the init script's reload sends SIGHUP and
 * the daemon applies the config, once. This page does not apply again: it waits
 * for that apply in the daemon's `status` (applies.count) and shows its reply.
 * Every error the daemon reports (validate/apply) is put next to the field it
 * names through its `location` (`global.password`, `@vip[1].vrid`, ...).
 */

const callValidate = rpc.declare({
	object: 'muros_ha',
	method: 'validate',
	expect: { '': {} }
});

const callStatus = rpc.declare({
	object: 'muros_ha',
	method: 'status',
	expect: { '': {} }
});

const callApply = rpc.declare({
	object: 'muros_ha',
	method: 'apply',
	expect: { '': {} }
});

/* Set when rpcd has confirmed a uci apply of this page, to the daemon's apply count
 * from before the save: the page LuCI reloads right after the confirm waits for
 * the count to pass it and shows that apply's outcome. */
const APPLY_PENDING_KEY = 'muros-ha.apply-pending';

/* How long the reloaded page waits for the daemon's apply (procd delays its reload
 * trigger by about a second; keepalived -t and the reloads take a few more). */
const APPLY_WAIT_MS = 20000;
const APPLY_POLL_MS = 500;

function sleep(ms) {
	return new Promise(resolve => window.setTimeout(resolve, ms));
}

/* The outcome of the first apply after the one numbered `before`, from `status`. */
function waitForApply(before, deadline) {
	return callStatus().then(st => {
		const a = st?.applies;

		if (a && a.count > before && a.last) {
			if (a.last.error)
				return { kind: 'apply', err: _('apply failed: %s').format(a.last.error) };
			return { kind: 'apply', res: a.last };
		}
		if (Date.now() >= deadline)
			return { kind: 'apply', err: _('no apply within %d s of the save (is the service enabled and running? /etc/init.d/muros-ha reload)').format(APPLY_WAIT_MS / 1000) };

		return sleep(APPLY_POLL_MS).then(() => waitForApply(before, deadline));
	}, err => ({ kind: 'apply', err }));
}

/* Human labels for the uci options, used in the error summary. */
const OPTION_LABELS = {
	enabled: _('Enable'),
	role: _('Role'),
	priority: _('Priority'),
	auth_type: _('Authentication'),
	password: _('Authentication password'),
	sync_interface: _('Sync interface'),
	sync_mode: _('Sync mode'),
	sync_port: _('Sync port'),
	peer_ip: _('Peer management IP'),
	vrrp_version: _('VRRP version'),
	advert_int: _('Advertisement interval'),
	preempt: _('Preempt'),
	service: _('Services'),
	vpn: _('VPN interfaces'),
	peer_key: _('Peer key'),
	replicate: _('Replicated packages'),
	replicate_exclude: _('Kept per router'),
	replicate_file: _('Replicated files'),
	sync_group: _('Multicast group'),
	device: _('macvlan device'),
	interface: _('Interface'),
	address: _('Virtual IP'),
	vrid: _('VRID'),
	peer_address: _('Peer address'),
	parent: _('Parent device'),
	macaddr: _('Shared MAC address'),
	proto: _('WAN mode'),
	ipaddr: _('WAN VIP'),
	gateway: _('Gateway'),
	target: _('Targets'),
	method: _('Method'),
	port: _('TCP port'),
	interval: _('Interval'),
	fall: _('Failures'),
	rise: _('Successes')
};

/* A MAC that two routers may share on the WAN must not collide with vendor
 * addresses (locally administered bit set) and must be usable as a source
 * (multicast bit clear). */
function validateSharedMac(section_id, value) {
	if (value == null || value === '')
		return true;

	const first = parseInt(String(value).split(/[:-]/)[0], 16);

	if (isNaN(first))
		return _('Expecting a MAC address');
	if (first & 0x01)
		return _('Must be a unicast address (first octet even)');
	if (!(first & 0x02))
		return _('Must be a locally administered address (second bit of the first octet set, e.g. 02:…)');

	return true;
}

/* --- pairing ------------------------------------------------------------ */

/* X25519 u-coordinates of small order, as 32 little-endian bytes in hex (X25519
 * ignores the top bit, so it is cleared before comparing). A "key" equal to one of
 * them makes every handshake's secret known to anyone; the daemon refuses them too
 * (model::peer::decode_key), and a cargo test checks this list against it. */
const LOW_ORDER_POINTS = [
	'0000000000000000000000000000000000000000000000000000000000000000',
	'0100000000000000000000000000000000000000000000000000000000000000',
	'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800',
	'5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157',
	'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
	'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
	'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f'
];

/* Packages that are per router by nature; the daemon refuses them as well
 * (`network` is replicated only for the VPN interfaces of the General tab). */
const NEVER_REPLICATED = [ 'muros_ha', 'system' ];

/* A public key as the daemon prints it (44 base64 characters) or in hex (64):
 * its 32 bytes, or null. */
function decodeKey(text) {
	const s = String(text ?? '').trim();
	let bytes = [];

	if (/^[0-9A-Fa-f]{64}$/.test(s)) {
		for (let i = 0; i < 64; i += 2)
			bytes.push(parseInt(s.substring(i, i + 2), 16));
	}
	else if (/^[A-Za-z0-9+/]{43}=$/.test(s)) {
		try {
			bytes = Array.from(atob(s), c => c.charCodeAt(0));
		}
		catch (e) {
			return null;
		}
	}
	else {
		return null;
	}

	return bytes.length == 32 ? bytes : null;
}

function isLowOrder(bytes) {
	const masked = bytes.slice();

	masked[31] &= 0x7f;

	return LOW_ORDER_POINTS.indexOf(masked.map(b => ('0' + b.toString(16)).slice(-2)).join('')) >= 0;
}

/* `localKey`: this router's own key, which pasted here would pair it with itself. */
function checkPeerKey(localKey, value) {
	if (value == null || String(value).trim() === '')
		return true;

	const bytes = decodeKey(value);

	if (!bytes)
		return _('Expecting the other router\'s public key: 44 base64 characters (or 64 hex), as its Pairing section shows it');
	if (isLowOrder(bytes))
		return _('Refused: this is a point of small order, never a real router\'s key (anyone could read a link built on it)');
	if (localKey && decodeKey(localKey)?.join(',') == bytes.join(','))
		return _('This is this router\'s own key: paste the other router\'s');

	return true;
}

/* LuCI shows a validation message only as a hover tooltip; a refused key is also
 * spelled out under the field, where the admin just pasted it. */
function validatePeerKey(localKey, section_id, value) {
	const res = checkPeerKey(localKey, value);
	const input = document.getElementById('widget.cbid.muros_ha.%s.peer_key'.format(section_id));
	const field = input?.closest('.cbi-value-field');

	if (field) {
		let note = field.querySelector('.muros-ha-key-note');

		if (!note)
			note = field.appendChild(E('div', { 'class': 'cbi-value-description muros-ha-key-note', 'id': 'muros-ha-peer-key-note', 'style': 'color:#c00;font-weight:bold' }));
		note.textContent = res === true ? '' : res;
	}

	return res;
}

function validateReplicate(section_id, value) {
	if (value == null || value === '')
		return true;
	if (!/^[A-Za-z0-9_-]+$/.test(value))
		return _('Expecting a UCI package name, e.g. firewall');
	if (NEVER_REPLICATED.indexOf(value) >= 0)
		return _('%s is per router and cannot be replicated').format(value);

	return true;
}

function ago(unix) {
	const s = Math.max(0, Math.round(Date.now() / 1000 - unix));

	return s < 120 ? _('%d s ago').format(s) : _('%d min ago').format(Math.round(s / 60));
}

/* The peer link's live state from `status.peer` (refreshed by a poll). */
function renderLinkState(peer) {
	const rows = [];
	const row = (label, value, id) => rows.push(E('tr', { 'class': 'tr' }, [
		E('td', { 'class': 'td left', 'width': '33%' }, label),
		E('td', { 'class': 'td left', 'id': id }, value)
	]));

	if (!peer || !peer.local_key)
		return E('em', {}, _('The muros-ha daemon did not answer: the link state is unknown.'));

	const state = {
		in_sync: _('Connected, in sync'),
		drift: _('Connected, configurations differ'),
		unreachable: _('Not connected'),
		unknown: peer.connected ? _('Connected') : _('Not paired: paste the other router\'s key and save')
	}[peer.state] ?? peer.state;

	row(_('Link'), E('strong', { 'style': peer.connected ? 'color:#080' : 'color:#c00' }, state), 'muros-ha-link-state');
	row(_('Last heartbeat'), peer.last_seen ? ago(peer.last_seen) : '—', 'muros-ha-link-seen');
	if (peer.role)
		row(_('Peer role'), '%s (%s)'.format(peer.role, peer.vrrp_state ?? '?'), 'muros-ha-link-role');
	row(_('Replicated packages'), peer.drift?.length
		? _('changed here on the backup: %s').format(peer.drift.join(', '))
		: (peer.config_digest_match === false ? _('differ (the master pushes its copy)') : (peer.config_digest_match ? _('in sync') : '—')), 'muros-ha-link-drift');
	if (peer.settings_match != null)
		row(_('HA settings'), peer.settings_match ? _('the same on both routers')
			: E('strong', { 'style': 'color:#c00' }, _('differ: see Cluster status')), 'muros-ha-link-settings');
	row(_('Refused changes'), peer.refused?.length ? peer.refused.join(', ') : _('none'), 'muros-ha-link-refused');
	if (peer.last_error)
		row(_('Last error'), peer.last_error, 'muros-ha-link-error');

	return E('table', { 'class': 'table', 'id': 'muros-ha-link' }, rows);
}

/* Copies `text`; `navigator.clipboard` needs a secure context (https or localhost),
 * elsewhere a selected textarea and execCommand do. */
function copyText(text) {
	if (navigator.clipboard && window.isSecureContext)
		return navigator.clipboard.writeText(text);

	return new Promise((resolve, reject) => {
		const ta = E('textarea', { 'style': 'position:fixed;opacity:0' }, text);

		document.body.appendChild(ta);
		ta.select();
		const ok = document.execCommand('copy');
		document.body.removeChild(ta);
		ok ? resolve() : reject(new Error('copy refused'));
	});
}

/* Logical interfaces from /etc/config/network, for the interface pickers. */
function networkInterfaces() {
	return uci.sections('network', 'interface')
		.map(s => s['.name'])
		.filter(n => n !== 'loopback');
}

/* `@vip[1]` / `@vip[-1]` / `wan` → uci section id, or null. */
function resolveSection(spec) {
	const m = /^@([A-Za-z0-9_]+)\[(-?\d+)\]$/.exec(spec);

	if (m) {
		const list = uci.sections('muros_ha', m[1]);
		let idx = parseInt(m[2], 10);

		if (idx < 0)
			idx += list.length;

		return (idx >= 0 && idx < list.length) ? list[idx]['.name'] : null;
	}

	return uci.get('muros_ha', spec) ? spec : null;
}

/* `@vip[1].vrid` → { section: '@vip[1]', sid: 'cfg0a...', option: 'vrid' }.
 * Section specs never contain a dot, so the first dot splits section and option. */
function parseLocation(location) {
	const loc = String(location ?? '');
	const dot = loc.indexOf('.');
	const section = dot < 0 ? loc : loc.substring(0, dot);
	const option = dot < 0 ? null : loc.substring(dot + 1);

	return { section, option, sid: section ? resolveSection(section) : null };
}

function describeLocation(loc) {
	let where;
	const m = /^@([A-Za-z0-9_]+)\[(-?\d+)\]$/.exec(loc.section);

	const type = loc.sid ? uci.get('muros_ha', loc.sid, '.type') : null;

	if (type == 'vip' && m)
		where = _('Virtual IP #%d').format(uci.sections('muros_ha', 'vip').findIndex(s => s['.name'] == loc.sid) + 1);
	else if (type == 'vip')
		where = _('Virtual IP "%s"').format(loc.sid);
	else if (loc.section == 'global')
		where = _('General');
	else if (loc.section == 'wan')
		where = _('WAN');
	else if (type == 'health')
		where = _('Health check "%s"').format(loc.sid);
	else
		where = loc.section || _('Configuration');

	return loc.option ? '%s › %s'.format(where, OPTION_LABELS[loc.option] ?? loc.option) : where;
}

return view.extend({
	load() {
		let pending = null;

		try {
			pending = sessionStorage.getItem(APPLY_PENDING_KEY);
			sessionStorage.removeItem(APPLY_PENDING_KEY);
		}
		catch (e) { /* storage disabled: the daemon still applies, we just do not wait */ }

		const before = pending != null ? parseInt(pending, 10) : NaN;

		return Promise.all([
			uci.load('network').catch(() => null),
			!isNaN(before)
				? waitForApply(before, Date.now() + APPLY_WAIT_MS)
				: callValidate().then(res => ({ kind: 'validate', res }), err => ({ kind: 'validate', err })),
			uci.load('muros_ha'),
			callStatus().catch(() => null)
		]);
	},

	render(data) {
		const daemon = data[1];
		const ifaces = networkInterfaces();
		let m, s, o;

		m = new form.Map('muros_ha', _('High Availability'),
			_('Active/passive router pair: keepalived (VRRP) moves the virtual IPs, conntrackd replicates connection state, and the master alone brings up the shared-MAC WAN. Applying this page regenerates keepalived.conf and conntrackd.conf and reloads both.'));

		/* --- global ------------------------------------------------------- */
		s = m.section(form.NamedSection, 'global', 'global', _('Cluster'));
		s.addremove = false;
		s.tab('general', _('General'));
		s.tab('sync', _('Synchronisation'));
		s.tab('advanced', _('Advanced'));

		o = s.taboption('general', form.Flag, 'enabled', _('Enable'));
		o.default = o.enabled;
		o.rmempty = false;

		o = s.taboption('general', form.ListValue, 'role', _('Role'),
			_('The priority follows the role: master 150, backup 100, on every VRRP instance.'));
		o.value('master', _('Master'));
		o.value('backup', _('Backup'));
		o.default = 'backup';
		o.rmempty = false;

		o = s.taboption('general', form.ListValue, 'auth_type', _('Authentication'),
			_('VRRP authentication exists only in VRRP version 2.'));
		o.value('ah', _('IPsec AH'));
		o.value('pass', _('Simple password'));
		o.value('none', _('None'));
		/* The daemon's default when unset: AH if a password is set under VRRPv2,
		 * else none. Show that, and always write the choice explicitly. */
		o.cfgvalue = function(section_id) {
			const v = uci.get('muros_ha', section_id, 'auth_type');
			if (v)
				return v;
			return (uci.get('muros_ha', section_id, 'password') &&
			        (uci.get('muros_ha', section_id, 'vrrp_version') ?? '2') == '2') ? 'ah' : 'none';
		};
		o.rmempty = false;
		o.validate = function(section_id, value) {
			if (value != 'none' && this.section.formvalue(section_id, 'vrrp_version') == '3')
				return _('VRRPv3 has no authentication: choose None or VRRP version 2');
			return true;
		};

		o = s.taboption('general', form.Value, 'password', _('Authentication password'),
			_('Shared secret, the same on both routers; at most 8 characters.'));
		o.password = true;
		/* keepalived truncates at 8 and splits on blanks; the daemon refuses both. */
		o.validate = function(section_id, value) {
			if (!/^[\x21-\x7e]{1,8}$/.test(value ?? ''))
				return _('1 to 8 printable characters, no blanks');
			if (/['"#!\\]/.test(value))
				return _('Quotes, backslash, # and ! are not allowed');
			return true;
		};
		o.depends('auth_type', 'ah');
		o.depends('auth_type', 'pass');
		o.rmempty = false;

		o = s.taboption('general', form.DynamicList, 'service', _('Services'),
			_('Started on the master, stopped on the backup.'));
		o.value('dnsmasq');
		o.value('odhcpd');
		o.value('miniupnpd');
		o.value('openvpn');

		o = s.taboption('general', form.DynamicList, 'vpn', _('VPN interfaces'),
			_('Tunnels whose keys both routers share (e.g. WireGuard wg0): up on the master, down on the backup, so the far side keeps the same endpoint after a failover.'));
		uci.sections('network', 'interface')
			.filter(i => i.proto == 'wireguard')
			.forEach(i => o.value(i['.name']));
		o.datatype = 'uciname';

		o = s.taboption('sync', form.Value, 'sync_interface', _('Sync interface'),
			_('Logical interface of the direct link used by conntrackd for state replication.'));
		ifaces.forEach(n => o.value(n));
		o.datatype = 'uciname';
		o.rmempty = false;

		o = s.taboption('sync', form.Value, 'peer_ip', _('Peer management IP'),
			_('Address of the other router on the sync link.'));
		o.datatype = 'ipaddr';

		o = s.taboption('sync', form.ListValue, 'sync_mode', _('Sync mode'));
		o.value('multicast', _('Multicast (225.0.0.50)'));
		o.value('unicast', _('Unicast to the peer'));
		o.default = 'multicast';

		o = s.taboption('sync', form.Value, 'sync_port', _('Sync port'));
		o.datatype = 'port';
		o.placeholder = '3780';

		o = s.taboption('sync', form.Value, 'sync_group', _('Multicast group'));
		o.datatype = 'ip4addr';
		o.placeholder = '225.0.0.50';
		o.depends('sync_mode', 'multicast');

		o = s.taboption('advanced', form.ListValue, 'vrrp_version', _('VRRP version'),
			_('Version 3 allows sub-second adverts and faster takeover; version 2 is needed for authentication.'));
		o.value('2', _('2'));
		o.value('3', _('3'));
		o.default = '2';

		o = s.taboption('advanced', form.Value, 'advert_int', _('Advertisement interval'),
			_('Seconds. VRRPv2: whole seconds 1–255; VRRPv3: 0.01–40.95.'));
		o.datatype = 'and(ufloat,range(0.01,255))';
		o.placeholder = '1';
		o.validate = function(section_id, value) {
			if (value == null || value === '')
				return true;

			const v = parseFloat(value);
			const ver = this.section.formvalue(section_id, 'vrrp_version');

			if (ver == '3' && v > 40.95)
				return _('VRRPv3 allows at most 40.95 s');
			if (ver != '3' && (v < 1 || Math.floor(v) != v))
				return _('VRRPv2 uses whole seconds');

			return true;
		};

		o = s.taboption('advanced', form.Flag, 'preempt', _('Preempt'),
			_('Take the master role back as soon as this router is the better one.'));
		o.default = o.enabled;

		o = s.taboption('advanced', form.Flag, 'backup_route', _('Backup reaches the Internet via the master'),
			_('While not master, route this router\'s own traffic (NTP, DNS, package updates) through the LAN VIP.'));
		o.default = o.enabled;

		o = s.taboption('advanced', form.Value, 'priority', _('Priority override'),
			_('Leave empty to derive it from the role.'));
		o.datatype = 'range(1,254)';
		o.optional = true;

		/* --- pairing ------------------------------------------------------ */
		const peer = data[3]?.peer;
		const localKey = peer?.local_key ?? null;

		s = m.section(form.NamedSection, 'global', 'global', _('Pairing'),
			_('The two routers trust each other by public key: copy this router\'s key into the other router\'s Pairing section, and paste the other router\'s key here. The link then carries heartbeats, the conntrack state summary, and the master\'s copies of the replicated packages.'));
		s.addremove = false;

		o = s.option(form.DummyValue, '_local_key', _('This router\'s key'));
		o.renderWidget = function() {
			if (!localKey)
				return E('em', {}, _('unknown (the daemon did not answer)'));

			const note = E('span', { 'id': 'muros-ha-copy-note', 'style': 'margin-left:.5em' });

			return E('div', {}, [
				E('code', { 'id': 'muros-ha-local-key', 'style': 'user-select:all' }, localKey), ' ',
				E('button', {
					'class': 'cbi-button cbi-button-action',
					'id': 'muros-ha-copy-key',
					'click': ui.createHandlerFn(this, () => copyText(localKey).then(
						() => { note.textContent = _('Copied'); },
						() => { note.textContent = _('Select the key and copy it by hand'); }))
				}, _('Copy')),
				note
			]);
		};

		o = s.option(form.Value, 'peer_key', _('Peer key'),
			_('The other router\'s key, from its Pairing section (or `ubus call muros_ha status`, peer.local_key). Also set the peer management IP (Synchronisation tab).'));
		o.placeholder = _('44 base64 characters');
		o.validate = (section_id, value) => validatePeerKey(localKey, section_id, value);

		o = s.option(form.DynamicList, 'replicate', _('Replicated packages'),
			_('UCI packages the master pushes to the backup. Empty: firewall and dhcp. network: only the VPN interfaces (General tab) and their WireGuard peers.'));
		o.placeholder = 'firewall';
		o.validate = validateReplicate;

		o = s.option(form.DynamicList, 'replicate_exclude', _('Kept per router'),
			_('package.section or package.section.option of a replicated package that each router keeps its own, e.g. dhcp.@dnsmasq[0].interface.'));
		o.placeholder = 'dhcp.@dnsmasq[0].interface';
		o.validate = function(section_id, value) {
			if (value == null || value === '')
				return true;

			const m2 = /^([A-Za-z0-9_-]+)\.(@[A-Za-z0-9_]+\[-?\d+\]|[A-Za-z0-9_]+)(\.[A-Za-z0-9_]+)?$/.exec(value);

			if (!m2)
				return _('Expecting package.section or package.section.option');

			const listed = L.toArray(this.section.formvalue(section_id, 'replicate'));
			const replicated = listed.length ? listed : [ 'firewall', 'dhcp' ];

			if (replicated.indexOf(m2[1]) < 0)
				return _('%s is not a replicated package').format(m2[1]);

			return true;
		};

		o = s.option(form.DynamicList, 'replicate_file', _('Replicated files'),
			_('Keys and certificates a VPN server needs, sent by the master with their mode and owner: files under /etc/openvpn/, /etc/swanctl/, /etc/ipsec.d/, /etc/wireguard/ or /etc/luci-uploads/ (no .conf, .ovpn or .sh). List the same files on both routers.'));
		o.placeholder = '/etc/openvpn/server.key';
		o.validate = function(section_id, value) {
			if (value == null || value === '')
				return true;

			const dirs = [ '/etc/openvpn/', '/etc/swanctl/', '/etc/ipsec.d/', '/etc/wireguard/', '/etc/luci-uploads/' ];
			const rest = dirs.filter(d => value.indexOf(d) == 0).map(d => value.substring(d.length))[0];

			if (rest == null || rest === '' || !/^[A-Za-z0-9._+@\/-]+$/.test(value) || value.length > 200 ||
			    rest.split('/').some(c => c === '' || c == '.' || c == '..') || /\.(conf|ovpn|sh)$/.test(value))
				return _('Expecting a key or certificate file under one of %s').format(dirs.join(', '));

			return true;
		};

		o = s.option(form.DummyValue, '_link', _('Link'));
		o.renderWidget = () => E('div', { 'id': 'muros-ha-link-box' }, renderLinkState(peer));

		/* --- VIPs --------------------------------------------------------- */
		s = m.section(form.GridSection, 'vip', _('Virtual IPs'),
			_('One VIP per interface that fails over; each VIP is one VRRP instance with its own VRID.'));
		/* The section name names the VRRP instance in keepalived.conf, notify lines
		 * and status, so the admin picks it (lan, guest, ...). */
		s.anonymous = false;
		s.addremove = true;
		s.sortable = true;
		s.nodescriptions = true;
		s.sectiontitle = sid => sid;

		/* A global option as currently typed on the page (also from inside the grid's
		 * edit modal, which has its own map), else as saved. */
		const globalValue = opt => {
			const found = m.lookupOption(opt, 'global');
			const v = found ? found[0].formvalue('global') : null;
			return v ?? uci.get('muros_ha', 'global', opt);
		};

		o = s.option(form.Value, 'interface', _('Interface'));
		ifaces.forEach(n => o.value(n));
		o.datatype = 'uciname';
		o.rmempty = false;
		o.editable = true;
		/* LAB-NOTES pitfall 4: a VIP on the sync link joins the sync group, and
		 * cutting the sync cable would then fault the whole group. */
		o.validate = function(section_id, value) {
			if (value && value == globalValue('sync_interface'))
				return _('The sync interface must not carry a VIP');
			return true;
		};

		o = s.option(form.Value, 'address', _('Virtual IP'), _('Address with prefix, e.g. 192.0.2.1/24.'));
		o.datatype = 'cidr';
		o.rmempty = false;
		o.editable = true;
		o.validate = function(section_id, value) {
			if (value && value.indexOf(':') >= 0 && (globalValue('vrrp_version') ?? '2') != '3')
				return _('IPv6 VIPs need VRRP version 3 (Advanced tab)');
			return true;
		};

		o = s.option(form.Value, 'vrid', _('VRID'));
		o.datatype = 'and(uinteger,range(1,255))';
		o.rmempty = false;
		o.editable = true;
		/* VRIDs only have to differ between instances that share a link. The check
		 * also runs in the grid's edit modal, whose map holds only the edited
		 * section: the other VIPs are read from the grid (unsaved edits) or uci. */
		const vips = s;
		const vipValue = (sid, opt) => vips.formvalue(sid, opt) ?? uci.get('muros_ha', sid, opt);
		o.validate = function(section_id, value) {
			if (value == null || value === '')
				return true;

			const iface = this.section.formvalue(section_id, 'interface');

			for (const other of uci.sections('muros_ha', 'vip').map(v => v['.name'])) {
				if (other == section_id)
					continue;
				if (vipValue(other, 'interface') == iface && vipValue(other, 'vrid') == value)
					return _('VRID %s is already used on interface %s').format(value, iface);
			}

			return true;
		};

		o = s.option(form.Value, 'peer_address', _('Peer address'),
			_('The other router on this interface; needed for unicast VRRP.'));
		o.datatype = 'ipaddr';
		o.modalonly = true;

		/* --- shared-MAC WAN ---------------------------------------------- */
		s = m.section(form.NamedSection, 'wan', 'wan', _('WAN'),
			_('DHCP: a macvlan with the same MAC address on both routers; only the master brings it up, so the ISP sees one host and one DHCP lease. Static: a WAN VIP that moves with the master, with the default route and NAT to it; each router keeps its own static address on the WAN interface.'));
		s.addremove = true;

		o = s.option(form.ListValue, 'proto', _('WAN mode'));
		o.value('dhcp', _('DHCP (shared-MAC macvlan)'));
		o.value('static', _('Static (WAN VIP)'));
		o.default = 'dhcp';

		o = s.option(form.Value, 'interface', _('Interface'), _('Logical WAN interface: the DHCP client, or the static interface carrying this router\'s own WAN address.'));
		ifaces.forEach(n => o.value(n));
		o.datatype = 'uciname';
		o.rmempty = false;

		o = s.option(form.Value, 'parent', _('Parent device'), _('Physical device under the macvlan, e.g. eth0.'));
		o.datatype = 'network';
		o.rmempty = false;
		o.depends('proto', 'dhcp');

		o = s.option(form.Value, 'macaddr', _('Shared MAC address'),
			_('Locally administered unicast, identical on both routers.'));
		o.datatype = 'macaddr';
		o.placeholder = '02:00:00:00:00:01';
		o.rmempty = false;
		o.validate = validateSharedMac;
		o.depends('proto', 'dhcp');

		o = s.option(form.Value, 'device', _('macvlan device'), _('Name of the macvlan device; default: ha- followed by the interface name.'));
		o.datatype = 'and(network,maxlength(15))';
		o.optional = true;
		o.placeholder = 'ha-wan';
		o.depends('proto', 'dhcp');

		o = s.option(form.Value, 'ipaddr', _('WAN VIP'), _('The public address with prefix that moves with the master, e.g. 203.0.113.10/24.'));
		o.datatype = 'cidr4';
		o.rmempty = false;
		o.depends('proto', 'static');

		o = s.option(form.Value, 'gateway', _('Gateway'), _('The ISP\'s gateway, in the VIP\'s subnet.'));
		o.datatype = 'ip4addr("nomask")';
		o.rmempty = false;
		o.depends('proto', 'static');

		o = s.option(form.Value, 'vrid', _('VRID'), _('Of the WAN instance; default 10.'));
		o.datatype = 'and(uinteger,range(1,255))';
		o.optional = true;
		o.placeholder = '10';
		o.depends('proto', 'static');

		/* --- upstream health checks ------------------------------------- */
		s = m.section(form.TypedSection, 'health', _('Upstream health checks'),
			_('Probed by the master only. When every target of a check stays silent for "Failures" rounds, the master hands over to the peer and stays backup at priority 1; when the peer\'s upstream fails too, the pair stays put and reports "upstream down on both". Use addresses beyond the ISP\'s gateway, not host names.'));
		s.anonymous = false;
		s.addremove = true;
		s.addbtntitle = _('Add health check');

		o = s.option(form.DynamicList, 'target', _('Targets'), _('The round passes when any target answers.'));
		o.datatype = 'ipaddr';
		o.rmempty = false;

		o = s.option(form.ListValue, 'method', _('Method'));
		o.value('icmp', _('ICMP echo'));
		o.value('tcp', _('TCP connect'));
		o.default = 'icmp';

		o = s.option(form.Value, 'port', _('TCP port'));
		o.datatype = 'port';
		o.depends('method', 'tcp');
		o.rmempty = false;

		o = s.option(form.Value, 'interval', _('Interval'), _('Seconds between rounds.'));
		o.datatype = 'range(1,60)';
		o.placeholder = '1';
		o.optional = true;

		o = s.option(form.Value, 'fall', _('Failures'), _('Failed rounds in a row before the upstream counts as down.'));
		o.datatype = 'range(1,20)';
		o.placeholder = '3';
		o.optional = true;

		o = s.option(form.Value, 'rise', _('Successes'), _('Answered rounds in a row before it counts as up again.'));
		o.datatype = 'range(1,20)';
		o.placeholder = '2';
		o.optional = true;

		/* The link's live state follows the daemon every 3 s. */
		poll.add(() => callStatus().then(st => {
			const box = document.getElementById('muros-ha-link-box');

			if (box)
				box.replaceChildren(renderLinkState(st?.peer));
		}).catch(() => null), 3);

		return m.render().then(node => {
			this.map = m;
			return E([], [ this.renderDaemonOutcome(m, daemon), node ]);
		});
	},

	/* Errors from the daemon, next to their fields, plus a summary on top. */
	renderDaemonOutcome(m, daemon) {
		const box = E('div', { 'id': 'muros-ha-daemon' });

		if (!daemon)
			return box;

		if (daemon.err) {
			box.appendChild(E('div', { 'class': 'alert-message warning' },
				_('The muros-ha daemon did not answer (%s); the configuration is saved but not checked.').format(daemon.err.message ?? daemon.err)));
			return box;
		}

		const res = daemon.res ?? {};
		const errors = Array.isArray(res.errors) ? res.errors : [];

		if (res.valid === false || errors.length) {
			const items = errors.map(err => {
				const loc = parseLocation(err.location);
				const ours = !err.file || /(^|\/)muros_ha$/.test(err.file);
				const attached = ours ? this.attachFieldError(m, loc, err) : false;
				const text = err.allowed ? '%s (%s: %s)'.format(err.message, _('allowed'), err.allowed) : err.message;

				return E('li', { 'class': attached ? 'muros-ha-error-attached' : 'muros-ha-error-unattached' }, [
					E('strong', {}, ours ? describeLocation(loc) : '%s: %s'.format(err.file, err.location)),
					': ', text
				]);
			});

			box.appendChild(E('div', { 'class': 'alert-message error', 'id': 'muros-ha-errors' }, [
				E('h4', {}, daemon.kind == 'apply'
					? _('The daemon did not apply the configuration')
					: _('The daemon reports problems in the saved configuration')),
				E('ul', {}, items)
			]));
		}
		else if (daemon.kind == 'apply') {
			const changed = Array.isArray(res.changed) ? res.changed : [];
			const reloaded = Array.isArray(res.reloaded) ? res.reloaded : [];

			box.appendChild(E('div', { 'class': 'alert-message success', 'id': 'muros-ha-applied' }, [
				E('p', {}, changed.length
					? _('Applied. Rewritten: %s.').format(changed.join(', '))
					: _('Applied. Generated files were already up to date.')),
				reloaded.length ? E('p', {}, _('Reloaded: %s.').format(reloaded.join(', '))) : ''
			]));
		}

		return box;
	},

	/* Put one daemon error under the widget of its option, or under the section
	 * when the option has no widget on this page. Returns true when placed. */
	attachFieldError(m, loc, err) {
		if (!loc.sid)
			return false;

		const text = err.allowed ? '%s (%s: %s)'.format(err.message, _('allowed'), err.allowed) : err.message;
		const note = E('div', { 'class': 'cbi-value-description muros-ha-field-error', 'style': 'color:#c00;font-weight:bold' }, text);

		let field = loc.option
			? m.findElement('data-field', 'cbid.muros_ha.%s.%s'.format(loc.sid, loc.option))
			: null;

		if (field) {
			field.querySelectorAll('input, select').forEach(el => el.classList.add('cbi-input-invalid'));
			field.parentNode.insertBefore(note, field.nextSibling);
			this.markTab(field);
			return true;
		}

		/* Section-level error, or an option only edited in the grid's modal. */
		const row = m.findElement('data-sid', loc.sid);
		if (row) {
			const cell = row.querySelector('.td') ?? row;
			cell.appendChild(note);
			return true;
		}

		return false;
	},

	/* Flag the tab holding an error, so problems on a hidden tab are found. */
	markTab(field) {
		const pane = field.closest('[data-tab]');
		if (pane)
			pane.setAttribute('data-tab-has-daemon-error', 'true');
	},

	/* Replace the outcome box (and the notes under fields) after a direct apply. */
	showOutcome(outcome) {
		const old = document.getElementById('muros-ha-daemon');
		if (!old || !this.map)
			return;

		this.map.root.querySelectorAll('.muros-ha-field-error').forEach(n => n.remove());
		this.map.root.querySelectorAll('.cbi-input-invalid').forEach(n => n.classList.remove('cbi-input-invalid'));
		old.replaceWith(this.renderDaemonOutcome(this.map, outcome));
	},

	handleSaveApply(ev, mode) {
		/* The daemon's apply count before the save: its next apply is ours. */
		let before = null;
		const onApplied = () => {
			document.removeEventListener('uci-applied', onApplied);
			if (before == null)
				return;
			try { sessionStorage.setItem(APPLY_PENDING_KEY, String(before)); }
			catch (e) { /* the reloaded page then shows validate's result */ }
		};

		return callStatus().then(st => { before = st?.applies?.count ?? null; }, () => {})
			.then(() => this.handleSave(ev)).then(() => uci.changes()).then(changes => {
			/* Nothing staged: rpcd commits nothing, so procd's trigger does not fire;
			 * the admin still asks the daemon to (re)apply the committed file, e.g.
			 * after fixing /etc/config/network elsewhere: the one apply is ours. */
			if (Object.keys(changes ?? {}).length == 0)
				return callApply().then(
					res => this.showOutcome({ kind: 'apply', res }),
					err => this.showOutcome({ kind: 'apply', err }));

			document.addEventListener('uci-applied', onApplied);
			ui.changes.apply(mode == '0');
		});
	}
});
