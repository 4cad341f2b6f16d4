//! ubus frames: an 8-byte header plus one top-level blob attr holding plain ubus attrs
//! (`ubusmsg.h`). Pure codec, no I/O.
//!
//! [`decode_frame`] is the stream decoder: it tells "need more bytes"
//! ([`FrameError::Incomplete`]) from "these bytes are bad" ([`FrameError::Malformed`],
//! which still says how long the bad frame is when that is known, so a reader can skip
//! it) and from "too large" (ubusd disconnects, so do we).

use super::blob::{self, begin_attr, end_attr, AttrIter, BlobAttr, BlobMsg, Table, Value};
use std::fmt;

/// ubusd's `UBUS_MAX_MSGLEN`: the largest padded top-level blob (its header included).
pub const MAX_MSGLEN: usize = 1024 * 1024;
/// version(1) type(1) seq(2) peer(4).
pub const HDR_LEN: usize = 8;
/// Header + the top-level attr header: what must be read before the length is known.
pub const MIN_FRAME: usize = HDR_LEN + blob::ATTR_HDR_LEN;

/// Fixed system object ids inside ubusd.
pub const EVENT_OBJECT_ID: u32 = 1;
pub const ACL_OBJECT_ID: u32 = 2;
pub const MONITOR_OBJECT_ID: u32 = 3;

/// Message types (`enum ubus_msg_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MsgType {
    Hello,
    Status,
    Data,
    Ping,
    Lookup,
    Invoke,
    AddObject,
    RemoveObject,
    Subscribe,
    Unsubscribe,
    Notify,
    Monitor,
    Other(u8),
}

impl From<u8> for MsgType {
    fn from(v: u8) -> Self {
        use MsgType::*;
        match v {
            0 => Hello,
            1 => Status,
            2 => Data,
            3 => Ping,
            4 => Lookup,
            5 => Invoke,
            6 => AddObject,
            7 => RemoveObject,
            8 => Subscribe,
            9 => Unsubscribe,
            10 => Notify,
            11 => Monitor,
            o => Other(o),
        }
    }
}

impl From<MsgType> for u8 {
    fn from(t: MsgType) -> u8 {
        use MsgType::*;
        match t {
            Hello => 0,
            Status => 1,
            Data => 2,
            Ping => 3,
            Lookup => 4,
            Invoke => 5,
            AddObject => 6,
            RemoveObject => 7,
            Subscribe => 8,
            Unsubscribe => 9,
            Notify => 10,
            Monitor => 11,
            Other(o) => o,
        }
    }
}

/// Status codes (`enum ubus_msg_status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Ok,
    InvalidCommand,
    InvalidArgument,
    MethodNotFound,
    NotFound,
    NoData,
    PermissionDenied,
    Timeout,
    NotSupported,
    UnknownError,
    ConnectionFailed,
    NoMemory,
    ParseError,
    SystemError,
    Other(i32),
}

impl Status {
    pub fn code(self) -> i32 {
        use Status::*;
        match self {
            Ok => 0,
            InvalidCommand => 1,
            InvalidArgument => 2,
            MethodNotFound => 3,
            NotFound => 4,
            NoData => 5,
            PermissionDenied => 6,
            Timeout => 7,
            NotSupported => 8,
            UnknownError => 9,
            ConnectionFailed => 10,
            NoMemory => 11,
            ParseError => 12,
            SystemError => 13,
            Other(c) => c,
        }
    }
    pub fn from_code(c: i32) -> Status {
        use Status::*;
        match c {
            0 => Ok,
            1 => InvalidCommand,
            2 => InvalidArgument,
            3 => MethodNotFound,
            4 => NotFound,
            5 => NoData,
            6 => PermissionDenied,
            7 => Timeout,
            8 => NotSupported,
            9 => UnknownError,
            10 => ConnectionFailed,
            11 => NoMemory,
            12 => ParseError,
            13 => SystemError,
            o => Other(o),
        }
    }
}

impl fmt::Display for Status {
    /// The texts of the `ubus` CLI.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use Status::*;
        let s = match self {
            Ok => "Success",
            InvalidCommand => "Invalid command",
            InvalidArgument => "Invalid argument",
            MethodNotFound => "Method not found",
            NotFound => "Not found",
            NoData => "No response",
            PermissionDenied => "Permission denied",
            Timeout => "Request timed out",
            NotSupported => "Operation not supported",
            UnknownError => "Unknown error",
            ConnectionFailed => "Connection failed",
            NoMemory => "Out of memory",
            ParseError => "Parsing message data failed",
            SystemError => "System error",
            Other(c) => return write!(f, "Unknown status {c}"),
        };
        f.write_str(s)
    }
}

