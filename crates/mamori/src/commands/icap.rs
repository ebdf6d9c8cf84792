//! `mamori icap`: the web-upload gateway. An ICAP server (RFC 3507) that a proxy such as Squid
//! calls for every upload; each body is decoded (multipart files, forms, JSON, gzip/deflate/br),
//! inspected, decided with the policy's `web_upload` channel and recorded in the journal. A
//! blocked upload gets a 403 page in Japanese and English instead of reaching the site.
//!
//! The protocol lives in `mamori-icap`; this module is the [`Adapter`] over the
//! [`Gatekeeper`], the configuration and the process around it.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use anyhow::Context as _;
use mamori_gateway::{Gatekeeper, Judgement, Lang};
use mamori_icap::content::{self, ContentLimits, PartKind, ProblemKind};
use mamori_icap::{Adapter, Body, Headers, HttpResponse, Request, Server, ServerConfig, Verdict};
use mamori_journal::{Operation, Transfer};
use mamori_model::{Channel, Location, Uninspectable, UninspectableReason};
use mamori_policy::{Destination, Principal};
use serde::Deserialize;

use super::gateway::GatewayOptions;

/// Arguments of `mamori icap`.
#[derive(Debug, clap::Args)]
pub struct IcapArgs {
    /// ICAP configuration (TOML; see docs/icap.md) / ICAP設定ファイル
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Address to listen on, overriding the configuration (default 127.0.0.1:1344) /
    /// 待ち受けアドレス
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// Check the configuration and the policy, then exit / 設定を検査して終了する
    #[arg(long)]
    pub check: bool,
    #[command(flatten)]
    pub gateway: GatewayOptions,
}

/// The configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct IcapConfig {
    /// Where to listen.
    listen: SocketAddr,
    /// Connections served at once.
    max_connections: usize,
    /// Threads inspecting at once (0: one per CPU).
    workers: usize,
    /// Preview size offered to the proxy.
    preview: u64,
    /// How long the proxy may keep our OPTIONS answer, in seconds.
    options_ttl: u32,
    /// Serve RESPMOD (downloads) at `/respmod`.
    respmod: bool,
    /// Bodies and parts larger than this (bytes) are spooled to disk.
    spool_threshold: u64,
    /// Where spooled bodies go.
    spool_dir: Option<PathBuf>,
    /// Bodies are inspected up to this size (bytes); past it they are uninspectable and the
    /// policy decides.
    max_body: u64,
    /// Compressed bodies may expand to at most this many bytes.
    max_decoded: u64,
    /// Bodies up to this size are inspected on the connection's task, larger ones on the
    /// worker pool.
    inline_max: u64,
    /// Seconds an idle proxy connection is kept.
    idle_timeout: u64,
    /// Seconds a proxy may stay silent inside a message.
    read_timeout: u64,
    /// File extensions the proxy should not send (`Transfer-Ignore`). Not inspected!
    transfer_ignore: Vec<String>,
    /// The ICAP headers naming the authenticated user, first present wins
    /// (`X-Authenticated-User`; Squid's default is `X-Client-Username`).
    user_headers: Vec<String>,
    /// The user header is base64-encoded (Squid's `icap_client_username_encode on`).
    user_header_base64: bool,
    /// The ICAP header naming the client's address.
    client_header: String,
    /// The principal of requests with neither a known user nor a mapped address.
    default_user: String,
    /// Proxy user names → principals.
    users: BTreeMap<String, UserEntry>,
    /// Client networks → principals, first match wins.
    clients: Vec<ClientEntry>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct UserEntry {
    /// The account name the policy knows (default: the proxy's name).
    name: Option<String>,
    /// The groups.
    groups: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClientEntry {
    /// `192.0.2.0/24`, `2001:db8::/32` or one address.
    network: String,
    /// The account name.
    user: String,
    /// The groups.
    #[serde(default)]
    groups: Vec<String>,
}

impl Default for IcapConfig {
    fn default() -> IcapConfig {
        let server = ServerConfig::default();
        IcapConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 1344)),
            max_connections: server.max_connections,
            workers: 0,
            preview: server.preview,
            options_ttl: server.options_ttl,
            respmod: false,
            spool_threshold: server.spool_threshold as u64,
            spool_dir: None,
            max_body: server.max_body,
            max_decoded: 256 << 20,
            inline_max: server.inline_max,
            idle_timeout: server.idle_timeout.as_secs(),
            read_timeout: server.read_timeout.as_secs(),
            transfer_ignore: Vec::new(),
            user_headers: vec!["X-Authenticated-User".into(), "X-Client-Username".into()],
            user_header_base64: false,
            client_header: "X-Client-IP".into(),
            default_user: "anonymous".into(),
            users: BTreeMap::new(),
            clients: Vec::new(),
        }
    }
}

