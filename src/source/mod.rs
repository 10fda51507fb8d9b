//! Camera sources: where a camera's video comes from, as the operator writes it
//! in `[cameras.source]`, checked into a plan, and the GStreamer elements that
//! fetch the encoded stream (decoding is the next stage's job).
//!
//! Kinds: files (which can stand in for a live camera with `loop` and
//! `realtime`), RTSP over TCP or UDP, HTTP(S) MJPEG, and V4L2 devices.
//! Credentials never reach a log line: the address is a [`SecretUrl`], the
//! user information moves out of it into [`Credentials`], and
//! [`SourcePlan::display`] (password and credential query values masked) is
//! what logs show.

use std::path::PathBuf;

use gstreamer as gst;
use gstreamer::prelude::*;
use serde::Deserialize;

use crate::config::Spanned;
use crate::config::table::Checked;
use crate::config::{Ctx, Secret, SecretSource, SecretUrl, UrlError};

/// RTSP transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// Interleaved in the RTSP connection: works through NAT and firewalls (default).
    #[default]
    Tcp,
    /// RTP over UDP: lower latency on a clean LAN.
    Udp,
}

crate::config::table! {
    /// `[cameras.source]`.
    pub struct SourceConfig in "source." => #[derive(Eq)] SourceKeys {
        /// Where the video comes from, e.g. "rtsp://10.0.0.21:554/stream1",
        /// "https://cam.local/mjpeg", "/dev/video0", or a file path or `file://`
        /// URI (relative paths start at the config file's folder).
        #[required]
        #[apart]
        pub url: Spanned<String>;
        /// Start a file again when it ends, so it plays like a live camera. Files only.
        #[serde(rename = "loop")]
        pub loop_playback: Spanned<bool>;
        /// Deliver a file's frames at its own frame rate, as a camera would. Files only.
        pub realtime: Spanned<bool>;
        /// RTSP transport: "tcp" (default) or "udp".
        #[apart]
        pub transport: Option<Spanned<Transport>>;
        /// RTSP/HTTP user name, e.g. "viewer" (or put it in the URL).
        #[apart]
        pub username: Option<Spanned<String>>;
        /// RTSP/HTTP password. Prefer `password_file`.
        #[apart]
        pub password: Option<Spanned<String>>;
        /// File holding the password (one line), e.g. "/etc/watchpost/cam-gate.password".
        #[apart]
        pub password_file: Option<Spanned<PathBuf>>;
        /// RTSP jitter buffer in milliseconds, e.g. 200.
        pub latency_ms: Spanned<u32> = 200, range 0..=10_000;
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    pub user: String,
    pub password: Secret,
}

/// What kind of source a URI names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceKind {
    File(PathBuf),
    Rtsp(Transport),
    Http,
    V4l2(PathBuf),
}

/// A checked source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourcePlan {
    /// The address, credentials included; `expose_location` is what
    /// GStreamer is handed (no user information, query credentials kept).
    pub url: SecretUrl,
    /// What logs and errors show: the URI with any password masked.
    pub display: String,
    pub kind: SourceKind,
    pub credentials: Option<Credentials>,
    /// The table's other keys, checked (`loop` and `realtime` false but
    /// for files).
    pub keys: SourceKeys,
}

impl SourcePlan {
    /// A file played once or looped, as fast as it decodes or at its own rate.
    pub fn file(path: PathBuf, loop_playback: bool, realtime: bool) -> Self {
        let url = SecretUrl::from_file(&std::path::absolute(&path).unwrap_or_else(|_| path.clone()))
            .or_else(|| SecretUrl::parse("file:///").ok())
            .expect("file:/// is a URL");
        Self {
            display: url.masked(),
            url,
            kind: SourceKind::File(path),
            credentials: None,
            keys: SourceKeys {
                loop_playback,
                realtime,
                ..SourceKeys::default()
            },
        }
    }

    /// A network camera from a URL; credentials in the URL are moved out of it.
    pub fn network(url: &str, transport: Transport) -> Result<Self, UrlError> {
        let url = SecretUrl::parse(url)?;
        let kind = if url.scheme().starts_with("rtsp") {
            SourceKind::Rtsp(transport)
        } else {
            SourceKind::Http
        };
        let credentials = url.username().map(|user| Credentials {
            user,
            password: url.password().unwrap_or_default(),
        });
        Ok(Self {
            display: url.masked(),
            url,
            kind,
            credentials,
            keys: SourceKeys::default(),
        })
    }

