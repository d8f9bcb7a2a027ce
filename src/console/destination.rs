//! Where the console may send a signed-in user: the `Destination` of the login URL.
//!
//! The login URL is a bearer credential that AWS redirects to `Destination` once signed in, so an
//! unchecked destination turns the broker into an open redirect carrying a fresh console session.
//! A destination is accepted only when it is an https URL (parsed, then compared as parsed:
//! scheme, no userinfo, exact host, default port, path prefix on a segment boundary) under an
//! allowed entry; raw tricks that parsers disagree on (backslashes, whitespace, control characters,
//! scheme-relative `//host`, other schemes) are refused before parsing. What is sent to AWS is the
//! parsed, normalised URL that was checked, never the caller's raw text.

use super::{ConsoleError, Partition};
use url::{Host, Url};

/// Longest destination accepted (AWS documents ~2,048 bytes as the practical GET URL limit, and
/// the destination travels inside the login URL).
pub const MAX_DESTINATION_LEN: usize = 2_048;

/// One entry of the destination allow-list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AllowedDestination {
    /// `https://host[:port]/path-prefix` (from `console.allowed_destinations`, or a partition's
    /// console origin).
    Prefix {
        host: String,
        port: u16,
        path: String,
    },
    /// Any path on `https://<region>.<host>/` where `<region>` is a Region name (the regional
    /// consoles of a partition, e.g. `https://us-east-2.console.aws.amazon.com/`).
    RegionalConsole { host: &'static str },
}

impl AllowedDestination {
    /// Parse a configured prefix: an https URL without userinfo, query or fragment.
    pub fn prefix(raw: &str) -> Result<Self, &'static str> {
        let u = parse_https(raw)?;
        if u.query().is_some() || u.fragment().is_some() {
            return Err("a prefix takes no query or fragment");
        }
        Ok(Self::Prefix {
            host: u.host_str().unwrap_or_default().to_owned(),
            port: u.port_or_known_default().unwrap_or(443),
            path: u.path().to_owned(),
        })
    }

    /// The default list for a partition: its console, global and regional.
    pub fn partition_defaults(p: Partition) -> Vec<Self> {
        vec![
            Self::Prefix {
                host: p.console_host().to_owned(),
                port: 443,
                path: "/".to_owned(),
            },
            Self::RegionalConsole {
                host: p.console_host(),
            },
        ]
    }

    /// Whether a parsed https destination (see [`parse_destination`]) falls under this entry.
    pub fn allows(&self, u: &Url) -> bool {
        let Some(Host::Domain(host)) = u.host() else {
            return false;
        };
        let port = u.port_or_known_default().unwrap_or(0);
        match self {
            Self::Prefix {
                host: h,
                port: p,
                path,
            } => {
                host == h
                    && port == *p
                    && (u.path() == path
                        || (path.ends_with('/') && u.path().starts_with(path.as_str()))
                        || u.path().starts_with(&format!("{path}/")))
            }
            Self::RegionalConsole { host: h } => {
                port == 443
                    && host
                        .strip_suffix(h)
                        .and_then(|r| r.strip_suffix('.'))
                        .is_some_and(crate::config::is_region)
            }
        }
    }
}

/// Parse a caller's destination: https, no userinfo, a domain host, and none of the raw forms
/// parsers disagree on. The allow-list is checked by the caller of this function.
pub fn parse_destination(raw: &str) -> Result<Url, ConsoleError> {
    parse_https(raw).map_err(ConsoleError::DestinationNotAllowed)
}

fn parse_https(raw: &str) -> Result<Url, &'static str> {
    if raw.len() > MAX_DESTINATION_LEN {
        return Err("longer than 2048 characters");
    }
    if raw
        .chars()
        .any(|c| c == '\\' || c.is_whitespace() || c.is_control())
    {
        return Err("backslashes, whitespace and control characters are not accepted");
    }
    // Literal, lowercase "https://": no "HTTPS:", "https:host", "//host", "javascript:".
    if !raw.starts_with("https://") {
        return Err("must be an absolute https:// URL");
    }
    let u = Url::parse(raw).map_err(|_| "not a valid URL")?;
    if u.scheme() != "https" {
        return Err("must be an absolute https:// URL");
    }
    if !u.username().is_empty() || u.password().is_some() {
        return Err("a URL with user information (user@host) is not accepted");
    }
    if !matches!(u.host(), Some(Host::Domain(_))) {
        return Err("the host must be a domain name");
    }
    Ok(u)
}