/// A parsed network: address and prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Network(IpAddr, u8);

impl Network {
    fn parse(text: &str) -> Option<Network> {
        let (addr, prefix) = match text.split_once('/') {
            Some((a, p)) => (
                a.trim().parse::<IpAddr>().ok()?,
                Some(p.trim().parse::<u8>().ok()?),
            ),
            None => (text.trim().parse::<IpAddr>().ok()?, None),
        };
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        (prefix <= max).then_some(Network(addr, prefix))
    }

    fn contains(&self, ip: IpAddr) -> bool {
        fn bits(ip: IpAddr) -> (u128, u8) {
            match ip {
                IpAddr::V4(v4) => (u128::from(u32::from(v4)) << 96, 32),
                IpAddr::V6(v6) => (u128::from(v6), 128),
            }
        }
        // An IPv4-mapped IPv6 client (::ffff:a.b.c.d) matches IPv4 networks.
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        let ((net, width), (addr, addr_width)) = (bits(self.0), bits(ip));
        if width != addr_width {
            return false;
        }
        let keep = u32::from(self.1);
        if keep == 0 {
            return true;
        }
        let mask = u128::MAX << (128 - keep);
        net & mask == addr & mask
    }
}

/// Who made the request, as far as the proxy says.
#[derive(Debug, Clone, PartialEq)]
struct Who {
    principal: Principal,
    client: Option<String>,
    proxy_user: Option<String>,
}

struct Mapping {
    config: IcapConfig,
    networks: Vec<(Network, ClientEntry)>,
}

impl Mapping {
    fn new(config: IcapConfig) -> anyhow::Result<Mapping> {
        let mut networks = Vec::new();
        let mut bad = Vec::new();
        for entry in &config.clients {
            match Network::parse(&entry.network) {
                Some(net) => networks.push((net, entry.clone())),
                None => bad.push(entry.network.clone()),
            }
        }
        if !bad.is_empty() {
            anyhow::bail!(
                "invalid client networks / 不正なネットワーク指定: {}",
                bad.join(", ")
            );
        }
        Ok(Mapping { config, networks })
    }

    /// The principal for the proxy's user header and client address.
    fn who(&self, user_header: Option<&str>, client_header: Option<&str>) -> Who {
        let client = client_header
            .map(|c| c.trim().to_owned())
            .filter(|c| !c.is_empty());
        let proxy_user = user_header.and_then(|raw| self.proxy_user(raw));
        let principal = if let Some(user) = &proxy_user {
            match self.config.users.get(user) {
                Some(entry) => Principal::new(entry.name.clone().unwrap_or_else(|| user.clone()))
                    .with_groups(entry.groups.iter().cloned()),
                None => Principal::new(user.clone()),
            }
        } else if let Some(entry) = client
            .as_deref()
            .and_then(|c| c.parse::<IpAddr>().ok())
            .and_then(|ip| self.networks.iter().find(|(n, _)| n.contains(ip)))
            .map(|(_, e)| e)
        {
            Principal::new(entry.user.clone()).with_groups(entry.groups.iter().cloned())
        } else {
            Principal::new(self.config.default_user.clone())
        };
        Who {
            principal,
            client,
            proxy_user,
        }
    }

    /// The user name in the proxy's header: base64-decoded if configured, without a
    /// `scheme://` or `DOMAIN\` prefix.
    fn proxy_user(&self, raw: &str) -> Option<String> {
        use base64::Engine as _;
        let raw = raw.trim();
        let decoded = if self.config.user_header_base64 {
            let bytes = base64::engine::general_purpose::STANDARD.decode(raw).ok()?;
            String::from_utf8(bytes).ok()?
        } else {
            raw.to_owned()
        };
        let name = decoded.rsplit("://").next().unwrap_or(&decoded);
        let name = name.rsplit('\\').next().unwrap_or(name).trim();
        (!name.is_empty() && name != "-").then(|| name.to_owned())
    }
}

