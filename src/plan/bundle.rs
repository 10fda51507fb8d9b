//! Signed config bundles: what the security office sends a box in place of
//! an edited file. A bundle carries the managed part of a config (models,
//! privacy, cameras, profiles), the sha256 of every model
//! manifest and model file that part names, a version that only grows, the
//! boxes and groups it is for, when it may be applied and when it expires,
//! and an Ed25519 signature over all of it by an office key.
//!
//! The box keeps its local layer ([`LOCAL_KEYS`]: its identity, broker,
//! credentials, console, state and `[fleet]` trust); a bundle that sets any
//! of them, or writes a secret inline, is refused at signing and again on
//! the box. This module only builds, signs and judges bundles: it never
//! writes the box's file, reloads or publishes (the app does), and it never
//! trusts a byte of a bundle before its signature and pinned key check out
//! (it reads the body of a refused one only to name its version).

use std::path::{Path, PathBuf};

use base64::Engine as _;
use ed25519_dalek::{Signature, Signer as _, SigningKey, Verifier as _, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use toml_edit::DocumentMut;

use super::fleet;

/// The keys a bundle never carries: each box's own (identity, broker and
/// credentials, ports, state, its Home Assistant, trust). They are also
/// exactly the settings a reload does not apply (`app::reload`'s restart-only
/// list, plus `fleet`), so a bundle applies by reload alone.
pub const LOCAL_KEYS: &[&str] = &[
    "site",
    "box_id",
    "state_dir",
    "runtime",
    "mqtt",
    "outbox",
    "metrics",
    "console",
    "integrations",
    "fleet",
];

/// The largest bundle a box takes, in bytes (the box's MQTT link takes
/// messages of up to 64 KiB).
pub const MAX_BUNDLE: usize = 60 * 1024;

/// The envelope's format number.
pub const FORMAT: u32 = 1;

/// How a private office key file starts.
pub const SECRET_PREFIX: &str = "ed25519-secret:";

/// What a bundle says, signed as its serialised bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Body {
    /// Grows with every bundle the office signs.
    pub version: u64,
    /// A signed rollback: may carry a version lower than the box has seen,
    /// once, if it was issued after every bundle the box took.
    #[serde(default)]
    pub rollback: bool,
    /// When it was signed, in seconds since 1970 (UTC).
    pub issued_at: u64,
    /// Not applied before this time, in seconds since 1970.
    pub not_before: u64,
    /// Not applied after this time, in seconds since 1970.
    pub expires: u64,
    pub targets: Targets,
    /// The managed part of the config, as TOML.
    pub config: String,
    /// Hex sha256 of `config`.
    pub config_sha256: String,
    /// Every model the config names, with its manifest's and file's hashes.
    pub models: Vec<ModelHash>,
    /// A note for the people reading the box's status, e.g. "night rules".
    #[serde(default)]
    pub comment: String,
}

/// Who a bundle is for: boxes as `<site>/<box_id>`, and groups.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Targets {
    #[serde(default)]
    pub boxes: Vec<String>,
    #[serde(default)]
    pub groups: Vec<String>,
}

/// A model `[models.<name>]` names, as the office hashed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelHash {
    /// The key under `[models]`.
    pub name: String,
    /// Hex sha256 of the manifest file.
    pub manifest_sha256: String,
    /// Hex sha256 of the model file.
    pub model_sha256: String,
}

/// The signed bundle as it travels (JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    /// [`FORMAT`].
    pub watchpost_bundle: u32,
    /// The public key that signed it, as the config pins keys.
    pub key: String,
    /// The [`Body`] as JSON, in base64: the exact bytes signed.
    pub body: String,
    /// The Ed25519 signature of those bytes, in base64.
    pub signature: String,
}

/// Hex sha256 of some bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD
}

/// A new office key.
pub fn generate_key() -> Result<SigningKey, String> {
    let mut seed = [0u8; 32];
    getrandom::getrandom(&mut seed).map_err(|e| format!("no randomness from the system: {e}"))?;
    Ok(SigningKey::from_bytes(&seed))
}

