//! Exports: JSON lines (the journal's own event form), OCSF 1.3 JSON, and RFC 5424 syslog over
//! TCP or TLS with octet-counting framing (RFC 6587 §3.4.1, RFC 5425).

use std::io::Write;
use std::net::TcpStream;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use mamori_model::Action;
use serde_json::{Value, json};

use crate::JournalError;
use crate::event::{Event, Kind, Operation, format_time};

/// The OCSF schema version the mapping follows.
pub const OCSF_VERSION: &str = "1.3.0";

/// One JSON line: the event exactly as journalled.
pub fn to_json_line(event: &Event) -> String {
    serde_json::to_string(event).unwrap_or_default()
}

/// The OCSF form of an event.
///
/// Events with findings or a policy decision map to **Data Security Finding** (class 2006);
/// plain file operations map to **File System Activity** (class 1001). Fields OCSF has no place
/// for go under `unmapped`. See `docs/events.md` for the table.
pub fn to_ocsf(event: &Event) -> Value {
    let time_ms = event.time_ns.div_euclid(1_000_000);
    let severity_id = match (event.kind(), event.action()) {
        (Kind::Warning, Some(Action::Block | Action::Quarantine)) => 4,
        (Kind::Warning, _) => 3,
        _ if !event.findings.is_empty() => 2,
        _ => 1,
    };
    let mut actor = serde_json::Map::new();
    if let Some(u) = &event.user {
        actor.insert(
            "user".into(),
            json!({"uid": u.uid.to_string(), "name": u.name}),
        );
    }
    if let Some(p) = &event.process {
        actor.insert(
            "process".into(),
            json!({
                "pid": p.pid,
                "file": p.exe.as_ref().map(|e| json!({"path": e, "name": file_name(e)})),
                "cmd_line": (!p.cmdline.is_empty()).then(|| p.cmdline.join(" ")),
                "parent_process": p.ppid.map(|pp| json!({"pid": pp, "file": p.parent_exe.as_ref().map(|e| json!({"path": e, "name": file_name(e)}))})),
            }),
        );
    }
    let file = event.path.as_ref().map(|p| ocsf_file(p, event));
    let metadata = json!({
        "version": OCSF_VERSION,
        "uid": event.id.to_string(),
        "product": {"name": "Mamori", "vendor_name": "Mamori", "version": env!("CARGO_PKG_VERSION")},
        "logged_time": time_ms,
    });
    let device = json!({"hostname": event.host, "type_id": 0});
    let mut out = if !event.findings.is_empty() || event.decision.is_some() {
        let disposition_id = match event.action() {
            Some(Action::Allow) => 1,
            Some(Action::Block) => 2,
            Some(Action::Quarantine) => 3,
            Some(Action::Audit) => 17,
            Some(Action::Notify) => 19,
            Some(Action::Justify | Action::Encrypt) => 7,
            None => 15,
        };
        json!({
            "class_uid": 2006,
            "class_name": "Data Security Finding",
            "category_uid": 2,
            "category_name": "Findings",
            "activity_id": 1,
            "activity_name": "Create",
            "type_uid": 200601,
            "finding_info": {
                "uid": event.id.to_string(),
                "title": format!("{} {}", event.op, event.path.as_deref().unwrap_or("")),
                "types": event.findings.iter().map(|f| f.detector.clone()).collect::<Vec<_>>(),
            },
            "data_security": {
                "data_classification": {"classifier_details": {"name": event.level}},
                "detection_system": 1,
                "pattern_match": event.findings.iter().map(|f| f.sample.clone()).collect::<Vec<_>>().join(", "),
            },
            "disposition_id": disposition_id,
            "disposition": event.action().map(|a| a.as_str()),
            "policy": event.decision.as_ref().map(|d| json!({"uid": d.rules.first(), "name": d.rules.join(","), "desc": d.reason.en})),
            "resources": file.clone().map(|f| vec![json!({"type": "file", "data": f})]),
            "file": file,
        })
    } else {
        let activity_id = match event.op {
            Operation::Create => 1,
            Operation::Read => 2,
            Operation::Write => 3,
            Operation::Delete => 4,
            Operation::Rename => 5,
            Operation::Encrypt => 10,
            Operation::Decrypt => 11,
            Operation::Mount => 12,
            Operation::Open => 14,
            _ => 99,
        };
        json!({
            "class_uid": 1001,
            "class_name": "File System Activity",
            "category_uid": 1,
            "category_name": "System Activity",
            "activity_id": activity_id,
            "activity_name": event.op.as_str(),
            "type_uid": 100100 + activity_id,
            "file": file,
            "file_result": event.new_path.as_ref().map(|p| json!({"path": p, "name": file_name(p), "type_id": 1})),
        })
    };
    let obj = out.as_object_mut().expect("json! object");
    obj.insert("time".into(), json!(time_ms));
    obj.insert("time_dt".into(), json!(format_time(event.time_ns)));
    obj.insert("severity_id".into(), json!(severity_id));
    obj.insert("status_id".into(), json!(1));
    obj.insert("metadata".into(), metadata);
    obj.insert("device".into(), device);
    obj.insert("actor".into(), Value::Object(actor));
    obj.insert(
        "unmapped".into(),
        json!({
            "mamori_kind": event.kind().as_str(),
            "mamori_op": event.op.as_str(),
            "channel": event.channel.map(|c| c.as_str()),
            "destination": event.destination,
            "count": event.count,
            "last_time_ns": event.last_time_ns,
            "repeat_of": event.repeat_of.map(|r| r.to_string()),
            "new_path": event.new_path,
            "detail": event.detail,
            "transfer": event.transfer,
        }),
    );
    strip_nulls(&mut out);
    out
}

