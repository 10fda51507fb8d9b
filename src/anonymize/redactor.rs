//! The redactor: how a decoded camera picture becomes a [`RedactedImage`].
//! It searches the picture for faces with the face model (through the
//! model's shared inference service), then covers every region the camera's
//! policy names — faces, heads, persons, plates — with [`redact`]. When the
//! policy redacts faces and they cannot be searched for, it fails rather
//! than hand back a picture with faces: it fails closed. Snapshots, their
//! trajectory strips and replay's pictures are all made here.

use gstreamer as gst;
use gstreamer_video as gst_video;

use super::privacy::CameraPrivacyPlan;
use super::redact::{self, RawImage, RedactedImage};
use crate::decode::convert;
use crate::infer::{InferClient, ModelService};
use crate::vocab::{BBox, Detection, Frame, FrameLayout, Geometry};

/// Redacts pictures: finds faces with the face model, then covers what the
/// camera's policy names.
pub struct Redactor {
    /// The face model's client and input size.
    faces: Option<(InferClient, u32, u32)>,
}

impl Redactor {
    pub fn new(faces: Option<&ModelService>) -> Self {
        Self {
            faces: faces.map(|f| {
                let input = &f.plan().manifest.input;
                (f.client(), input.width, input.height)
            }),
        }
    }

    /// A redacted copy of an RGB sample. `scene` holds the camera detector's
    /// detections (source-normalised) whose persons and vehicles the policy
    /// may cover. Fails, rather than returning a picture with faces, when the
    /// policy redacts faces and they cannot be searched for.
    pub fn redact(
        &mut self,
        sample: &gst::Sample,
        scene: &[Detection],
        policy: &CameraPrivacyPlan,
    ) -> Result<RedactedImage, String> {
        if let Some(leak) = policy.picture_leak(self.faces.is_some()) {
            return Err(format!("the picture is not made: {leak}"));
        }
        let image = raw_image(sample).ok_or("the frame cannot be read")?;
        let mut faces = Vec::new();
        if policy.redact.faces {
            let (client, width, height) = self.faces.as_mut().ok_or("no face model is configured")?;
            faces = find_faces(client, sample, *width, *height)?;
        }
        let mut regions: Vec<BBox> = Vec::new();
        redact::regions(&policy.redact, &policy.labels, &faces, scene, &mut regions);
        Ok(redact::redact(image, &regions))
    }
}

/// The sample's pixels as a tightly packed RGB image.
fn raw_image(sample: &gst::Sample) -> Option<RawImage> {
    let info = gst_video::VideoInfo::from_caps(sample.caps()?).ok()?;
    let map = sample.buffer()?.map_readable().ok()?;
    RawImage::from_rgb(
        map.as_slice(),
        info.width() as usize,
        info.height() as usize,
        info.stride()[0].max(0) as usize,
    )
}

/// Faces in the snapshot, in its normalised coordinates: the picture is
/// letterboxed to the face model's input inside GStreamer and run through
/// the model's shared inference service.
pub fn find_faces(
    client: &mut InferClient,
    sample: &gst::Sample,
    width: u32,
    height: u32,
) -> Result<Vec<Detection>, String> {
    let source = gst_video::VideoInfo::from_caps(sample.caps().ok_or("no caps")?).map_err(|e| e.to_string())?;
    let scaled = convert::letterboxed_rgb(sample, width, height)
        .map_err(|e| format!("cannot scale the picture for the face model: {e}"))?;
    let info = gst_video::VideoInfo::from_caps(scaled.caps().ok_or("no caps")?).map_err(|e| e.to_string())?;
    let par = source.par();
    let frame = Frame {
        buffer: scaled.buffer_owned().ok_or("no buffer")?,
        layout: FrameLayout {
            width: info.width() as usize,
            height: info.height() as usize,
            stride: info.stride()[0].max(0) as usize,
        },
        geometry: Geometry::letterbox(
            source.width(),
            source.height(),
            (par.numer(), par.denom()),
            width,
            height,
        ),
        pts: std::time::Duration::ZERO,
        number: 0,
        arrived: std::time::Instant::now(),
    };
    client
        .detect(&frame)
        .map(<[Detection]>::to_vec)
        .map_err(|e| format!("face detection failed: {e}"))
}
