// Lab stand-in for the part of netifd that muros-ha drives: the ubus object
// `network.interface.<name>` with `up`, `down` and `status`, backed by the REAL
// kernel link and a REAL DHCP client (busybox udhcpc) inside this router's netns.
//
// Run inside the router's network namespace:
//   ucode -L <ucode-lib> -D SOCK=<ubus.sock> -D ROOT=<router dir> -D IFACE=wan \
//         -D DEVICE=<macvlan> -D SCRIPT=<udhcpc script> netifd-wan.uc
//
// Like netifd, `up` returns at once and the lease arrives asynchronously; `status`
// reports `up` and the address the way `ifstatus` would ("ipv4-address").
// Processes are spawned with argument vectors only: no shell string is ever built.

let ubus = require("ubus");
let uloop = require("uloop");
let fs = require("fs");

const IP = "/usr/sbin/ip";
const UDHCPC = "/usr/sbin/udhcpc";
const KILL = "/bin/kill";

let dhcp = null;          // the uloop.process of the running udhcpc, if any
let wanted_up = false;
let pending_down = [];    // deferred `down` replies waiting for udhcpc to exit
let log_path = ROOT + "/var/log/netifd-wan.log";

function log(msg) {
	let f = fs.open(log_path, "a");
	if (f) {
		f.write(sprintf("%.3f %s\n", clock()[0] + clock()[1] / 1e9, msg));
		f.close();
	}
}

function run(argv, done) {
	// argv[0] is the executable; uloop.process takes it separately.
	return uloop.process(argv[0], slice(argv, 1), { PATH: "/usr/sbin:/usr/bin:/sbin:/bin" }, done || function() {});
}

function lease_file() {
	return ROOT + "/var/run/udhcpc-" + IFACE + ".lease";
}

// The address we were given last time: requesting it again saves a round of
// address choice at the server (LAB-NOTES pitfall 9).
function remembered_address() {
	let s = fs.readfile(lease_file());
	if (!s)
		return null;
	let m = match(trim(s), /^([0-9]+\.[0-9]+\.[0-9]+\.[0-9]+)/);
	return m ? m[1] : null;
}

// The udhcpc hook writes "address/prefix" when a lease is bound and removes the
// file on deconfig, so reading it needs no subprocess.
function current_address() {
	let s = fs.readfile(ROOT + "/var/run/udhcpc-" + IFACE + ".bound");
	if (!s)
		return null;
	let m = match(trim(s), /^([0-9.]+)\/([0-9]+)$/);
	return m ? { address: m[1], mask: +m[2] } : null;
}

// Declared before start_dhcp: ucode resolves a name when the closure is compiled.
function finish_down(req) {
	run([ IP, "link", "set", "dev", DEVICE, "down" ], function(code) {
		log("link down rc=" + code);
		if (req) {
			req.reply({}, 0);
		}
	});
}

function start_dhcp() {
	if (dhcp)
		return;
	let argv = [ UDHCPC, "-f", "-R", "-i", DEVICE, "-s", SCRIPT,
		"-p", ROOT + "/var/run/udhcpc-" + IFACE + ".pid",
		"-t", "20", "-T", "1", "-A", "1", "-S" ];
	let last = remembered_address();
	if (last)
		push(argv, "-r", last);
	log("spawn udhcpc" + (last ? " requesting " + last : ""));
	dhcp = uloop.process(UDHCPC, slice(argv, 1),
		{ PATH: "/usr/sbin:/usr/bin:/sbin:/bin", LAB_ROOT: ROOT, LAB_IFACE: IFACE },
		function(code) {
			log("udhcpc exited " + code);
			dhcp = null;
			for (let req in pending_down)
				finish_down(req);
			pending_down = [];
		});
}

let methods = {
	up: {
		call: function(req) {
			wanted_up = true;
			log("up requested");
			run([ IP, "link", "set", "dev", DEVICE, "up" ], function(code) {
				log("link up rc=" + code);
				if (wanted_up)
					start_dhcp();
			});
			return 0;
		},
		args: {}
	},
	down: {
		call: function(req) {
			wanted_up = false;
			log("down requested");
			if (dhcp) {
				// udhcpc -R sends RELEASE on SIGTERM and runs the deconfig hook.
				req.defer();
				push(pending_down, req);
				run([ KILL, "-TERM", "" + dhcp.pid() ]);
				return;
			}
			req.defer();
			finish_down(req);
		},
		args: {}
	},
	status: {
		call: function(req) {
			let a = current_address();
			let carrier = trim(fs.readfile("/sys/class/net/" + DEVICE + "/operstate") || "");
			return {
				up: wanted_up && a != null,
				pending: wanted_up && a == null,
				available: true,
				l3_device: DEVICE,
				device: DEVICE,
				proto: "dhcp",
				link_state: carrier,
				dhcp_pid: dhcp ? dhcp.pid() : 0,
				"ipv4-address": a ? [ a ] : []
			};
		},
		args: {}
	}
};

uloop.init();
let conn = ubus.connect(SOCK);
if (!conn) {
	warn("netifd-wan: cannot connect to ", SOCK, ": ", ubus.error(), "\n");
	exit(1);
}
let obj = conn.publish("network.interface." + IFACE, methods);
if (!obj) {
	warn("netifd-wan: publish failed: ", ubus.error(), "\n");
	exit(1);
}
log("registered network.interface." + IFACE);
uloop.run();
