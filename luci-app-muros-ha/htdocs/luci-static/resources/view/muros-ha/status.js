'use strict';
'require view';
'require poll';
'require rpc';
'require ui';
'require dom';

/*
 * "Cluster status": the MurOS dashboard tile for the HA pair, fed by the
 * daemon's `status` and `history` and refreshed by polling.
 */

const callStatus = rpc.declare({
	object: 'muros_ha',
	method: 'status',
	expect: { '': {} }
});

const callHistory = rpc.declare({
	object: 'muros_ha',
	method: 'history',
	params: [ 'limit' ],
	expect: { transitions: [] }
});

const callMaintenance = rpc.declare({
	object: 'muros_ha',
	method: 'maintenance',
	params: [ 'enable' ],
	expect: { '': {} }
});

const callHandover = rpc.declare({
	object: 'muros_ha',
	method: 'handover',
	expect: { '': {} }
});

const POLL_SECONDS = 3;
const HISTORY_LIMIT = 20;

function fmtTime(t) {
	if (!t)
		return '-';

	const d = new Date(t * 1000);
	const ago = Math.max(0, Math.floor(Date.now() / 1000 - t));

	return '%s (%s)'.format(d.toLocaleString(), _('%s ago').format('%t'.format(ago)));
}

/* Coloured label for a VRRP state, like the MurOS tile. */
function stateBadge(state) {
	const s = String(state ?? 'UNKNOWN').toUpperCase();
	const colour = { MASTER: '#2e7d32', BACKUP: '#1565c0', FAULT: '#c62828', STOP: '#6d4c41' }[s] ?? '#757575';

	return E('span', {
		'class': 'muros-ha-state',
		'data-state': s,
		'style': 'display:inline-block;padding:0 .5em;border-radius:3px;color:#fff;background:%s'.format(colour)
	}, s);
}

function yesNo(v, yes, no) {
	return v ? E('span', { 'style': 'color:#2e7d32' }, yes) : E('span', { 'style': 'color:#c62828' }, no);
}

/* `status.health` → one line: the verdict, a demotion, each check's targets. */
function renderHealth(h) {
	if (!h)
		return E('em', {}, _('no health checks configured (only the WAN link is watched)'));
	const words = {
		ok: _('healthy'), idle: _('not probed (backup)'), starting: _('starting'),
		down: _('down: handed over'), down_both: _('down on both routers')
	};
	const bad = h.state == 'down' || h.state == 'down_both' || h.demoted;
	const checks = (Array.isArray(h.checks) ? h.checks : []).map(c => '%s → %s (%s%s)'.format(
		c.name, (c.targets ?? []).join(', '), c.method, c.last_rtt_ms != null ? ', %d ms'.format(c.last_rtt_ms) : ''));
	return E('span', { 'style': bad ? 'color:#c62828' : '' }, [
		words[h.state] ?? h.state,
		h.demoted ? ', ' + _('demoted to priority 1 since %s').format(fmtTime(h.demoted.since)) : '',
		h.message ? ' — ' + h.message : '',
		checks.length ? E('br') : '', checks.join('; ')
	]);
}

function row(label, value, id) {
	return E('tr', { 'class': 'tr', 'data-key': id }, [
		E('td', { 'class': 'td left', 'style': 'width:33%' }, label),
		E('td', { 'class': 'td left', 'id': 'muros-ha-' + id }, value)
	]);
}

