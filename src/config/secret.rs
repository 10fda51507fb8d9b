//! Secrets and addresses that carry them: [`Secret`] (a password) and
//! [`SecretUrl`] (a camera or broker URL). Both are the only way a camera or
//! broker address is held or shown: their `Debug` and `Display` print the
//! password and known credential query values as `***`, and reading the real
//! value takes an explicit `expose`. A parse error never echoes the input.
//!
//! Camera URLs are written by hand, so passwords often hold `@`, `/`, `?` or
//! `#` unencoded (`rtsp://admin:pa/ss@cam/live`): the user information is
//! found first, percent-encoded, and the result parsed by the `url` crate.

use std::fmt;

use percent_encoding::percent_decode_str;

/// Where a secret is kept: a file, or a systemd credential (a file under
/// `$CREDENTIALS_DIRECTORY`, from `LoadCredential=` in the unit). The one
/// type for every password a config points to (the broker's, the console's
/// hash, a camera's); the secret itself is read at start, never stored in a
/// plan, printed or logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    File(std::path::PathBuf),
    /// A systemd credential's name, e.g. "console.hash".
    Credential(String),
}

impl SecretSource {
    /// The file holding the secret; an error when a credential is named but
    /// the service was started without credentials.
    pub fn path(&self) -> Result<std::path::PathBuf, String> {
        match self {
            Self::File(path) => Ok(path.clone()),
            Self::Credential(name) => match std::env::var_os("CREDENTIALS_DIRECTORY") {
                Some(dir) => Ok(std::path::Path::new(&dir).join(name)),
                None => Err(format!(
                    "systemd credential `{name}`: $CREDENTIALS_DIRECTORY is not set"
                )),
            },
        }
    }

    /// The secret: the file's text without its line ending.
    pub fn read(&self) -> Result<Secret, String> {
        let path = self.path()?;
        std::fs::read_to_string(&path)
            .map(|text| Secret::new(text.trim_end_matches(['\r', '\n'])))
            .map_err(|e| format!("cannot read {}: {e}", path.display()))
    }
}

/// A password that never prints.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The real value, for the one call that hands it over.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Query keys whose values are credentials (compared without case):
/// `?user=admin&pwd=…` as many cameras take them.
pub const SECRET_QUERY_KEYS: &[&str] = &[
    "pwd",
    "pw",
    "pass",
    "passwd",
    "password",
    "psw",
    "loginpas",
    "token",
    "access_token",
    "auth",
    "key",
    "apikey",
    "api_key",
    "secret",
    "signature",
    "sig",
];

/// Why a URL could not be read. Never holds the URL itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct UrlError(String);

/// A URL that may carry credentials, in its user information or its query.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretUrl {
    url: url::Url,
}

impl SecretUrl {
    /// Reads `scheme://[user[:password]@]host[:port][/path][?query]`.
    pub fn parse(raw: &str) -> Result<Self, UrlError> {
        let raw = raw.trim();
        let Some((scheme, rest)) = raw.split_once("://") else {
            return Err(UrlError("expected scheme://host/…".into()));
        };
        let (userinfo, rest) = match split_userinfo(rest) {
            Some(at) => (Some(&rest[..at]), &rest[at + 1..]),
            None => (None, rest),
        };
        let mut url =
            url::Url::parse(&format!("{scheme}://{rest}")).map_err(|e| UrlError(format!("not a valid URL ({e})")))?;
        if let Some(userinfo) = userinfo {
            let (user, password) = match userinfo.split_once(':') {
                Some((u, p)) => (u, Some(p)),
                None => (userinfo, None),
            };
            let refused = || UrlError("this URL cannot carry a user name or password".into());
            url.set_username(user).map_err(|()| refused())?;
            url.set_password(password).map_err(|()| refused())?;
        }
        Ok(Self { url })
    }

    /// A local file as a `file://` URL.
    pub fn from_file(path: &std::path::Path) -> Option<Self> {
        url::Url::from_file_path(path).ok().map(|url| Self { url })
    }

    pub fn scheme(&self) -> &str {
        self.url.scheme()
    }

    /// The host without IPv6 brackets, if any.
    pub fn host(&self) -> Option<String> {
        match self.url.host()? {
            url::Host::Ipv6(ip) => Some(ip.to_string()),
            host => Some(host.to_string()),
        }
    }

    pub fn port(&self) -> Option<u16> {
        self.url.port()
    }

    pub fn path(&self) -> &str {
        self.url.path()
    }

    pub fn query(&self) -> Option<&str> {
        self.url.query()
    }

    /// The user name, percent-decoded; None when there is none.
    pub fn username(&self) -> Option<String> {
        let user = self.url.username();
        (!user.is_empty() || self.url.password().is_some()).then(|| decode(user))
    }

