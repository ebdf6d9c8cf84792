//! Hardening `cupsd.conf` so that a job's owner is the authenticated user, as a pure text
//! transform.
//!
//! With Debian's default `cupsd.conf`, the print operations need no authentication and
//! `lp -U anyone` makes `anyone` the job's owner (measured): the user recorded for a job would
//! not be evidence. Requiring an authenticated user on the operations that create jobs makes
//! cupsd take the name from the connection instead: on the local socket, from the peer's
//! credentials (`SO_PEERCRED`, no password asked); a spoofed `-U` is then refused.
//!
//! [`harden`] adds, inside the named `<Policy>`, `AuthType Default` and `Require valid-user` to
//! every `<Limit>` that covers `Create-Job`, `Print-Job` or `Print-URI` and lacks them (a
//! `Limit` that already has a `Require` keeps its own), and a new `<Limit>` for those of the
//! operations no `Limit` names (copying the `Order`/`Allow`/`Deny` lines of the policy's
//! `<Limit All>`, so that no address restriction is lost). Every added line sits between
//! [`BEGIN`] and [`END`] marker comments; [`unharden`] removes exactly those, so that
//! `unharden(harden(x)) == x` and `harden(harden(x)) == harden(x)`.

/// The comment opening each block Mamori adds.
pub const BEGIN: &str =
    "# mamori print: begin (added by `mamori print install`, removed by `mamori print uninstall`)";
/// The comment closing each block Mamori adds.
pub const END: &str = "# mamori print: end";

/// The operations that create a job, whose requesting user becomes the job's owner.
pub const JOB_OPERATIONS: [&str; 3] = ["Create-Job", "Print-Job", "Print-URI"];

/// Why `cupsd.conf` could not be hardened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfError {
    /// The named `<Policy>` is not in the file.
    #[error("cupsd.conf has no <Policy {0}> / cupsd.conf に <Policy {0}> がありません")]
    NoPolicy(String),
    /// A `<Policy>` or `<Limit>` block is not closed.
    #[error(
        "cupsd.conf line {0}: block not closed / cupsd.conf {0} 行目: ブロックが閉じていません"
    )]
    Unclosed(usize),
}

/// True when the file holds Mamori's hardening.
pub fn is_hardened(conf: &str) -> bool {
    conf.lines().any(|line| line.trim() == BEGIN)
}

/// Removes every block Mamori added, and nothing else.
pub fn unharden(conf: &str) -> String {
    let mut out = String::with_capacity(conf.len());
    let mut inside = false;
    for line in conf.split_inclusive('\n') {
        let trimmed = line.trim();
        if !inside && trimmed == BEGIN {
            inside = true;
        } else if inside {
            if trimmed == END {
                inside = false;
            }
        } else {
            out.push_str(line);
        }
    }
    out
}

/// The directive of a configuration line, lower-cased, and its value: `<Limit A B>` gives
/// `("<limit", "A B")`.
fn directive(line: &str) -> (String, &str) {
    let trimmed = line.trim();
    let trimmed = trimmed.strip_suffix('>').unwrap_or(trimmed);
    match trimmed.split_once(char::is_whitespace) {
        Some((name, value)) => (name.to_ascii_lowercase(), value.trim()),
        None => (trimmed.to_ascii_lowercase(), ""),
    }
}

fn indent_of(line: &str) -> &str {
    &line[..line.len() - line.trim_start().len()]
}

