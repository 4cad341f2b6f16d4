//! Blocking ubus client: lookup, call, events, subscribe. One request at a time; frames
//! that arrive meanwhile (events, notifications) are kept for [`Client::next_event`].

use super::blob::{Table, Value};
use super::conn::{wait_readable, Conn};
use super::json;
use super::msg::{self, Attr, Message, MsgType};
use super::{Error, Result};
use std::collections::VecDeque;
use std::os::fd::BorrowedFd;
use std::path::Path;
use std::time::{Duration, Instant};

/// Default request timeout; `ubus` CLI uses 30 s, a failover engine wants less.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// One object as LOOKUP reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectInfo {
    pub path: String,
    pub id: u32,
    pub type_id: u32,
    /// method → [(argument, blobmsg type)], in wire order.
    pub methods: Vec<(String, Vec<(String, u8)>)>,
}

/// An event from [`Client::listen`], or a notification to a [`Client::subscribe`]d
/// object (then `subscription` holds the target's path).
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub name: String,
    pub data: Table,
    pub subscription: Option<String>,
}

pub struct Client {
    conn: Conn,
    timeout: Duration,
    listener: Option<u32>,
    /// Anonymous subscriber object id → target path.
    subscribers: Vec<(u32, String)>,
    events: VecDeque<Event>,
}

impl Client {
    /// Connect to ubusd at `socket` (e.g. `/var/run/ubus/ubus.sock`).
    pub fn connect(socket: impl AsRef<Path>) -> Result<Client> {
        Client::connect_timeout(socket, DEFAULT_TIMEOUT)
    }

    /// Connect with `timeout` for the HELLO and every following request.
    pub fn connect_timeout(socket: impl AsRef<Path>, timeout: Duration) -> Result<Client> {
        let conn = Conn::connect(socket.as_ref(), timeout)?;
        Ok(Client {
            conn,
            timeout,
            listener: None,
            subscribers: Vec::new(),
            events: VecDeque::new(),
        })
    }

    /// Timeout of every following request.
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// Our client id, from HELLO.
    pub fn client_id(&self) -> u32 {
        self.conn.client_id()
    }