/// A private key as its file holds it.
pub fn secret_text(key: &SigningKey) -> String {
    format!("{SECRET_PREFIX}{}\n", b64().encode(key.to_bytes()))
}

/// Reads a private key file written by `watchpost bundle keygen`.
pub fn read_secret(path: &Path) -> Result<SigningKey, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: cannot read the key: {e}", path.display()))?;
    let bad = || {
        format!(
            "{}: not an office key (written by `watchpost bundle keygen`)",
            path.display()
        )
    };
    let b = text.trim().strip_prefix(SECRET_PREFIX).ok_or_else(bad)?;
    let bytes: [u8; 32] = b64().decode(b).ok().and_then(|b| b.try_into().ok()).ok_or_else(bad)?;
    Ok(SigningKey::from_bytes(&bytes))
}

/// Why a config cannot travel in a bundle: it is not TOML, it sets a key of
/// the box's local layer, or it writes a secret inline. Empty when it can.
pub fn managed_problems(config: &str) -> Vec<String> {
    let doc = match config.parse::<DocumentMut>() {
        Ok(doc) => doc,
        Err(e) => return vec![format!("the config is not valid TOML: {}", e.to_string().trim())],
    };
    let mut problems: Vec<String> = LOCAL_KEYS
        .iter()
        .filter(|k| doc.contains_key(k))
        .map(|k| {
            format!("the config sets `{k}`, which each box keeps for itself (its identity, broker, credentials, ports, state, integrations and trust); remove it from the bundle")
        })
        .collect();
    problems.extend(
        crate::console::document::inline_secrets(config)
            .into_iter()
            .map(|s| format!("a secret is written in the config: {s}; secrets stay on the box")),
    );
    problems
}

/// The `[models.<name>] manifest` paths a config names, as written.
fn model_manifests(config: &str) -> Vec<(String, PathBuf)> {
    let Ok(doc) = config.parse::<DocumentMut>() else {
        return Vec::new();
    };
    let Some(models) = doc.get("models").and_then(|m| m.as_table_like()) else {
        return Vec::new();
    };
    models
        .iter()
        .filter_map(|(name, item)| {
            let manifest = item.as_table_like()?.get("manifest")?.as_str()?;
            Some((name.to_string(), PathBuf::from(manifest)))
        })
        .collect()
}

/// Hashes every model the config names, its manifest paths resolved from
/// `base_dir`; every manifest is read and its model checked against its
/// sha256 on the way. Every problem, one line each.
pub fn hash_models(config: &str, base_dir: &Path) -> Result<Vec<ModelHash>, Vec<String>> {
    let mut hashes = Vec::new();
    let mut problems = Vec::new();
    for (name, written) in model_manifests(config) {
        let path = crate::config::join_clean(base_dir, &written);
        let manifest_sha256 = match std::fs::read(&path) {
            Ok(bytes) => sha256_hex(&bytes),
            Err(e) => {
                problems.push(format!(
                    "model `{name}`: cannot read its manifest {}: {e}",
                    path.display()
                ));
                continue;
            }
        };
        let mut diags = crate::config::Diagnostics::default();
        match crate::infer::manifest::load(&path, &mut diags) {
            Some(manifest) if diags.is_empty() => hashes.push(ModelHash {
                name,
                manifest_sha256,
                model_sha256: manifest.sha256,
            }),
            _ => problems.extend(diags.into_sorted().iter().map(|d| format!("model `{name}`: {d}"))),
        }
    }
    if problems.is_empty() { Ok(hashes) } else { Err(problems) }
}

/// What the office asks to sign.
#[derive(Debug, Clone)]
pub struct Request {
    /// The managed config file; its model manifests are found from its folder.
    pub config: PathBuf,
    pub version: u64,
    pub rollback: bool,
    pub targets: Targets,
    pub not_before: u64,
    pub expires: u64,
    pub comment: String,
}

