//! `mamori milter` end to end: a real Postfix (Debian `postfix`) configured by the test in a
//! private directory (its own queue, SMTP on a free loopback port, `smtpd_milters` on a Unix
//! socket, virtual delivery into a Maildir), `swaks` as the SMTP client.
//!
//! Needs root (Postfix's master starts as root), `postfix` and `swaks`; without them the tests
//! skip with a message, unless `MAMORI_E2E_REQUIRED=1`, when they fail.

use std::io::Write as _;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const POLICY: &str = r#"
[policy]
name = "milter e2e"
version = 1
default_action = "audit"

[[level]]
id = "top_secret"
ja = "極秘"
en = "Top secret"

[[level]]
id = "secret"
ja = "秘"
en = "Secret"

[[level]]
id = "internal"
ja = "社外秘"
en = "Internal"

[[level]]
id = "public"
ja = "公開"
en = "Public"

[classification]
default_level = "public"

[internal]
mail_domains = ["example.co.jp", "hold.example"]

[[classify]]
id = "label-internal"
level = "internal"
categories = ["label"]
min_confidence = "medium"

[[classify]]
id = "personal-data"
level = "internal"
categories = ["personal_id"]
min_confidence = "medium"

[[rule]]
id = "mail-confidential-hold"
min_level = "internal"
mail_domains = ["hold.example"]
action = "quarantine"

[[rule]]
id = "mail-confidential-external"
min_level = "internal"
mail_to = "external"
action = "block"

[[rule]]
id = "mail-confidential-internal"
min_level = "internal"
mail_to = "internal"
action = "notify"
"#;

/// Why the environment cannot run the test, if it cannot.
fn missing() -> Option<String> {
    if !rustix::process::geteuid().is_root() {
        return Some("not root (Postfix's master must start as root)".into());
    }
    for tool in ["/usr/sbin/postfix", "/usr/bin/swaks"] {
        if !Path::new(tool).exists() {
            return Some(format!(
                "{tool} is not installed (apt-get install postfix swaks)"
            ));
        }
    }
    if nix::unistd::User::from_name("postfix")
        .ok()
        .flatten()
        .is_none()
    {
        return Some("no `postfix` user".into());
    }
    None
}

