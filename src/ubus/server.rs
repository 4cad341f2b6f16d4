//! Object server: registers objects whose methods each carry an argument policy beside
//! their handler, validates and dispatches invokes, listens to events, and survives
//! ubusd restarts by reconnecting (bounded backoff) and registering everything again.
//! The application state `S` lives in the server and is untouched by reconnects.

use super::blob::{types, Table, Value};
use super::client::{register_listener, send_event_on};
use super::conn::{poll_timeout, Conn};
use super::json;
use super::msg::{Attr, Message, MsgType, Status};
use super::{Error, Result};
use nix::fcntl::OFlag;
use nix::poll::{poll, PollFd, PollFlags};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// First retry delay after losing ubusd; doubles up to [`BACKOFF_MAX`].
pub const BACKOFF_MIN: Duration = Duration::from_millis(100);
pub const BACKOFF_MAX: Duration = Duration::from_secs(1);
/// Timeout of the broker requests made while (re)registering.
const REGISTER_TIMEOUT: Duration = Duration::from_secs(5);

/// Blobmsg type an argument must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgType {
    String,
    /// Any integer width whose value fits in i32 (JSON callers send INT32 or INT64).
    Int32,
    /// Any integer width.
    Int64,
    /// INT8 0/1 (what `ubus call` makes of `true`).
    Bool,
    /// DOUBLE, or any integer (JSON `1` arrives as INT32).
    Double,
    Table,
    Array,
}

impl ArgType {
    /// The number published in the signature (`ubus -v list` shows its name).
    pub fn blobmsg_type(self) -> u8 {
        match self {
            ArgType::String => types::STRING,
            ArgType::Int32 => types::INT32,
            ArgType::Int64 => types::INT64,
            ArgType::Bool => types::BOOL,
            ArgType::Double => types::DOUBLE,
            ArgType::Table => types::TABLE,
            ArgType::Array => types::ARRAY,
        }
    }

    fn accepts(self, v: &Value) -> bool {
        match self {
            ArgType::String => matches!(v, Value::String(_)),
            ArgType::Int32 => v.as_i64().is_some_and(|i| i32::try_from(i).is_ok()),
            ArgType::Int64 => v.as_i64().is_some(),
            ArgType::Bool => matches!(v, Value::Int8(0 | 1)),
            ArgType::Double => matches!(v, Value::Double(_)) || v.as_i64().is_some(),
            ArgType::Table => matches!(v, Value::Table(_)),
            ArgType::Array => matches!(v, Value::Array(_)),
        }
    }

    fn describe(self) -> &'static str {
        match self {
            ArgType::String => "a string",
            ArgType::Int32 => "a 32-bit integer",
            ArgType::Int64 => "an integer",
            ArgType::Bool => "a boolean",
            ArgType::Double => "a number",
            ArgType::Table => "an object",
            ArgType::Array => "an array",
        }
    }
}

/// One entry of a method's argument policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arg {
    pub name: &'static str,
    pub ty: ArgType,
    pub required: bool,
}

impl Arg {
    pub const fn optional(name: &'static str, ty: ArgType) -> Arg {
        Arg {
            name,
            ty,
            required: false,
        }
    }
    pub const fn required(name: &'static str, ty: ArgType) -> Arg {
        Arg {
            name,
            ty,
            required: true,
        }
    }
}

/// Validated arguments handed to a handler: every declared argument present has its
/// declared type; undeclared ones (e.g. LuCI's `ubus_rpc_session`) are still visible
/// through [`Args::table`] but were not checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Args {
    table: Table,
}

impl Args {
    pub fn table(&self) -> &Table {
        &self.table
    }
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.table.get(name)
    }
    pub fn str(&self, name: &str) -> Option<&str> {
        self.get(name).and_then(Value::as_str)
    }
    pub fn i64(&self, name: &str) -> Option<i64> {
        self.get(name).and_then(Value::as_i64)
    }
    pub fn bool(&self, name: &str) -> Option<bool> {
        self.get(name).and_then(Value::as_bool)
    }
    pub fn f64(&self, name: &str) -> Option<f64> {
        match self.get(name)? {
            Value::Double(d) => Some(*d),
            v => v.as_i64().map(|i| i as f64),
        }
    }
    /// All arguments as a JSON object.
    pub fn to_json(&self) -> serde_json::Value {
        json::from_table(&self.table)
    }
}