/// The adapter: everything Mamori-specific about a request.
struct IcapAdapter {
    gatekeeper: Arc<Gatekeeper>,
    mapping: Mapping,
    limits: ContentLimits,
    istag: RwLock<String>,
    reloads: AtomicU64,
    /// Principal name → local uid (None: no such account). Looking an account up reads
    /// /etc/passwd each time, which cost more than inspecting a small upload.
    uids: Mutex<HashMap<String, Option<u32>>>,
    /// Log every decision on standard error (without a journal), not only warnings.
    log_all: bool,
}

impl IcapAdapter {
    fn set_istag(&self) {
        let policy = self.gatekeeper.policy();
        let tag = format!(
            "mamori-{}-{}",
            policy.version(),
            self.reloads.load(Ordering::Relaxed)
        );
        *self.istag.write().unwrap_or_else(|e| e.into_inner()) = tag;
    }

    /// Decodes an encoded or structured body (compressed, multipart, form, JSON) into its
    /// parts and inspects each.
    fn decode_and_inspect(
        &self,
        headers: &Headers,
        body: Body<'_>,
        parts: &mut Vec<mamori_gateway::Part>,
        trouble: &mut Vec<UninspectableReason>,
    ) {
        match content::decode_body(headers, body, &self.limits) {
            Ok(decoded) => {
                for problem in &decoded.problems {
                    trouble.push(match problem.kind {
                        ProblemKind::Limit => UninspectableReason::ExpansionLimit,
                        _ => UninspectableReason::Corrupt(problem.detail.clone()),
                    });
                }
                for mut part in decoded.parts {
                    if part.data.is_empty() {
                        continue;
                    }
                    let name = match part.kind {
                        PartKind::File => Some(part.label.clone()),
                        _ => None,
                    };
                    let inspected = match part.data.body() {
                        Ok(Body::Memory(bytes)) => {
                            Ok(self.gatekeeper.inspect_bytes(name.as_deref(), bytes))
                        }
                        Ok(Body::File(file)) => self.gatekeeper.inspect_file(name.as_deref(), file),
                        Err(e) => Err(e),
                    };
                    match inspected {
                        Ok(p) => parts.push(p),
                        Err(e) => trouble.push(UninspectableReason::Corrupt(format!(
                            "cannot read a spooled part: {e}"
                        ))),
                    }
                }
            }
            Err(e) => trouble.push(UninspectableReason::Corrupt(format!(
                "cannot decode the body: {e}"
            ))),
        }
    }

    fn judge(&self, request: &Request, body: Body<'_>, complete: bool) -> Verdict {
        let user = self
            .mapping
            .config
            .user_headers
            .iter()
            .find_map(|h| request.icap_header(h));
        let who = self.mapping.who(
            user,
            request.icap_header(&self.mapping.config.client_header),
        );
        let http_request = request.http_request.as_ref();
        let url = http_request.map(|h| h.url()).unwrap_or_default();
        let method = http_request.map(|h| h.method.as_str()).unwrap_or("");
        let (headers, channel) = match &request.http_response {
            Some(response) if request.is_respmod() => (&response.headers, Channel::FileAccess),
            _ => match http_request {
                Some(h) => (&h.headers, Channel::WebUpload),
                None => return Verdict::Allow,
            },
        };
        let mut parts = Vec::new();
        let mut trouble: Vec<UninspectableReason> = Vec::new();
        if !complete {
            trouble.push(UninspectableReason::TooLarge);
        }
        if content::is_raw_body(headers) {
            // The body is its own one part: inspected where it lies, not copied first.
            let inspected = match body {
                Body::Memory([]) => None,
                Body::Memory(bytes) => Some(Ok(self.gatekeeper.inspect_bytes(None, bytes))),
                // A spooled body is larger than the spool threshold, so never empty; checked
                // all the same, as decoding would skip an empty part.
                Body::File(file) if file.metadata().is_ok_and(|m| m.len() == 0) => None,
                Body::File(file) => Some(self.gatekeeper.inspect_file(None, file)),
            };
            match inspected {
                Some(Ok(p)) => parts.push(p),
                Some(Err(e)) => trouble.push(UninspectableReason::Corrupt(format!(
                    "cannot read the spooled body: {e}"
                ))),
                None => {}
            }
        } else {
            self.decode_and_inspect(headers, body, &mut parts, &mut trouble);
        }
        if !trouble.is_empty() {
            // What could not be read is a part of its own, so the policy's `uninspectable`
            // classification decides about it.
            parts.push(mamori_gateway::Part {
                name: None,
                content_type: "application/octet-stream".into(),
                bytes: 0,
                findings: Vec::new(),
                uninspectable: trouble
                    .into_iter()
                    .map(|reason| Uninspectable {
                        location: Location::root(),
                        reason,
                    })
                    .collect(),
            });
        }
        let destination = Destination::Url(url.clone());
        let judgement = self
            .gatekeeper
            .judge(&parts, channel, &who.principal, &destination);
        self.record(&judgement, channel, &who, method, &url);
        if judgement.stops() {
            let lang = Lang::from_accept_language(
                http_request
                    .and_then(|h| h.headers.get("Accept-Language"))
                    .unwrap_or(""),
            );
            Verdict::Respond(block_page(&judgement, lang, &url))
        } else {
            Verdict::Allow
        }
    }

