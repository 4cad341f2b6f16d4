//! ubus in pure Rust: wire codec, blobmsg ⇄ JSON, a blocking client and an object
//! server that survives ubusd restarts. No libubus, no unsafe.
//!
//! # Layout
//!
//! | module | job |
//! |---|---|
//! | [`blob`] | blob_attr / blobmsg codec: zero-copy views + owned [`Value`]/[`Table`]; never panics |
//! | [`msg`] | frame header, message types, ubus attrs, stream decoder (`Incomplete` vs `Malformed`), 1 MiB limit |
//! | [`json`] | blobmsg ⇄ [`serde_json::Value`] with libubox `blobmsg_json` rules |
//! | `conn` | one socket: HELLO, seq numbers, request/reply matching, queueing of other frames |
//! | [`client`] | blocking [`Client`]: lookup, call, send/listen events, subscribe; one-shot [`call`] and [`send_event`] |
//! | [`server`] | [`Server`]: objects with per-method argument policies, dispatch, events, reconnect + re-register |
//!
//! The protocol reference is `ubus-protocol.md` (shared with the project); the golden
//! frames of its §10 are unit tests in `tests/ubus_codec.rs`.
//!
//! # Serving an object
//!
//! Each method declares its argument policy ([`Arg`]: name, [`ArgType`], required or
//! optional) beside its handler; the policy is also the signature `ubus -v list` shows.
//! Before a handler runs, the dispatcher checks the policy:
//!
//! - a declared argument of the wrong type, or a missing required one →
//!   `INVALID_ARGUMENT` (2) plus a DATA reply `{"error": "argument 'x' must be a boolean"}`
//!   (the `ubus` CLI prints that JSON, then `Command failed: ... (Invalid argument)`);
//! - undeclared arguments are ignored (LuCI adds `ubus_rpc_session` to every call) but
//!   visible through [`Args::table`];
//! - an unknown method → `METHOD_NOT_FOUND` (3); unreadable DATA → `INVALID_ARGUMENT`.
//!
//! Integer policies accept every integer width that fits (JSON callers send INT32 or
//! INT64 depending on the value); `Bool` wants INT8 0/1; `Double` also takes integers.
//!
//! A handler gets `&mut S` (the application state, kept in [`Server::state`] across
//! reconnects) and the [`Request`]. It returns a [`Reply`]: `Ok(Some(table))` → DATA +
//! STATUS 0, `Ok(None)` → STATUS 0 only, `Err(MethodError)` → `{"error": msg}` + that
//! status. [`reply_json`] turns a JSON object (a [`serde_json::Value`]) into a reply.
//!
//! ```no_run
//! use muros_ha::ubus::{reply_json, Arg, ArgType, Deferred, MethodError, Object, Server, Status, Waker};
//! use serde_json::json;
//! use std::time::Duration;
//!
//! #[derive(Default)]
//! struct Ha {
//!     maintenance: bool,
//!     history: Vec<serde_json::Value>,
//!     pending_apply: Vec<Deferred>, // answered by the loop when the work is done
//!     announce: bool,               // the loop sends an event (handlers cannot)
//! }
//!
//! const HISTORY: &[Arg] = &[Arg::optional("limit", ArgType::Int32)];
//! const MAINTENANCE: &[Arg] = &[Arg::required("enable", ArgType::Bool)];
//!
//! let mut server = Server::new("/var/run/ubus/ubus.sock", Ha::default());
//! server.add_object(
//!     Object::new("muros_ha")
//!         .method("status", &[], |ha: &mut Ha, _req| {
//!             reply_json(json!({ "maintenance": ha.maintenance }))
//!         })
//!         .method("history", HISTORY, |ha: &mut Ha, req| {
//!             let limit = req.args.i64("limit").unwrap_or(20);
//!             if limit < 0 {
//!                 return Err(MethodError::new(Status::InvalidArgument, "limit must be >= 0"));
//!             }
//!             let n = ha.history.len().saturating_sub(limit as usize);
//!             reply_json(json!({ "transitions": ha.history[n..] }))
//!         })
//!         .method("maintenance", MAINTENANCE, |ha: &mut Ha, req| {
//!             // The policy guarantees "enable" is there and a bool.
//!             ha.maintenance = req.args.bool("enable").unwrap_or(false);
//!             ha.announce = true;
//!             reply_json(json!({ "maintenance": ha.maintenance }))
//!         })
//!         .method("apply", &[], |ha: &mut Ha, req| {
//!             // Slow work: answer later from the loop; the return value is then ignored.
//!             ha.pending_apply.push(req.defer());
//!             Ok(None)
//!         }),
//! )?;
//! // Events, re-registered after every reconnect like the objects.
//! server.on_event("network.interface", |_ha: &mut Ha, name, data| {
//!     log::info!("event {name}: {}", muros_ha::ubus::json::from_table(data));
//! })?;
//! // Optional: connect now to log a missing ubusd early; poll() (re)connects anyway.
//! if let Err(e) = server.connect() {
//!     log::warn!("ubusd not there yet: {e}");
//! }
//!
//! // The loop: the waker (or a signal self-pipe) is polled beside the ubus socket.
//! let waker = Waker::new()?;
//! loop {
//!     let ready = server.poll(&[waker.fd()], Some(Duration::from_secs(5)))?;
//!     if ready.is_ready(0) {
//!         waker.drain();
//!         break; // e.g. SIGTERM
//!     }
//!     // Work the handlers left for the loop.
//!     for d in std::mem::take(&mut server.state.pending_apply) {
//!         let _ = server.reply_deferred(d, reply_json(json!({ "valid": true })));
//!     }
//!     if std::mem::take(&mut server.state.announce) {
//!         // Err while ubusd is away: log and go on, the state is what matters.
//!         let _ = server.send_event("muros_ha.maintenance", Default::default());
//!     }
//! }
//! # Ok::<(), muros_ha::ubus::Error>(())
//! ```
//!
//! [`Server::poll`] never spins: it sleeps in `poll(2)` on the socket and the extra fds
//! until one is readable or the timeout passes, handles every frame that arrived, and
//! returns which extra fds are ready. When ubusd goes away (restart, crash) it
//! reconnects after 100 ms, 200 ms, … at most 1 s apart, and registers every object
//! and event pattern again; the state is untouched, object ids change
//! ([`Server::object_id`]), deferred replies of the old connection are dropped
//! ([`Server::reply_deferred`] returns `Ok(false)`). Garbage from the socket is skipped
//! frame by frame; a stream that lost sync is dropped and reconnected. `poll` returns
//! `Err` only when `poll(2)` itself fails. [`Server::notify`] sends to subscribers of an
//! object (a no-op while there are none, see [`Server::has_subscribers`]).
//!
//! Not supported (not needed here): passing fds (`SCM_RIGHTS`), the monitor, ACL
//! queries. Requests the server itself makes (registration, `send_event`) wait for
//! their STATUS up to 5 s; invokes arriving meanwhile are queued, not lost.
//!
//! # Calling other objects
//!
//! ```no_run
//! use serde_json::json;
//! let sock = "/var/run/ubus/ubus.sock";
//! muros_ha::ubus::call(sock, "network.interface.wan", "up", &json!({}))?;
//! muros_ha::ubus::send_event(sock, "muros_ha.transition", &json!({"to": "MASTER"}))?;
//! # Ok::<(), muros_ha::ubus::Error>(())
//! ```
//!
//! A non-zero ubus status is [`Error::Status`] (with the DATA that came before it);
//! [`Error::status`] gives the code. For many calls keep one [`Client`].