return view.extend({
	load() {
		return Promise.all([
			callStatus().catch(err => ({ error: err.message ?? String(err) })),
			callHistory(HISTORY_LIMIT).catch(() => [])
		]);
	},

	/* One status object → the summary table rows. */
	renderSummary(st) {
		if (st.error)
			return [ row(_('Daemon'), E('em', {}, _('not reachable: %s').format(st.error)), 'daemon') ];

		const peer = st.peer ?? {};
		const tr = st.last_transition;
		const fo = st.last_failover;
		const steps = fo?.steps ?? {};
		const ms = (v) => (v == null) ? '-' : _('%d ms').format(v);
		const sync = st.sync ?? {};
		const wan = st.wan;
		const services = Array.isArray(st.services) ? st.services : [];

		return [
			row(_('Local role'), E([], [
				stateBadge(st.state), ' ',
				_('configured %s, priority %d').format(st.role ?? '?', st.effective_priority ?? st.priority ?? 0),
				st.maintenance ? E('strong', { 'style': 'margin-left:.5em' }, _('maintenance')) : ''
			]), 'role'),
			row(_('Peer role'), E([], [
				stateBadge(peer.role), ' ',
				_('sync with peer: %s').format(String(peer.state ?? 'unknown').replace(/_/g, ' ')),
				peer.last_seen ? ', ' + _('last seen %s').format(fmtTime(peer.last_seen)) : ''
			]), 'peer'),
			row(_('Last failover'), tr
				? '%s: %s → %s — %s'.format(fmtTime(tr.time), tr.from ?? _('start'), tr.to ?? '?', tr.reason ?? '')
				: E('em', {}, _('none recorded')), 'last-transition'),
			row(_('Last takeover'), fo
				? _('%s: WAN up after %s, services after %s, conntrack committed after %s (from the VRRP event)').format(
					fmtTime(fo.time), ms(steps.wan_ms), ms(steps.services_ms), ms(steps.conntrack_ms))
				: E('em', {}, _('none recorded')), 'last-failover'),
			row(_('Sync'), E([], [
				'%s (%s), %s, '.format(sync.interface ?? '-', sync.device ?? '-', sync.mode ?? '-'),
				'conntrackd ', yesNo(sync.conntrackd_running, _('running'), _('stopped'))
			]), 'sync'),
			row(_('WAN'), wan
				? E([], [ '%s (%s) '.format(wan.interface ?? '-', wan.device ?? '-'),
				          yesNo(wan.up, _('up'), _('down')),
				          wan.address ? ' ' + wan.address : '',
				          wan.cached_lease ? ', ' + _('lease cached for a takeover: %s via %s').format(
				              wan.cached_lease.address, wan.cached_lease.gateway) : '' ])
				: E('em', {}, _('no shared-MAC WAN configured')), 'wan'),
			row(_('Services'), services.length
				? E([], services.map((s, i) => E('span', { 'style': 'margin-right:1em' }, [
					s.name, ' ', yesNo(s.running, '●', '○') ])))
				: E('em', {}, _('none')), 'services'),
			row(_('Configuration'), st.config_valid === false
				? E('span', { 'style': 'color:#c62828' }, _('invalid — see Settings'))
				: _('valid'), 'config'),
			row(_('Split brain'), st.fence
				? E('span', { 'style': 'color:#c62828' },
					_('fenced since %s: %s').format(fmtTime(st.fence.since), st.fence.reason ?? ''))
				: st.last_split_brain
					? '%s %s → %s: %s'.format(
						st.last_split_brain.fenced ? _('last (this router yielded)') : _('last'),
						fmtTime(st.last_split_brain.start),
						st.last_split_brain.end ? fmtTime(st.last_split_brain.end) : _('ongoing'),
						st.last_split_brain.message ?? '')
					: _('none seen'), 'split-brain'),
			row(_('Upstream'), renderHealth(st.health), 'upstream'),
			row(_('Alerts'), (Array.isArray(st.alerts) && st.alerts.length)
				? E('ul', {}, st.alerts.map(a => E('li', { 'style': 'color:#c62828' },
					'%s: %s (%s)'.format(a.kind, a.message, fmtTime(a.since)))))
				: _('none'), 'alerts')
		];
	},

	renderInstances(st) {
		const table = E('table', { 'class': 'table', 'id': 'muros-ha-instances' }, [
			E('tr', { 'class': 'tr table-titles' }, [
				E('th', { 'class': 'th' }, _('Instance')),
				E('th', { 'class': 'th' }, _('Interface')),
				E('th', { 'class': 'th' }, _('Device')),
				E('th', { 'class': 'th' }, _('VRID')),
				E('th', { 'class': 'th' }, _('Virtual IP')),
				E('th', { 'class': 'th' }, _('State'))
			])
		]);

		cbi_update_table(table, (Array.isArray(st.instances) ? st.instances : []).map(i => [
			i.name, i.interface, i.device, i.vrid, i.address, stateBadge(i.state)
		]), E('em', {}, _('No VRRP instances')));

		return table;
	},

	renderHistory(transitions) {
		const table = E('table', { 'class': 'table', 'id': 'muros-ha-history' }, [
			E('tr', { 'class': 'tr table-titles' }, [
				E('th', { 'class': 'th' }, _('Time')),
				E('th', { 'class': 'th' }, _('Transition')),
				E('th', { 'class': 'th' }, _('Reason')),
				E('th', { 'class': 'th' }, _('Actions'))
			])
		]);

		cbi_update_table(table, (Array.isArray(transitions) ? transitions : []).map(t => {
			const actions = Array.isArray(t.actions) ? t.actions : [];
			const failed = actions.filter(a => !a.ok);
			const ms = actions.reduce((sum, a) => sum + (a.ms ?? 0), 0);

			return [
				fmtTime(t.time),
				E([], [ t.from ? stateBadge(t.from) : E('em', {}, _('start')), ' → ', stateBadge(t.to) ]),
				t.reason ?? '',
				failed.length
					? E('details', {}, [
						E('summary', {}, _('%d of %d actions failed').format(failed.length, actions.length)),
						E('ul', {}, failed.map(a => E('li', {}, a.detail ? '%s: %s'.format(a.action, a.detail) : a.action)))
					])
					: _('%d ok in %d ms').format(actions.length, ms)
			];
		}), E('em', {}, _('No transitions recorded')));

		return table;
	},

	renderMaintenance(st) {
		const on = !!st.maintenance;

		return E('div', { 'class': 'cbi-value', 'id': 'muros-ha-maintenance' }, [
			E('label', { 'class': 'cbi-value-title' }, _('Maintenance')),
			E('div', { 'class': 'cbi-value-field' }, [
				E('button', {
					'class': 'btn cbi-button ' + (on ? 'cbi-button-positive' : 'cbi-button-negative'),
					'id': 'muros-ha-maintenance-toggle',
					'data-enabled': on ? 'true' : 'false',
					'disabled': st.error ? true : null,
					'click': ui.createHandlerFn(this, 'handleMaintenance', !on)
				}, on ? _('Leave maintenance') : _('Enter maintenance')),
				' ',
				E('button', {
					'class': 'btn cbi-button cbi-button-action',
					'id': 'muros-ha-handover',
					'disabled': (st.error || on) ? true : null,
					'click': ui.createHandlerFn(this, 'handleHandover')
				}, _('Hand over to peer')),
				E('div', { 'class': 'cbi-value-description' },
					_('In maintenance this router advertises priority 1, so the peer takes over; the role setting is kept. Hand over first asks the peer over the peer link to confirm it is in sync.'))
			])
		]);
	},

	handleHandover() {
		return callHandover().then(() => this.refresh()).catch(err => {
			ui.addNotification(null, E('p', _('The peer refused the handover: %s').format(err.message ?? err)), 'error');
		});
	},

	handleMaintenance(enable) {
		return callMaintenance(enable).then(res => {
			if (res.maintenance !== enable)
				ui.addNotification(null, E('p', _('The daemon did not change maintenance mode.')), 'warning');
			return this.refresh();
		}).catch(err => {
			ui.addNotification(null, E('p', _('Maintenance call failed: %s').format(err.message ?? err)), 'error');
		});
	},

	refresh() {
		return this.load().then(data => this.update(data[0], data[1]));
	},

	update(st, transitions) {
		const summary = document.getElementById('muros-ha-summary');
		if (!summary)
			return;

		dom.content(summary, this.renderSummary(st));
		document.getElementById('muros-ha-maintenance').replaceWith(this.renderMaintenance(st));
		document.getElementById('muros-ha-instances').replaceWith(this.renderInstances(st));
		document.getElementById('muros-ha-history').replaceWith(this.renderHistory(transitions));
	},

	render(data) {
		const st = data[0], transitions = data[1];

		poll.add(() => this.refresh(), POLL_SECONDS);

		return E([], [
			E('h2', {}, _('Cluster status')),
			E('div', { 'class': 'cbi-map-descr' },
				_('State of this router and its peer, refreshed every %d seconds.').format(POLL_SECONDS)),
			E('div', { 'class': 'cbi-section' }, [
				E('table', { 'class': 'table', 'id': 'muros-ha-summary' }, this.renderSummary(st)),
				this.renderMaintenance(st)
			]),
			E('div', { 'class': 'cbi-section' }, [
				E('h3', {}, _('VRRP instances')),
				this.renderInstances(st)
			]),
			E('div', { 'class': 'cbi-section' }, [
				E('h3', {}, _('Failover history')),
				this.renderHistory(transitions)
			])
		]);
	},

	handleSaveApply: null,
	handleSave: null,
	handleReset: null
});
