//! Syslog export against a real rsyslogd on loopback, over TCP and over TLS.
//!
//! Needs Debian's `rsyslog` and `rsyslog-gnutls`. When `rsyslogd` is absent the tests print why
//! and pass without checking anything; CI installs it.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mamori_journal::export::{SyslogSender, SyslogTarget};
use mamori_journal::{Event, Operation, User};
use mamori_model::{Action, Bilingual, Decision};

fn rsyslogd() -> Option<PathBuf> {
    ["/usr/sbin/rsyslogd", "/sbin/rsyslogd"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

struct Rsyslog {
    child: Child,
    port: u16,
    out: PathBuf,
}

impl Drop for Rsyslog {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start(bin: &Path, dir: &Path, tls: Option<(&Path, &Path, &Path)>) -> Rsyslog {
    let port = free_port();
    let out = dir.join("received.log");
    let work = dir.join("work");
    std::fs::create_dir_all(&work).unwrap();
    let module = match tls {
        None => r#"module(load="imtcp")"#.to_string(),
        Some((ca, cert, key)) => format!(
            r#"global(DefaultNetstreamDriverCAFile="{}" DefaultNetstreamDriverCertFile="{}" DefaultNetstreamDriverKeyFile="{}")
module(load="imtcp" StreamDriver.Name="gtls" StreamDriver.Mode="1" StreamDriver.AuthMode="anon")"#,
            ca.display(),
            cert.display(),
            key.display()
        ),
    };
    let conf = format!(
        r#"global(workDirectory="{work}")
{module}
template(name="mamori" type="string" string="%msgid%|%app-name%|%syslogseverity%|%structured-data%|%msg%\n")
input(type="imtcp" address="127.0.0.1" port="{port}")
*.* action(type="omfile" file="{out}" template="mamori")
"#,
        work = work.display(),
        out = out.display()
    );
    let conf_path = dir.join("rsyslog.conf");
    std::fs::write(&conf_path, conf).unwrap();
    let child = Command::new(bin)
        .arg("-n")
        .arg("-f")
        .arg(&conf_path)
        .arg("-i")
        .arg(dir.join("rsyslogd.pid"))
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let r = Rsyslog { child, port, out };
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "rsyslogd did not start listening on {port}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    r
}

fn wait_for_lines(path: &Path, n: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let lines: Vec<String> = text.lines().map(String::from).collect();
        if lines.len() >= n || Instant::now() > deadline {
            return lines;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn events() -> Vec<Event> {
    vec![
        Event::new(Operation::Open)
            .with_host("pc-01")
            .with_user(User {
                uid: 1000,
                name: Some("佐藤".into()),
            })
            .with_path("/srv/社外秘/計画.docx"),
        Event::new(Operation::Write)
            .with_host("pc-01")
            .with_path("/media/usb/\"quoted]\".docx")
            .with_decision(Decision {
                action: Action::Block,
                level: "secret".into(),
                rules: vec!["usb".into()],
                reason: Bilingual::new("禁止", "forbidden"),
            }),
    ]
}

fn check(lines: &[String], sent: &[Event]) {
    assert_eq!(lines.len(), sent.len(), "{lines:#?}");
    for (line, event) in lines.iter().zip(sent) {
        let mut parts = line.splitn(5, '|');
        let msgid = parts.next().unwrap();
        let app = parts.next().unwrap();
        let severity = parts.next().unwrap();
        let sd = parts.next().unwrap();
        let msg = parts.next().unwrap().trim_start();
        assert_eq!(msgid, event.kind().as_str(), "{line}");
        assert_eq!(app, "mamori", "{line}");
        assert_eq!(
            severity,
            if event.kind() == mamori_journal::Kind::Warning {
                "4"
            } else {
                "6"
            }
        );
        assert!(sd.contains(&format!("id=\"{}\"", event.id)), "{line}");
        let back: Event = serde_json::from_str(msg).unwrap_or_else(|e| panic!("{e}: {msg}"));
        assert_eq!(&back, event);
    }
}

#[test]
fn rsyslog_receives_events_over_tcp() {
    let Some(bin) = rsyslogd() else {
        eprintln!("SKIPPED: rsyslogd not installed (apt-get install rsyslog rsyslog-gnutls)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let server = start(&bin, dir.path(), None);
    let target = SyslogTarget::parse(&format!("tcp://127.0.0.1:{}", server.port), None).unwrap();
    let mut sender = SyslogSender::connect(&target).unwrap();
    let sent = events();
    for e in &sent {
        sender.send(e).unwrap();
    }
    sender.flush().unwrap();
    drop(sender);
    check(&wait_for_lines(&server.out, sent.len()), &sent);
}

#[test]
fn rsyslog_receives_events_over_tls_and_a_wrong_ca_is_refused() {
    let Some(bin) = rsyslogd() else {
        eprintln!("SKIPPED: rsyslogd not installed (apt-get install rsyslog rsyslog-gnutls)");
        return;
    };
    if !Path::new("/usr/lib/x86_64-linux-gnu/rsyslog/lmnsd_gtls.so").exists()
        && !Path::new("/usr/lib/rsyslog/lmnsd_gtls.so").exists()
    {
        eprintln!("SKIPPED: rsyslog's TLS driver not installed (apt-get install rsyslog-gnutls)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // A test CA and a server certificate for localhost.
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Mamori test CA");
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let ca = rcgen::Issuer::new(ca_params, ca_key);
    let server_key = rcgen::KeyPair::generate().unwrap();
    let server_params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    let server_cert = server_params.signed_by(&server_key, &ca).unwrap();
    let ca_pem = dir.path().join("ca.pem");
    let cert_pem = dir.path().join("cert.pem");
    let key_pem = dir.path().join("key.pem");
    std::fs::write(&ca_pem, ca_cert.pem()).unwrap();
    std::fs::write(&cert_pem, server_cert.pem()).unwrap();
    std::fs::write(&key_pem, server_key.serialize_pem()).unwrap();

    let server = start(&bin, dir.path(), Some((&ca_pem, &cert_pem, &key_pem)));
    let url = format!("tls://localhost:{}", server.port);
    let target = SyslogTarget::parse(&url, Some(&ca_pem)).unwrap();
    let mut sender = SyslogSender::connect(&target).unwrap();
    let sent = events();
    for e in &sent {
        sender.send(e).unwrap();
    }
    sender.flush().unwrap();
    drop(sender);
    check(&wait_for_lines(&server.out, sent.len()), &sent);

    // A CA that did not sign the server's certificate: the handshake fails, nothing is sent.
    let other_key = rcgen::KeyPair::generate().unwrap();
    let mut other_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    other_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let other = other_params.self_signed(&other_key).unwrap();
    let other_pem = dir.path().join("other.pem");
    std::fs::write(&other_pem, other.pem()).unwrap();
    let target = SyslogTarget::parse(&url, Some(&other_pem)).unwrap();
    let err = SyslogSender::connect(&target).unwrap_err();
    assert!(err.to_string().contains("TLS"), "{err}");
}