    /// Live sources deliver at their own pace and cannot be waited for.
    pub fn is_live(&self) -> bool {
        !matches!(self.kind, SourceKind::File(_)) || self.keys.realtime
    }

    /// Whether an end of stream means the camera went away (not a file's end).
    pub fn is_network(&self) -> bool {
        matches!(self.kind, SourceKind::Rtsp(_) | SourceKind::Http)
    }

    /// Adds the elements that fetch the encoded stream and links them to `next`
    /// (a parsebin). Returns the first element.
    pub fn build(&self, pipeline: &gst::Pipeline, next: &gst::Element) -> Result<gst::Element, String> {
        let make = |factory: &str, package: &str| {
            gst::ElementFactory::make(factory)
                .name("source")
                .build()
                .map_err(|_| format!("GStreamer element `{factory}` is missing (install {package})"))
        };
        let source = match &self.kind {
            SourceKind::File(path) => {
                let src = make("filesrc", "gstreamer1.0 core")?;
                src.set_property("location", path);
                src
            }
            SourceKind::Rtsp(transport) => {
                let src = make("rtspsrc", "gstreamer1.0-plugins-good")?;
                src.set_property("location", self.url.expose_location());
                src.set_property("latency", self.keys.latency_ms);
                src.set_property_from_str("protocols", if *transport == Transport::Tcp { "tcp" } else { "udp" });
                if let Some(c) = &self.credentials {
                    src.set_property("user-id", &c.user);
                    src.set_property("user-pw", c.password.expose());
                }
                src
            }
            SourceKind::Http => {
                let src = make("souphttpsrc", "gstreamer1.0-plugins-good")?;
                src.set_property("location", self.url.expose_location());
                src.set_property("is-live", true);
                if let Some(c) = &self.credentials {
                    src.set_property("user-id", &c.user);
                    src.set_property("user-pw", c.password.expose());
                }
                src
            }
            SourceKind::V4l2(device) => {
                let src = make("v4l2src", "gstreamer1.0-plugins-good")?;
                src.set_property("device", device);
                src
            }
        };
        pipeline.add(&source).map_err(|e| e.to_string())?;
        if matches!(self.kind, SourceKind::Rtsp(_)) {
            // rtspsrc makes one RTP pad per stream once it has talked to the
            // camera: depayload the video one and hand it to the parser.
            let sink = next.static_pad("sink");
            let pipeline = pipeline.downgrade();
            source.connect_pad_added(move |src, pad| {
                let (Some(sink), Some(pipeline)) = (sink.as_ref(), pipeline.upgrade()) else {
                    return;
                };
                let caps = pad.current_caps().unwrap_or_else(|| pad.query_caps(None));
                let Some(s) = caps.structure(0) else { return };
                let media = s.get::<String>("media").unwrap_or_default();
                let encoding = s.get::<String>("encoding-name").unwrap_or_default();
                if media != "video" || sink.is_linked() {
                    return;
                }
                let depay = match encoding.as_str() {
                    "H264" => "rtph264depay",
                    "H265" => "rtph265depay",
                    "JPEG" => "rtpjpegdepay",
                    "MP4V-ES" => "rtpmp4vdepay",
                    other => {
                        gst::element_error!(
                            src,
                            gst::StreamError::CodecNotFound,
                            (
                                "unsupported RTP video encoding {}; use H.264, H.265, MJPEG or MPEG-4",
                                other
                            )
                        );
                        return;
                    }
                };
                let linked = gst::ElementFactory::make(depay)
                    .build()
                    .map_err(|e| e.to_string())
                    .and_then(|d| {
                        pipeline.add(&d).map_err(|e| e.to_string())?;
                        d.sync_state_with_parent().map_err(|e| e.to_string())?;
                        let d_sink = d.static_pad("sink").ok_or("no sink pad")?;
                        pad.link(&d_sink).map_err(|e| format!("{e:?}"))?;
                        d.static_pad("src")
                            .ok_or("no src pad")?
                            .link(sink)
                            .map_err(|e| format!("{e:?}"))?;
                        Ok(())
                    });
                if let Err(reason) = linked {
                    gst::element_error!(
                        src,
                        gst::CoreError::Negotiation,
                        ("cannot depayload {}: {}", encoding, reason)
                    );
                }
            });
        } else {
            source.link(next).map_err(|e| e.to_string())?;
        }
        Ok(source)
    }
}

