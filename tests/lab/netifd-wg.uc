// Lab stand-in for netifd's `wireguard` proto: the ubus object
// `network.interface.<name>` with `up`, `down` and `status`, backed by a REAL
// WireGuard device (wireguard-go, the userspace implementation: the lab host has no
// kernel module) configured by the REAL `wg` inside this router's netns.
//
// Run inside the router's network namespace:
//   ucode -L <ucode-lib> -D SOCK=<ubus.sock> -D ROOT=<router dir> -D IFACE=wg0 \
//         -D WITH_RUN=<with-run.sh> -D WG_GO=<wireguard-go> -D WG=<wg> -D IP=<ip> netifd-wg.uc
//
// `up` reads the interface from the router's own /etc/config/network with libuci (the
// ucode `uci` module), as OpenWrt's proto/wireguard.sh does:
//   config interface 'wg0'        proto 'wireguard', private_key, listen_port,
//                                 list addresses, mtu, fwmark
//   config wireguard_wg0          public_key, preshared_key, list allowed_ips,
//                                 route_allowed_ips, endpoint_host, endpoint_port
//                                 (51820), persistent_keepalive, disabled
// then starts wireguard-go in the foreground (its PID is ours to stop), `wg set`s the
// key, port and peers, adds the addresses, raises the link and, for
// route_allowed_ips, routes the allowed IPs into the device. Like netifd, `up`
// answers at once and `status` says `up` once all of that is done. `down` stops
// wireguard-go, which removes the device (and with it its addresses and routes).
//
// wireguard-go and wg find each other through /var/run/wireguard/<dev>.sock, a path
// compiled into both; with-run.sh gives them this router's /var/run (ROOT/var/run), so
// two routers and the internet server can each have a wg0 on one host.
// Processes are spawned with argument vectors only: no shell string is ever built.

let ubus = require("ubus");
let uloop = require("uloop");
let fs = require("fs");
let uci = require("uci");

const KILL = "/bin/kill";
const ENV = { PATH: "/usr/sbin:/usr/bin:/sbin:/bin" };
const SOCK_PATH = ROOT + "/var/run/wireguard/" + IFACE + ".sock";
const KEY_DIR = ROOT + "/var/run/netifd-" + IFACE;

let log_path = ROOT + "/var/log/netifd-" + IFACE + ".log";
let wanted_up = false;
let state = "down";       // down | setup | up
let gen = 0;              // bumped by every up/down: stale callbacks see another value
let wg_proc = null;       // the uloop.process of wireguard-go
let kill_timer = null;
let pending_down = [];    // deferred `down` replies, answered when wireguard-go exited
let errors = [];
let up_since = 0;
let cfg = null;           // the configuration the device was set up with
let start_setup;          // assigned below (the exit callback and `up` both call it)

function now() {
	let c = clock();
	return c[0] + c[1] / 1e9;
}

function log(msg) {
	let f = fs.open(log_path, "a");
	if (f) {
		f.write(sprintf("%.3f %s\n", now(), msg));
		f.close();
	}
}

function run(argv, done) {
	// argv[0] is the executable; uloop.process takes it separately.
	return uloop.process(argv[0], slice(argv, 1), ENV, done || function() {});
}

// wg through with-run.sh, so it finds this router's wireguard-go
function run_wg(args, done) {
	return run([ WITH_RUN, ROOT + "/var/run", WG, ...args ], done);
}

function as_list(v) {
	if (v == null)
		return [];
	if (type(v) == "array")
		return v;
	// an `option` holding several words, as OpenWrt's config_get on a list-like option
	return filter(split(trim(v), /[ \t]+/), (w) => length(w) > 0);
}

function fail(why) {
	push(errors, { subsystem: "wireguard", code: why });
	log("error: " + why);
}