/// Plain ubus attribute ids (`enum ubus_msg_attr`).
pub mod attr_id {
    pub const UNSPEC: u8 = 0;
    pub const STATUS: u8 = 1;
    pub const OBJPATH: u8 = 2;
    pub const OBJID: u8 = 3;
    pub const METHOD: u8 = 4;
    pub const OBJTYPE: u8 = 5;
    pub const SIGNATURE: u8 = 6;
    pub const DATA: u8 = 7;
    pub const TARGET: u8 = 8;
    pub const ACTIVE: u8 = 9;
    pub const NO_REPLY: u8 = 10;
    pub const SUBSCRIBERS: u8 = 11;
    pub const USER: u8 = 12;
    pub const GROUP: u8 = 13;
}

fn attr_name(id: u8) -> &'static str {
    match id {
        attr_id::STATUS => "STATUS",
        attr_id::OBJPATH => "OBJPATH",
        attr_id::OBJID => "OBJID",
        attr_id::METHOD => "METHOD",
        attr_id::OBJTYPE => "OBJTYPE",
        attr_id::SIGNATURE => "SIGNATURE",
        attr_id::DATA => "DATA",
        attr_id::TARGET => "TARGET",
        attr_id::ACTIVE => "ACTIVE",
        attr_id::NO_REPLY => "NO_REPLY",
        attr_id::SUBSCRIBERS => "SUBSCRIBERS",
        attr_id::USER => "USER",
        attr_id::GROUP => "GROUP",
        _ => "unknown",
    }
}

/// One ubus attribute. An attr whose payload does not have the expected shape is kept
/// as [`Attr::Other`]: libubus treats it as absent, and keeping the bytes makes
/// re-encoding identical. [`Message::strict_errors`] reports why it did not parse.
#[derive(Debug, Clone, PartialEq)]
pub enum Attr {
    Status(i32),
    ObjPath(String),
    ObjId(u32),
    Method(String),
    ObjType(u32),
    /// One blobmsg TABLE per method; each table maps argument name → INT32 type number.
    Signature(Table),
    /// The body of a blobmsg table: arguments or reply.
    Data(Table),
    Target(u32),
    Active(u8),
    NoReply(u8),
    Subscribers(Vec<u32>),
    User(String),
    Group(String),
    /// Unknown id, wrong size, or not decodable: raw payload kept.
    Other {
        id: u8,
        extended: bool,
        payload: Vec<u8>,
    },
}

impl Attr {
    /// Typed decode of one plain attr; an `Err` explains why it fell back to `Other`.
    fn decode_typed(a: &BlobAttr<'_>) -> blob::Result<Attr> {
        let p = a.payload();
        let u32_of = || -> blob::Result<u32> {
            match p {
                [a, b, c, d] => Ok(u32::from_be_bytes([*a, *b, *c, *d])),
                _ => Err(blob::Error::new(format!("needs 4 bytes, got {}", p.len()))),
            }
        };
        let u8_of = || -> blob::Result<u8> {
            match p {
                [a] => Ok(*a),
                _ => Err(blob::Error::new(format!("needs 1 byte, got {}", p.len()))),
            }
        };
        let str_of = || -> blob::Result<String> {
            match p.split_last() {
                Some((0, s)) if !s.contains(&0) => String::from_utf8(s.to_vec())
                    .map_err(|_| blob::Error::new("string is not UTF-8")),
                _ => Err(blob::Error::new(
                    "string is not NUL-terminated exactly at its end",
                )),
            }
        };
        if a.is_extended() {
            return Err(blob::Error::new("plain ubus attr has the extended bit set"));
        }
        Ok(match a.id() {
            attr_id::STATUS => Attr::Status(u32_of()? as i32),
            attr_id::OBJPATH => Attr::ObjPath(str_of()?),
            attr_id::OBJID => Attr::ObjId(u32_of()?),
            attr_id::METHOD => Attr::Method(str_of()?),
            attr_id::OBJTYPE => Attr::ObjType(u32_of()?),
            attr_id::SIGNATURE => Attr::Signature(Table::decode(p)?),
            attr_id::DATA => Attr::Data(Table::decode(p)?),
            attr_id::TARGET => Attr::Target(u32_of()?),
            attr_id::ACTIVE => Attr::Active(u8_of()?),
            attr_id::NO_REPLY => Attr::NoReply(u8_of()?),
            attr_id::SUBSCRIBERS => {
                let mut ids = Vec::new();
                for child in AttrIter::new(p) {
                    let c = child?;
                    match c.payload() {
                        [a, b, cc, d] if c.id() == attr_id::UNSPEC && !c.is_extended() => {
                            ids.push(u32::from_be_bytes([*a, *b, *cc, *d]))
                        }
                        _ => {
                            return Err(blob::Error::new(
                                "subscriber entry is not a 4-byte attr with id 0",
                            ))
                        }
                    }
                }
                Attr::Subscribers(ids)
            }
            attr_id::USER => Attr::User(str_of()?),
            attr_id::GROUP => Attr::Group(str_of()?),
            other => return Err(blob::Error::new(format!("unknown attr id {other}"))),
        })
    }

