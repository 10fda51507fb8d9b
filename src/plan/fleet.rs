//! `[fleet]`: whether the security office manages this box's config with
//! signed bundles ([`super::bundle`]), which office keys the box trusts,
//! which rollout groups it belongs to and how long it watches its own
//! health after applying one. The table is part of the box's local layer:
//! a bundle never carries it, so no bundle can change whom the box trusts.

use std::ops::Range;

use base64::Engine as _;
use ed25519_dalek::VerifyingKey;

use crate::config::{Checked, Ctx, Spanned, WholeSecs};

/// How an office public key is written: `ed25519:` and the 32 key bytes in
/// standard base64, as `watchpost bundle keygen` prints it.
pub const KEY_PREFIX: &str = "ed25519:";

crate::config::table! {
    /// `[fleet]`: office-managed config.
    pub struct FleetConfig in "fleet." => #[derive(Eq)] FleetKeys {
        /// The office public keys whose bundles this box applies, as `watchpost
        /// bundle keygen` prints them, e.g. ["ed25519:Vh7y…="]. Several keys let
        /// an office rotate: pin the new one, sign with it, then remove the old.
        /// Empty (the default): the box takes no bundles.
        #[apart]
        pub office_keys: Vec<Spanned<String>>;
        /// The rollout groups this box belongs to, e.g. ["canary"]: it also takes
        /// bundles published to each group's topic (`<group_topic_root>/<group>/bundle`).
        #[apart]
        pub groups: Vec<Spanned<String>>;
        /// Where group bundles are published, e.g. "watchpost/groups".
        #[apart]
        pub group_topic_root: Spanned<String> = "watchpost/groups";
        /// Seconds after a bundle is applied during which the box watches its
        /// health and returns to the last good config by itself if a camera
        /// does not reach streaming, a camera reconnects or fails, or delivery
        /// to the broker stops, e.g. 120.
        pub health_window_secs: Spanned<WholeSecs> = 120, range 10..=3600;
    }
}

/// A checked `[fleet]` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetPlan {
    /// The pinned office keys; empty when the box takes no bundles.
    pub office_keys: Vec<VerifyingKey>,
    pub groups: Vec<String>,
    pub group_topic_root: String,
    /// Every key but the three worked out above, checked.
    pub keys: FleetKeys,
}

impl Default for FleetPlan {
    fn default() -> Self {
        let c = FleetConfig::default();
        Self {
            office_keys: Vec::new(),
            groups: Vec::new(),
            group_topic_root: c.group_topic_root.into_inner(),
            keys: FleetKeys::default(),
        }
    }
}

impl FleetPlan {
    /// Whether the office manages this box's config.
    pub fn managed(&self) -> bool {
        !self.office_keys.is_empty()
    }

    /// The topic a group's bundles are published on.
    pub fn group_topic(&self, group: &str) -> String {
        group_topic(&self.group_topic_root, group)
    }
}

/// The topic a group's bundles are published on, under `root`.
pub fn group_topic(root: &str, group: &str) -> String {
    format!("{}/{group}/bundle", root.trim_end_matches('/'))
}

/// Reads a public key written as [`KEY_PREFIX`] and base64.
pub fn parse_key(text: &str) -> Result<VerifyingKey, String> {
    let Some(b64) = text.trim().strip_prefix(KEY_PREFIX) else {
        return Err(format!(
            "`{}` is not an office key; write `{KEY_PREFIX}` and the key as `watchpost bundle keygen` prints it",
            text.escape_debug()
        ));
    };
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|e| format!("the key is not valid base64 ({e})"))?;
    let bytes: [u8; 32] = bytes
        .try_into()
        .map_err(|b: Vec<u8>| format!("the key has {} bytes; an Ed25519 public key has 32", b.len()))?;
    VerifyingKey::from_bytes(&bytes).map_err(|e| format!("the key is not an Ed25519 public key ({e})"))
}

/// Writes a public key as the config and bundles spell it.
pub fn key_text(key: &VerifyingKey) -> String {
    format!(
        "{KEY_PREFIX}{}",
        base64::engine::general_purpose::STANDARD.encode(key.as_bytes())
    )
}

/// Checks `[fleet]`.
pub fn check(config: &FleetConfig, ctx: &mut Ctx<'_>) -> Option<FleetPlan> {
    let mut ok = true;
    let mut keys = Vec::new();
    for key in &config.office_keys {
        match parse_key(key.get_ref()) {
            Ok(k) if keys.contains(&k) => {
                ctx.error(key.span(), "`fleet.office_keys` lists this key twice");
                ok = false;
            }
            Ok(k) => keys.push(k),
            Err(e) => {
                ctx.error(key.span(), format!("`fleet.office_keys`: {e}"));
                ok = false;
            }
        }
    }
    let mut groups = Vec::new();
    for group in &config.groups {
        match ctx.identifier(group, "fleet group") {
            Some(g) if groups.contains(&g) => {
                ctx.error(group.span(), format!("`fleet.groups` lists `{g}` twice"));
                ok = false;
            }
            Some(g) => groups.push(g),
            None => ok = false,
        }
    }
    if !groups.is_empty() && keys.is_empty() {
        let span: Range<usize> = config.groups[0].span();
        ctx.error(
            span,
            "`fleet.groups` is set but `fleet.office_keys` is empty: the box takes no bundles without a pinned office key",
        );
        ok = false;
    }
    let root = config.group_topic_root.get_ref();
    if root.is_empty() || root.contains(['+', '#']) {
        ctx.error(
            config.group_topic_root.span(),
            format!(
                "`fleet.group_topic_root` is `{}`; give a topic without wildcards, e.g. \"watchpost/groups\"",
                root.escape_debug()
            ),
        );
        ok = false;
    }
    let checked = config.checked(ctx);
    Some(FleetPlan {
        office_keys: keys,
        groups,
        group_topic_root: root.clone(),
        keys: checked?,
    })
    .filter(|_| ok)
}
