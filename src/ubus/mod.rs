//! ubus in pure Rust: wire codec, blobmsg ⇄ JSON, a blocking client and an object
//! server that survives ubusd restarts. No libubus, no unsafe.
//!
//! # Layout
//!
//! | module | job |
//! |---|---|
//! | [`blob`] | blob_attr / blobmsg codec: zero-copy views + owned [`Value`]/[`Table`]; never panics |
//! | [`msg`] | frame header, message types, ubus attrs, stream decoder (`Incomplete` vs `Malformed`), 1 MiB limit |
//! | [`json`] | blobmsg ⇄ `serde_json::Value` with libubox `blobmsg_json` rules |
//! | `conn` | one socket: HELLO, seq numbers, request/reply matching, queueing of other frames |
//! | [`client`] | blocking [`Client`]: lookup, call, send/listen events, subscribe; one-shot [`call`] and [`send_event`] |
//! | [`server`] | [`Server`]: objects with per-method argument policies, dispatch, events, reconnect + re-register |
//!
//! The protocol reference is `ubus-protocol.md` (shared with the project); the golden
//! frames of its §10 are unit tests in `tests/ubus_codec.rs`.
//!
//! # Serving an object
//!
//! Each method declares its argument policy beside its handler. The dispatcher answers
//! a wrong argument type with `INVALID_ARGUMENT` and a DATA `{"error": "..."}`, an
//! unknown method with `METHOD_NOT_FOUND`, and ignores undeclared arguments (LuCI adds
//! `ubus_rpc_session` to every call). Handlers get `&mut S`, the application state,
//! which stays in the [`Server`] across reconnects.
//!
//! ```no_run
//! use muros_ha::ubus::{reply_json, Arg, ArgType, MethodError, Object, Server, Waker};
//! use serde_json::json;
//! use std::time::Duration;
//!
//! struct Ha { maintenance: bool }
//!
//! let mut server = Server::new("/var/run/ubus/ubus.sock", Ha { maintenance: false });
//! server.add_object(
//!     Object::new("muros_ha")
//!         .method("status", &[], |ha: &mut Ha, _req| {
//!             reply_json(json!({ "maintenance": ha.maintenance }))
//!         })
//!         .method("maintenance", &[Arg::required("enable", ArgType::Bool)], |ha: &mut Ha, req| {
//!             // Policy checked: "enable" is present and a bool.
//!             ha.maintenance = req.args.bool("enable").unwrap_or(false);
//!             reply_json(json!({ "maintenance": ha.maintenance }))
//!         }),
//! )?;
//! // Optional: react to events (also re-registered after a reconnect).
//! server.on_event("network.interface", |_ha: &mut Ha, name, data| {
//!     log::info!("event {name}: {}", muros_ha::ubus::json::from_table(data));
//! })?;
//! // Optional first connect, to report a missing ubusd early; poll() retries anyway.
//! if let Err(e) = server.connect() { log::warn!("ubusd not there yet: {e}"); }
//!
//! // Event loop: the waker (or a signal-hook pipe) is polled beside the ubus socket.
//! let waker = Waker::new()?;
//! loop {
//!     let ready = server.poll(&[waker.fd()], Some(Duration::from_secs(5)))?;
//!     if ready.is_ready(0) {
//!         waker.drain();
//!         // handle SIGHUP/SIGTERM or a transition here; then maybe:
//!         let _ = server.send_event("muros_ha.transition", Default::default());
//!         break;
//!     }
//! }
//! # Ok::<(), muros_ha::ubus::Error>(())
//! ```
//!
//! `Server::poll` never spins: it sleeps in `poll(2)` on the socket and the extra fds.
//! When ubusd goes away it reconnects after 100 ms, 200 ms, … at most 1 s apart, and
//! registers every object and event pattern again (object ids change; use
//! [`Server::object_id`]). `poll` returns `Err` only when `poll(2)` itself fails.
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