/// What a call looks like to a handler.
#[derive(Debug)]
pub struct Request<'a> {
    pub object: &'a str,
    pub method: &'a str,
    pub args: &'a Args,
    /// Caller's user/group names as ubusd resolved them.
    pub user: Option<&'a str>,
    pub group: Option<&'a str>,
    /// Where the reply must go; taken by [`Request::defer`].
    target: ReplyTarget,
    deferred: std::cell::Cell<bool>,
}

/// Everything needed to answer an invoke later: the caller's (peer, seq), our object
/// id, and the connection it came on (a reply after a reconnect is dropped: the caller
/// was on the old broker).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ReplyTarget {
    seq: u16,
    peer: u32,
    objid: u32,
    connection: u64,
}

/// A reply promised by a handler that called [`Request::defer`]; complete it with
/// [`Server::reply_deferred`]. ubusd has no timeout of its own; the caller gives up
/// after its own (the `ubus` CLI: 30 s).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deferred(ReplyTarget);

impl Request<'_> {
    /// Answer later: the dispatcher then sends nothing for this invoke, whatever the
    /// handler returns. For work that must not block the server loop (e.g. a reload
    /// run in a thread whose completion is signalled through a [`Waker`]).
    pub fn defer(&self) -> Deferred {
        self.deferred.set(true);
        Deferred(self.target)
    }
}

/// A failed call: the status goes in STATUS, the message in a DATA reply
/// `{"error": message}` (the `ubus` CLI prints it before "Command failed").
#[derive(Debug, Clone, PartialEq)]
pub struct MethodError {
    pub status: Status,
    pub message: String,
}

impl MethodError {
    pub fn new(status: Status, message: impl Into<String>) -> Self {
        MethodError {
            status,
            message: message.into(),
        }
    }
    pub fn invalid_argument(message: impl Into<String>) -> Self {
        MethodError::new(Status::InvalidArgument, message)
    }
}

/// A handler's result: `Ok(Some(table))` replies DATA + STATUS 0, `Ok(None)` just
/// STATUS 0.
pub type Reply = std::result::Result<Option<Table>, MethodError>;

/// Reply helper: a JSON object as the reply body (`Ok(None)` for `null`).
pub fn reply_json(v: serde_json::Value) -> Reply {
    json::to_table(&v)
        .map(Some)
        .map_err(|e| MethodError::new(Status::UnknownError, format!("reply is not an object: {e}")))
}