fn ocsf_file(path: &str, event: &Event) -> Value {
    let mut f = json!({"path": path, "name": file_name(path), "type_id": 1});
    if let Some(id) = &event.file {
        let obj = f.as_object_mut().expect("json! object");
        if let Some(h) = &id.sha256 {
            obj.insert(
                "hashes".into(),
                json!([{"algorithm_id": 3, "algorithm": "SHA-256", "value": h}]),
            );
        }
        if let Some(s) = id.size {
            obj.insert("size".into(), json!(s));
        }
        if let Some(i) = id.inode {
            obj.insert(
                "uid".into(),
                json!(format!("{}:{}", id.dev.unwrap_or(0), i)),
            );
        }
    }
    f
}

fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

fn strip_nulls(v: &mut Value) {
    match v {
        Value::Object(map) => {
            map.retain(|_, x| !x.is_null());
            map.values_mut().for_each(strip_nulls);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_nulls),
        _ => {}
    }
}

/// The RFC 5424 syslog facility used: 13, "log audit".
pub const SYSLOG_FACILITY: u8 = 13;

/// One RFC 5424 message for an event (without framing). Severity 4 (warning) for warnings, 6
/// (informational) for audit events; MSGID is the kind; structured data `mamori@32473` carries
/// the searchable fields; the message is the event's JSON.
pub fn to_syslog(event: &Event, app_pid: u32) -> String {
    let severity = if event.kind() == Kind::Warning { 4 } else { 6 };
    let pri = u16::from(SYSLOG_FACILITY) * 8 + severity;
    let ts = match jiff::Timestamp::from_nanosecond(i128::from(event.time_ns)) {
        Ok(t) => format!("{t:.6}"),
        Err(_) => "-".into(),
    };
    let host = header_field(&event.host, 255);
    let mut sd = format!("[mamori@32473 id=\"{}\" op=\"{}\"", event.id, event.op);
    let mut param = |name: &str, value: &str| {
        if !value.is_empty() {
            sd.push_str(&format!(" {name}=\"{}\"", sd_escape(value)));
        }
    };
    param("user", &event.user_label());
    param("path", event.path.as_deref().unwrap_or(""));
    param("new_path", event.new_path.as_deref().unwrap_or(""));
    param("level", event.level.as_deref().unwrap_or(""));
    param("action", event.action().map(|a| a.as_str()).unwrap_or(""));
    param("channel", event.channel.map(|c| c.as_str()).unwrap_or(""));
    let detectors: Vec<&str> = event.findings.iter().map(|f| f.detector.as_str()).collect();
    param("detectors", &detectors.join(","));
    sd.push(']');
    format!(
        "<{pri}>1 {ts} {host} mamori {app_pid} {} {sd} {}",
        event.kind(),
        to_json_line(event)
    )
}

fn header_field(s: &str, max: usize) -> String {
    let v: String = s
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(max)
        .collect();
    if v.is_empty() { "-".into() } else { v }
}

fn sd_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '"' | '\\' | ']') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Frames a message with octet counting: `LEN SP MSG`.
pub fn octet_frame(msg: &str) -> Vec<u8> {
    let mut out = format!("{} ", msg.len()).into_bytes();
    out.extend_from_slice(msg.as_bytes());
    out
}

