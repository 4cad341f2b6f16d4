'use strict';
'require baseclass';
'require rpc';

/* Status → Overview box: the HA pair at a glance; details on Services → High Availability. */

const callStatus = rpc.declare({
	object: 'muros_ha',
	method: 'status',
	expect: { '': {} }
});

return baseclass.extend({
	title: _('High Availability'),

	load() {
		return L.resolveDefault(callStatus(), null);
	},

	render(st) {
		if (!st || st.state == null)
			return null;

		const peer = st.peer ?? {};
		const tr = st.last_transition;
		const fields = [
			_('State'), st.state + (st.maintenance ? ' (' + _('maintenance') + ')' : ''),
			_('Role / priority'), '%s / %d'.format(st.role ?? '?', st.effective_priority ?? 0),
			_('Peer'), '%s (%s)'.format(peer.role ?? '?', peer.state ?? 'unknown'),
			_('Last failover'), tr ? '%s → %s, %s'.format(tr.from, tr.to, new Date(tr.time * 1000).toLocaleString()) : '-'
		];

		const table = E('table', { 'class': 'table', 'id': 'muros-ha-overview' });

		for (let i = 0; i < fields.length; i += 2)
			table.appendChild(E('tr', { 'class': 'tr' }, [
				E('td', { 'class': 'td left', 'width': '33%' }, [ fields[i] ]),
				E('td', { 'class': 'td left' }, [ fields[i + 1] ])
			]));

		return table;
	}
});
