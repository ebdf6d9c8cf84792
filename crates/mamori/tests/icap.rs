//! End to end: `curl -x` → a real Squid (started here, private config on loopback) → ICAP →
//! `mamori icap` → a small upload sink started here. Classified uploads get the block page and
//! never reach the sink; public ones arrive byte for byte. The HTTPS case runs Squid's
//! `ssl_bump` with a test CA made here (needs Debian's `squid-openssl`).
//!
//! Without Squid the tests skip with a message, unless `MAMORI_E2E_REQUIRED=1` (CI), where they
//! fail.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const SQUID: &str = "/usr/sbin/squid";
const CERTGEN: &str = "/usr/lib/squid/security_file_certgen";

fn mamori() -> &'static str {
    env!("CARGO_BIN_EXE_mamori")
}

fn required() -> bool {
    std::env::var("MAMORI_E2E_REQUIRED").is_ok_and(|v| v == "1")
}

/// Whether the tools are here; otherwise skip (or fail in CI).
fn have_squid(need_bump: bool) -> bool {
    let mut missing = Vec::new();
    if !Path::new(SQUID).exists() {
        missing.push("squid (Debian package squid-openssl)");
    }
    if need_bump && !Path::new(CERTGEN).exists() {
        missing.push("security_file_certgen (Debian package squid-openssl)");
    }
    if Command::new("curl").arg("--version").output().is_err() {
        missing.push("curl");
    }
    if missing.is_empty() {
        return true;
    }
    let msg = format!("missing {}", missing.join(", "));
    if required() {
        panic!("MAMORI_E2E_REQUIRED=1 but {msg}");
    }
    eprintln!("SKIPPED: {msg}");
    false
}

/// A child process killed when dropped.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_for_port(port: u16, what: &str, log: &Path) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!(
        "{what} did not start on port {port}; log:\n{}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
}

/// What the sink received.
#[derive(Debug, Clone)]
struct Received {
    target: String,
    body: Vec<u8>,
}

/// A tiny HTTP/1.1 upload sink (plain or TLS) that records every request.
struct Sink {
    port: u16,
    received: Arc<Mutex<Vec<Received>>>,
}

impl Sink {
    fn start(tls: Option<Arc<rustls::ServerConfig>>) -> Sink {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let received = Arc::new(Mutex::new(Vec::new()));
        // `localhost` may resolve to ::1 first: listen there too when the port is free.
        if let Ok(v6) = TcpListener::bind(("::1", port)) {
            Sink::accept_loop(v6, tls.clone(), Arc::clone(&received));
        }
        Sink::accept_loop(listener, tls, Arc::clone(&received));
        Sink { port, received }
    }

    fn accept_loop(
        listener: TcpListener,
        tls: Option<Arc<rustls::ServerConfig>>,
        store: Arc<Mutex<Vec<Received>>>,
    ) {
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let store = Arc::clone(&store);
                let tls = tls.clone();
                std::thread::spawn(move || {
                    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
                    match tls {
                        Some(config) => {
                            let conn = rustls::ServerConnection::new(config).unwrap();
                            serve_http(rustls::StreamOwned::new(conn, stream), &store);
                        }
                        None => serve_http(stream, &store),
                    }
                });
            }
        });
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

fn serve_http<S: Read + Write>(stream: S, store: &Mutex<Vec<Received>>) {
    let mut reader = BufReader::new(stream);
    loop {
        let mut head = Vec::new();
        loop {
            let mut line = Vec::new();
            match reader.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            let end = line == b"\r\n";
            head.extend_from_slice(&line);
            if end {
                break;
            }
        }
        let head = String::from_utf8_lossy(&head).into_owned();
        let target = head.split(' ').nth(1).unwrap_or("").to_owned();
        let header = |name: &str| {
            head.lines().find_map(|l| {
                let (n, v) = l.split_once(':')?;
                n.trim()
                    .eq_ignore_ascii_case(name)
                    .then(|| v.trim().to_owned())
            })
        };
        let mut body = Vec::new();
        if header("Transfer-Encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
            loop {
                let mut size = String::new();
                reader.read_line(&mut size).unwrap();
                let size =
                    usize::from_str_radix(size.trim().split(';').next().unwrap(), 16).unwrap();
                if size == 0 {
                    let mut trailer = String::new();
                    while reader.read_line(&mut trailer).unwrap() > 2 {
                        trailer.clear();
                    }
                    break;
                }
                let mut chunk = vec![0u8; size + 2];
                reader.read_exact(&mut chunk).unwrap();
                body.extend_from_slice(&chunk[..size]);
            }
        } else if let Some(len) = header("Content-Length") {
            body.resize(len.parse().unwrap(), 0);
            reader.read_exact(&mut body).unwrap();
        }
        store.lock().unwrap().push(Received { target, body });
        let stream = reader.get_mut();
        let _ = stream.write_all(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 6\r\n\r\nstored",
        );
        let _ = stream.flush();
    }
}