    fn record(&self, judgement: &Judgement, channel: Channel, who: &Who, method: &str, url: &str) {
        let mut event = judgement
            .event(Operation::Upload, channel)
            .with_transfer(Transfer {
                client: who.client.clone(),
                sender: Some(who.principal.user.clone()),
                subject: None,
                reference: Some(format!("{method} {url}")),
                items: judgement.items(),
            });
        if let Some(uid) = self.uid(&who.principal.user) {
            event = event.with_user(mamori_journal::User {
                uid,
                name: Some(who.principal.user.clone()),
            });
        }
        let recorded = self.gatekeeper.record(event);
        if !self.log_all && recorded.is_ok() && !judgement.decision.action.is_warning() {
            return;
        }
        // One write per line: standard error is unbuffered.
        let line = format!(
            "mamori icap: {} {method} {url} user={} client={} level={} found=[{}] rules=[{}]{}\n",
            judgement.decision.action.as_str(),
            who.principal.user,
            who.client.as_deref().unwrap_or("-"),
            judgement.level,
            judgement.detector_summary().join(", "),
            judgement.decision.rules.join(", "),
            match recorded {
                Ok(_) => String::new(),
                Err(e) => format!(" JOURNAL ERROR: {e}"),
            }
        );
        let _ = std::io::Write::write_all(&mut std::io::stderr().lock(), line.as_bytes());
    }

    fn uid(&self, user: &str) -> Option<u32> {
        let mut cache = self.uids.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(uid) = cache.get(user) {
            return *uid;
        }
        let uid = nix::unistd::User::from_name(user)
            .ok()
            .flatten()
            .map(|u| u.uid.as_raw());
        if cache.len() > 100_000 {
            cache.clear();
        }
        cache.insert(user.to_owned(), uid);
        uid
    }
}