/// The console home of a partition, in `region` when given.
pub fn default_destination(p: Partition, region: Option<&str>) -> Url {
    let base = p.console_origin();
    let text = match region {
        Some(r) => format!("{base}console/home?region={r}"),
        None => base,
    };
    Url::parse(&text).unwrap_or_else(|_| unreachable_console_url())
}

/// The partition origins are constants that parse; kept out of line so the happy path reads.
#[cold]
fn unreachable_console_url() -> Url {
    Url::parse("https://console.aws.amazon.com/").expect("constant URL parses")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed(raw: &str) -> bool {
        let Ok(u) = parse_destination(raw) else {
            return false;
        };
        AllowedDestination::partition_defaults(Partition::Aws)
            .iter()
            .any(|a| a.allows(&u))
    }

    #[test]
    fn console_pages_global_and_regional_are_allowed() {
        assert!(allowed("https://console.aws.amazon.com/"));
        assert!(allowed(
            "https://console.aws.amazon.com/s3/buckets?region=eu-west-1#x"
        ));
        assert!(allowed("https://eu-west-1.console.aws.amazon.com/ec2/home"));
        assert!(
            allowed("https://CONSOLE.aws.amazon.com/"),
            "hosts compare lowercased"
        );
    }

    #[test]
    fn open_redirect_forms_are_refused() {
        for attack in [
            "https://evil.example/",
            "https://console.aws.amazon.com.evil.example/",
            "https://console.aws.amazon.com@evil.example/",
            "https://user:pw@console.aws.amazon.com/",
            "javascript:alert(1)",
            "//evil.example",
            "https:\\\\evil.example",
            "https:/\\evil.example",
            "https:evil.example",
            "http://console.aws.amazon.com/",
            "HTTPS://evil.example/",
            "https://console.aws.amazon.com:8443/",
            "https://evil.console.aws.amazon.com/",
            "https://us-east-1.evil.console.aws.amazon.com/",
            "https://127.0.0.1/",
            "https://console.aws.amazon.com/\t@evil.example",
            "data:text/html,hi",
        ] {
            assert!(!allowed(attack), "{attack} must be refused");
        }
        let long = format!("https://console.aws.amazon.com/{}", "a".repeat(2100));
        assert!(!allowed(&long));
    }

    #[test]
    fn configured_prefix_matches_on_segment_boundaries_after_normalisation() {
        let a = AllowedDestination::prefix("https://console.aws.amazon.com/s3").unwrap();
        let ok = |raw: &str| a.allows(&parse_destination(raw).unwrap());
        assert!(ok("https://console.aws.amazon.com/s3"));
        assert!(ok("https://console.aws.amazon.com/s3/buckets"));
        assert!(!ok("https://console.aws.amazon.com/s3evil"));
        assert!(
            !ok("https://console.aws.amazon.com/s3/../iam/"),
            "dot segments resolved"
        );
        assert!(!ok("https://console.aws.amazon.com/s3/%2e%2e/iam/"));
        assert!(AllowedDestination::prefix("https://x.example/?q=1").is_err());
        assert!(AllowedDestination::prefix("http://x.example/").is_err());
    }

    #[test]
    fn default_destination_is_the_console_home() {
        assert_eq!(
            default_destination(Partition::Aws, None).as_str(),
            "https://console.aws.amazon.com/"
        );
        assert_eq!(
            default_destination(Partition::AwsCn, Some("cn-north-1")).as_str(),
            "https://console.amazonaws.cn/console/home?region=cn-north-1"
        );
    }
}