/// A syslog receiver.
#[derive(Debug, Clone)]
pub struct SyslogTarget {
    /// `host:port`.
    pub address: String,
    /// TLS: the CA certificate(s) to trust, PEM, and the server name to check.
    pub tls: Option<(std::path::PathBuf, String)>,
}

impl SyslogTarget {
    /// Parses `tcp://host:port` or `tls://host:port` (the server name is the host).
    pub fn parse(url: &str, ca: Option<&Path>) -> Result<SyslogTarget, JournalError> {
        let bad = |reason: &str| JournalError::Export {
            target: url.into(),
            reason: reason.into(),
        };
        let (scheme, address) = url
            .split_once("://")
            .ok_or_else(|| bad("expected tcp://HOST:PORT or tls://HOST:PORT"))?;
        let host = address
            .rsplit_once(':')
            .map(|(h, _)| h.trim_matches(['[', ']']))
            .ok_or_else(|| bad("missing :PORT"))?;
        match scheme {
            "tcp" => Ok(SyslogTarget {
                address: address.into(),
                tls: None,
            }),
            "tls" => {
                let ca = ca.ok_or_else(|| bad("tls:// needs a CA certificate (--ca FILE)"))?;
                Ok(SyslogTarget {
                    address: address.into(),
                    tls: Some((ca.to_path_buf(), host.to_string())),
                })
            }
            _ => Err(bad("the scheme must be tcp or tls")),
        }
    }
}

/// Sends events to a syslog receiver over one connection.
pub struct SyslogSender {
    stream: Box<dyn Write + Send>,
    target: String,
    pid: u32,
}

impl std::fmt::Debug for SyslogSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyslogSender")
            .field("target", &self.target)
            .finish()
    }
}

impl SyslogSender {
    /// Connects (and for TLS, handshakes and checks the server certificate).
    pub fn connect(target: &SyslogTarget) -> Result<SyslogSender, JournalError> {
        let err = |reason: String| JournalError::Export {
            target: target.address.clone(),
            reason,
        };
        let tcp = TcpStream::connect(&target.address).map_err(|e| err(e.to_string()))?;
        tcp.set_write_timeout(Some(Duration::from_secs(30)))
            .map_err(|e| err(e.to_string()))?;
        tcp.set_nodelay(true).map_err(|e| err(e.to_string()))?;
        let stream: Box<dyn Write + Send> = match &target.tls {
            None => Box::new(tcp),
            Some((ca, server_name)) => {
                use rustls::pki_types::pem::PemObject as _;
                use rustls::pki_types::{CertificateDer, ServerName};
                let mut roots = rustls::RootCertStore::empty();
                for cert in CertificateDer::pem_file_iter(ca)
                    .map_err(|e| err(format!("{}: {e}", ca.display())))?
                {
                    let cert = cert.map_err(|e| err(format!("{}: {e}", ca.display())))?;
                    roots
                        .add(cert)
                        .map_err(|e| err(format!("{}: {e}", ca.display())))?;
                }
                let provider = Arc::new(rustls::crypto::ring::default_provider());
                let config = rustls::ClientConfig::builder_with_provider(provider)
                    .with_safe_default_protocol_versions()
                    .map_err(|e| err(e.to_string()))?
                    .with_root_certificates(roots)
                    .with_no_client_auth();
                let name =
                    ServerName::try_from(server_name.clone()).map_err(|e| err(e.to_string()))?;
                let conn = rustls::ClientConnection::new(Arc::new(config), name)
                    .map_err(|e| err(e.to_string()))?;
                let mut tls = rustls::StreamOwned::new(conn, tcp);
                // Handshake now, so a bad certificate is reported here and not on the first event.
                while tls.conn.is_handshaking() {
                    tls.conn
                        .complete_io(&mut tls.sock)
                        .map_err(|e| err(format!("TLS handshake: {e}")))?;
                }
                Box::new(tls)
            }
        };
        Ok(SyslogSender {
            stream,
            target: target.address.clone(),
            pid: std::process::id(),
        })
    }

    /// Sends one event.
    pub fn send(&mut self, event: &Event) -> Result<(), JournalError> {
        let frame = octet_frame(&to_syslog(event, self.pid));
        self.stream
            .write_all(&frame)
            .map_err(|e| JournalError::Export {
                target: self.target.clone(),
                reason: e.to_string(),
            })
    }