type Handler<S> = Box<dyn Fn(&mut S, &Request<'_>) -> Reply>;
type EventHandler<S> = Box<dyn Fn(&mut S, &str, &Table)>;

struct Method<S> {
    name: String,
    args: Vec<Arg>,
    handler: Handler<S>,
}

/// An object definition: path + method table. Build it with [`Object::method`].
pub struct Object<S> {
    path: String,
    methods: Vec<Method<S>>,
    /// Ids of the current registration (change on every reconnect).
    id: Option<u32>,
    type_id: Option<u32>,
    has_subscribers: bool,
}

impl<S> Object<S> {
    pub fn new(path: impl Into<String>) -> Self {
        Object {
            path: path.into(),
            methods: Vec::new(),
            id: None,
            type_id: None,
            has_subscribers: false,
        }
    }

    /// Add a method with its argument policy and handler.
    pub fn method(
        mut self,
        name: impl Into<String>,
        args: &[Arg],
        handler: impl Fn(&mut S, &Request<'_>) -> Reply + 'static,
    ) -> Self {
        self.methods.push(Method {
            name: name.into(),
            args: args.to_vec(),
            handler: Box::new(handler),
        });
        self
    }

    fn signature(&self) -> Table {
        self.methods
            .iter()
            .map(|m| {
                let t: Table = m
                    .args
                    .iter()
                    .map(|a| {
                        (
                            a.name.to_string(),
                            Value::Int32(i32::from(a.ty.blobmsg_type())),
                        )
                    })
                    .collect();
                (m.name.clone(), Value::Table(t))
            })
            .collect()
    }
}

/// Check `data` against a policy: declared args must have their type, required ones
/// must be present, anything else is ignored.
pub fn validate(policy: &[Arg], data: &Table) -> std::result::Result<Args, MethodError> {
    for a in policy {
        match data.get(a.name) {
            Some(v) if !a.ty.accepts(v) => {
                return Err(MethodError::invalid_argument(format!(
                    "argument '{}' must be {}",
                    a.name,
                    a.ty.describe()
                )))
            }
            None if a.required => {
                return Err(MethodError::invalid_argument(format!(
                    "missing argument '{}'",
                    a.name
                )))
            }
            _ => {}
        }
    }
    Ok(Args {
        table: data.clone(),
    })
}

/// A self-pipe to wake a [`Server::poll`] from another thread or a signal handler
/// (the daemon's signal handler writes into [`Waker::write_fd`]).
pub struct Waker {
    read: OwnedFd,
    write: OwnedFd,
}

impl Waker {
    pub fn new() -> Result<Waker> {
        let (read, write) = nix::unistd::pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK)
            .map_err(|e| Error::io("creating the wakeup pipe", e.into()))?;
        Ok(Waker { read, write })
    }
    /// Wake the poller. A full pipe already means "woken", so EAGAIN is fine.
    pub fn wake(&self) {
        let _ = nix::unistd::write(&self.write, &[1u8]);
    }
    /// The fd to pass to [`Server::poll`].
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.read.as_fd()
    }
    pub fn write_fd(&self) -> BorrowedFd<'_> {
        self.write.as_fd()
    }
    /// Empty the pipe after a wakeup (bounded: the pipe holds at most 64 KiB).
    pub fn drain(&self) {
        let mut buf = [0u8; 256];
        for _ in 0..256 {
            match nix::unistd::read(&self.read, &mut buf) {
                Ok(n) if n > 0 => continue,
                _ => break,
            }
        }
    }
}

/// Readiness of the extra fds passed to [`Server::poll`], by index.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ready(Vec<bool>);

impl Ready {
    pub fn is_ready(&self, index: usize) -> bool {
        self.0.get(index).copied().unwrap_or(false)
    }
    pub fn any(&self) -> bool {
        self.0.iter().any(|r| *r)
    }
}

/// The object server. See the module docs of [`super`] for an example.
pub struct Server<S> {
    socket: PathBuf,
    /// The application's state, handed to every handler; survives reconnects.
    pub state: S,
    objects: Vec<Object<S>>,
    listeners: Vec<(String, EventHandler<S>)>,
    listener_id: Option<u32>,
    conn: Option<Conn>,
    backoff: Duration,
    next_attempt: Instant,
    connections: u64,
}