fn skip_or_fail(test: &str) -> bool {
    match missing() {
        None => false,
        Some(why) if std::env::var("MAMORI_E2E_REQUIRED").as_deref() == Ok("1") => {
            panic!("{test}: MAMORI_E2E_REQUIRED=1 but {why}")
        }
        Some(why) => {
            eprintln!("SKIP {test}: {why}");
            true
        }
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_for(what: &str, mut ready: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ready() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A private Postfix plus `mamori milter`; both stopped on drop.
struct Mta {
    dir: tempfile::TempDir,
    /// SMTP through the milter.
    port: u16,
    /// SMTP without any milter (`-o smtpd_milters=`), the control.
    plain_port: u16,
    milter: Option<Child>,
}

impl Mta {
    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn start() -> Mta {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        // Postfix's unprivileged daemons must reach the socket and the queue.
        set_mode(root, 0o755);
        for sub in ["conf", "queue", "data", "mail", "mamori"] {
            std::fs::create_dir(root.join(sub)).unwrap();
        }
        chown(&root.join("data"), "postfix");
        // Virtual delivery writes the Maildir as nobody.
        std::os::unix::fs::chown(root.join("mail"), Some(65534), Some(65534)).unwrap();
        std::fs::write(root.join("policy.toml"), POLICY).unwrap();
        let port = free_port();
        let plain_port = free_port();
        let r = root.display();
        std::fs::write(
            root.join("conf/main.cf"),
            format!(
                "compatibility_level = 3.6
queue_directory = {r}/queue
data_directory = {r}/data
mail_owner = postfix
setgid_group = postdrop
myhostname = mx.example.co.jp
mydomain = example.co.jp
myorigin = $myhostname
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mydestination =
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject
virtual_mailbox_domains = example.co.jp partner.example hold.example
virtual_mailbox_base = {r}/mail
virtual_mailbox_maps = static:maildir/
virtual_uid_maps = static:65534
virtual_gid_maps = static:65534
alias_maps =
alias_database =
local_recipient_maps =
biff = no
maillog_file_prefixes = {r}
maillog_file = {r}/maillog
smtpd_milters = unix:{r}/milter.sock
milter_default_action = tempfail
"
            ),
        )
        .unwrap();
        std::fs::write(root.join("conf/master.cf"), master_cf(port, plain_port)).unwrap();

        let mut mta = Mta {
            dir,
            port,
            plain_port,
            milter: None,
        };
        mta.start_milter();
        let out = mta.postfix(&["start"]);
        assert!(out.status.success(), "postfix start: {}", text(&out));
        wait_for("Postfix's SMTP ports", || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
                && std::net::TcpStream::connect(("127.0.0.1", plain_port)).is_ok()
        });
        mta
    }

    fn start_milter(&mut self) {
        let root = self.dir.path();
        let log = std::fs::File::create(root.join("milter.log")).unwrap();
        // Notices to senders go back through this Postfix (its sendmail, its configuration),
        // one per refusal (no throttle), so the test sees each.
        let config = root.join("milter.toml");
        std::fs::write(
            &config,
            format!(
                "[notice]\nfrom = \"mamori@example.co.jp\"\nsendmail = [\"/usr/sbin/sendmail\", \"-C\", \"{}\"]\ninterval = 0\n# swaks does not authenticate here\nonly_authenticated = false\n",
                root.join("conf").display()
            ),
        )
        .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_mamori"))
            .arg("milter")
            .arg("--config")
            .arg(&config)
            .arg("--listen")
            .arg(format!("unix:{}", root.join("milter.sock").display()))
            .args(["--socket-group", "postfix", "--policy"])
            .arg(root.join("policy.toml"))
            .arg("--data-dir")
            .arg(root.join("mamori"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.milter = Some(child);
        let sock = root.join("milter.sock");
        wait_for("the milter socket", || sock.exists());
    }

    fn stop_milter(&mut self) {
        if let Some(mut child) = self.milter.take() {
            // SIGTERM: the milter closes its socket and exits.
            let _ = Command::new("kill").arg(child.id().to_string()).status();
            let _ = child.wait();
        }
    }

    fn postfix(&self, args: &[&str]) -> Output {
        Command::new("/usr/sbin/postfix")
            .arg("-c")
            .arg(self.path("conf"))
            .args(args)
            .output()
            .unwrap()
    }

    /// Sends `data` (a whole message) with swaks through the milter.
    fn send(&self, to: &str, data: &[u8]) -> Output {
        self.send_to_port(self.port, to, data)
    }

    /// Sends `data` with swaks to `port`. swaks ends DATA with CRLF . CRLF after the data, so
    /// a final CRLF of `data` is left out to keep the message exactly as given.
    fn send_to_port(&self, port: u16, to: &str, data: &[u8]) -> Output {
        let data = data.strip_suffix(b"\r\n").unwrap_or(data);
        let file = self.path(&format!("msg-{}.eml", unique()));
        std::fs::write(&file, data).unwrap();
        Command::new("swaks")
            .args(["--server", &format!("127.0.0.1:{port}")])
            .args(["--from", "sender@example.co.jp", "--to", to])
            .args(["--data", &format!("@{}", file.display())])
            .output()
            .unwrap()
    }

    /// Waits until Postfix's active and incoming queues are empty, then returns every delivered
    /// message.
    fn delivered(&self) -> Vec<Vec<u8>> {
        wait_for("the queue to drain", || {
            ["incoming", "active", "deferred", "maildrop"]
                .iter()
                .all(|q| count_files(&self.path(&format!("queue/{q}"))) == 0)
        });
        let mut out = Vec::new();
        for sub in ["new", "cur"] {
            let dir = self.path(&format!("mail/maildir/{sub}"));
            if let Ok(entries) = std::fs::read_dir(dir) {
                for entry in entries {
                    out.push(std::fs::read(entry.unwrap().path()).unwrap());
                }
            }
        }
        out
    }

    fn delivered_with(&self, marker: &str) -> Option<Vec<u8>> {
        self.delivered()
            .into_iter()
            .find(|m| contains(m, marker.as_bytes()))
    }

    fn logs(&self) -> String {
        format!(
            "--- maillog\n{}\n--- milter\n{}",
            std::fs::read_to_string(self.path("maillog")).unwrap_or_default(),
            std::fs::read_to_string(self.path("milter.log")).unwrap_or_default()
        )
    }
}

impl Drop for Mta {
    fn drop(&mut self) {
        let _ = self.postfix(&["stop"]);
        self.stop_milter();
    }
}

fn master_cf(port: u16, plain_port: u16) -> String {
    let mut cf = format!(
        "127.0.0.1:{port} inet n - n - - smtpd\n127.0.0.1:{plain_port} inet n - n - - smtpd -o smtpd_milters=\n"
    );
    for line in [
        "pickup unix n - n 60 1 pickup",
        "cleanup unix n - n - 0 cleanup",
        "qmgr unix n - n 300 1 qmgr",
        "rewrite unix - - n - - trivial-rewrite",
        "bounce unix - - n - 0 bounce",
        "defer unix - - n - 0 bounce",
        "trace unix - - n - 0 bounce",
        "verify unix - - n - 1 verify",
        "flush unix n - n 1000? 0 flush",
        "proxymap unix - - n - - proxymap",
        "smtp unix - - n - - smtp",
        "relay unix - - n - - smtp",
        "showq unix n - n - - showq",
        "error unix - - n - - error",
        "retry unix - - n - - error",
        "discard unix - - n - - discard",
        "local unix - n n - - local",
        "virtual unix - n n - - virtual",
        "anvil unix - - n - 1 anvil",
        "scache unix - - n - 1 scache",
        "postlog unix-dgram n - n - 1 postlogd",
    ] {
        cf.push_str(line);
        cf.push('\n');
    }
    cf
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn chown(path: &Path, user: &str) {
    let user = nix::unistd::User::from_name(user).unwrap().unwrap();
    std::os::unix::fs::chown(path, Some(user.uid.as_raw()), Some(user.gid.as_raw())).unwrap();
}

fn count_files(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| {
            let path = e.path();
            if path.is_dir() { count_files(&path) } else { 1 }
        })
        .sum()
}

fn unique() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

// ------------------------------------------------------------------------------------------
// Messages

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    let mut wrapped = String::new();
    for line in out.as_bytes().chunks(76) {
        wrapped.push_str(std::str::from_utf8(line).unwrap());
        wrapped.push_str("\r\n");
    }
    wrapped
}

/// A message with a text body and one attachment; `name` is written RFC 2231-encoded.
fn with_attachment(to: &str, marker: &str, name: &str, content_type: &str, data: &[u8]) -> Vec<u8> {
    let encoded: String = name
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b == b'.' {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    format!(
        "From: sender@example.co.jp\r\nTo: {to}\r\nSubject: {marker}\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n\
--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nPlease see the attachment.\r\n\
--b1\r\nContent-Type: {content_type}\r\nContent-Disposition: attachment; filename*=UTF-8''{encoded}\r\n\
Content-Transfer-Encoding: base64\r\n\r\n{}--b1--\r\n",
        base64(data)
    )
    .into_bytes()
}

fn zip(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut buf = std::io::Cursor::new(Vec::new());
    let mut zip = zip::ZipWriter::new(&mut buf);
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, data) in entries {
        zip.start_file(*name, options).unwrap();
        zip.write_all(data).unwrap();
    }
    zip.finish().unwrap();
    buf.into_inner()
}

/// A DOCX whose body carries the marking 社外秘.
fn docx_shagaihi() -> Vec<u8> {
    zip(&[
        (
            "[Content_Types].xml",
            br#"<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>"#,
        ),
        (
            "_rels/.rels",
            br#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>"#,
        ),
        (
            "word/document.xml",
            r#"<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body><w:p><w:r><w:t>社外秘</w:t></w:r></w:p><w:p><w:r><w:t>新製品の設計方針について</w:t></w:r></w:p></w:body></w:document>"#.as_bytes(),
        ),
    ])
}

/// A one-page PDF whose document title is 社外秘 設計書.
fn pdf_shagaihi() -> Vec<u8> {
    let title: String = "社外秘 設計書"
        .encode_utf16()
        .map(|u| format!("{u:04X}"))
        .collect();
    let content = b"BT /F1 12 Tf 72 720 Td (Design review notes) Tj ET";
    let objects: Vec<Vec<u8>> = vec![
        b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_vec(),
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>".to_vec(),
        [
            format!("<< /Length {} >>\nstream\n", content.len()).as_bytes(),
            content,
            b"\nendstream",
        ]
        .concat(),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_vec(),
        format!("<< /Title <FEFF{title}> >>").into_bytes(),
    ];
    let mut out = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::new();
    for (i, object) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n", i + 1).as_bytes());
        out.extend_from_slice(object);
        out.extend_from_slice(b"\nendobj\n");
    }
    let xref = out.len();
    out.extend_from_slice(
        format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes(),
    );
    for offset in offsets {
        out.extend_from_slice(format!("{offset:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R /Info 6 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        )
        .as_bytes(),
    );
    out
}

/// The body of a stored message (after the first blank line), line ends as LF.
fn body_of(message: &[u8]) -> Vec<u8> {
    let unix: Vec<u8> = String::from_utf8_lossy(message)
        .replace("\r\n", "\n")
        .into_bytes();
    let at = unix
        .windows(2)
        .position(|w| w == b"\n\n")
        .expect("a header/body separator");
    unix[at + 2..].to_vec()
}

fn header_block(message: &[u8]) -> String {
    let text = String::from_utf8_lossy(message).replace("\r\n", "\n");
    text.split("\n\n").next().unwrap_or_default().to_owned()
}

fn assert_rejected(mta: &Mta, out: &Output, what: &str) {
    let t = text(out);
    assert!(
        !out.status.success() && t.contains("550 5.7.1"),
        "{what}: expected 550 5.7.1, swaks said:\n{t}\n{}",
        mta.logs()
    );
}

fn assert_accepted(mta: &Mta, out: &Output, what: &str) {
    assert!(
        out.status.success() && text(out).contains("250 2.0.0 Ok: queued"),
        "{what}: expected 250, swaks said:\n{}\n{}",
        text(out),
        mta.logs()
    );
}

// ------------------------------------------------------------------------------------------

#[test]
fn postfix_with_the_milter_blocks_holds_marks_and_passes() {
    if skip_or_fail("postfix_with_the_milter_blocks_holds_marks_and_passes") {
        return;
    }
    let mta = Mta::start();

    // A DOCX labelled 社外秘 to an external domain: refused with 5.7.1, never delivered.
    let docx = docx_shagaihi();
    let out = mta.send(
        "someone@partner.example",
        &with_attachment(
            "someone@partner.example",
            "docx-external",
            "設計方針.docx",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            &docx,
        ),
    );
    assert_rejected(&mta, &out, "DOCX 社外秘 to an external domain");
    assert!(text(&out).contains("label.shagaihi"), "{}", text(&out));

    // The same to an internal domain: delivered, with Mamori's headers.
    let out = mta.send(
        "colleague@example.co.jp",
        &with_attachment(
            "colleague@example.co.jp",
            "docx-internal",
            "設計方針.docx",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            &docx,
        ),
    );
    assert_accepted(&mta, &out, "DOCX 社外秘 to an internal domain");

    // ISO-2022-JP body with 個人番号 123456789018.
    let mut jis = b"From: sender@example.co.jp\r\nTo: someone@partner.example\r\nSubject: jis-mynumber\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=ISO-2022-JP\r\nContent-Transfer-Encoding: 7bit\r\n\r\n".to_vec();
    // 個人番号 (JIS X 0208: 0x3844 0x3F4D 0x4856 0x3966) then the number, as a mailer writes it.
    jis.extend_from_slice(b"\x1b$B8D?MHV9f\x1b(B: 1234 5678 9018\r\n");
    let out = mta.send("someone@partner.example", &jis);
    assert_rejected(&mta, &out, "ISO-2022-JP My Number");
    assert!(text(&out).contains("jp.my_number"), "{}", text(&out));

    // A zip holding a PDF titled 社外秘.
    let archive = zip(&[("設計書.pdf", &pdf_shagaihi())]);
    let out = mta.send(
        "someone@partner.example",
        &with_attachment(
            "someone@partner.example",
            "zip-pdf",
            "資料.zip",
            "application/zip",
            &archive,
        ),
    );
    assert_rejected(&mta, &out, "zip of a confidential PDF");

    // Quarantine: accepted by SMTP, kept in Postfix's hold queue, not delivered.
    let out = mta.send(
        "reviewer@hold.example",
        &with_attachment(
            "reviewer@hold.example",
            "docx-hold",
            "設計方針.docx",
            "application/msword",
            &docx,
        ),
    );
    assert_accepted(&mta, &out, "quarantined message");

    // A clean message: delivered, body unchanged byte for byte, no header added.
    let clean_body = "Hello,\r\n\r\nThe meeting moved to 15:00. Lines with trailing spaces   \r\n.leading dot\r\n\tand a tab.\r\n日本語の本文です。\r\n";
    let clean = format!(
        "From: sender@example.co.jp\r\nTo: someone@partner.example\r\nSubject: clean-message\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{clean_body}"
    );
    let out = mta.send("someone@partner.example", clean.as_bytes());
    assert_accepted(&mta, &out, "clean message");
    // The control: the same message through Postfix without the milter.
    let control = clean.replace("clean-message", "clean-control");
    let out = mta.send_to_port(
        mta.plain_port,
        "someone@partner.example",
        control.as_bytes(),
    );
    assert_accepted(&mta, &out, "clean message without the milter");

    let delivered = mta.delivered();
    let logs = mta.logs();
    for marker in ["docx-external", "jis-mynumber", "zip-pdf", "docx-hold"] {
        assert!(
            !delivered.iter().any(|m| contains(m, marker.as_bytes())),
            "{marker} must not be delivered\n{logs}"
        );
    }
    let internal = mta
        .delivered_with("docx-internal")
        .unwrap_or_else(|| panic!("docx-internal delivered\n{logs}"));
    let headers = header_block(&internal);
    assert!(headers.contains("X-Mamori-Level: internal"), "{headers}");
    assert!(
        headers.contains("X-Mamori-Findings: ") && headers.contains("label.shagaihi"),
        "{headers}"
    );
    let clean_out = mta
        .delivered_with("clean-message")
        .unwrap_or_else(|| panic!("clean message delivered\n{logs}"));
    assert_eq!(
        String::from_utf8_lossy(&body_of(&clean_out)),
        clean_body.replace("\r\n", "\n"),
        "the clean body is unchanged"
    );
    assert!(!header_block(&clean_out).contains("X-Mamori"));
    let control_out = mta
        .delivered_with("clean-control")
        .unwrap_or_else(|| panic!("control message delivered\n{logs}"));
    assert_eq!(
        body_of(&clean_out),
        body_of(&control_out),
        "the milter changes nothing in a clean message's body"
    );
    assert_eq!(
        count_files(&mta.path("queue/hold")),
        1,
        "the quarantined message waits in the hold queue\n{logs}"
    );

    // Every decision is in the journal with sender, recipients, subject, attachments, queue id.
    let export = Command::new(env!("CARGO_BIN_EXE_mamori"))
        .args(["log", "export", "--op", "mail", "--data-dir"])
        .arg(mta.path("mamori"))
        .output()
        .unwrap();
    assert!(export.status.success(), "{}", text(&export));
    let events: Vec<serde_json::Value> = String::from_utf8_lossy(&export.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events.len(), 6, "{events:#?}");
    let event = |subject: &str| {
        events
            .iter()
            .find(|e| e["transfer"]["subject"] == subject)
            .unwrap_or_else(|| panic!("an event for {subject}: {events:#?}"))
    };
    let blocked = event("docx-external");
    assert_eq!(blocked["decision"]["action"], "block");
    assert_eq!(
        blocked["decision"]["rules"][0],
        "mail-confidential-external"
    );
    assert_eq!(blocked["transfer"]["sender"], "sender@example.co.jp");
    assert_eq!(
        blocked["destination"]["recipients"][0],
        "someone@partner.example"
    );
    assert_eq!(blocked["transfer"]["items"][0]["name"], "設計方針.docx");
    assert_eq!(blocked["transfer"]["items"][0]["size"], docx.len());
    // Each attachment carries the level it got on its own; the body and headers are not items.
    assert_eq!(blocked["transfer"]["items"][0]["level"], "internal");
    assert_eq!(blocked["transfer"]["items"].as_array().unwrap().len(), 1);
    assert!(
        blocked["transfer"]["reference"]
            .as_str()
            .is_some_and(|q| !q.is_empty())
    );
    assert_eq!(event("zip-pdf")["transfer"]["items"][0]["name"], "資料.zip");
    assert_eq!(
        event("zip-pdf")["transfer"]["items"][0]["level"],
        "internal"
    );
    assert!(
        event("zip-pdf")["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| {
                f["detector"] == "label.shagaihi" && f["location"]["segments"][0] == "資料.zip"
            }),
        "findings located in the attachment: {:#?}",
        event("zip-pdf")["findings"]
    );
    assert_eq!(event("docx-hold")["decision"]["action"], "quarantine");
    assert_eq!(event("docx-internal")["decision"]["action"], "notify");
    assert_eq!(event("clean-message")["level"], "public");

    // The sender (an internal address) was told of each refusal and the hold, in Japanese and
    // English, by mail from the null sender.
    // The notices go out from the milter's own thread after each answer, so they may still be
    // on their way when the queues above looked empty: wait for them.
    let notices_in = |delivered: &[Vec<u8>]| -> Vec<(String, String)> {
        delivered
            .iter()
            .filter(|m| header_block(m).contains("X-Mamori-Notice: "))
            .map(|m| (header_block(m), notice_text(m)))
            .collect()
    };
    let mut notices = notices_in(&delivered);
    let until = Instant::now() + Duration::from_secs(60);
    while notices.len() < 4 && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(200));
        notices = notices_in(&mta.delivered());
    }
    assert_eq!(
        notices.len(),
        4,
        "three refusals and a hold: {notices:#?}\n{logs}"
    );
    let refused = notices
        .iter()
        .find(|(_, body)| body.contains("件名: docx-external"))
        .unwrap_or_else(|| panic!("a notice for docx-external: {notices:#?}"));
    assert!(
        refused.0.contains("X-Mamori-Notice: refused"),
        "{}",
        refused.0
    );
    assert!(
        refused.0.contains("Return-Path: <>"),
        "from the null sender: {}",
        refused.0
    );
    assert!(
        refused.0.contains("To: <sender@example.co.jp>"),
        "{}",
        refused.0
    );
    for expected in [
        "送信されませんでした",
        "宛先: someone@partner.example",
        "検出: 「社外秘」の表示、メールアドレス（3 件）",
        "Found: the marking 社外秘",
        "was refused by the data-leak prevention policy",
        blocked["transfer"]["reference"].as_str().unwrap(),
        blocked["id"].as_str().unwrap(),
    ] {
        assert!(
            refused.1.contains(expected),
            "{expected:?} in {}",
            refused.1
        );
    }
    let held = notices
        .iter()
        .find(|(_, body)| body.contains("件名: docx-hold"))
        .unwrap_or_else(|| panic!("a notice for docx-hold: {notices:#?}"));
    assert!(held.0.contains("X-Mamori-Notice: held"), "{}", held.0);
    assert!(held.1.contains("保留"), "{}", held.1);
}

/// The decoded text of a notice (base64 UTF-8 body).
fn notice_text(message: &[u8]) -> String {
    use base64::Engine as _;
    let body: Vec<u8> = body_of(message)
        .into_iter()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(body)
        .expect("a base64 body");
    String::from_utf8(bytes).expect("UTF-8 text")
}

#[test]
fn postfix_answers_451_when_the_milter_is_down() {
    if skip_or_fail("postfix_answers_451_when_the_milter_is_down") {
        return;
    }
    let mut mta = Mta::start();
    mta.stop_milter();
    let out = mta.send(
        "colleague@example.co.jp",
        b"From: sender@example.co.jp\r\nSubject: while-down\r\n\r\nhello\r\n",
    );
    let t = text(&out);
    assert!(
        !out.status.success() && t.contains("451 4.7.1"),
        "{t}\n{}",
        mta.logs()
    );
    assert!(mta.delivered_with("while-down").is_none());
}