    /// The password, percent-decoded.
    pub fn password(&self) -> Option<Secret> {
        self.url.password().map(|p| Secret::new(decode(p)))
    }

    /// Whether anything in the URL is a credential.
    pub fn has_secret(&self) -> bool {
        self.url.password().is_some() || self.query_secrets().next().is_some()
    }

    /// The whole URL with its credentials.
    pub fn expose(&self) -> &str {
        self.url.as_str()
    }

    /// The URL without its user information (query credentials stay: the
    /// camera needs them), for the element that fetches it.
    pub fn expose_location(&self) -> String {
        let mut url = self.url.clone();
        let _ = url.set_password(None);
        let _ = url.set_username("");
        url.to_string()
    }

    /// What logs show: the password and credential query values as `***`.
    pub fn masked(&self) -> String {
        let mut url = self.url.clone();
        if url.password().is_some() {
            let _ = url.set_password(Some("***"));
        }
        if let Some(query) = url.query() {
            let masked: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((key, _)) if is_secret_key(key) => format!("{key}=***"),
                    _ => pair.to_string(),
                })
                .collect();
            url.set_query(Some(&masked.join("&")));
        }
        url.to_string()
    }

    /// `text` with every secret of this URL, as written or percent-decoded,
    /// replaced by `***`: for messages from libraries that may quote the URL.
    pub fn scrub(&self, text: &str) -> String {
        let mut out = text.to_string();
        let mut secrets: Vec<String> = Vec::new();
        if let Some(p) = self.url.password() {
            secrets.extend([p.to_string(), decode(p)]);
        }
        for value in self.query_secrets() {
            secrets.extend([value.to_string(), decode(value)]);
        }
        // Longest first, so a secret that contains another goes whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        for secret in secrets.iter().filter(|s| s.len() >= 3) {
            out = out.replace(secret.as_str(), "***");
        }
        out
    }

    fn query_secrets(&self) -> impl Iterator<Item = &str> {
        self.url
            .query()
            .unwrap_or("")
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .filter(|(key, value)| is_secret_key(key) && !value.is_empty())
            .map(|(_, value)| value)
    }
}

impl fmt::Display for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

impl fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretUrl({})", self.masked())
    }
}

/// What an error may show of a URL that did not parse: its scheme only.
pub fn mask_unparsed(raw: &str) -> String {
    match raw.trim().split_once("://") {
        Some((scheme, _)) if scheme.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'+') => format!("{scheme}://…"),
        _ => "the URL".to_string(),
    }
}

fn is_secret_key(key: &str) -> bool {
    let key = decode(key);
    SECRET_QUERY_KEYS.iter().any(|k| k.eq_ignore_ascii_case(&key))
}

fn decode(text: &str) -> String {
    percent_decode_str(text).decode_utf8_lossy().into_owned()
}

/// Where the user information of `rest` (the URL after `scheme://`) ends:
/// the last `@` that is followed by a host and preceded by something that
/// reads as `user[:password]` (which may hold `@`, `/`, `?`, `#`).
fn split_userinfo(rest: &str) -> Option<usize> {
    let delimiter = |c: char| matches!(c, '/' | '?' | '#');
    rest.match_indices('@').map(|(i, _)| i).rev().find(|&at| {
        let (userinfo, after) = (&rest[..at], &rest[at + 1..]);
        let host = &after[..after.find(delimiter).unwrap_or(after.len())];
        if !is_host_port(host) || userinfo.is_empty() {
            return false;
        }
        let first = &userinfo[..userinfo.find(delimiter).unwrap_or(userinfo.len())];
        if first.len() == userinfo.len() {
            return true;
        }
        // `host:554/path@x` is a port and a path, not a password with `/`.
        match first.split_once(':') {
            Some((_, port)) => !(port.is_empty() || port.bytes().all(|b| b.is_ascii_digit())),
            None => false,
        }
    })
}