impl Adapter for IcapAdapter {
    fn istag(&self) -> String {
        self.istag.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn precheck(&self, request: &Request) -> Option<Verdict> {
        // A request without a body uploads nothing: let it through unrecorded.
        let has_body = request
            .icap
            .encapsulated
            .as_ref()
            .is_some_and(|e| e.has_body());
        (!has_body).then_some(Verdict::Allow)
    }

    fn decide(&self, request: &Request, body: Body<'_>, _len: u64, complete: bool) -> Verdict {
        self.judge(request, body, complete)
    }

    fn log_error(&self, peer: SocketAddr, error: &mamori_icap::Error) {
        eprintln!("mamori icap: {peer}: {error}");
    }
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The 403 page: the user's language first, the other below.
fn block_page(judgement: &Judgement, lang: Lang, url: &str) -> HttpResponse {
    let section = |l: Lang| {
        let (title, lead) = match l {
            Lang::Ja => (
                "アップロードを止めました",
                "このアップロードには機密情報が含まれているため、組織のポリシーにより送信できません。",
            ),
            Lang::En => (
                "Upload blocked",
                "This upload contains confidential information and the organisation's policy does not allow sending it.",
            ),
        };
        format!(
            "<section lang=\"{}\"><h1>{}</h1><p>{}</p><pre>{}</pre></section>\n",
            match l {
                Lang::Ja => "ja",
                Lang::En => "en",
            },
            title,
            lead,
            escape(&judgement.message(l)),
        )
    };
    let other = match lang {
        Lang::Ja => Lang::En,
        Lang::En => Lang::Ja,
    };
    let html_lang = match lang {
        Lang::Ja => "ja",
        Lang::En => "en",
    };
    let body = format!(
        "<!DOCTYPE html>\n<html lang=\"{html_lang}\"><head><meta charset=\"utf-8\"><title>Mamori: 403</title></head><body>\n{}<hr>\n{}<p><small>{} — Mamori 守り</small></p></body></html>\n",
        section(lang),
        section(other),
        escape(url),
    );
    HttpResponse {
        status: 403,
        reason: "Forbidden".into(),
        headers: vec![
            ("Content-Type".into(), "text/html; charset=utf-8".into()),
            ("Cache-Control".into(), "no-store".into()),
            ("Connection".into(), "close".into()),
        ],
        body: body.into_bytes(),
    }
}

fn load_config(path: Option<&std::path::Path>) -> anyhow::Result<IcapConfig> {
    let Some(path) = path else {
        return Ok(IcapConfig::default());
    };
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read {} / 設定を読めません", path.display()))?;
    toml::from_str(&text)
        .with_context(|| format!("invalid configuration / 設定が不正です: {}", path.display()))
}

/// Runs `mamori icap`.
pub fn run(args: IcapArgs) -> anyhow::Result<ExitCode> {
    let mut config = load_config(args.config.as_deref())?;
    if let Some(listen) = args.listen {
        config.listen = listen;
    }
    let mapping = Mapping::new(config.clone())?;
    if args.check {
        args.gateway.load_policy()?;
        println!("configuration ok / 設定に問題はありません");
        return Ok(ExitCode::SUCCESS);
    }
    let gatekeeper = Arc::new(args.gateway.build()?);
    let workers = if config.workers == 0 {
        std::thread::available_parallelism().map_or(2, |n| n.get())
    } else {
        config.workers
    };
    let server_config = ServerConfig {
        respmod_service: config.respmod.then(|| "/respmod".to_owned()),
        max_connections: config.max_connections,
        preview: config.preview,
        options_ttl: config.options_ttl,
        transfer_ignore: config.transfer_ignore.clone(),
        spool_threshold: usize::try_from(config.spool_threshold).unwrap_or(usize::MAX),
        spool_dir: config.spool_dir.clone(),
        max_body: config.max_body,
        inline_max: config.inline_max,
        idle_timeout: Duration::from_secs(config.idle_timeout),
        read_timeout: Duration::from_secs(config.read_timeout),
        ..ServerConfig::default()
    };
    let limits = ContentLimits {
        max_decoded: config.max_decoded,
        spool_threshold: server_config.spool_threshold,
        spool_dir: config.spool_dir.clone(),
        ..ContentLimits::default()
    };
    let adapter = Arc::new(IcapAdapter {
        gatekeeper: Arc::clone(&gatekeeper),
        mapping,
        limits,
        istag: RwLock::new(String::new()),
        reloads: AtomicU64::new(0),
        uids: Mutex::new(HashMap::new()),
        log_all: args.gateway.no_journal,
    });
    adapter.set_istag();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(workers)
        .build()
        .context("cannot start the runtime")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("cannot listen on {} / 待ち受けできません", config.listen))?;
        let local = listener.local_addr()?;
        println!("mamori icap: listening on {local} (icap://{local}/reqmod)");
        use std::io::Write as _;
        let _ = std::io::stdout().flush();
        let server = Server::new(server_config, Arc::clone(&adapter));
        let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        let serve = server.serve(listener);
        tokio::pin!(serve);
        loop {
            tokio::select! {
                result = &mut serve => {
                    result.context("the ICAP server stopped")?;
                    return Ok(ExitCode::SUCCESS);
                }
                _ = hangup.recv() => {
                    // Transactional reload: a policy that does not load keeps the old one.
                    match args.gateway.load_policy() {
                        Ok(policy) => {
                            gatekeeper.replace_policy(policy);
                            adapter.reloads.fetch_add(1, Ordering::Relaxed);
                            adapter.set_istag();
                            eprintln!("mamori icap: policy reloaded / ポリシーを再読み込みしました");
                        }
                        Err(e) => eprintln!("mamori icap: reload failed, keeping the old policy / 再読み込みに失敗しました: {e:#}"),
                    }
                }
                _ = terminate.recv() => return Ok(ExitCode::SUCCESS),
                _ = tokio::signal::ctrl_c() => return Ok(ExitCode::SUCCESS),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mapping(toml_text: &str) -> Mapping {
        Mapping::new(toml::from_str(toml_text).unwrap()).unwrap()
    }

    #[test]
    fn networks() {
        let n = Network::parse("192.0.2.0/24").unwrap();
        assert!(n.contains("192.0.2.77".parse().unwrap()));
        assert!(!n.contains("192.0.3.1".parse().unwrap()));
        assert!(n.contains("::ffff:192.0.2.1".parse().unwrap()));
        assert!(
            Network::parse("0.0.0.0/0")
                .unwrap()
                .contains("8.8.8.8".parse().unwrap())
        );
        assert!(
            Network::parse("2001:db8::/32")
                .unwrap()
                .contains("2001:db8:1::5".parse().unwrap())
        );
        assert!(
            !Network::parse("2001:db8::/32")
                .unwrap()
                .contains("10.0.0.1".parse().unwrap())
        );
        assert!(
            Network::parse("10.0.0.1")
                .unwrap()
                .contains("10.0.0.1".parse().unwrap())
        );
        assert_eq!(Network::parse("10.0.0.0/33"), None);
        assert_eq!(Network::parse("nonsense"), None);
    }

    #[test]
    fn principal_from_user_header_then_client_then_default() {
        let m = mapping(
            r#"
            [users.alice]
            name = "a.sato"
            groups = ["rd"]
            [[clients]]
            network = "10.1.0.0/16"
            user = "lab-pc"
            groups = ["lab"]
            "#,
        );
        let who = m.who(Some("alice"), Some("10.1.2.3"));
        assert_eq!(who.principal.user, "a.sato");
        assert_eq!(who.principal.groups, vec!["rd".to_owned()]);
        assert_eq!(who.client.as_deref(), Some("10.1.2.3"));
        let who = m.who(Some("WinNT://CORP\\bob"), None);
        assert_eq!(who.principal.user, "bob");
        let who = m.who(None, Some("10.1.9.9"));
        assert_eq!(who.principal.user, "lab-pc");
        assert_eq!(who.principal.groups, vec!["lab".to_owned()]);
        let who = m.who(Some("-"), Some("192.0.2.1"));
        assert_eq!(who.principal.user, "anonymous");
    }

    #[test]
    fn base64_user_header() {
        let m = mapping("user_header_base64 = true");
        assert_eq!(m.who(Some("YWxpY2U="), None).principal.user, "alice");
        assert_eq!(m.who(Some("!!!"), None).principal.user, "anonymous");
    }

    #[test]
    fn bad_config_is_refused() {
        assert!(toml::from_str::<IcapConfig>("listen = 5").is_err());
        assert!(toml::from_str::<IcapConfig>("no_such_key = 1").is_err());
        let config: IcapConfig =
            toml::from_str("[[clients]]\nnetwork = \"10.0.0.0/99\"\nuser = \"x\"").unwrap();
        assert!(Mapping::new(config).is_err());
    }

    #[test]
    fn block_page_escapes_and_speaks_both_languages() {
        let inspector = mamori_inspect::InspectorBuilder::new().build().unwrap();
        let gatekeeper = Gatekeeper::new(inspector, mamori_policy::Policy::default_policy());
        let part = gatekeeper.inspect_bytes(Some("<x>.txt"), "極秘 資料".as_bytes());
        let judgement = gatekeeper.judge(
            &[part],
            Channel::WebUpload,
            &Principal::new("u"),
            &Destination::Url("http://h/<script>".into()),
        );
        assert!(judgement.stops());
        let page = block_page(&judgement, Lang::En, "http://h/<script>");
        assert_eq!(page.status, 403);
        let body = String::from_utf8(page.body).unwrap();
        assert!(!body.contains("<script>"));
        assert!(body.contains("&lt;script&gt;"));
        let en = body.find("Upload blocked").unwrap();
        let ja = body.find("アップロードを止めました").unwrap();
        assert!(en < ja, "English first for an English browser");
        assert!(body.contains("label.gokuhi"), "{body}");
    }
}