    /// Flushes buffered bytes.
    pub fn flush(&mut self) -> Result<(), JournalError> {
        self.stream.flush().map_err(|e| JournalError::Export {
            target: self.target.clone(),
            reason: e.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{FileIdentity, Process, User};
    use mamori_model::{Bilingual, Category, Confidence, Decision, Finding};

    fn blocked() -> Event {
        Event::new(Operation::Write)
            .with_time_ns(1_700_000_000_123_456_789)
            .with_host("pc-01")
            .with_user(User {
                uid: 1001,
                name: Some("yamada".into()),
            })
            .with_process(Process {
                pid: 42,
                exe: Some("/usr/bin/cp".into()),
                ..Process::default()
            })
            .with_path("/media/usb/\"x]\".docx")
            .with_file(FileIdentity {
                sha256: Some("00".repeat(32)),
                size: Some(10),
                ..FileIdentity::default()
            })
            .with_findings(vec![
                Finding::new("label.gokuhi", Category::Label, Confidence::High).with_sample("極秘"),
            ])
            .with_decision(Decision {
                action: Action::Block,
                level: "top_secret".into(),
                rules: vec!["usb-block".into()],
                reason: Bilingual::new("禁止", "forbidden"),
            })
    }

    #[test]
    fn ocsf_classes_and_fields() {
        let v = to_ocsf(&blocked());
        assert_eq!(v["class_uid"], 2006);
        assert_eq!(v["disposition_id"], 2);
        assert_eq!(v["severity_id"], 4);
        assert_eq!(v["time"], 1_700_000_000_123i64);
        assert_eq!(v["actor"]["user"]["name"], "yamada");
        assert_eq!(v["actor"]["process"]["pid"], 42);
        assert_eq!(v["file"]["hashes"][0]["algorithm_id"], 3);
        assert_eq!(v["finding_info"]["types"][0], "label.gokuhi");
        let e = blocked();
        assert_eq!(to_ocsf(&e)["metadata"]["uid"], e.id.to_string());
        assert_eq!(v["unmapped"]["mamori_kind"], "warning");
        assert!(!serde_json::to_string(&v).unwrap().contains("null"));
    }

    #[test]
    fn ocsf_file_activity_for_plain_operations() {
        let e = Event::new(Operation::Rename)
            .with_path("/a/b")
            .with_new_path("/a/c");
        let v = to_ocsf(&e);
        assert_eq!(v["class_uid"], 1001);
        assert_eq!(v["activity_id"], 5);
        assert_eq!(v["type_uid"], 100105);
        assert_eq!(v["file"]["name"], "b");
        assert_eq!(v["file_result"]["path"], "/a/c");
        assert_eq!(v["severity_id"], 1);
    }

    #[test]
    fn syslog_message_is_rfc5424_with_escaped_structured_data() {
        let e = blocked();
        let msg = to_syslog(&e, 7);
        assert!(
            msg.starts_with(
                "<108>1 2023-11-14T22:13:20.123456Z pc-01 mamori 7 warning [mamori@32473 "
            ),
            "{msg}"
        );
        assert!(msg.contains(r#"path="/media/usb/\"x\]\".docx""#), "{msg}");
        assert!(msg.contains(r#"action="block""#), "{msg}");
        let json = msg.split_once("] ").unwrap().1;
        let back: Event = serde_json::from_str(json).unwrap();
        assert_eq!(back, e);
        let framed = octet_frame("héllo");
        assert_eq!(framed, b"6 h\xc3\xa9llo".to_vec());
        let audit = to_syslog(&Event::new(Operation::Open), 1);
        assert!(audit.starts_with("<110>1 "), "{audit}");
        assert!(audit.contains(" - mamori 1 audit "), "{audit}");
    }

    #[test]
    fn targets_parse() {
        let t = SyslogTarget::parse("tcp://127.0.0.1:514", None).unwrap();
        assert_eq!(t.address, "127.0.0.1:514");
        assert!(SyslogTarget::parse("tls://localhost:6514", None).is_err());
        let t = SyslogTarget::parse("tls://localhost:6514", Some(Path::new("/ca.pem"))).unwrap();
        assert_eq!(t.tls.unwrap().1, "localhost");
        assert!(SyslogTarget::parse("udp://x:1", None).is_err());
        assert!(SyslogTarget::parse("x", None).is_err());
    }
}
