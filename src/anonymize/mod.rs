//! Anonymize: the only way from an incident to something that leaves the box.
//!
//! An [`Alert`] can only be built here, from a rule's incident event
//! ([`alert()`]); a picture can only leave as a [`RedactedImage`] or
//! [`RedactedJpeg`], which only [`redact`] makes, and the [`Redactor`] —
//! the one place that runs the face model over a picture ([`faces`]: the
//! whole picture, then tiles at its own resolution) and places the regions
//! to cover ([`regions`]) — is how a camera frame becomes one. What goes
//! out is what a security office needs to act — where, what kind of object,
//! how sure, how urgent — and nothing that identifies a person.

pub mod alert;
pub mod faces;
pub mod privacy;
pub mod redact;
pub mod redactor;
pub mod regions;
pub mod sighting;

pub use alert::{Alert, alert};
pub use redact::{RawImage, RedactedImage, RedactedJpeg};
pub use redactor::Redactor;
pub use sighting::{Picture, Sightings, Withheld};