    fn decode(a: &BlobAttr<'_>) -> Attr {
        Attr::decode_typed(a).unwrap_or_else(|_| Attr::Other {
            id: a.id(),
            extended: a.is_extended(),
            payload: a.payload().to_vec(),
        })
    }

    fn encode(&self, out: &mut Vec<u8>) {
        let (id, ext) = match self {
            Attr::Status(_) => (attr_id::STATUS, false),
            Attr::ObjPath(_) => (attr_id::OBJPATH, false),
            Attr::ObjId(_) => (attr_id::OBJID, false),
            Attr::Method(_) => (attr_id::METHOD, false),
            Attr::ObjType(_) => (attr_id::OBJTYPE, false),
            Attr::Signature(_) => (attr_id::SIGNATURE, false),
            Attr::Data(_) => (attr_id::DATA, false),
            Attr::Target(_) => (attr_id::TARGET, false),
            Attr::Active(_) => (attr_id::ACTIVE, false),
            Attr::NoReply(_) => (attr_id::NO_REPLY, false),
            Attr::Subscribers(_) => (attr_id::SUBSCRIBERS, false),
            Attr::User(_) => (attr_id::USER, false),
            Attr::Group(_) => (attr_id::GROUP, false),
            Attr::Other { id, extended, .. } => (*id, *extended),
        };
        let bits = (u32::from(id & 0x7f) << 24) | if ext { blob::BLOB_ATTR_EXTENDED } else { 0 };
        let start = begin_attr(out, bits);
        match self {
            Attr::Status(v) => out.extend_from_slice(&v.to_be_bytes()),
            Attr::ObjId(v) | Attr::ObjType(v) | Attr::Target(v) => {
                out.extend_from_slice(&v.to_be_bytes())
            }
            Attr::ObjPath(s) | Attr::Method(s) | Attr::User(s) | Attr::Group(s) => {
                out.extend_from_slice(s.as_bytes());
                out.push(0);
            }
            Attr::Signature(t) | Attr::Data(t) => t.encode_body(out),
            Attr::Active(v) | Attr::NoReply(v) => out.push(*v),
            Attr::Subscribers(ids) => {
                for id in ids {
                    let s = begin_attr(out, 0);
                    out.extend_from_slice(&id.to_be_bytes());
                    end_attr(out, s);
                }
            }
            Attr::Other { payload, .. } => out.extend_from_slice(payload),
        }
        end_attr(out, start);
    }
}

/// The 8-byte frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub version: u8,
    pub msg_type: MsgType,
    pub seq: u16,
    pub peer: u32,
}

/// A whole frame, owned.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub header: Header,
    pub attrs: Vec<Attr>,
}

/// Why a byte stream did not yield a frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameError {
    /// At least this many bytes in total are needed before a frame can be decoded.
    Incomplete { needed: usize },
    /// The frame is bad. `frame_len` is its length when the header was readable, so the
    /// reader may skip it and stay in sync.
    Malformed {
        frame_len: Option<usize>,
        error: blob::Error,
    },
    /// Over [`MAX_MSGLEN`]: ubusd drops such a peer; a reader should reconnect.
    TooLarge { blob_len: usize },
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::Incomplete { needed } => {
                write!(f, "incomplete frame, {needed} bytes needed")
            }
            FrameError::Malformed { error, .. } => write!(f, "malformed frame: {error}"),
            FrameError::TooLarge { blob_len } => {
                write!(
                    f,
                    "frame blob of {blob_len} bytes exceeds the {MAX_MSGLEN}-byte limit"
                )
            }
        }
    }
}