/// What a camera address names, before anything is opened. One parser for
/// every place an address is written: `[cameras.source] url` (through
/// [`check`]) and `watchpost probe` (through [`SourcePlan::open`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Address<'a> {
    /// A file path as written (`file://` removed), not yet resolved.
    File(&'a str),
    /// An RTSP or HTTP(S) URL.
    Network(&'a str),
    /// A V4L2 device path: `/dev/videoN` or `v4l2:///dev/videoN`.
    V4l2(&'a str),
}

/// Why an address cannot be a source.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceError {
    #[error("source url is empty; give a file path or an rtsp:// URI")]
    Empty,
    #[error(
        "unsupported source scheme `{0}://`; use a file path, file://, rtsp://, http(s)://, /dev/videoN or v4l2:///dev/videoN"
    )]
    Scheme(String),
    #[error("video file {0} does not exist; check the path (relative paths start at the config file's folder)")]
    NoFile(PathBuf),
    #[error("V4L2 video device {0} does not exist; check that the camera is plugged in (ls /dev/video*)")]
    NoDevice(PathBuf),
    #[error("source url: {0}")]
    Url(#[from] UrlError),
}

impl<'a> Address<'a> {
    /// Sorts an address by its scheme; `/dev/…` paths are V4L2 devices.
    pub fn parse(url: &'a str) -> Result<Self, SourceError> {
        let url = url.trim();
        let scheme = url.split_once("://").map(|(s, _)| s.to_ascii_lowercase());
        match scheme.as_deref() {
            None if url.starts_with("/dev/") => Ok(Self::V4l2(url)),
            Some("v4l2") => Ok(Self::V4l2(&url["v4l2://".len()..])),
            None | Some("file") => {
                let raw = if scheme.is_some() { &url["file://".len()..] } else { url };
                if raw.is_empty() {
                    Err(SourceError::Empty)
                } else {
                    Ok(Self::File(raw))
                }
            }
            Some("rtsp" | "rtsps" | "http" | "https") => Ok(Self::Network(url)),
            Some(other) => Err(SourceError::Scheme(other.to_string())),
        }
    }
}

impl SourcePlan {
    /// The source an address names, checked to exist: relative file paths
    /// start at `base_dir`; credentials in a network URL move out of it.
    /// Files play once at decode speed; [`check`] applies a camera's keys.
    pub fn open(url: &str, base_dir: &std::path::Path, transport: Transport) -> Result<Self, SourceError> {
        match Address::parse(url)? {
            Address::File(raw) => {
                let path = crate::config::join_clean(base_dir, std::path::Path::new(raw));
                if !path.is_file() {
                    return Err(SourceError::NoFile(path));
                }
                let path = path.canonicalize().unwrap_or(path);
                Ok(Self::file(path, false, false))
            }
            Address::Network(url) => Ok(Self::network(url, transport)?),
            Address::V4l2(device) => Self::v4l2(device),
        }
    }

    /// A V4L2 capture device, e.g. `/dev/video0`.
    pub fn v4l2(device: &str) -> Result<Self, SourceError> {
        let path = PathBuf::from(device);
        if !path.exists() {
            return Err(SourceError::NoDevice(path));
        }
        let url = SecretUrl::parse(&format!("v4l2://{device}"))?;
        Ok(Self {
            display: url.masked(),
            url,
            kind: SourceKind::V4l2(path),
            credentials: None,
            keys: SourceKeys::default(),
        })
    }
}