/// The policy: the built-in one plus a rule blocking internal content on web uploads (the
/// built-in policy only notifies for it).
fn write_policy(dir: &Path) -> PathBuf {
    let out = Command::new(mamori())
        .args(["policy", "default"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let mut text = String::from_utf8(out.stdout).unwrap();
    text.push_str(
        "\n[[rule]]\nid = \"test-block-internal-upload\"\nlevels = [\"internal\"]\nchannels = [\"web_upload\"]\naction = \"block\"\n",
    );
    let path = dir.join("policy.toml");
    std::fs::write(&path, text).unwrap();
    path
}

struct Icap {
    _proc: Proc,
    port: u16,
    data_dir: PathBuf,
    log: PathBuf,
}

fn start_icap(dir: &Path) -> Icap {
    let policy = write_policy(dir);
    let config = dir.join("icap.toml");
    // Small thresholds so the tests go through the spool and the user mapping.
    std::fs::write(
        &config,
        "spool_threshold = 65536\nmax_connections = 64\n[users.tester]\nname = \"t.tanaka\"\ngroups = [\"sales\"]\n",
    )
    .unwrap();
    let data_dir = dir.join("data");
    let log = dir.join("icap.log");
    let mut child = Command::new(mamori())
        .args(["icap", "--listen", "127.0.0.1:0", "--config"])
        .arg(&config)
        .arg("--policy")
        .arg(&policy)
        .arg("--data-dir")
        .arg(&data_dir)
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr: SocketAddr = line
        .split_whitespace()
        .nth(4)
        .unwrap_or_else(|| {
            panic!(
                "no listening line: {line:?}; log: {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            )
        })
        .parse()
        .unwrap();
    Icap {
        _proc: Proc(child),
        port: addr.port(),
        data_dir,
        log,
    }
}

/// TLS material made by the test: a CA (for Squid to mint bumped certificates and for curl to
/// trust them) and the sink's certificate signed by it.
struct TestCa {
    ca_pem: PathBuf,
    ca_key: PathBuf,
    sink_config: Arc<rustls::ServerConfig>,
}

fn make_ca(dir: &Path) -> TestCa {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
    let ca_key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, "Mamori test CA");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca = params.self_signed(&ca_key).unwrap();
    let ca_key_pem = ca_key.serialize_pem();
    let issuer = rcgen::Issuer::new(params, ca_key);
    let sink_key = KeyPair::generate().unwrap();
    // Squid mints the bumped certificate for the name the client asked for (SNI) and writes
    // it as a DNS name, which curl refuses for an IP address: the HTTPS case uses `localhost`.
    let sink_params =
        CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
    let sink_cert = sink_params.signed_by(&sink_key, &issuer).unwrap();
    let ca_pem = dir.join("ca.pem");
    let ca_key_path = dir.join("ca.key");
    std::fs::write(&ca_pem, ca.pem()).unwrap();
    std::fs::write(&ca_key_path, ca_key_pem).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let sink_config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![sink_cert.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(sink_key.serialize_der().into()),
        )
        .unwrap();
    TestCa {
        ca_pem,
        ca_key: ca_key_path,
        sink_config: Arc::new(sink_config),
    }
}

struct Squid {
    _proc: Proc,
    port: u16,
}

fn start_squid(dir: &Path, icap_port: u16, ca: Option<&TestCa>) -> Squid {
    use std::os::unix::fs::PermissionsExt as _;
    let sq = dir.join("squid");
    std::fs::create_dir_all(&sq).unwrap();
    // Squid drops to its own user (proxy) as root: let it reach its files.
    for d in [dir, sq.as_path()] {
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o777)).unwrap();
    }
    let port = free_port();
    let mut conf = String::new();
    match ca {
        None => conf.push_str(&format!("http_port 127.0.0.1:{port}\n")),
        Some(ca) => {
            for f in [&ca.ca_pem, &ca.ca_key] {
                std::fs::set_permissions(f, std::fs::Permissions::from_mode(0o644)).unwrap();
            }
            let db = sq.join("ssl_db");
            let out = Command::new(CERTGEN)
                .arg("-c")
                .arg("-s")
                .arg(&db)
                .args(["-M", "4MB"])
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let _ = Command::new("chown")
                .args(["-R", "proxy:proxy"])
                .arg(&db)
                .status();
            conf.push_str(&format!(
                "http_port 127.0.0.1:{port} ssl-bump tls-cert={} tls-key={} generate-host-certificates=on dynamic_cert_mem_cache_size=4MB\n\
                 sslcrtd_program {CERTGEN} -s {} -M 4MB\n\
                 sslcrtd_children 2 startup=1 idle=1\n\
                 acl step1 at_step SslBump1\n\
                 ssl_bump peek step1\n\
                 ssl_bump bump all\n\
                 tls_outgoing_options cafile={}\n",
                ca.ca_pem.display(),
                ca.ca_key.display(),
                db.display(),
                ca.ca_pem.display(),
            ));
        }
    }
    conf.push_str(&format!(
        "pid_filename {sq}/squid.pid\n\
         cache_log {sq}/cache.log\n\
         access_log {sq}/access.log\n\
         cache_store_log none\n\
         coredump_dir {sq}\n\
         netdb_filename none\n\
         pinger_enable off\n\
         cache deny all\n\
         shutdown_lifetime 0 seconds\n\
         visible_hostname mamori-test\n\
         auth_param basic program /usr/lib/squid/basic_fake_auth\n\
         acl authenticated proxy_auth REQUIRED\n\
         http_access allow authenticated\n\
         http_access deny all\n\
         icap_enable on\n\
         icap_send_client_ip on\n\
         icap_send_client_username on\n\
         icap_persistent_connections on\n\
         icap_service mamori_req reqmod_precache icap://127.0.0.1:{icap_port}/reqmod bypass=off\n\
         adaptation_access mamori_req allow all\n",
        sq = sq.display()
    ));
    let conf_path = sq.join("squid.conf");
    std::fs::write(&conf_path, conf).unwrap();
    let log = sq.join("stderr.log");
    let child = Command::new(SQUID)
        .arg("-N")
        .arg("-f")
        .arg(&conf_path)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let proc = Proc(child);
    wait_for_port(port, "squid", &sq.join("cache.log"));
    Squid { _proc: proc, port }
}