    /// The socket, to poll it beside other fds before calling [`Client::next_event`].
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.conn.fd()
    }

    /// PING the broker (a liveness check).
    pub fn ping(&mut self) -> Result<()> {
        self.conn
            .request(MsgType::Ping, 0, vec![], self.timeout, "ping")
            .map(|_| ())
    }

    /// LOOKUP: `Some("a.b")` exact, `Some("a.*")` prefix, `None` every object.
    /// An exact path that does not exist is `Error::Status(NotFound)`.
    pub fn lookup(&mut self, pattern: Option<&str>) -> Result<Vec<ObjectInfo>> {
        let attrs = pattern
            .map(|p| vec![Attr::ObjPath(p.to_string())])
            .unwrap_or_default();
        let what = format!("lookup {}", pattern.unwrap_or("*"));
        let replies = self
            .conn
            .request(MsgType::Lookup, 0, attrs, self.timeout, &what)?;
        Ok(replies
            .iter()
            .filter_map(|m| {
                Some(ObjectInfo {
                    path: m.objpath()?.to_string(),
                    id: m.objid()?,
                    type_id: m.objtype().unwrap_or(0),
                    methods: m.signature().map(msg::parse_signature).unwrap_or_default(),
                })
            })
            .collect())
    }

    /// The id of the object at exactly `path`.
    pub fn lookup_id(&mut self, path: &str) -> Result<u32> {
        self.lookup(Some(path))?
            .into_iter()
            .find(|o| o.path == path)
            .map(|o| o.id)
            .ok_or_else(|| Error::Status {
                status: msg::Status::NotFound,
                context: format!("lookup {path}"),
                data: vec![],
            })
    }

    /// INVOKE a method on an object id; returns the DATA tables of the reply.
    pub fn invoke(&mut self, objid: u32, method: &str, args: Table) -> Result<Vec<Table>> {
        let attrs = vec![
            Attr::ObjId(objid),
            Attr::Method(method.to_string()),
            Attr::Data(args),
        ];
        let what = format!("invoke {method} on object {objid:#x}");
        let replies = self
            .conn
            .request(MsgType::Invoke, objid, attrs, self.timeout, &what)?;
        Ok(replies
            .into_iter()
            .filter_map(|m| m.data().cloned())
            .collect())
    }

    /// Lookup + invoke, like `ubus call PATH METHOD`.
    pub fn call(&mut self, path: &str, method: &str, args: Table) -> Result<Vec<Table>> {
        let id = self.lookup_id(path)?;
        self.invoke(id, method, args)
            .map_err(|e| e.with_context(format!("ubus call {path} {method}")))
    }

    /// [`Client::call`] with JSON in and out.
    pub fn call_json(
        &mut self,
        path: &str,
        method: &str,
        args: &serde_json::Value,
    ) -> Result<Vec<serde_json::Value>> {
        let t = json::to_table(args).map_err(Error::InvalidInput)?;
        Ok(self
            .call(path, method, t)?
            .iter()
            .map(json::from_table)
            .collect())
    }

    /// Send an event, like `ubus send NAME DATA`. Names starting with `ubus.` are
    /// reserved by the broker (PermissionDenied).
    pub fn send_event(&mut self, name: &str, data: Table) -> Result<()> {
        send_event_on(&mut self.conn, name, data, self.timeout)
    }

    /// ADD_OBJECT with a signature (see [`msg::signature`]); returns (object id, type id).
    /// This client does not answer the object's invokes (they get METHOD_NOT_FOUND);
    /// to serve an object use [`super::Server`], which dispatches and re-registers.
    pub fn add_object(&mut self, path: &str, signature: Table) -> Result<(u32, u32)> {
        let attrs = vec![Attr::ObjPath(path.to_string()), Attr::Signature(signature)];
        let r = self.conn.request(
            MsgType::AddObject,
            0,
            attrs,
            self.timeout,
            &format!("add object {path}"),
        )?;
        let m = r
            .iter()
            .find(|m| m.objid().is_some())
            .ok_or_else(|| Error::Protocol(format!("add object {path}: no OBJID in reply")))?;
        Ok((m.objid().unwrap_or(0), m.objtype().unwrap_or(0)))
    }

    /// An anonymous object (event listener / subscriber).
    fn add_anonymous(&mut self) -> Result<u32> {
        let r = self.conn.request(
            MsgType::AddObject,
            0,
            vec![],
            self.timeout,
            "add anonymous object",
        )?;
        let id = r
            .iter()
            .find_map(|m| m.objid())
            .ok_or_else(|| Error::Protocol("add anonymous object: no OBJID in reply".into()))?;
        Ok(id)
    }

    pub fn remove_object(&mut self, id: u32) -> Result<()> {
        self.conn
            .request(
                MsgType::RemoveObject,
                0,
                vec![Attr::ObjId(id)],
                self.timeout,
                &format!("remove object {id:#x}"),
            )
            .map(|_| ())
    }

    /// Listen to events matching `pattern` (exact, or prefix ending in `*`).
    pub fn listen(&mut self, pattern: &str) -> Result<()> {
        let l = match self.listener {
            Some(l) => l,
            None => {
                let l = self.add_anonymous()?;
                self.listener = Some(l);
                l
            }
        };
        register_listener(&mut self.conn, l, pattern, self.timeout)
    }

    /// Subscribe to notifications of the object at `path`.
    pub fn subscribe(&mut self, path: &str) -> Result<()> {
        let target = self.lookup_id(path)?;
        let s = self.add_anonymous()?;
        self.conn.request(
            MsgType::Subscribe,
            0,
            vec![Attr::ObjId(s), Attr::Target(target)],
            self.timeout,
            &format!("subscribe to {path}"),
        )?;
        self.subscribers.push((s, path.to_string()));
        Ok(())
    }

    /// NOTIFY subscribers of our object `objid` (fire and forget: NO_REPLY).
    pub fn notify(&mut self, objid: u32, kind: &str, data: Table) -> Result<()> {
        let attrs = vec![
            Attr::ObjId(objid),
            Attr::Method(kind.to_string()),
            Attr::Data(data),
            Attr::NoReply(1),
        ];
        self.conn
            .send(&Message::new(MsgType::Notify, 0, objid, attrs))
    }

    /// The next event or notification, waiting at most `timeout`. `Ok(None)` on timeout.
    pub fn next_event(&mut self, timeout: Duration) -> Result<Option<Event>> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(e) = self.events.pop_front() {
                return Ok(Some(e));
            }
            let m = match self.conn.pop_queued() {
                Some(m) => m,
                None => match self.conn.recv_frame(Some(deadline))? {
                    Some(m) => m,
                    None if Instant::now() < deadline => continue,
                    None => return Ok(None),
                },
            };
            self.absorb(m)?;
        }
    }

    /// Turn an unsolicited frame into an event (or drop it, logged).
    fn absorb(&mut self, m: Message) -> Result<()> {
        if m.header.msg_type != MsgType::Invoke {
            log::debug!("ubus client: ignoring unsolicited message type {}", u8::from(m.header.msg_type));
            return Ok(());
        }
        let (Some(obj), Some(name)) = (m.objid(), m.method()) else {
            return Ok(());
        };
        let data = m.data().cloned().unwrap_or_default();
        if Some(obj) == self.listener {
            self.events.push_back(Event {
                name: name.to_string(),
                data,
                subscription: None,
            });
        } else if let Some((_, path)) = self.subscribers.iter().find(|(s, _)| *s == obj) {
            let ev = Event {
                name: name.to_string(),
                data,
                subscription: Some(path.clone()),
            };
            self.events.push_back(ev);
            // The notifying owner waits for each subscriber's STATUS unless NO_REPLY.
            self.reply_status(&m, obj, msg::Status::Ok)?;
        } else if m.header.peer != 0 {
            // A call to an object this client registered but does not serve: answer
            // rather than let the caller wait for its timeout. (peer 0 = an event.)
            self.reply_status(&m, obj, msg::Status::MethodNotFound)?;
        }
        Ok(())
    }

    fn reply_status(&mut self, m: &Message, obj: u32, st: msg::Status) -> Result<()> {
        let attrs = vec![Attr::Status(st.code()), Attr::ObjId(obj)];
        self.conn.send(&Message::new(
            MsgType::Status,
            m.header.seq,
            m.header.peer,
            attrs,
        ))
    }

    /// Block until the socket is readable or `timeout` passes (for callers that
    /// multiplex themselves).
    pub fn wait(&self, timeout: Duration) -> Result<bool> {
        if self.conn.has_queued() || !self.events.is_empty() {
            return Ok(true);
        }
        wait_readable(self.conn.fd(), Some(Instant::now() + timeout))
    }
}