impl std::error::Error for FrameError {}

/// Decode the frame at the start of `buf`. On success returns the message and the
/// number of bytes it used (header + padded blob).
pub fn decode_frame(buf: &[u8]) -> Result<(Message, usize), FrameError> {
    if buf.len() < MIN_FRAME {
        return Err(FrameError::Incomplete { needed: MIN_FRAME });
    }
    let header = Header {
        version: buf[0],
        msg_type: MsgType::from(buf[1]),
        seq: u16::from_be_bytes([buf[2], buf[3]]),
        peer: u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]),
    };
    let id_len = u32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]);
    let len = (id_len & 0x00ff_ffff) as usize;
    if len < blob::ATTR_HDR_LEN {
        // Nothing tells where the next frame starts: the stream is out of sync.
        return Err(FrameError::Malformed {
            frame_len: None,
            error: blob::Error::new(format!(
                "top-level blob length {len} is shorter than its header"
            )),
        });
    }
    let padded = blob::pad4(len);
    if padded > MAX_MSGLEN {
        return Err(FrameError::TooLarge { blob_len: padded });
    }
    let frame_len = HDR_LEN + padded;
    if buf.len() < frame_len {
        return Err(FrameError::Incomplete { needed: frame_len });
    }
    let malformed = |error: blob::Error| FrameError::Malformed {
        frame_len: Some(frame_len),
        error,
    };
    let top = BlobAttr::parse(&buf[HDR_LEN..frame_len])
        .map_err(|e| malformed(e.context("while parsing the top-level blob")))?;
    let mut attrs = Vec::new();
    for child in AttrIter::new(top.payload()) {
        let a = child.map_err(|e| {
            malformed(e.context(format!("while parsing attr {} of the message", attrs.len())))
        })?;
        attrs.push(Attr::decode(&a));
    }
    Ok((Message { header, attrs }, frame_len))
}

impl Message {
    pub fn new(msg_type: MsgType, seq: u16, peer: u32, attrs: Vec<Attr>) -> Self {
        Message {
            header: Header {
                version: 0,
                msg_type,
                seq,
                peer,
            },
            attrs,
        }
    }

    /// Decode exactly one frame; trailing bytes are an error.
    pub fn parse(buf: &[u8]) -> Result<Message, FrameError> {
        let (m, used) = decode_frame(buf)?;
        if used != buf.len() {
            return Err(FrameError::Malformed {
                frame_len: Some(used),
                error: blob::Error::new(format!("{} bytes after the frame", buf.len() - used)),
            });
        }
        Ok(m)
    }

