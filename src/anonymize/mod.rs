//! Anonymize: the only way from an incident to something that leaves the box.
//!
//! An [`Alert`] can only be built here, from a rule's incident event
//! ([`alert()`]); a picture can only leave as a [`RedactedImage`] or
//! [`RedactedJpeg`], which only [`redact`] makes, and the [`Redactor`] —
//! the one place that runs the face model over a picture ([`faces`]: the
//! whole picture, then tiles at its own resolution) and places the regions
//! to cover ([`regions`]) — is how a camera frame becomes one. Before it,
//! a [`Closer`] look runs the camera's detector on tiles of the picture, so
//! persons the detector missed on the whole frame are covered too. An evidence
//! clip is many such pictures ([`clip`]: each frame covered over its own
//! detections, faces searched on key frames and followed between them), and
//! only [`VideoEncoder`], which accepts nothing but redacted pictures, makes
//! the [`EncodedClip`] that may be stored or sent. What goes
//! out is what a security office needs to act — where, what kind of object,
//! how sure, how urgent — and nothing that identifies a person.

pub mod alert;
pub mod clip;
pub mod closer;
pub mod faces;
pub mod privacy;
pub mod redact;
pub mod redactor;
pub mod regions;
pub mod sighting;
pub mod video;

pub use alert::{Alert, alert};
pub use closer::Closer;
pub use redact::{RawImage, RedactedImage, RedactedJpeg};
pub use redactor::{RedactedClip, Redactor};
pub use sighting::{Picture, Sightings, Withheld};
pub use video::{EncodedClip, VideoEncoder};