/// Builds and signs a bundle; every reason it cannot be, one line each.
pub fn sign(request: &Request, key: &SigningKey, now: u64) -> Result<Envelope, Vec<String>> {
    let path = &request.config;
    let text = std::fs::read_to_string(path).map_err(|e| vec![format!("{}: cannot read: {e}", path.display())])?;
    let mut problems = managed_problems(&text);
    if request.targets.boxes.is_empty() && request.targets.groups.is_empty() {
        problems.push("the bundle has no target; give --target <site>/<box> or --group <name>".into());
    }
    for target in &request.targets.boxes {
        if target.split('/').count() != 2 || target.split('/').any(str::is_empty) {
            problems.push(format!("target `{target}` is not <site>/<box_id>"));
        }
    }
    if request.expires <= request.not_before {
        problems.push("the bundle expires before it may be applied".into());
    }
    if request.version == 0 {
        problems.push("versions start at 1".into());
    }
    let base_dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let models = match hash_models(&text, base_dir) {
        Ok(models) => models,
        Err(more) => {
            problems.extend(more);
            Vec::new()
        }
    };
    if !problems.is_empty() {
        return Err(problems);
    }
    let body = Body {
        version: request.version,
        rollback: request.rollback,
        issued_at: now,
        not_before: request.not_before,
        expires: request.expires,
        targets: request.targets.clone(),
        config_sha256: sha256_hex(text.as_bytes()),
        config: text,
        models,
        comment: request.comment.clone(),
    };
    let bytes = serde_json::to_vec(&body).map_err(|e| vec![e.to_string()])?;
    let envelope = Envelope {
        watchpost_bundle: FORMAT,
        key: fleet::key_text(&key.verifying_key()),
        body: b64().encode(&bytes),
        signature: b64().encode(key.sign(&bytes).to_bytes()),
    };
    let size = serde_json::to_vec(&envelope).map_or(0, |v| v.len());
    if size > MAX_BUNDLE {
        return Err(vec![format!(
            "the bundle has {size} bytes; boxes take at most {MAX_BUNDLE}"
        )]);
    }
    Ok(envelope)
}

/// What the box has taken so far, kept across restarts: replay protection.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seen {
    /// The highest version ever applied.
    pub highest: u64,
    /// When the last bundle applied was issued (seconds since 1970).
    pub last_issued: u64,
}

/// A bundle read and checked for this box: the body, or every reason it
/// is refused (the body's claimed version too, when it could be read).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub version: Option<u64>,
    pub reasons: Vec<String>,
}

/// Who the box is, for a bundle's targets.
#[derive(Debug, Clone, Copy)]
pub struct Identity<'a> {
    pub site: &'a str,
    pub box_id: &'a str,
    pub groups: &'a [String],
}

/// Reads an envelope and checks its signature against the pinned keys
/// (`keys`), its format, size and config hash: the body, or every reason.
pub fn open(bytes: &[u8], keys: &[VerifyingKey]) -> Result<Body, Refusal> {
    let refuse = |reason: String| Refusal {
        version: None,
        reasons: vec![reason],
    };
    if bytes.len() > MAX_BUNDLE {
        return Err(refuse(format!(
            "the bundle has {} bytes; at most {MAX_BUNDLE} are taken",
            bytes.len()
        )));
    }
    let envelope: Envelope =
        serde_json::from_slice(bytes).map_err(|e| refuse(format!("not a watchpost bundle: {e}")))?;
    if envelope.watchpost_bundle != FORMAT {
        return Err(refuse(format!(
            "bundle format {} is not known here (this box reads format {FORMAT})",
            envelope.watchpost_bundle
        )));
    }
    let body_bytes = b64()
        .decode(&envelope.body)
        .map_err(|e| refuse(format!("the bundle's body is not base64: {e}")))?;
    let body: Result<Body, String> =
        serde_json::from_slice(&body_bytes).map_err(|e| format!("the bundle's body is not readable: {e}"));
    let mut reasons = Vec::new();
    match fleet::parse_key(&envelope.key) {
        Err(e) => reasons.push(format!("the signing key: {e}")),
        Ok(signer) if !keys.contains(&signer) => reasons.push(format!(
            "signed by key {}, which is not among the pinned office keys (fleet.office_keys)",
            envelope.key
        )),
        Ok(signer) => {
            let signature = b64()
                .decode(&envelope.signature)
                .ok()
                .and_then(|s| <[u8; 64]>::try_from(s).ok())
                .map(|s| Signature::from_bytes(&s));
            match signature {
                None => reasons.push("the signature is not 64 bytes of base64".into()),
                Some(signature) if signer.verify(&body_bytes, &signature).is_err() => reasons.push(format!(
                    "the signature does not match the bundle: it was changed after signing, or not signed by {}",
                    envelope.key
                )),
                Some(_) => {}
            }
        }
    }
    match body {
        Ok(body) => {
            if sha256_hex(body.config.as_bytes()) != body.config_sha256 {
                reasons.push("the config does not match its sha256 in the bundle".into());
            }
            if reasons.is_empty() {
                Ok(body)
            } else {
                Err(Refusal {
                    version: Some(body.version),
                    reasons,
                })
            }
        }
        Err(e) => {
            reasons.push(e);
            Err(Refusal { version: None, reasons })
        }
    }
}