// The interface and its peers from ROOT/etc/config/network; null (and an error) when
// the configuration cannot make a device.
function read_config() {
	let c = uci.cursor(ROOT + "/etc/config", ROOT + "/tmp/.uci");
	let s = c.get_all("network", IFACE);
	if (!s || s[".type"] != "interface") {
		fail("NO_INTERFACE");
		return null;
	}
	if (s.proto != "wireguard") {
		fail("PROTO_NOT_WIREGUARD");
		return null;
	}
	if (!s.private_key) {
		fail("MISSING_PRIVATE_KEY");
		return null;
	}
	let peers = [];
	c.foreach("network", "wireguard_" + IFACE, function(p) {
		if (p.disabled == "1")
			return;
		if (!p.public_key) {
			fail("PEER_WITHOUT_PUBLIC_KEY");
			return;
		}
		push(peers, {
			public_key: p.public_key,
			preshared_key: p.preshared_key,
			allowed_ips: as_list(p.allowed_ips),
			route_allowed_ips: p.route_allowed_ips == "1",
			endpoint_host: p.endpoint_host,
			endpoint_port: p.endpoint_port || "51820",
			persistent_keepalive: p.persistent_keepalive
		});
	});
	return {
		private_key: s.private_key,
		listen_port: s.listen_port,
		fwmark: s.fwmark,
		mtu: s.mtu,
		addresses: as_list(s.addresses),
		peers: peers
	};
}

function write_secret(name, value) {
	let path = KEY_DIR + "/" + name;
	let f = fs.open(path, "w", 0600);
	if (!f)
		return null;
	fs.chmod(path, 0600);
	f.write(value + "\n");
	f.close();
	return path;
}

function drop_secrets() {
	for (let f in fs.glob(KEY_DIR + "/*") || [])
		fs.unlink(f);
}

// `wg set` arguments for the configuration (keys in files, as wg wants them)
function wg_set_args(c) {
	fs.mkdir(KEY_DIR, 0700);
	let key = write_secret("private", c.private_key);
	if (!key)
		return null;
	let a = [ "set", IFACE, "private-key", key ];
	if (c.listen_port)
		push(a, "listen-port", "" + c.listen_port);
	if (c.fwmark)
		push(a, "fwmark", "" + c.fwmark);
	let i = 0;
	for (let p in c.peers) {
		push(a, "peer", p.public_key);
		if (p.preshared_key) {
			let psk = write_secret("psk" + i, p.preshared_key);
			if (!psk)
				return null;
			push(a, "preshared-key", psk);
		}
		if (p.endpoint_host) {
			let h = p.endpoint_host;
			push(a, "endpoint", (index(h, ":") >= 0 ? "[" + h + "]" : h) + ":" + p.endpoint_port);
		}
		if (p.persistent_keepalive)
			push(a, "persistent-keepalive", "" + p.persistent_keepalive);
		if (length(p.allowed_ips))
			push(a, "allowed-ips", join(",", p.allowed_ips));
		i++;
	}
	return a;
}

// addresses, MTU, link up, then the routes of route_allowed_ips, in one `ip -batch`
function ip_batch(c) {
	let b = "";
	if (c.mtu)
		b += sprintf("link set dev %s mtu %s\n", IFACE, c.mtu);
	for (let a in c.addresses)
		b += sprintf("addr add %s dev %s\n", a, IFACE);
	b += sprintf("link set dev %s up\n", IFACE);
	for (let p in c.peers)
		if (p.route_allowed_ips)
			for (let n in p.allowed_ips)
				b += sprintf("route replace %s dev %s proto static\n", n, IFACE);
	let path = KEY_DIR + "/ip.batch";
	fs.writefile(path, b);
	return path;
}

function stop_wireguard_go(why) {
	if (!wg_proc)
		return;
	log("stopping wireguard-go pid " + wg_proc.pid() + " (" + why + ")");
	run([ KILL, "-TERM", "" + wg_proc.pid() ]);
	let p = wg_proc;
	if (kill_timer)
		kill_timer.cancel();
	// bounded: a wireguard-go that ignores SIGTERM for 3 s is killed
	kill_timer = uloop.timer(3000, function() {
		kill_timer = null;
		if (wg_proc == p) {
			log("wireguard-go did not exit in 3 s: SIGKILL");
			run([ KILL, "-KILL", "" + p.pid() ]);
		}
	});
}

function configure(g) {
	let args = wg_set_args(cfg);
	if (!args) {
		drop_secrets();
		fail("CANNOT_WRITE_KEYS");
		state = "down";
		stop_wireguard_go("setup failed");
		return;
	}
	run_wg(args, function(code) {
		drop_secrets();
		if (g != gen)
			return;
		if (code != 0) {
			fail("WG_SET_FAILED");
			state = "down";
			stop_wireguard_go("setup failed");
			return;
		}
		log("wg set rc=0");
		run([ IP, "-batch", ip_batch(cfg) ], function(code) {
			if (g != gen)
				return;
			if (code != 0) {
				fail("IP_SETUP_FAILED");
				state = "down";
				stop_wireguard_go("setup failed");
				return;
			}
			state = "up";
			up_since = now();
			log("up");
		});
	});
}