fn is_host_port(text: &str) -> bool {
    let (host, port) = match text.strip_prefix('[') {
        Some(v6) => match v6.split_once(']') {
            Some((ip, port)) => (ip, port),
            None => return false,
        },
        None => match text.rsplit_once(':') {
            Some((host, _)) => (host, &text[host.len()..]),
            None => (text, ""),
        },
    };
    let port_ok = port.is_empty()
        || port
            .strip_prefix(':')
            .is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()));
    !host.is_empty()
        && port_ok
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b':' | b'%'))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (written, user, password, masked, location)
    const SHAPES: &[(&str, &str, &str, &str, &str)] = &[
        (
            "rtsp://admin:s3cr:et@10.0.0.5:554/Streaming/101",
            "admin",
            "s3cr:et",
            "rtsp://admin:***@10.0.0.5:554/Streaming/101",
            "rtsp://10.0.0.5:554/Streaming/101",
        ),
        (
            "rtsp://user:pa/ss@host/x",
            "user",
            "pa/ss",
            "rtsp://user:***@host/x",
            "rtsp://host/x",
        ),
        (
            "rtsp://user:p@ss@host/x",
            "user",
            "p@ss",
            "rtsp://user:***@host/x",
            "rtsp://host/x",
        ),
        (
            "rtsp://u:p@s/s@cam:8554/live",
            "u",
            "p@s/s",
            "rtsp://u:***@cam:8554/live",
            "rtsp://cam:8554/live",
        ),
        (
            "rtsp://u:pa?ss#x@cam/live",
            "u",
            "pa?ss#x",
            "rtsp://u:***@cam/live",
            "rtsp://cam/live",
        ),
        (
            "rtsp://u:p%40ss@cam/live",
            "u",
            "p@ss",
            "rtsp://u:***@cam/live",
            "rtsp://cam/live",
        ),
        (
            "rtsp://admin:hunter22@[fe80::1]:554/live",
            "admin",
            "hunter22",
            "rtsp://admin:***@[fe80::1]:554/live",
            "rtsp://[fe80::1]:554/live",
        ),
        (
            "http://admin:pw:x@cam.local/mjpeg",
            "admin",
            "pw:x",
            "http://admin:***@cam.local/mjpeg",
            "http://cam.local/mjpeg",
        ),
        (
            "rtsp://ad%20min:secret1@cam/",
            "ad min",
            "secret1",
            "rtsp://ad%20min:***@cam/",
            "rtsp://cam/",
        ),
    ];

    #[test]
    fn user_information_of_many_shapes_is_found_and_masked() {
        for (raw, user, password, masked, location) in SHAPES {
            let url = SecretUrl::parse(raw).unwrap_or_else(|e| panic!("{raw}: {e}"));
            assert_eq!(url.username().as_deref(), Some(*user), "{raw}");
            assert_eq!(url.password().unwrap().expose(), *password, "{raw}");
            assert_eq!(url.masked(), *masked, "{raw}");
            assert_eq!(url.expose_location(), *location, "{raw}");
            assert!(
                !format!("{url} {url:?} {:?}", url.password()).contains(password),
                "{raw}"
            );
        }
    }

    #[test]
    fn urls_without_credentials_are_kept() {
        for raw in [
            "rtsp://10.0.0.5/live",
            "rtsp://cam:554/media@x/y",
            "rtsp://cam/path@x",
            "rtsp://[::1]:8554/test",
        ] {
            let url = SecretUrl::parse(raw).unwrap();
            assert_eq!(url.password(), None, "{raw}");
            assert_eq!(url.masked(), raw);
        }
        let viewer = SecretUrl::parse("rtsp://viewer@cam/live").unwrap();
        assert_eq!(viewer.username().as_deref(), Some("viewer"));
        assert_eq!(viewer.masked(), "rtsp://viewer@cam/live");
    }

    #[test]
    fn credential_query_values_are_masked_but_kept_for_the_camera() {
        let url = SecretUrl::parse("http://cam/videostream.cgi?user=admin&pwd=Secr3t&resolution=32").unwrap();
        assert_eq!(
            url.masked(),
            "http://cam/videostream.cgi?user=admin&pwd=***&resolution=32"
        );
        assert_eq!(
            url.expose_location(),
            "http://cam/videostream.cgi?user=admin&pwd=Secr3t&resolution=32"
        );
        assert!(url.has_secret());
        let url = SecretUrl::parse("http://cam/cgi?loginuse=admin&LOGINPAS=abc%2F123").unwrap();
        assert_eq!(url.masked(), "http://cam/cgi?loginuse=admin&LOGINPAS=***");
        assert_eq!(
            url.scrub("GET /cgi?LOGINPAS=abc/123 failed"),
            "GET /cgi?LOGINPAS=*** failed"
        );
    }

    #[test]
    fn parse_errors_never_echo_the_input() {
        for raw in [
            "rtsp://u:topsecret@",
            "no-scheme-topsecret",
            "rtsp://u:topsecret@ho st/",
        ] {
            if let Err(e) = SecretUrl::parse(raw) {
                assert!(!e.to_string().contains("topsecret"), "{e}");
            }
        }
    }

    #[test]
    fn a_secret_never_prints() {
        let s = Secret::new("pa55word");
        assert_eq!(format!("{s} {s:?}"), "*** ***");
        assert_eq!(s.expose(), "pa55word");
    }
}