    /// Encode the whole frame.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64);
        out.push(self.header.version);
        out.push(u8::from(self.header.msg_type));
        out.extend_from_slice(&self.header.seq.to_be_bytes());
        out.extend_from_slice(&self.header.peer.to_be_bytes());
        let start = begin_attr(&mut out, 0);
        for a in &self.attrs {
            a.encode(&mut out);
        }
        end_attr(&mut out, start);
        out
    }

    /// Size check before sending: ubusd would disconnect us for a larger frame.
    pub fn encoded_within_limit(frame: &[u8]) -> bool {
        frame.len() >= HDR_LEN && frame.len() - HDR_LEN <= MAX_MSGLEN
    }

    /// Why each `Other` attr with a known id failed its typed parse (for error replies
    /// and logs): "while parsing attr DATA: ...".
    pub fn strict_errors(&self) -> Vec<blob::Error> {
        let mut errs = Vec::new();
        for a in &self.attrs {
            if let Attr::Other {
                id,
                extended,
                payload,
            } = a
            {
                if attr_name(*id) == "unknown" {
                    continue;
                }
                let mut raw = Vec::new();
                let bits = (u32::from(*id & 0x7f) << 24)
                    | if *extended {
                        blob::BLOB_ATTR_EXTENDED
                    } else {
                        0
                    };
                let s = begin_attr(&mut raw, bits);
                raw.extend_from_slice(payload);
                end_attr(&mut raw, s);
                if let Ok(parsed) = BlobAttr::parse(&raw) {
                    if let Err(e) = Attr::decode_typed(&parsed) {
                        errs.push(e.context(format!("while parsing attr {}", attr_name(*id))));
                    }
                }
            }
        }
        errs
    }

    // Accessors: the last attr of a kind wins, as in libubus' blob_parse.
    pub fn status(&self) -> Option<i32> {
        self.attrs.iter().rev().find_map(|a| {
            if let Attr::Status(v) = a {
                Some(*v)
            } else {
                None
            }
        })
    }
    pub fn objid(&self) -> Option<u32> {
        self.attrs.iter().rev().find_map(|a| {
            if let Attr::ObjId(v) = a {
                Some(*v)
            } else {
                None
            }
        })
    }
    pub fn objtype(&self) -> Option<u32> {
        self.attrs.iter().rev().find_map(|a| {
            if let Attr::ObjType(v) = a {
                Some(*v)
            } else {
                None
            }
        })
    }
    pub fn objpath(&self) -> Option<&str> {
        self.attrs.iter().rev().find_map(|a| {
            if let Attr::ObjPath(v) = a {
                Some(v.as_str())
            } else {
                None
            }
        })
    }
    pub fn method(&self) -> Option<&str> {
        self.attrs.iter().rev().find_map(|a| {
            if let Attr::Method(v) = a {
                Some(v.as_str())
            } else {
                None
            }
        })
    }
    pub fn data(&self) -> Option<&Table> {
        self.attrs
            .iter()
            .rev()
            .find_map(|a| if let Attr::Data(v) = a { Some(v) } else { None })
    }
    pub fn signature(&self) -> Option<&Table> {
        self.attrs.iter().rev().find_map(|a| {
            if let Attr::Signature(v) = a {
                Some(v)
            } else {
                None
            }
        })
    }
    pub fn active(&self) -> Option<bool> {
        self.attrs.iter().rev().find_map(|a| {
            if let Attr::Active(v) = a {
                Some(*v != 0)
            } else {
                None
            }
        })
    }
    pub fn no_reply(&self) -> bool {
        self.attrs
            .iter()
            .rev()
            .find_map(|a| {
                if let Attr::NoReply(v) = a {
                    Some(*v != 0)
                } else {
                    None
                }
            })
            .unwrap_or(false)
    }
    pub fn target(&self) -> Option<u32> {
        self.attrs.iter().rev().find_map(|a| {
            if let Attr::Target(v) = a {
                Some(*v)
            } else {
                None
            }
        })
    }
    pub fn user(&self) -> Option<&str> {
        self.attrs.iter().rev().find_map(|a| {
            if let Attr::User(v) = a {
                Some(v.as_str())
            } else {
                None
            }
        })
    }
    pub fn group(&self) -> Option<&str> {
        self.attrs.iter().rev().find_map(|a| {
            if let Attr::Group(v) = a {
                Some(v.as_str())
            } else {
                None
            }
        })
    }
    pub fn subscribers(&self) -> Option<&[u32]> {
        self.attrs.iter().rev().find_map(|a| {
            if let Attr::Subscribers(v) = a {
                Some(v.as_slice())
            } else {
                None
            }
        })
    }
}

/// Build a method signature table: method → {arg → type}.
pub fn signature<'a>(methods: impl IntoIterator<Item = (&'a str, &'a [(&'a str, u8)])>) -> Table {
    methods
        .into_iter()
        .map(|(m, args)| {
            let t: Table = args
                .iter()
                .map(|(n, ty)| (n.to_string(), Value::Int32(i32::from(*ty))))
                .collect();
            (m.to_string(), Value::Table(t))
        })
        .collect()
}

/// Parse a signature attr back to method → [(arg, type)] (unknown shapes skipped).
pub fn parse_signature(sig: &Table) -> Vec<(String, Vec<(String, u8)>)> {
    sig.iter()
        .filter_map(|(m, v)| {
            let t = v.as_table()?;
            Some((
                m.clone(),
                t.iter()
                    .filter_map(|(a, ty)| Some((a.clone(), u8::try_from(ty.as_i64()?).ok()?)))
                    .collect(),
            ))
        })
        .collect()
}

/// Check a blobmsg view as a value (used by fuzz tests on single attrs).
pub fn decode_blobmsg(buf: &[u8]) -> blob::Result<(String, Value)> {
    let a = BlobAttr::parse(buf)?;
    let m = BlobMsg::parse(a)?;
    Ok((m.name().to_string(), Value::decode(&m)?))
}