/// Adds the hardening to `<Policy policy>` (after removing any earlier one).
pub fn harden(conf: &str, policy: &str) -> Result<String, ConfError> {
    let base = unharden(conf);
    let lines: Vec<&str> = base.split_inclusive('\n').collect();
    // Find the policy block.
    let start = lines
        .iter()
        .position(|line| {
            let (name, value) = directive(line);
            name == "<policy" && value == policy
        })
        .ok_or_else(|| ConfError::NoPolicy(policy.to_owned()))?;
    let end = (start + 1..lines.len())
        .find(|&i| directive(lines[i]).0 == "</policy")
        .ok_or(ConfError::Unclosed(start + 1))?;

    // Every <Limit> of the policy: (first line, closing line).
    let mut limits = Vec::new();
    let mut i = start + 1;
    while i < end {
        if directive(lines[i]).0 == "<limit" {
            let close = (i + 1..end)
                .find(|&j| directive(lines[j]).0 == "</limit")
                .ok_or(ConfError::Unclosed(i + 1))?;
            limits.push((i, close));
            i = close;
        }
        i += 1;
    }
    let ops_of = |line: &str| -> Vec<String> {
        directive(line)
            .1
            .split_whitespace()
            .map(str::to_ascii_lowercase)
            .collect()
    };
    let is_job_op = |op: &str| JOB_OPERATIONS.iter().any(|j| j.eq_ignore_ascii_case(op));

    // Insertions: (index of the line to insert before, lines).
    let mut inserts: Vec<(usize, Vec<String>)> = Vec::new();
    let mut covered: Vec<String> = Vec::new();
    let mut access_of_all: Vec<String> = Vec::new();
    for &(open, close) in &limits {
        let ops = ops_of(lines[open]);
        let body = &lines[open + 1..close];
        if ops.iter().any(|op| op == "all") {
            access_of_all = body
                .iter()
                .filter(|l| matches!(directive(l).0.as_str(), "order" | "allow" | "deny"))
                .map(|l| l.trim().to_owned())
                .collect();
        }
        if !ops.iter().any(|op| is_job_op(op)) {
            continue;
        }
        covered.extend(ops.iter().filter(|op| is_job_op(op)).cloned());
        let auth = body
            .iter()
            .rev()
            .find(|l| directive(l).0 == "authtype")
            .map(|l| directive(l).1.to_ascii_lowercase());
        let has_require = body.iter().any(|l| directive(l).0 == "require");
        let mut add = Vec::new();
        if auth.as_deref().is_none_or(|a| a == "none") {
            add.push("AuthType Default");
        }
        if !has_require {
            add.push("Require valid-user");
        }
        if add.is_empty() {
            continue;
        }
        let indent = body.iter().find(|l| !l.trim().is_empty()).map_or_else(
            || format!("{}  ", indent_of(lines[open])),
            |l| indent_of(l).to_owned(),
        );
        let mut block = vec![format!("{indent}{BEGIN}")];
        block.extend(add.iter().map(|a| format!("{indent}{a}")));
        block.push(format!("{indent}{END}"));
        inserts.push((close, block));
    }
    let missing: Vec<&str> = JOB_OPERATIONS
        .iter()
        .copied()
        .filter(|op| !covered.iter().any(|c| c.eq_ignore_ascii_case(op)))
        .collect();
    if !missing.is_empty() {
        let indent = format!("{}  ", indent_of(lines[start]));
        let mut block = vec![
            format!("{indent}{BEGIN}"),
            format!("{indent}<Limit {}>", missing.join(" ")),
            format!("{indent}  AuthType Default"),
            format!("{indent}  Require valid-user"),
        ];
        if access_of_all.is_empty() {
            access_of_all.push("Order deny,allow".to_owned());
        }
        block.extend(access_of_all.iter().map(|l| format!("{indent}  {l}")));
        block.push(format!("{indent}</Limit>"));
        block.push(format!("{indent}{END}"));
        inserts.push((start + 1, block));
    }

    let mut out = String::with_capacity(base.len() + 512);
    for (index, line) in lines.iter().enumerate() {
        for (_, block) in inserts.iter().filter(|(at, _)| *at == index) {
            for added in block {
                out.push_str(added);
                out.push('\n');
            }
        }
        out.push_str(line);
        if index + 1 == lines.len() && !line.ends_with('\n') {
            // Keep a file without a final newline that way.
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The job part of Debian 12's `/etc/cups/cupsd.conf` (CUPS 2.4.2), trimmed.
    const DEBIAN: &str = "\
LogLevel warn
Listen localhost:631
Listen /run/cups/cups.sock
<Location />
  Order allow,deny
</Location>
<Policy default>
  JobPrivateAccess default
  <Limit Create-Job Print-Job Print-URI Validate-Job>
    Order deny,allow
  </Limit>
  <Limit Send-Document Send-URI Hold-Job Release-Job>
    Require user @OWNER @SYSTEM
    Order deny,allow
  </Limit>
  <Limit CUPS-Add-Modify-Printer CUPS-Delete-Printer>
    AuthType Default
    Require user @SYSTEM
    Order deny,allow
  </Limit>
  <Limit All>
    Order deny,allow
  </Limit>
</Policy>
<Policy authenticated>
  <Limit Create-Job Print-Job Print-URI Validate-Job>
    AuthType Default
    Order deny,allow
  </Limit>
  <Limit All>
    Order deny,allow
  </Limit>
</Policy>
";

    #[test]
    fn debian_default_policy() {
        let hardened = harden(DEBIAN, "default").unwrap();
        let expected = DEBIAN.replace(
            "  <Limit Create-Job Print-Job Print-URI Validate-Job>\n    Order deny,allow\n  </Limit>\n  <Limit Send",
            &format!(
                "  <Limit Create-Job Print-Job Print-URI Validate-Job>\n    Order deny,allow\n    {BEGIN}\n    AuthType Default\n    Require valid-user\n    {END}\n  </Limit>\n  <Limit Send"
            ),
        );
        assert_ne!(expected, DEBIAN);
        assert_eq!(hardened, expected);
        assert!(is_hardened(&hardened));
        assert!(!is_hardened(DEBIAN));
        assert_eq!(unharden(&hardened), DEBIAN);
        assert_eq!(harden(&hardened, "default").unwrap(), hardened);
    }

    #[test]
    fn a_limit_with_authtype_gets_only_require() {
        let hardened = harden(DEBIAN, "authenticated").unwrap();
        assert!(hardened.contains(&format!(
            "    AuthType Default\n    Order deny,allow\n    {BEGIN}\n    Require valid-user\n    {END}\n"
        )));
        assert_eq!(
            hardened.matches("AuthType Default").count(),
            2,
            "none added"
        );
        assert_eq!(unharden(&hardened), DEBIAN);
    }

    #[test]
    fn an_existing_require_is_kept_and_authtype_none_is_overridden() {
        let conf = "<Policy p>\n<Limit Print-Job Create-Job Print-URI>\nAuthType None\nRequire group staff\n</Limit>\n</Policy>\n";
        let hardened = harden(conf, "p").unwrap();
        assert_eq!(
            hardened,
            format!(
                "<Policy p>\n<Limit Print-Job Create-Job Print-URI>\nAuthType None\nRequire group staff\n{BEGIN}\nAuthType Default\n{END}\n</Limit>\n</Policy>\n"
            )
        );
        let done = "<Policy p>\n<Limit Print-Job Create-Job Print-URI>\nAuthType Basic\nRequire user @SYSTEM\n</Limit>\n</Policy>\n";
        assert_eq!(harden(done, "p").unwrap(), done);
    }

    #[test]
    fn operations_no_limit_names_get_a_new_limit_with_the_access_of_limit_all() {
        let conf = "<Policy p>\n  <Limit Create-Job>\n    Order deny,allow\n  </Limit>\n  <Limit All>\n    Order allow,deny\n    Allow from 10.0.0.0/8\n  </Limit>\n</Policy>\n";
        let hardened = harden(conf, "p").unwrap();
        let new_block = format!(
            "<Policy p>\n  {BEGIN}\n  <Limit Print-Job Print-URI>\n    AuthType Default\n    Require valid-user\n    Order allow,deny\n    Allow from 10.0.0.0/8\n  </Limit>\n  {END}\n"
        );
        assert!(hardened.starts_with(&new_block), "{hardened}");
        assert!(hardened.contains(&format!("    Order deny,allow\n    {BEGIN}\n    AuthType Default\n    Require valid-user\n    {END}\n  </Limit>\n  <Limit All>")), "{hardened}");
        assert_eq!(unharden(&hardened), conf);
        assert_eq!(harden(&hardened, "p").unwrap(), hardened);
        // An empty policy gets one block with every operation.
        let hardened = harden("<Policy p>\n</Policy>", "p").unwrap();
        assert!(hardened.contains("<Limit Create-Job Print-Job Print-URI>"));
        assert!(hardened.contains("Order deny,allow"));
        assert_eq!(unharden(&hardened), "<Policy p>\n</Policy>");
    }

    #[test]
    fn errors() {
        assert_eq!(
            harden(DEBIAN, "kerberos"),
            Err(ConfError::NoPolicy("kerberos".into()))
        );
        assert_eq!(harden("<Policy p>\n", "p"), Err(ConfError::Unclosed(1)));
        assert_eq!(
            harden("<Policy p>\n<Limit All>\n</Policy>\n", "p"),
            Err(ConfError::Unclosed(2))
        );
    }

    proptest::proptest! {
        /// Whatever the file, hardening twice is hardening once, and unhardening gives the
        /// file back.
        #[test]
        fn idempotent_and_reversible(
            before in proptest::collection::vec("[ a-zA-Z<>/-]{0,30}", 0..6),
            inside in proptest::collection::vec(proptest::prop_oneof![
                proptest::strategy::Just("<Limit Create-Job>\nOrder deny,allow\n</Limit>".to_owned()),
                proptest::strategy::Just("<Limit Print-Job Send-Document>\nRequire user @OWNER\n</Limit>".to_owned()),
                proptest::strategy::Just("<Limit All>\nDeny from all\n</Limit>".to_owned()),
                proptest::strategy::Just("  JobPrivateAccess default".to_owned()),
                "[ a-zA-Z]{0,20}",
            ], 0..5),
            after in proptest::collection::vec("[ a-zA-Z]{0,30}", 0..3),
        ) {
            let mut conf = String::new();
            for l in &before { conf.push_str(l); conf.push('\n'); }
            conf.push_str("<Policy default>\n");
            for l in &inside { conf.push_str(l); conf.push('\n'); }
            conf.push_str("</Policy>\n");
            for l in &after { conf.push_str(l); conf.push('\n'); }
            if let Ok(once) = harden(&conf, "default") {
                proptest::prop_assert_eq!(harden(&once, "default").unwrap(), once.clone());
                proptest::prop_assert_eq!(unharden(&once), conf.clone());
                proptest::prop_assert!(is_hardened(&once));
            }
        }
    }
}