/// Formats seconds since 1970 as a UTC time for people.
pub fn when(secs: u64) -> String {
    i64::try_from(secs)
        .ok()
        .and_then(|s| jiff::Timestamp::from_second(s).ok())
        .map_or_else(
            || format!("{secs} s after 1970"),
            |t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
        )
}

/// Checks a signed body against this box: target, version (or signed
/// rollback), validity window. Every reason, one line each.
pub fn judge(body: &Body, me: Identity<'_>, seen: Seen, now: u64) -> Vec<String> {
    let mut reasons = Vec::new();
    let me_box = format!("{}/{}", me.site, me.box_id);
    let for_me = body.targets.boxes.contains(&me_box) || body.targets.groups.iter().any(|g| me.groups.contains(g));
    if !for_me {
        reasons.push(format!(
            "the bundle is for {}, not for this box ({me_box}, groups: {})",
            describe_targets(&body.targets),
            crate::config::listed(me.groups)
        ));
    }
    if body.rollback {
        if body.issued_at <= seen.last_issued {
            reasons.push(format!(
                "rollback to version {} was issued at {}, not after the bundle applied last (issued {}): a replayed rollback",
                body.version,
                when(body.issued_at),
                when(seen.last_issued)
            ));
        }
    } else if body.version <= seen.highest {
        reasons.push(format!(
            "version {} is not newer than version {}, already taken; an older config comes back only as a signed rollback (--rollback)",
            body.version, seen.highest
        ));
    }
    if now < body.not_before {
        reasons.push(format!(
            "not valid before {} (now {})",
            when(body.not_before),
            when(now)
        ));
    }
    if now >= body.expires {
        reasons.push(format!("expired at {} (now {})", when(body.expires), when(now)));
    }
    reasons.extend(managed_problems(&body.config));
    reasons
}

/// Targets for people: "maple/gate-1, group canary".
pub fn describe_targets(targets: &Targets) -> String {
    let mut parts: Vec<String> = targets.boxes.clone();
    parts.extend(targets.groups.iter().map(|g| format!("group {g}")));
    if parts.is_empty() {
        "nobody".into()
    } else {
        parts.join(", ")
    }
}

/// Compares the models a checked plan runs with the hashes the office
/// signed: every difference, one line each.
pub fn model_mismatches(
    body: &Body,
    models: &std::collections::BTreeMap<String, std::sync::Arc<crate::infer::ModelPlan>>,
) -> Vec<String> {
    let mut reasons = Vec::new();
    for (name, plan) in models {
        let Some(signed) = body.models.iter().find(|m| m.name == *name) else {
            reasons.push(format!("model `{name}` is not among the models the bundle hashes"));
            continue;
        };
        match std::fs::read(&plan.manifest.path) {
            Ok(bytes) if sha256_hex(&bytes) != signed.manifest_sha256 => reasons.push(format!(
                "model `{name}`: manifest {} has sha256 {}, the bundle expects {}",
                plan.manifest.path.display(),
                sha256_hex(&bytes),
                signed.manifest_sha256
            )),
            Ok(_) => {}
            Err(e) => reasons.push(format!(
                "model `{name}`: cannot read manifest {}: {e}",
                plan.manifest.path.display()
            )),
        }
        // The check verified the model file against its manifest's sha256.
        if plan.manifest.sha256 != signed.model_sha256 {
            reasons.push(format!(
                "model `{name}`: model file {} has sha256 {}, the bundle expects {}",
                plan.manifest.model_path.display(),
                plan.manifest.sha256,
                signed.model_sha256
            ));
        }
    }
    reasons
}

