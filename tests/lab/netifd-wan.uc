// Lab stand-in for the part of netifd that muros-ha drives: the ubus object
// `network.interface.<name>` with `up`, `down` and `status`, backed by the REAL
// kernel link and a REAL DHCP client (busybox udhcpc) inside this router's netns.
//
// Run inside the router's network namespace:
//   ucode -L <ucode-lib> -D SOCK=<ubus.sock> -D ROOT=<router dir> -D IFACE=wan \
//         -D DEVICE=<macvlan> -D SCRIPT=<udhcpc script> [-D MUROS=<muros-ha>] netifd-wan.uc
//
// With MUROS set the interface's proto is muros-ha's `muros_dhcp` (files/muros_dhcp.sh),
// whose setup runs `muros-ha wan-cached` (it hands us the cached lease through
// `notify_proto`, as a proto handler talks to netifd) and then udhcpc, whose first
// `deconfig` is skipped so it does not undo the cached address. `notify_proto` follows
// netifd's rules for a shell proto: accepted only between `up` and `down`.
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
let proto_setup = null;   // the running `muros-ha wan-cached`, if any
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

// The udhcpc hook writes "address/prefix router leasetime dns..." when a lease is
// bound and removes the file on deconfig, so reading it needs no subprocess.
function current_lease() {
	let s = fs.readfile(ROOT + "/var/run/udhcpc-" + IFACE + ".bound");
	if (!s)
		return null;
	let w = split(trim(s), " ");
	let m = match(w[0], /^([0-9.]+)\/([0-9]+)$/);
	if (!m)
		return null;
	return { address: m[1], mask: +m[2], router: w[1], leasetime: +(w[2] || 0), dns: slice(w, 3) };
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

// cached: the WAN is up from the cached lease, so udhcpc's first deconfig is skipped.
function start_dhcp(cached) {
	if (dhcp)
		return;
	// A new udhcpc's first deconfig is the one the muros_dhcp script skips.
	fs.unlink(ROOT + "/var/run/udhcpc-" + IFACE + ".started");
	let argv = [ UDHCPC, "-f", "-R", "-i", DEVICE, "-s", SCRIPT,
		"-p", ROOT + "/var/run/udhcpc-" + IFACE + ".pid",
		"-t", "20", "-T", "1", "-A", "1", "-S" ];
	let last = remembered_address();
	if (last)
		push(argv, "-r", last);
	log("spawn udhcpc" + (last ? " requesting " + last : ""));
	dhcp = uloop.process(UDHCPC, slice(argv, 1),
		{ PATH: "/usr/sbin:/usr/bin:/sbin:/bin", LAB_ROOT: ROOT, LAB_IFACE: IFACE,
		  LAB_SKIP_FIRST_DECONFIG: cached ? "1" : "" },
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
			if (!MUROS) {
				run([ IP, "link", "set", "dev", DEVICE, "up" ], function(code) {
					log("link up rc=" + code);
					if (wanted_up)
						start_dhcp();
				});
				return 0;
			}
			// muros_dhcp setup: netifd raises the link itself (netlink, no wait) and
			// runs the proto script at once: the cached lease first, then DHCP, which
			// needs the link up, so it waits for both.
			let pending = 2, cached = false;
			let next = function() {
				if (--pending == 0 && wanted_up)
					start_dhcp(cached);
			};
			run([ IP, "link", "set", "dev", DEVICE, "up" ], function(code) {
				log("link up rc=" + code);
				next();
			});
			proto_setup = uloop.process(MUROS, [ "wan-cached", "--root", ROOT, IFACE ],
				{ PATH: "/usr/sbin:/usr/bin:/sbin:/bin", MUROS_HA_LOG: "stderr" },
				function(rc) {
					log("wan-cached exited " + rc);
					proto_setup = null;
					cached = rc == 0;
					next();
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
	// What a proto handler sends netifd (netifd-proto.sh's proto_send_update): here
	// only `muros-ha wan-cached` does. Applied the way the udhcpc hook applies a lease.
	notify_proto: {
		call: function(req) {
			let a = req.args;
			if (!wanted_up)
				return 4;	// UBUS_STATUS_PERMISSION_DENIED: not in setup
			if (a.action != 0 || !a["link-up"] || !a.ipaddr || !length(a.ipaddr))
				return 2;	// UBUS_STATUS_INVALID_ARGUMENT
			let gw = null;
			for (let r in a.routes || [])
				if (r.target == "0.0.0.0" && r.netmask == "0")
					gw = r.gateway;
			let env = { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", LAB_ROOT: ROOT, LAB_IFACE: IFACE,
				interface: DEVICE, ip: a.ipaddr[0].ipaddr, mask: a.ipaddr[0].mask,
				router: gw || "", dns: join(" ", a.dns || []),
				lease: "" + ((a.data && a.data.leasetime) || 0) };
			log("notify_proto cached lease " + env.ip + "/" + env.mask + " via " + env.router);
			req.defer();
			let done = function(code) {
				log("notify_proto applied rc=" + code);
				req.reply({}, code == 0 ? 0 : 2);
			};
			if (!fs.access(ROOT + "/etc/lab-nat-masquerade")) {
				// NAT=snat: the SNAT rule goes first; the udhcpc hook knows how
				uloop.process(SCRIPT, [ "bound" ], env, done);
				return;
			}
			// As netifd applies an update in-process: link, address, default route in
			// one go (one `ip -batch`), then the state `status` reports.
			let batch = ROOT + "/var/run/netifd-wan.batch";
			fs.writefile(batch, sprintf("link set dev %s up\naddr replace %s/%s dev %s\n", DEVICE, env.ip, env.mask, DEVICE)
				+ (gw ? sprintf("route replace default via %s dev %s\n", gw, DEVICE) : ""));
			run([ IP, "-4", "-batch", batch ], function(code) {
				if (code == 0) {
					fs.writefile(ROOT + "/var/run/udhcpc-" + IFACE + ".lease", env.ip + "\n");
					fs.writefile(ROOT + "/var/run/udhcpc-" + IFACE + ".bound",
						sprintf("%s/%s %s %s %s\n", env.ip, env.mask, env.router, env.lease, env.dns));
				}
				done(code);
			});
		},
		args: { action: 0, "link-up": true, ipaddr: [], routes: [], dns: [], data: {} }
	},
	status: {
		call: function(req) {
			let a = current_lease();
			let carrier = trim(fs.readfile("/sys/class/net/" + DEVICE + "/operstate") || "");
			return {
				up: wanted_up && a != null,
				pending: wanted_up && a == null,
				available: true,
				l3_device: DEVICE,
				device: DEVICE,
				proto: MUROS ? "muros_dhcp" : "dhcp",
				link_state: carrier,
				dhcp_pid: dhcp ? dhcp.pid() : 0,
				"ipv4-address": a ? [ { address: a.address, mask: a.mask } ] : [],
				route: (a && a.router) ? [ { target: "0.0.0.0", mask: 0, nexthop: a.router, source: a.address + "/32" } ] : [],
				"dns-server": a ? a.dns : [],
				data: (a && a.leasetime) ? { leasetime: a.leasetime } : {}
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
