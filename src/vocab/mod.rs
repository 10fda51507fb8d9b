//! The shared vocabulary: the few types every stage speaks — boxes and
//! detections, label ids and names, frames and their geometry. It sits just
//! above the config toolkit and below every stage, so stages use these
//! without importing each other. Nothing here runs anything.

pub mod bbox;
pub mod frame;
pub mod labels;

pub use bbox::{BBox, Detection};
pub use frame::{Frame, FrameLayout, Geometry, Resize};
pub use labels::{LabelId, LabelMap};