/// Checks `[cameras.source]` of camera `camera`.
pub fn check(camera: &str, config: &SourceConfig, ctx: &mut Ctx<'_>) -> Option<SourcePlan> {
    let span = config.url.span();
    let transport = config.transport.as_ref().map(|t| *t.get_ref()).unwrap_or_default();
    let mut plan = match SourcePlan::open(config.url.get_ref(), ctx.base_dir, transport) {
        Ok(plan) => plan,
        Err(e) => {
            ctx.error(span, format!("camera `{camera}`: {e}"));
            return None;
        }
    };
    if !matches!(plan.kind, SourceKind::File(_)) {
        for (flag, name) in [(&config.loop_playback, "loop"), (&config.realtime, "realtime")] {
            if *flag.get_ref() {
                ctx.error(
                    flag.span(),
                    format!("camera `{camera}`: `{name}` applies to files only; remove it"),
                );
            }
        }
    }
    if let Some(t) = &config.transport
        && !matches!(plan.kind, SourceKind::Rtsp(_))
    {
        ctx.error(
            t.span(),
            format!("camera `{camera}`: `transport` applies to rtsp:// sources only"),
        );
    }
    plan.keys = config.checked(ctx)?;
    let password = match (&config.password, &config.password_file) {
        (Some(p), Some(_)) => {
            ctx.error(
                p.span(),
                format!("camera `{camera}`: set `password` or `password_file`, not both"),
            );
            return None;
        }
        (Some(p), None) => Some(Secret::new(p.get_ref().clone())),
        (None, Some(file)) => match SecretSource::File(ctx.resolve(file.get_ref())).read() {
            Ok(secret) => Some(secret),
            Err(e) => {
                ctx.error(file.span(), format!("camera `{camera}`: password_file: {e}"));
                return None;
            }
        },
        (None, None) => None,
    };
    if let Some(user) = &config.username {
        if !plan.is_network() {
            ctx.error(
                user.span(),
                format!("camera `{camera}`: credentials apply to rtsp:// and http(s):// sources only"),
            );
            return None;
        }
        plan.credentials = Some(Credentials {
            user: user.get_ref().clone(),
            password: password.unwrap_or_else(|| Secret::new("")),
        });
    } else if let Some(password) = password {
        match &mut plan.credentials {
            Some(c) => c.password = password,
            None => {
                ctx.error(
                    span,
                    format!("camera `{camera}`: a password is set but no user name; add `username`"),
                );
                return None;
            }
        }
    }
    Some(plan)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_leave_the_uri_and_never_print() {
        let plan = SourcePlan::network("rtsp://admin:pa55@10.0.0.5:554/live", Transport::Tcp).unwrap();
        assert_eq!(plan.url.expose_location(), "rtsp://10.0.0.5:554/live");
        assert_eq!(plan.display, "rtsp://admin:***@10.0.0.5:554/live");
        let c = plan.credentials.as_ref().unwrap();
        assert_eq!((c.user.as_str(), c.password.expose()), ("admin", "pa55"));
        assert!(!format!("{plan:?}").contains("pa55"));
        assert!(plan.is_live() && plan.is_network());
    }

    #[test]
    fn one_parser_sorts_every_spelling_of_an_address() {
        use Address::*;
        let cases = [
            ("/dev/video0", Ok(V4l2("/dev/video0"))),
            ("v4l2:///dev/video0", Ok(V4l2("/dev/video0"))),
            ("V4L2:///dev/v4l/by-id/usb-cam", Ok(V4l2("/dev/v4l/by-id/usb-cam"))),
            ("clips/gate.mp4", Ok(File("clips/gate.mp4"))),
            ("file:///srv/gate.mp4", Ok(File("/srv/gate.mp4"))),
            ("rtsp://10.0.0.5/live", Ok(Network("rtsp://10.0.0.5/live"))),
            ("https://cam.local/mjpeg", Ok(Network("https://cam.local/mjpeg"))),
            ("  ", Err(SourceError::Empty)),
            ("file://", Err(SourceError::Empty)),
            ("ftp://cam/x", Err(SourceError::Scheme("ftp".into()))),
        ];
        for (url, expected) in cases {
            assert_eq!(Address::parse(url), expected, "{url}");
        }
    }

    #[test]
    fn a_device_address_becomes_a_v4l2_plan_or_a_v4l2_error() {
        let here = std::path::Path::new(".");
        let plan = SourcePlan::open("v4l2:///dev/null", here, Transport::Tcp).unwrap();
        assert_eq!(plan.kind, SourceKind::V4l2(PathBuf::from("/dev/null")));
        assert_eq!(plan.display, "v4l2:///dev/null");
        assert!(plan.is_live() && !plan.is_network());
        let missing = SourcePlan::open("/dev/video-none", here, Transport::Tcp).unwrap_err();
        assert_eq!(missing, SourceError::NoDevice(PathBuf::from("/dev/video-none")));
        let file = SourcePlan::open("no/such/clip.mp4", here, Transport::Tcp).unwrap_err();
        assert_eq!(file, SourceError::NoFile(PathBuf::from("no/such/clip.mp4")));
    }
}