function on_exit(code) {
	log("wireguard-go exited " + code);
	wg_proc = null;
	if (kill_timer) {
		kill_timer.cancel();
		kill_timer = null;
	}
	if (state != "down" && wanted_up)
		fail("WIREGUARD_GO_EXITED");
	state = "down";
	for (let req in pending_down)
		req.reply({}, 0);
	pending_down = [];
	// an `up` that came while the old device was going away
	if (wanted_up && !length(errors))
		start_setup();
}

start_setup = function() {
	let g = gen;
	errors = [];
	cfg = read_config();
	if (!cfg)
		return;
	state = "setup";
	fs.unlink(SOCK_PATH);
	wg_proc = uloop.process(WITH_RUN, [ ROOT + "/var/run", WG_GO, IFACE ],
		{ PATH: ENV.PATH, WG_PROCESS_FOREGROUND: "1", LOG_LEVEL: "error" }, on_exit);
	log("spawn wireguard-go pid " + wg_proc.pid());
	// Wait (bounded: 5 s) for its device and control socket.
	let tries = 0, poll;
	poll = uloop.timer(20, function() {
		if (g != gen || !wg_proc)
			return;
		if (fs.access(SOCK_PATH) && fs.access("/sys/class/net/" + IFACE)) {
			configure(g);
			return;
		}
		if (++tries >= 250) {
			fail("WIREGUARD_GO_NO_DEVICE");
			state = "down";
			stop_wireguard_go("no device after 5 s");
			return;
		}
		poll.set(20);
	});
};

function addr_list(family) {
	let out = [];
	if (state != "up")
		return out;
	for (let a in cfg.addresses) {
		let m = match(a, /^([^\/]+)(\/([0-9]+))?$/);
		if (!m)
			continue;
		let v6 = index(m[1], ":") >= 0;
		if (v6 == (family == 6))
			push(out, { address: m[1], mask: +(m[3] || (v6 ? 128 : 32)) });
	}
	return out;
}

let methods = {
	up: {
		call: function(req) {
			log("up requested");
			if (wanted_up && (state == "up" || state == "setup"))
				return 0;	// netifd: `up` on an interface that is up does nothing
			wanted_up = true;
			gen++;
			errors = [];
			if (wg_proc) {
				// the previous device is still going away; on_exit starts the new one
				log("up queued until wireguard-go exited");
				return 0;
			}
			start_setup();
			return 0;
		},
		args: {}
	},
	down: {
		call: function(req) {
			log("down requested");
			wanted_up = false;
			gen++;
			state = "down";
			if (!wg_proc)
				return 0;
			req.defer();
			push(pending_down, req);
			stop_wireguard_go("down");
		},
		args: {}
	},
	status: {
		call: function(req) {
			let routes = [];
			if (state == "up")
				for (let p in cfg.peers)
					if (p.route_allowed_ips)
						for (let n in p.allowed_ips) {
							let m = match(n, /^([^\/]+)(\/([0-9]+))?$/);
							if (m)
								push(routes, { target: m[1], mask: +(m[3] || (index(m[1], ":") >= 0 ? 128 : 32)), nexthop: index(m[1], ":") >= 0 ? "::" : "0.0.0.0" });
						}
			let st = {
				up: state == "up",
				pending: state == "setup",
				available: true,
				autostart: false,
				uptime: state == "up" ? int(now() - up_since) : 0,
				device: IFACE,
				proto: "wireguard",
				"ipv4-address": addr_list(4),
				"ipv6-address": addr_list(6),
				route: routes,
				data: { wireguard_go_pid: wg_proc ? wg_proc.pid() : 0 }
			};
			if (state == "up")
				st.l3_device = IFACE;
			if (length(errors))
				st.errors = errors;
			return st;
		},
		args: {}
	}
};

uloop.init();
let conn = ubus.connect(SOCK);
if (!conn) {
	warn("netifd-wg: cannot connect to ", SOCK, ": ", ubus.error(), "\n");
	exit(1);
}
let obj = conn.publish("network.interface." + IFACE, methods);
if (!obj) {
	warn("netifd-wg: publish failed: ", ubus.error(), "\n");
	exit(1);
}
log("registered network.interface." + IFACE);
uloop.run();