pub mod blob;
pub mod client;
mod conn;
pub mod json;
pub mod msg;
pub mod server;

pub use blob::{Table, Value};
pub use client::{call, call_timeout, send_event, Client, Event, ObjectInfo};
pub use msg::Status;
pub use server::{
    reply_json, Arg, ArgType, Args, Deferred, MethodError, Object, Ready, Reply, Request, Server,
    Waker,
};

use std::fmt;

/// Everything that can go wrong talking to ubusd.
#[derive(Debug)]
pub enum Error {
    /// A system call failed; `context` says what we were doing.
    Io {
        context: String,
        source: std::io::Error,
    },
    /// ubusd closed the connection.
    Disconnected,
    /// No reply in time; the string says to what.
    Timeout(String),
    /// ubusd or the object owner answered with a non-zero status.
    Status {
        status: Status,
        context: String,
        data: Vec<Table>,
    },
    /// The peer broke the protocol.
    Protocol(String),
    /// Our own input cannot be sent (not a JSON object, over 1 MiB, ...).
    InvalidInput(String),
}

impl Error {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Error {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    /// The ubus status of a `Status` error.
    pub fn status(&self) -> Option<Status> {
        match self {
            Error::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// True when the connection is unusable (reconnect), false for a refused request.
    pub fn is_connection_error(&self) -> bool {
        matches!(
            self,
            Error::Io { .. } | Error::Disconnected | Error::Protocol(_) | Error::Timeout(_)
        )
    }

    pub(crate) fn with_context(self, outer: String) -> Error {
        match self {
            Error::Status {
                status,
                context,
                data,
            } => Error::Status {
                status,
                context: format!("{outer}: {context}"),
                data,
            },
            Error::Timeout(w) => Error::Timeout(format!("{outer}: {w}")),
            other => other,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io { context, source } => write!(f, "{context}: {source}"),
            Error::Disconnected => f.write_str("ubusd closed the connection"),
            Error::Timeout(what) => write!(f, "timed out: {what}"),
            Error::Status {
                status,
                context,
                data,
            } => {
                write!(f, "{context}: {status}")?;
                if let Some(msg) = data
                    .iter()
                    .find_map(|t| t.get("error").and_then(Value::as_str))
                {
                    write!(f, " ({msg})")?;
                }
                Ok(())
            }
            Error::Protocol(m) => write!(f, "ubus protocol error: {m}"),
            Error::InvalidInput(m) => write!(f, "invalid ubus input: {m}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;
