//! `[console]`: where the operator console listens and who may use it.
//!
//! It listens on `127.0.0.1:8080` by default, and only once a password is
//! set (an argon2 hash in a file, or a systemd credential holding one):
//! without one the console stays off, since any local account or daemon
//! could otherwise remove masks and rules. Anywhere but loopback it also
//! needs TLS from certificate and key files, and answers only to the host
//! names in `hosts` (and its own address): the check refuses the file
//! otherwise, so the console is never reachable over the network in the
//! clear or without a login.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use super::tls::{self, TlsFiles};
pub use crate::config::SecretSource as PasswordSource;
use crate::config::Spanned;
use crate::config::{Checked, Ctx, Secret};

crate::config::table! {
    /// `[console]`: the operator console.
    pub struct ConsoleConfig in "console." => #[derive(Eq)] ConsoleKeys {
        /// Serve the console at all (default true), e.g. false.
        #[apart]
        pub enabled: bool = true;
        /// Address and port, e.g. "127.0.0.1:8080" (the default). Any address
        /// but loopback needs `password_file` (or `password_credential`) and
        /// `tls_cert_file` with `tls_key_file`.
        #[apart]
        pub listen: Spanned<String> = DEFAULT_LISTEN;
        /// A file holding the argon2 hash of the console password (made with
        /// `watchpost hash-password`), e.g. "/etc/watchpost/console.hash".
        /// Without it (or `password_credential`) the console stays off.
        #[apart]
        pub password_file: Option<Spanned<PathBuf>>;
        /// The name of a systemd credential holding that hash instead
        /// (`LoadCredential=console.hash:…` in the unit), e.g. "console.hash".
        #[apart]
        pub password_credential: Option<Spanned<String>>;
        /// PEM certificate chain for HTTPS, e.g. "/etc/watchpost/console.crt".
        #[apart]
        pub tls_cert_file: Option<Spanned<PathBuf>>;
        /// PEM private key for HTTPS, e.g. "/etc/watchpost/console.key".
        #[apart]
        pub tls_key_file: Option<Spanned<PathBuf>>;
        /// Host names the console answers to beyond loopback (the `Host` a
        /// browser sends, without the port), e.g. ["watchpost.gate.example"].
        /// Its own listen address is always answered; on a wildcard address
        /// with no names, any host is (and the start says so).
        #[apart]
        pub hosts: Vec<Spanned<String>>;
    }
}

/// The default address of the console.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

/// A checked `[console]` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsolePlan {
    /// None when the console is off (`enabled = false`, or no password).
    pub listen: Option<SocketAddr>,
    pub password: Option<PasswordSource>,
    pub tls: Option<TlsFiles>,
    /// Host names answered beyond loopback.
    pub hosts: Vec<String>,
    /// Every key but those worked out above (all of them today), checked.
    pub keys: ConsoleKeys,
}

impl Default for ConsolePlan {
    /// A file with no `[console]`: no password, so off.
    fn default() -> Self {
        Self {
            listen: None,
            password: None,
            tls: None,
            hosts: Vec::new(),
            keys: ConsoleKeys::default(),
        }
    }
}

/// Reads the console's argon2 hash; the text says what is wrong without
/// echoing the file.
pub fn load_hash(source: &PasswordSource) -> Result<Secret, String> {
    read_hash(&source.path()?)
}

/// The argon2 hash in `path` (its first line), checked to parse and to
/// ask for no more memory than the console's check allows.
fn read_hash(path: &Path) -> Result<Secret, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let line = text.lines().next().unwrap_or("").trim();
    match argon2::PasswordHash::new(line) {
        Ok(hash) if hash.algorithm.as_str().starts_with("argon2") => {
            let secret = Secret::new(line);
            super::login::Gate::new(&secret).map_err(|e| format!("{}: {e}", path.display()))?;
            Ok(secret)
        }
        _ => Err(format!(
            "{} does not hold an argon2 password hash; make one with `watchpost hash-password`",
            path.display()
        )),
    }
}

