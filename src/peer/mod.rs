//! The peer link: one authenticated, encrypted TCP connection between the two routers
//! over the sync link, carrying heartbeats, replicated UCI packages and the DHCP lease
//! file.
//!
//! # Layout
//!
//! | module | job |
//! |---|---|
//! | [`frame`] | length-prefixed frames, hard size limit; pure codec, `Malformed` vs incomplete |
//! | [`noise`] | `Noise_KK_25519_ChaChaPoly_BLAKE2s`: our KK state machine and REKEY over x25519-dalek, chacha20poly1305, blake2, hmac |
//! | [`session`] | Noise_KK_25519_ChaChaPoly_BLAKE2s handshake, transport with explicit nonces (replay ≠ tamper) |
//! | [`keys`] | this node's key pair in `/etc/muros-ha/peer.key` (0600, generated on first start) |
//! | [`message`] | heartbeat / package / leases / handover messages, JSON in chunks, reassembly limit |
//! | [`replicate`] | digest of the replicated packages (exclusions left out) and the merge a follower applies |
//! | [`policy`] | the trust model: which sections and options a peer may set; the rest is refused and kept local |
//! | [`leases`] | the lease file's path (directly in `/tmp`) and the lease lines a follower accepts |
//! | [`view`] | what the peer thread knows, shared with the ubus loop (`status.peer`) |
//! | [`link`] | the peer thread: listen/dial with backoff, handshake, heartbeats, inotify, apply |
//!
//! # Why a thread
//!
//! The ubus loop runs handlers that block for seconds (`status` probes conntrackd with
//! a 2 s timeout, `apply` runs `keepalived -t`). Heartbeats every second with a 3 s
//! split-brain budget cannot wait behind them, so the link lives in its own thread with
//! its own `poll(2)`; it shares a [`view::PeerView`] under a mutex and wakes the ubus
//! loop through a pipe only when an alert (split brain, drift) changes.

pub mod frame;
pub mod keys;
pub mod leases;
pub mod link;
pub mod message;
pub mod noise;
pub mod policy;
pub mod replicate;
pub mod session;
pub mod view;