/// `curl -x` through Squid: (HTTP status, body).
fn curl(squid_port: u16, url: &str, args: &[&str], cacert: Option<&Path>) -> (u16, Vec<u8>) {
    let mut cmd = Command::new("curl");
    cmd.env_remove("http_proxy")
        .env_remove("https_proxy")
        .env_remove("HTTPS_PROXY")
        .env_remove("NO_PROXY")
        .env_remove("no_proxy")
        // Squid asks for proxy authentication (any password passes) and hands the user name
        // to ICAP as X-Authenticated-User.
        .args([
            "-sS",
            "--max-time",
            "60",
            "-H",
            "Expect:",
            "-U",
            "tester:secret",
            "-x",
        ])
        .arg(format!("http://127.0.0.1:{squid_port}"))
        .args(["-w", "\n%{http_code}"])
        .args(args);
    if let Some(ca) = cacert {
        cmd.arg("--cacert").arg(ca);
    }
    let out = cmd.arg(url).output().unwrap();
    let mut stdout = out.stdout;
    let split = stdout.iter().rposition(|&b| b == b'\n').unwrap_or(0);
    let status = String::from_utf8_lossy(&stdout[split + 1..])
        .trim()
        .parse()
        .unwrap_or(0);
    stdout.truncate(split);
    assert!(
        status != 0,
        "curl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (status, stdout)
}

/// A minimal DOCX whose text carries the 社外秘 marking.
fn classified_docx() -> Vec<u8> {
    let mut buf = std::io::Cursor::new(Vec::new());
    {
        let mut z = zip::ZipWriter::new(&mut buf);
        let opts = zip::write::SimpleFileOptions::default();
        z.start_file("[Content_Types].xml", opts).unwrap();
        z.write_all(br#"<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>"#).unwrap();
        z.start_file("_rels/.rels", opts).unwrap();
        z.write_all(br#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>"#).unwrap();
        z.start_file("word/document.xml", opts).unwrap();
        z.write_all("<?xml version=\"1.0\" encoding=\"UTF-8\"?><w:document xmlns:w=\"http://schemas.openxmlformats.org/wordprocessingml/2006/main\"><w:body><w:p><w:r><w:t>社外秘</w:t></w:r></w:p><w:p><w:r><w:t>来期の販売計画について</w:t></w:r></w:p></w:body></w:document>".as_bytes()).unwrap();
        z.finish().unwrap();
    }
    buf.into_inner()
}

/// Bytes with no digits, markings or secrets: plain words, then pseudo-random binary.
fn public_bytes(text_len: usize, binary_len: usize) -> Vec<u8> {
    let words = b"the quick brown fox jumps over the lazy dog while the meeting notes stay public ";
    let mut out: Vec<u8> = words.iter().copied().cycle().take(text_len).collect();
    let mut x: u32 = 0x1234_5678;
    for _ in 0..binary_len {
        x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        out.push((x >> 24) as u8);
    }
    out
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

/// Runs the upload checks against `base` (http://127.0.0.1:PORT or https://...).
fn upload_checks(
    dir: &Path,
    squid: &Squid,
    sink: &Sink,
    icap: &Icap,
    base: &str,
    cacert: Option<&Path>,
) {
    let docx = dir.join("report.docx");
    std::fs::write(&docx, classified_docx()).unwrap();
    let my_number = dir.join("person.json");
    std::fs::write(
        &my_number,
        r#"{"name":"山田太郎","個人番号":"123456789018","memo":"申請書の控え"}"#,
    )
    .unwrap();
    let gz = dir.join("note.txt.gz");
    std::fs::write(
        &gz,
        gzip("社外秘: 取引先一覧と価格表\n".repeat(50).as_bytes()),
    )
    .unwrap();
    let small_public = public_bytes(3000, 0);
    let large_public = public_bytes(100_000, 300_000);
    std::fs::write(dir.join("small.txt"), &small_public).unwrap();
    std::fs::write(dir.join("large.bin"), &large_public).unwrap();
    let icap_log = || std::fs::read_to_string(&icap.log).unwrap_or_default();

    // 1. A classified DOCX, multipart, English browser: blocked with the English page first.
    let (status, page) = curl(
        squid.port,
        &format!("{base}/upload/docx"),
        &[
            "-H",
            "Accept-Language: en-US,en;q=0.9",
            "-H",
            "X-Test: docx",
            "-F",
            &format!("file=@{}", docx.display()),
            "-F",
            "comment=weekly report",
        ],
        cacert,
    );
    let page = String::from_utf8_lossy(&page).into_owned();
    assert_eq!(status, 403, "page: {page}\nicap log: {}", icap_log());
    assert!(page.contains("Upload blocked"), "{page}");
    assert!(page.contains("アップロードを止めました"), "{page}");
    assert!(page.find("Upload blocked") < page.find("アップロードを止めました"));
    assert!(page.contains("label.shagaihi"), "what was found: {page}");
    assert!(
        page.contains("test-block-internal-upload"),
        "which rule: {page}"
    );

    // 2. A My Number in a JSON body, Japanese browser: blocked, Japanese first.
    let (status, page) = curl(
        squid.port,
        &format!("{base}/upload/json"),
        &[
            "-H",
            "Accept-Language: ja,en;q=0.5",
            "-H",
            "Content-Type: application/json",
            "--data-binary",
            &format!("@{}", my_number.display()),
        ],
        cacert,
    );
    let page = String::from_utf8_lossy(&page).into_owned();
    assert_eq!(status, 403, "page: {page}\nicap log: {}", icap_log());
    assert!(page.contains("jp.my_number"), "{page}");
    assert!(page.find("アップロードを止めました") < page.find("Upload blocked"));
    assert!(
        !page.contains("123456789018"),
        "the page never shows the number itself"
    );

    // 3. A gzip-encoded body carrying the marking: blocked.
    let (status, page) = curl(
        squid.port,
        &format!("{base}/upload/gzip"),
        &[
            "-H",
            "Content-Type: text/plain; charset=utf-8",
            "-H",
            "Content-Encoding: gzip",
            "--data-binary",
            &format!("@{}", gz.display()),
        ],
        cacert,
    );
    assert_eq!(
        status,
        403,
        "{}\nicap log: {}",
        String::from_utf8_lossy(&page),
        icap_log()
    );

    // 4. Public files arrive byte for byte: small (Squid offers Allow: 204), large (over
    //    64 KiB: echoed back whole, and spooled to disk on the way), raw and multipart.
    let (status, reply) = curl(
        squid.port,
        &format!("{base}/upload/small"),
        &[
            "-H",
            "Content-Type: text/plain",
            "--data-binary",
            &format!("@{}", dir.join("small.txt").display()),
        ],
        cacert,
    );
    assert_eq!(
        (status, reply.as_slice()),
        (200, &b"stored"[..]),
        "{}",
        icap_log()
    );
    let (status, reply) = curl(
        squid.port,
        &format!("{base}/upload/large"),
        &[
            "-H",
            "Content-Type: application/octet-stream",
            "--data-binary",
            &format!("@{}", dir.join("large.bin").display()),
        ],
        cacert,
    );
    assert_eq!(
        (status, reply.as_slice()),
        (200, &b"stored"[..]),
        "{}",
        icap_log()
    );
    let (status, _) = curl(
        squid.port,
        &format!("{base}/upload/multipart"),
        &["-F", &format!("file=@{}", dir.join("large.bin").display())],
        cacert,
    );
    assert_eq!(status, 200, "{}", icap_log());

    let received = sink.received();
    let targets: Vec<&str> = received.iter().map(|r| r.target.as_str()).collect();
    assert!(
        !targets
            .iter()
            .any(|t| t.ends_with("/docx") || t.ends_with("/json") || t.ends_with("/gzip")),
        "a blocked upload reached the server: {targets:?}"
    );
    let body_of = |suffix: &str| {
        received
            .iter()
            .find(|r| r.target.ends_with(suffix))
            .unwrap_or_else(|| panic!("{suffix} did not arrive: {targets:?}"))
            .body
            .clone()
    };
    assert!(
        body_of("/small") == small_public,
        "small public file changed on the way"
    );
    assert!(
        body_of("/large") == large_public,
        "large public file changed on the way"
    );
    let multipart = body_of("/multipart");
    assert!(
        memchr::memmem::find(&multipart, &large_public).is_some(),
        "the multipart upload lost its file"
    );

    // 5. Every decision is in the journal, with URL, user, client and file names.
    let out = Command::new(mamori())
        .args([
            "log",
            "search",
            "--op",
            "upload",
            "--format",
            "json",
            "--data-dir",
        ])
        .arg(&icap.data_dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let events: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let docx_event = events
        .iter()
        .find(|e| e.to_string().contains("report.docx"))
        .unwrap_or_else(|| panic!("no event names report.docx: {events:?}"));
    let text = docx_event.to_string();
    assert!(text.contains("/upload/docx"), "{text}");
    assert!(text.contains("127.0.0.1"), "client address: {text}");
    assert!(
        text.contains("t.tanaka"),
        "the proxy user, mapped through the configuration: {text}"
    );
    assert!(text.contains("label.shagaihi"), "{text}");
    assert!(text.contains("\"block\""), "{text}");
    assert!(
        events
            .iter()
            .any(|e| e.to_string().contains("/upload/large")),
        "the allowed upload is recorded too"
    );
}

#[test]
fn squid_http_uploads_are_inspected_and_blocked() {
    if !have_squid(false) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let icap = start_icap(dir.path());
    let sink = Sink::start(None);
    let squid = start_squid(dir.path(), icap.port, None);
    let base = format!("http://127.0.0.1:{}", sink.port);
    upload_checks(dir.path(), &squid, &sink, &icap, &base, None);
}

#[test]
fn squid_ssl_bump_https_uploads_are_inspected_and_blocked() {
    if !have_squid(true) {
        return;
    }
    // Debian's plain `squid` has no ssl_bump; only squid-openssl can run this.
    let version = Command::new(SQUID).arg("-v").output().unwrap();
    if !String::from_utf8_lossy(&version.stdout).contains("--with-openssl") {
        let msg = "squid is built without OpenSSL (install squid-openssl)";
        assert!(!required(), "MAMORI_E2E_REQUIRED=1 but {msg}");
        eprintln!("SKIPPED: {msg}");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let ca = make_ca(dir.path());
    let icap = start_icap(dir.path());
    let sink = Sink::start(Some(Arc::clone(&ca.sink_config)));
    let squid = start_squid(dir.path(), icap.port, Some(&ca));
    let base = format!("https://localhost:{}", sink.port);
    upload_checks(dir.path(), &squid, &sink, &icap, &base, Some(&ca.ca_pem));
}