/// Checks `[console]`.
pub fn check(config: &ConsoleConfig, ctx: &mut Ctx<'_>) -> Option<ConsolePlan> {
    let keys = config.checked(ctx);
    let text = config.listen.get_ref();
    let listen = match text.parse::<SocketAddr>() {
        Ok(addr) if addr.port() == 0 => {
            ctx.error(
                config.listen.span(),
                format!("`console.listen` is `{text}`, which has no port; use e.g. \"{DEFAULT_LISTEN}\""),
            );
            None
        }
        Ok(addr) => Some(addr),
        Err(_) => {
            ctx.error(
                config.listen.span(),
                format!(
                    "`console.listen` is `{text}`, not an IP address and port; use e.g. \"{DEFAULT_LISTEN}\" (host names are not looked up)"
                ),
            );
            None
        }
    };
    let mut ok = listen.is_some();
    let password = match (&config.password_file, &config.password_credential) {
        (Some(_), Some(credential)) => {
            ctx.error(
                credential.span(),
                "`console.password_file` and `console.password_credential` are both set; keep one",
            );
            ok = false;
            None
        }
        (Some(file), None) => {
            let path = ctx.resolve(file.get_ref());
            if let Err(e) = read_hash(&path) {
                ctx.error(file.span(), format!("`console.password_file`: {e}"));
                ok = false;
            }
            Some(PasswordSource::File(path))
        }
        (None, Some(name)) => {
            let valid = !name.get_ref().is_empty() && !name.get_ref().contains(['/', '\0']) && name.get_ref() != "..";
            if !valid {
                ctx.error(
                    name.span(),
                    "`console.password_credential` is the name of a systemd credential, e.g. \"console.hash\"",
                );
                ok = false;
            } else if std::env::var_os("CREDENTIALS_DIRECTORY").is_some()
                && let Err(e) = load_hash(&PasswordSource::Credential(name.get_ref().clone()))
            {
                ctx.error(name.span(), format!("`console.password_credential`: {e}"));
                ok = false;
            }
            Some(PasswordSource::Credential(name.get_ref().clone()))
        }
        (None, None) => None,
    };
    let tls = match (&config.tls_cert_file, &config.tls_key_file) {
        (Some(cert), Some(key)) => {
            let files = TlsFiles {
                cert: ctx.resolve(cert.get_ref()),
                key: ctx.resolve(key.get_ref()),
            };
            if let Err(e) = tls::read_certs(&files.cert) {
                ctx.error(cert.span(), format!("`console.tls_cert_file`: {e}"));
                ok = false;
            }
            if let Err(e) = tls::read_key(&files.key) {
                ctx.error(key.span(), format!("`console.tls_key_file`: {e}"));
                ok = false;
            }
            Some(files)
        }
        (Some(one), None) | (None, Some(one)) => {
            ctx.error(
                one.span(),
                "`console.tls_cert_file` and `console.tls_key_file` go together; set both or neither",
            );
            ok = false;
            None
        }
        (None, None) => None,
    };
    if let Some(addr) = listen
        && config.enabled
        && !addr.ip().is_loopback()
    {
        if password.is_none() {
            ctx.error(
                config.listen.span(),
                format!(
                    "`console.listen` is `{text}`, which is not loopback: set `password_file` (or `password_credential`) so only operators can log in, or listen on \"{DEFAULT_LISTEN}\""
                ),
            );
            ok = false;
        }
        if tls.is_none() && config.tls_cert_file.is_none() && config.tls_key_file.is_none() {
            ctx.error(
                config.listen.span(),
                format!(
                    "`console.listen` is `{text}`, which is not loopback: set `tls_cert_file` and `tls_key_file` so the password and pictures never cross the network in the clear"
                ),
            );
            ok = false;
        }
    }
    let mut hosts = Vec::new();
    for host in &config.hosts {
        let name = host.get_ref();
        let valid = !name.is_empty()
            && name.len() <= 253
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '[' | ']' | ':'));
        if valid {
            hosts.push(name.to_ascii_lowercase());
        } else {
            ctx.error(
                host.span(),
                format!("`console.hosts`: `{name}` is not a host name; use e.g. \"watchpost.gate.example\""),
            );
            ok = false;
        }
    }
    let keys = keys?;
    ok.then(|| ConsolePlan {
        listen: listen.filter(|_| config.enabled && password.is_some()),
        password,
        tls,
        hosts,
        keys,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Diagnostics, SourceFile};

    fn checked(body: &str) -> (Option<ConsolePlan>, Vec<String>) {
        let file = SourceFile::new("c.toml", body.to_string());
        let config: ConsoleConfig = toml::from_str(body).unwrap();
        let mut diags = Diagnostics::default();
        let mut ctx = Ctx {
            file: &file,
            base_dir: Path::new("."),
            diags: &mut diags,
        };
        let plan = check(&config, &mut ctx);
        (plan, diags.into_sorted().iter().map(ToString::to_string).collect())
    }

    #[test]
    fn without_a_password_the_console_is_off_and_with_one_on_loopback() {
        let (plan, errors) = checked("");
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(plan.unwrap().listen, None);
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("hash");
        std::fs::write(&file, super::super::auth::hash_password("pw").unwrap()).unwrap();
        let (plan, errors) = checked(&format!("password_file = \"{}\"\n", file.display()));
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(plan.unwrap().listen, DEFAULT_LISTEN.parse().ok());
    }

    #[test]
    fn hosts_must_be_host_names() {
        let (plan, errors) = checked("hosts = [\"gate.example\", \"evil/path\"]\n");
        assert!(plan.is_none());
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].contains("`evil/path` is not a host name"), "{errors:?}");
    }

    #[test]
    fn network_address_needs_a_password_and_tls() {
        let (plan, errors) = checked("listen = \"0.0.0.0:8080\"\n");
        assert!(plan.is_none());
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(errors[0].starts_with("c.toml:1:10: `console.listen`"), "{errors:?}");
        assert!(errors.iter().any(|e| e.contains("password_file")));
        assert!(errors.iter().any(|e| e.contains("tls_cert_file")));
    }

    #[test]
    fn password_file_must_hold_an_argon2_hash() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("hash");
        std::fs::write(&file, "hunter2\n").unwrap();
        let (plan, errors) = checked(&format!("password_file = \"{}\"\n", file.display()));
        assert!(plan.is_none());
        assert!(
            errors[0].contains("does not hold an argon2 password hash"),
            "{errors:?}"
        );
        assert!(!errors[0].contains("hunter2"));
        std::fs::write(&file, super::super::auth::hash_password("hunter2").unwrap()).unwrap();
        let (plan, errors) = checked(&format!("password_file = \"{}\"\n", file.display()));
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(plan.unwrap().password, Some(PasswordSource::File(file)));
    }

    #[test]
    fn tls_files_go_together() {
        let (_, errors) = checked("tls_cert_file = \"a.pem\"\n");
        assert!(errors[0].contains("set both or neither"), "{errors:?}");
    }
}