impl<S> Server<S> {
    pub fn new(socket: impl Into<PathBuf>, state: S) -> Self {
        Server {
            socket: socket.into(),
            state,
            objects: Vec::new(),
            listeners: Vec::new(),
            listener_id: None,
            conn: None,
            backoff: BACKOFF_MIN,
            next_attempt: Instant::now(),
            connections: 0,
        }
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// Add an object; it is registered now if connected, and on every reconnect.
    pub fn add_object(&mut self, object: Object<S>) -> Result<()> {
        self.objects.push(object);
        if self.conn.is_some() {
            let i = self.objects.len() - 1;
            let r = self.register_object(i);
            if matches!(&r, Err(e) if !e.is_connection_error()) {
                // Refused (path taken): forget it rather than retry it on every reconnect.
                self.objects.pop();
            }
            return self.check_conn(r);
        }
        Ok(())
    }

    /// Call `handler(state, event_name, data)` for every event matching `pattern`.
    pub fn on_event(
        &mut self,
        pattern: impl Into<String>,
        handler: impl Fn(&mut S, &str, &Table) + 'static,
    ) -> Result<()> {
        let pattern = pattern.into();
        self.listeners.push((pattern.clone(), Box::new(handler)));
        if self.conn.is_some() {
            let r = self.register_pattern(&pattern);
            return self.check_conn(r);
        }
        Ok(())
    }

    pub fn is_connected(&self) -> bool {
        self.conn.is_some()
    }

    /// How many times a connection (with all registrations) was established.
    pub fn connections(&self) -> u64 {
        self.connections
    }

    /// The current id of the object at `path` (None while disconnected).
    pub fn object_id(&self, path: &str) -> Option<u32> {
        self.objects
            .iter()
            .find(|o| o.path == path)
            .and_then(|o| o.id)
    }

    /// Whether anyone subscribes to the object at `path` (from the broker's NOTIFY).
    pub fn has_subscribers(&self, path: &str) -> bool {
        self.objects
            .iter()
            .any(|o| o.path == path && o.has_subscribers)
    }

    /// Connect now and register everything. Without calling it, [`Server::poll`]
    /// connects on its own; calling it lets a daemon report a first failure.
    ///
    /// A refused registration (the broker said no: a path already taken by another
    /// process, or an ACL) does not stop the others: the connection stays up, the
    /// refused object has no [`Server::object_id`], and the first refusal is returned.
    pub fn connect(&mut self) -> Result<()> {
        self.conn = None;
        let conn = Conn::connect(&self.socket, REGISTER_TIMEOUT)?;
        self.conn = Some(conn);
        self.listener_id = None;
        for o in &mut self.objects {
            o.id = None;
            o.type_id = None;
            o.has_subscribers = false;
        }
        let refused = match self.register_all() {
            Ok(refused) => refused,
            Err(e) => {
                self.conn = None;
                return Err(e);
            }
        };
        self.connections += 1;
        self.backoff = BACKOFF_MIN;
        let registered = self.objects.iter().filter(|o| o.id.is_some()).count();
        log::info!(
            "ubus: connected to {} and registered {registered} of {} object(s)",
            self.socket.display(),
            self.objects.len()
        );
        match refused {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Register everything; connection errors abort, refusals are logged and the
    /// first one is returned.
    fn register_all(&mut self) -> Result<Option<Error>> {
        let mut refused = None;
        let mut note = |r: Result<()>| -> Result<()> {
            match r {
                Err(e) if e.is_connection_error() => Err(e),
                Err(e) => {
                    log::warn!("ubus: {e}");
                    refused.get_or_insert(e);
                    Ok(())
                }
                Ok(()) => Ok(()),
            }
        };
        for i in 0..self.objects.len() {
            note(self.register_object(i))?;
        }
        let patterns: Vec<String> = self.listeners.iter().map(|(p, _)| p.clone()).collect();
        for p in patterns {
            note(self.register_pattern(&p))?;
        }
        Ok(refused)
    }

    fn register_object(&mut self, i: usize) -> Result<()> {
        let conn = self.conn.as_mut().ok_or(Error::Disconnected)?;
        let o = &mut self.objects[i];
        let attrs = vec![
            Attr::ObjPath(o.path.clone()),
            Attr::Signature(o.signature()),
        ];
        let r = conn.request(
            MsgType::AddObject,
            0,
            attrs,
            REGISTER_TIMEOUT,
            &format!("add object {}", o.path),
        )?;
        let m = r
            .iter()
            .find(|m| m.objid().is_some())
            .ok_or_else(|| Error::Protocol(format!("add object {}: no OBJID in reply", o.path)))?;
        o.id = m.objid();
        o.type_id = m.objtype();
        Ok(())
    }

    fn register_pattern(&mut self, pattern: &str) -> Result<()> {
        let conn = self.conn.as_mut().ok_or(Error::Disconnected)?;
        let l = match self.listener_id {
            Some(l) => l,
            None => {
                let r = conn.request(
                    MsgType::AddObject,
                    0,
                    vec![],
                    REGISTER_TIMEOUT,
                    "add event listener",
                )?;
                let l = r.iter().find_map(|m| m.objid()).ok_or_else(|| {
                    Error::Protocol("add event listener: no OBJID in reply".into())
                })?;
                self.listener_id = Some(l);
                l
            }
        };
        register_listener(conn, l, pattern, REGISTER_TIMEOUT)
    }

    /// On a connection-level error, drop the connection and schedule a reconnect.
    /// Status errors (the broker said no) leave the connection alone.
    fn check_conn<T>(&mut self, r: Result<T>) -> Result<T> {
        if let Err(e) = &r {
            if e.is_connection_error() {
                self.disconnected(e);
            }
        }
        r
    }

    fn disconnected(&mut self, why: &Error) {
        if self.conn.take().is_some() {
            log::warn!(
                "ubus: lost ubusd at {}: {why}; reconnecting",
                self.socket.display()
            );
            for o in &mut self.objects {
                o.id = None;
                o.has_subscribers = false;
            }
            self.listener_id = None;
            self.backoff = BACKOFF_MIN;
            self.next_attempt = Instant::now() + BACKOFF_MIN;
        }
    }

    /// Send an event (error while disconnected).
    pub fn send_event(&mut self, name: &str, data: Table) -> Result<()> {
        let conn = self.conn.as_mut().ok_or(Error::Disconnected)?;
        let r = send_event_on(conn, name, data, REGISTER_TIMEOUT);
        self.check_conn(r)
    }

    /// Notify the subscribers of our object `path` (no-op without subscribers).
    pub fn notify(&mut self, path: &str, kind: &str, data: Table) -> Result<()> {
        let Some(o) = self.objects.iter().find(|o| o.path == path) else {
            return Err(Error::InvalidInput(format!(
                "no object {path} on this server"
            )));
        };
        let (Some(id), true) = (o.id, o.has_subscribers) else {
            return Ok(());
        };
        let conn = self.conn.as_mut().ok_or(Error::Disconnected)?;
        let attrs = vec![
            Attr::ObjId(id),
            Attr::Method(kind.into()),
            Attr::Data(data),
            Attr::NoReply(1),
        ];
        let r = conn.send(&Message::new(MsgType::Notify, 0, id, attrs));
        self.check_conn(r)
    }

    /// Wait for ubus traffic, one of `extra` fds becoming readable, or `timeout`;
    /// handle all ubus traffic that arrived; (re)connect when due. Returns which
    /// `extra` fds are readable. Never spins: while disconnected it sleeps in poll until
    /// the next reconnect attempt (100 ms doubling to 1 s).
    pub fn poll(&mut self, extra: &[BorrowedFd<'_>], timeout: Option<Duration>) -> Result<Ready> {
        let deadline = timeout.map(|t| Instant::now() + t);
        if self.conn.is_none() && Instant::now() >= self.next_attempt {
            // A refusal is logged by connect() and leaves us connected; only a failed
            // connection (ubusd absent while it restarts) backs off.
            if let Err(e) = self.connect() {
                if self.conn.is_none() {
                    log::debug!("ubus: connect to {} failed: {e}", self.socket.display());
                    self.next_attempt = Instant::now() + self.backoff;
                    self.backoff = (self.backoff * 2).min(BACKOFF_MAX);
                }
            }
        }
        // Frames queued during registration must not wait for new socket traffic, and
        // once handled, the caller must get control back (a handler may have left work
        // for the loop), so the poll below must not block.
        let mut deadline = deadline;
        if self.conn.as_ref().is_some_and(|c| c.has_queued()) {
            self.service_socket();
            deadline = Some(Instant::now());
        }
        let wake_at = match (&self.conn, deadline) {
            (Some(_), d) => d,
            (None, Some(d)) => Some(d.min(self.next_attempt)),
            (None, None) => Some(self.next_attempt),
        };
        let mut fds: Vec<PollFd<'_>> = extra
            .iter()
            .map(|fd| PollFd::new(*fd, PollFlags::POLLIN))
            .collect();
        let sock_index = fds.len();
        if let Some(c) = &self.conn {
            fds.push(PollFd::new(c.fd(), PollFlags::POLLIN));
        }
        let n = match poll(&mut fds, poll_timeout(wake_at)) {
            Ok(n) => n,
            Err(nix::errno::Errno::EINTR) => 0,
            Err(e) => return Err(Error::io("poll in the ubus server loop", e.into())),
        };
        let mut ready = Ready(vec![false; extra.len()]);
        let mut sock_ready = false;
        if n > 0 {
            let hit = PollFlags::POLLIN | PollFlags::POLLHUP | PollFlags::POLLERR;
            for (i, fd) in fds.iter().enumerate() {
                let r = fd.revents().is_some_and(|r| r.intersects(hit));
                if i < sock_index {
                    ready.0[i] = r;
                } else {
                    sock_ready = r;
                }
            }
        }
        drop(fds);
        if sock_ready {
            self.service_socket();
        }
        Ok(ready)
    }

    /// Run until `keep_going(state)` returns false, checked after every wakeup.
    pub fn run(&mut self, mut keep_going: impl FnMut(&mut S) -> bool) -> Result<()> {
        while keep_going(&mut self.state) {
            self.poll(&[], Some(Duration::from_secs(1)))?;
        }
        Ok(())
    }

    /// Read and dispatch everything that is there.
    fn service_socket(&mut self) {
        let frames = match self.conn.as_mut() {
            Some(c) => c.drain_ready(),
            None => return,
        };
        match frames {
            Ok(frames) => {
                for m in frames {
                    let r = self.dispatch(m);
                    if let Err(e) = self.check_conn(r) {
                        log::warn!("ubus: dispatch failed: {e}");
                        if self.conn.is_none() {
                            return;
                        }
                    }
                }
            }
            Err(e) => self.disconnected(&e),
        }
    }

    fn dispatch(&mut self, m: Message) -> Result<()> {
        match m.header.msg_type {
            MsgType::Invoke => self.dispatch_invoke(&m),
            MsgType::Notify => {
                // The broker tells the owner that the subscriber count went to/from 0.
                if let (Some(id), Some(active)) = (m.objid(), m.active()) {
                    if let Some(o) = self.objects.iter_mut().find(|o| o.id == Some(id)) {
                        o.has_subscribers = active;
                    }
                }
                Ok(())
            }
            other => {
                log::debug!("ubus: ignoring unsolicited message type {} seq {}", u8::from(other), m.header.seq);
                Ok(())
            }
        }
    }

    fn dispatch_invoke(&mut self, m: &Message) -> Result<()> {
        let Some(objid) = m.objid() else {
            log::debug!("ubus: invoke without OBJID dropped");
            return Ok(());
        };
        if m.header.peer == 0 && Some(objid) == self.listener_id {
            let (Some(name), Some(data)) = (m.method(), m.data()) else {
                return Ok(());
            };
            for (pattern, handler) in &self.listeners {
                if pattern_matches(pattern, name) {
                    handler(&mut self.state, name, data);
                }
            }
            return Ok(());
        }
        let Some(oi) = self.objects.iter().position(|o| o.id == Some(objid)) else {
            return self.reply(
                m,
                objid,
                Err(MethodError::new(Status::NotFound, "no such object")),
            );
        };
        let Some(method) = m.method() else {
            return self.reply(
                m,
                objid,
                Err(MethodError::invalid_argument("no method given")),
            );
        };
        let obj = &self.objects[oi];
        let Some(mi) = obj.methods.iter().position(|x| x.name == method) else {
            let e = MethodError::new(
                Status::MethodNotFound,
                format!("no method '{method}' on {}", obj.path),
            );
            return self.reply(m, objid, Err(e));
        };
        let result = match m.data() {
            None => {
                let why = m
                    .strict_errors()
                    .first()
                    .map(|e| e.to_string())
                    .unwrap_or_else(|| "no DATA".into());
                Err(MethodError::invalid_argument(format!(
                    "arguments unreadable: {why}"
                )))
            }
            Some(data) => match validate(&obj.methods[mi].args, data) {
                Err(e) => Err(e),
                Ok(args) => {
                    let req = Request {
                        object: &obj.path,
                        method,
                        args: &args,
                        user: m.user(),
                        group: m.group(),
                        target: ReplyTarget {
                            seq: m.header.seq,
                            peer: m.header.peer,
                            objid,
                            connection: self.connections,
                        },
                        deferred: std::cell::Cell::new(false),
                    };
                    let r = (obj.methods[mi].handler)(&mut self.state, &req);
                    if req.deferred.get() {
                        return Ok(());
                    }
                    r
                }
            },
        };
        self.reply(m, objid, result)
    }

    /// Send the reply of a deferred call. `Ok(false)` when the connection it came on is
    /// gone (the caller already got an error), `Ok(true)` when sent.
    pub fn reply_deferred(&mut self, deferred: Deferred, result: Reply) -> Result<bool> {
        let t = deferred.0;
        if self.conn.is_none() || t.connection != self.connections {
            return Ok(false);
        }
        let r = self.send_reply(t.seq, t.peer, t.objid, result);
        self.check_conn(r).map(|_| true)
    }

    /// DATA (if any) then STATUS, both with the invoke's (seq, peer) and our OBJID.
    fn reply(&mut self, m: &Message, objid: u32, result: Reply) -> Result<()> {
        self.send_reply(m.header.seq, m.header.peer, objid, result)
    }

    fn send_reply(&mut self, seq: u16, peer: u32, objid: u32, result: Reply) -> Result<()> {
        let conn = self.conn.as_mut().ok_or(Error::Disconnected)?;
        let (body, status) = match result {
            Ok(body) => (body, Status::Ok),
            Err(e) => (
                Some(Table::new().with("error", Value::String(e.message))),
                e.status,
            ),
        };
        if let Some(body) = body {
            let data = Message::new(
                MsgType::Data,
                seq,
                peer,
                vec![Attr::ObjId(objid), Attr::Data(body)],
            );
            if let Err(e) = conn.send(&data) {
                if e.is_connection_error() {
                    return Err(e);
                }
                // Too large a reply: tell the caller instead of leaving it waiting.
                log::warn!("ubus: reply to seq {seq} peer {peer:#x} not sent: {e}");
                let st = Message::new(
                    MsgType::Status,
                    seq,
                    peer,
                    vec![
                        Attr::Status(Status::UnknownError.code()),
                        Attr::ObjId(objid),
                    ],
                );
                return conn.send(&st);
            }
        }
        let st = Message::new(
            MsgType::Status,
            seq,
            peer,
            vec![Attr::Status(status.code()), Attr::ObjId(objid)],
        );
        conn.send(&st)
    }
}

/// ubusd's event pattern rule: exact, or prefix when it ends in `*`.
pub fn pattern_matches(pattern: &str, name: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => pattern == name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_rejects_wrong_type_and_ignores_unknown_arguments() {
        let policy = [
            Arg::required("enable", ArgType::Bool),
            Arg::optional("limit", ArgType::Int32),
        ];
        let ok = Table::new().with("enable", Value::bool(true)).with(
            "ubus_rpc_session",
            Value::string("0123456789abcdef0123456789abcdef"),
        );
        assert!(validate(&policy, &ok).is_ok());
        let bad = Table::new().with("enable", Value::string("yes"));
        let e = validate(&policy, &bad).unwrap_err();
        assert_eq!(e.status, Status::InvalidArgument);
        assert!(
            e.message.contains("'enable' must be a boolean"),
            "{}",
            e.message
        );
        let missing = Table::new().with("limit", Value::Int32(3));
        assert!(validate(&policy, &missing)
            .unwrap_err()
            .message
            .contains("missing argument 'enable'"));
        let too_big = Table::new()
            .with("enable", Value::bool(false))
            .with("limit", Value::Int64(1 << 40));
        assert!(validate(&policy, &too_big).is_err());
    }

    #[test]
    fn event_patterns_match_like_ubusd() {
        assert!(pattern_matches("*", "anything"));
        assert!(pattern_matches("test.*", "test.ping"));
        assert!(!pattern_matches("test.*", "tes"));
        assert!(pattern_matches("a.b", "a.b"));
        assert!(!pattern_matches("a.b", "a.bc"));
    }
}