/// The box's file with its managed part replaced by a bundle's config: the
/// local layer ([`LOCAL_KEYS`]) comes from `local`, everything else from
/// `managed`.
pub fn compose(local: &str, managed: &str) -> Result<String, String> {
    let local = local
        .parse::<DocumentMut>()
        .map_err(|e| format!("the box's own config is not valid TOML: {}", e.to_string().trim()))?;
    let mut out = managed
        .parse::<DocumentMut>()
        .map_err(|e| format!("the bundle's config is not valid TOML: {}", e.to_string().trim()))?;
    for key in LOCAL_KEYS {
        out.remove(key);
    }
    let mut values = String::new();
    let mut tail = DocumentMut::new();
    for key in LOCAL_KEYS {
        match local.get(key) {
            Some(toml_edit::Item::Value(value)) => values.push_str(&format!("{key} = {}\n", value.to_string().trim())),
            Some(item) => {
                tail.insert(key, item.clone());
            }
            None => {}
        }
    }
    // Top-level values first (TOML puts them before any table), then the
    // managed tables, then the box's own tables.
    Ok(format!(
        "{MANAGED_HEADER}{values}\n{}\n\n{}",
        out.to_string().trim(),
        tail.to_string().trim_start()
    ))
}

/// What a file composed from a bundle opens with.
pub const MANAGED_HEADER: &str = "# Managed by the security office: signed bundles replace this file\n\
     # (docs/fleet-config.md). The box's own keys (site, box_id, state_dir,\n\
     # runtime, mqtt, outbox, metrics, console, integrations, fleet) are kept\n\
     # from its previous file.\n\n";

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SigningKey {
        SigningKey::from_bytes(&[7u8; 32])
    }

    fn body(version: u64) -> Body {
        let config = "[privacy]\nredact = true\n".to_string();
        Body {
            version,
            rollback: false,
            issued_at: 1_000,
            not_before: 900,
            expires: 2_000,
            targets: Targets {
                boxes: vec!["maple/gate-1".into()],
                groups: vec![],
            },
            config_sha256: sha256_hex(config.as_bytes()),
            config,
            models: vec![],
            comment: String::new(),
        }
    }

    fn seal(body: &Body, key: &SigningKey) -> Vec<u8> {
        let bytes = serde_json::to_vec(body).unwrap();
        serde_json::to_vec(&Envelope {
            watchpost_bundle: FORMAT,
            key: fleet::key_text(&key.verifying_key()),
            body: b64().encode(&bytes),
            signature: b64().encode(key.sign(&bytes).to_bytes()),
        })
        .unwrap()
    }

    const ME: Identity<'static> = Identity {
        site: "maple",
        box_id: "gate-1",
        groups: &[],
    };

    #[test]
    fn a_bundle_opens_with_its_pinned_key_and_not_with_another() {
        let sealed = seal(&body(3), &key());
        assert_eq!(open(&sealed, &[key().verifying_key()]).unwrap(), body(3));
        let other = SigningKey::from_bytes(&[8u8; 32]).verifying_key();
        let refused = open(&sealed, &[other]).unwrap_err();
        assert_eq!(refused.version, Some(3));
        assert!(refused.reasons[0].contains("not among the pinned"), "{refused:?}");
    }

    #[test]
    fn a_changed_body_fails_its_signature() {
        let mut envelope: Envelope = serde_json::from_slice(&seal(&body(3), &key())).unwrap();
        let mut changed = body(3);
        changed.version = 4;
        envelope.body = b64().encode(serde_json::to_vec(&changed).unwrap());
        let refused = open(&serde_json::to_vec(&envelope).unwrap(), &[key().verifying_key()]).unwrap_err();
        assert!(refused.reasons[0].contains("signature does not match"), "{refused:?}");
    }

    #[test]
    fn judge_gives_every_reason() {
        let mut b = body(2);
        b.targets.boxes = vec!["maple/gate-2".into()];
        let seen = Seen {
            highest: 5,
            last_issued: 500,
        };
        let reasons = judge(&b, ME, seen, 3_000);
        assert_eq!(reasons.len(), 3, "{reasons:?}");
        assert!(reasons[0].contains("not for this box"));
        assert!(reasons[1].contains("not newer than version 5"));
        assert!(reasons[2].contains("expired"));
        assert!(judge(&body(6), ME, seen, 1_500).is_empty());
        assert!(judge(&body(6), ME, seen, 800)[0].contains("not valid before"));
    }

    #[test]
    fn a_rollback_is_taken_once_after_the_bundles_before_it() {
        let mut b = body(2);
        b.rollback = true;
        let seen = Seen {
            highest: 5,
            last_issued: 900,
        };
        assert!(judge(&b, ME, seen, 1_500).is_empty());
        let after = Seen {
            highest: 5,
            last_issued: b.issued_at,
        };
        assert!(judge(&b, ME, after, 1_500)[0].contains("replayed rollback"));
    }

    #[test]
    fn groups_reach_their_members() {
        let mut b = body(2);
        b.targets = Targets {
            boxes: vec![],
            groups: vec!["canary".into()],
        };
        let groups = ["canary".to_string()];
        let member = Identity { groups: &groups, ..ME };
        assert!(judge(&b, member, Seen::default(), 1_500).is_empty());
        assert!(judge(&b, ME, Seen::default(), 1_500)[0].contains("group canary"));
    }

    #[test]
    fn local_keys_and_inline_secrets_never_travel() {
        let problems = managed_problems(
            "site = \"x\"\n[mqtt]\nurl = \"mqtt://a:b@host:1883\"\n[[cameras]]\nname = \"gate\"\n[cameras.source]\nurl = \"rtsp://u:p@cam/1\"\n",
        );
        assert_eq!(problems.len(), 4, "{problems:?}");
        assert!(problems[0].contains("`site`"));
        assert!(problems[1].contains("`mqtt`"));
        assert!(problems[2].contains("camera `gate`"));
        assert!(problems[3].contains("`mqtt.url` holds a password"));
        assert!(
            !problems.iter().any(|p| p.contains(":p@") || p.contains(":b@")),
            "a secret was repeated"
        );
    }

    #[test]
    fn compose_keeps_the_local_layer_and_takes_the_rest() {
        let local = "site = \"maple\"\nbox_id = \"gate-1\"\n[mqtt]\nurl = \"mqtt://127.0.0.1:1883\"\n[fleet]\noffice_keys = [\"k\"]\n\n[[cameras]]\nname = \"old\"\n";
        let managed = "[privacy]\nredact = true\n\n[[cameras]]\nname = \"new\"\n";
        let out = compose(local, managed).unwrap();
        let doc: DocumentMut = out.parse().unwrap();
        assert_eq!(doc["site"].as_str(), Some("maple"));
        assert_eq!(doc["box_id"].as_str(), Some("gate-1"));
        assert_eq!(doc["mqtt"]["url"].as_str(), Some("mqtt://127.0.0.1:1883"));
        assert!(doc["fleet"].is_table());
        let cameras = doc["cameras"].as_array_of_tables().unwrap();
        assert_eq!(cameras.len(), 1);
        assert_eq!(cameras.get(0).unwrap()["name"].as_str(), Some("new"));
        // Composing again over the result gives the same file.
        assert_eq!(compose(&out, managed).unwrap(), out);
    }

    #[test]
    fn keys_read_back() {
        let k = key();
        let text = fleet::key_text(&k.verifying_key());
        assert_eq!(fleet::parse_key(&text).unwrap(), k.verifying_key());
        assert!(fleet::parse_key("ssh-ed25519 AAAA").is_err());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("office.key");
        std::fs::write(&path, secret_text(&k)).unwrap();
        assert_eq!(read_secret(&path).unwrap().to_bytes(), k.to_bytes());
    }
}