/// Register listener object `l` for `pattern` at the event object.
pub(crate) fn register_listener(
    conn: &mut Conn,
    l: u32,
    pattern: &str,
    timeout: Duration,
) -> Result<()> {
    let body = Table::new()
        .with("object", Value::Int32(l as i32))
        .with("pattern", Value::string(pattern));
    invoke_event_object(conn, "register", body, timeout, &format!("listen to {pattern}"))
}

/// Invoke `method` on ubusd's event object (id 1) and wait for its STATUS.
fn invoke_event_object(conn: &mut Conn, method: &str, body: Table, timeout: Duration, what: &str) -> Result<()> {
    let attrs = vec![Attr::ObjId(msg::EVENT_OBJECT_ID), Attr::Method(method.into()), Attr::Data(body)];
    conn.request(MsgType::Invoke, msg::EVENT_OBJECT_ID, attrs, timeout, what).map(|_| ())
}

/// Send an event on `conn` (shared by the client and the server).
pub(crate) fn send_event_on(
    conn: &mut Conn,
    name: &str,
    data: Table,
    timeout: Duration,
) -> Result<()> {
    let body = Table::new()
        .with("id", Value::string(name))
        .with("data", Value::Table(data));
    invoke_event_object(conn, "send", body, timeout, &format!("send event {name}"))
}

/// One-shot `ubus call`: connect, look up `object`, invoke `method` with the JSON
/// object `args`, return each reply DATA as JSON. Used by the failover engine, e.g.
/// `call(sock, "network.interface.wan", "up", &json!({}))`.
pub fn call(
    socket: impl AsRef<Path>,
    object: &str,
    method: &str,
    args: &serde_json::Value,
) -> Result<Vec<serde_json::Value>> {
    call_timeout(socket, object, method, args, DEFAULT_TIMEOUT)
}

/// [`call`] with an explicit timeout for the connect and each request (the whole call
/// takes at most about three times `timeout`: HELLO, LOOKUP, INVOKE).
pub fn call_timeout(
    socket: impl AsRef<Path>,
    object: &str,
    method: &str,
    args: &serde_json::Value,
    timeout: Duration,
) -> Result<Vec<serde_json::Value>> {
    let mut c = Client::connect_timeout(socket, timeout)?;
    c.call_json(object, method, args)
}

/// One-shot `ubus send`: connect and send event `name` with the JSON object `data`.
pub fn send_event(socket: impl AsRef<Path>, name: &str, data: &serde_json::Value) -> Result<()> {
    let t = json::to_table(data).map_err(Error::InvalidInput)?;
    let mut c = Client::connect(socket)?;
    c.send_event(name, t)
}
