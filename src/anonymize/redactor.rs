//! The redactor: how a decoded camera picture becomes a [`RedactedImage`].
//! It searches the picture for faces with the face model (through the
//! model's shared inference service), then covers every region the camera's
//! policy names — faces, heads, persons, plates — with [`redact`], and
//! searches the result again, covering whatever still looks like a face
//! ([`VERIFY_PASSES`]). When the
//! policy redacts faces and they cannot be searched for, it fails rather
//! than hand back a picture with faces: it fails closed. Snapshots, their
//! trajectory strips and replay's pictures are all made here.

use gstreamer as gst;
use gstreamer_video as gst_video;

use super::clip;
use super::faces::find_faces;
use super::privacy::CameraPrivacyPlan;
use super::redact::{self, RawImage, RedactSet, RedactedImage};
use super::regions;
use super::sighting::Picture;
use crate::infer::{InferClient, ModelService};
use crate::track::{CutWatch, Pixels};
use crate::vocab::{BBox, Detection, FrameLayout, Geometry};

/// The frames of a clip, each redacted over its own detections.
pub struct RedactedClip {
    /// One per frame given, in order: covered as the policy says, or, where
    /// the face search failed, covered whole.
    pub frames: Vec<RedactedImage>,
    /// Frames the face model searched (and searched again once covered).
    pub key_frames: usize,
    /// Frames covered whole because their faces could not be searched for.
    pub covered_whole: usize,
    /// Frames left out because their pixels could not be read.
    pub unreadable: usize,
}

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

    /// A redacted copy of a picture, covered as the policy says over what
    /// a detector found on that very picture ([`Picture`]) and the faces
    /// the face model finds on it now. Fails, rather than returning a
    /// picture with faces, when the policy redacts faces and they cannot be
    /// searched for.
    pub fn redact(&mut self, picture: &Picture, policy: &CameraPrivacyPlan) -> Result<RedactedImage, String> {
        if let Some(leak) = policy.picture_leak(self.faces.is_some()) {
            return Err(format!("the picture is not made: {leak}"));
        }
        let sample = picture.sample();
        let image = raw_image(sample).ok_or("the frame cannot be read")?;
        let mut faces = Vec::new();
        if policy.redact.faces {
            let (client, width, height) = self.faces.as_mut().ok_or("no face model is configured")?;
            let picture = (image.rgb(), image.width(), image.height());
            faces = find_faces(client, sample, (*width, *height), picture)?;
        }
        let mut regions: Vec<BBox> = Vec::new();
        let size = (image.width() as f32, image.height() as f32);
        regions::regions(&policy.redact, &faces, picture.seen(), size, &mut regions);
        let redacted = redact::redact(image, &regions);
        self.verify(redacted, regions, policy)
    }

    /// Redacts the frames of a clip, oldest first, each over what the
    /// detector found on it and the faces the face model found on the key
    /// frames around it ([`clip`]: a full search every few frames, faces
    /// followed between them with margins grown by the frames since). A
    /// frame whose key frames could not be searched is covered whole: it
    /// fails closed, frame by frame. Fails as [`Self::redact`] does when the
    /// policy cannot hide faces at all.
    pub fn redact_clip(&mut self, pictures: &[Picture], policy: &CameraPrivacyPlan) -> Result<RedactedClip, String> {
        if let Some(leak) = policy.picture_leak(self.faces.is_some()) {
            return Err(format!("the clip is not made: {leak}"));
        }
        let mut unreadable = 0;
        let frames: Vec<(&Picture, RawImage)> = pictures
            .iter()
            .filter_map(|p| {
                let image = raw_image(p.sample());
                unreadable += usize::from(image.is_none());
                image.map(|i| (p, i))
            })
            .collect();
        let count = frames.len();
        // each scene of the clip (cut where the picture shows another
        // place) has key frames of its own
        let mut cuts = CutWatch::default();
        let cut: Vec<bool> = frames
            .iter()
            .map(|(_, image)| {
                let layout = FrameLayout {
                    width: image.width(),
                    height: image.height(),
                    stride: image.width() * 3,
                };
                cuts.cut(&Pixels {
                    data: image.rgb(),
                    layout,
                    geometry: Geometry::STRETCH,
                })
            })
            .collect();
        let keys = clip::KeyPlan::new(&cut);
        // the key frames' faces: None where the search failed
        let mut found: Vec<Option<Vec<Detection>>> = vec![Some(Vec::new()); count];
        let mut key_frames = 0;
        if policy.redact.faces {
            let (client, width, height) = self.faces.as_mut().ok_or("no face model is configured")?;
            for (i, (picture, image)) in frames.iter().enumerate() {
                if !keys.is_key(i) {
                    continue;
                }
                key_frames += 1;
                let pixels = (image.rgb(), image.width(), image.height());
                found[i] = find_faces(client, picture.sample(), (*width, *height), pixels).ok();
            }
        }
        let mut out = Vec::with_capacity(count);
        let mut covered_whole = 0;
        let mut faces: Vec<Detection> = Vec::new();
        let mut regions: Vec<BBox> = Vec::new();
        for (i, (picture, image)) in frames.into_iter().enumerate() {
            let (b, a) = keys.neighbours(i);
            let size = (image.width() as f32, image.height() as f32);
            regions.clear();
            let (Some(before), Some(after)) = (&found[b], &found[a]) else {
                covered_whole += 1;
                out.push(redact::redact(image, &[WHOLE]));
                continue;
            };
            faces.clear();
            clip::between(i, (b, a), before, after, &mut faces);
            if keys.is_key(i) {
                match &found[i] {
                    Some(own) => faces.extend_from_slice(own),
                    None => {
                        covered_whole += 1;
                        out.push(redact::redact(image, &[WHOLE]));
                        continue;
                    }
                }
            }
            regions::regions(&policy.redact, &faces, picture.seen(), size, &mut regions);
            let mut redacted = redact::redact(image, &regions);
            if policy.redact.faces && keys.is_key(i) {
                // what the search still finds on the covered key frame is
                // covered there, and followed to its neighbours as well
                match self.search_again(redacted, regions.clone()) {
                    Ok((again, more)) => {
                        redacted = again;
                        if let Some(list) = found[i].as_mut() {
                            list.extend(more);
                        }
                    }
                    Err(_) => {
                        covered_whole += 1;
                        found[i] = None;
                        out.push(whole_of(size));
                        continue;
                    }
                }
            }
            out.push(redacted);
        }
        Ok(RedactedClip {
            frames: out,
            key_frames,
            covered_whole,
            unreadable,
        })
    }

    /// Up to [`VERIFY_PASSES`] searches of `redacted`, covered with
    /// `regions`; what each finds is covered with them (the new faces and
    /// the patches they touch, refilled together). Also returns the faces
    /// found.
    fn search_again(
        &mut self,
        mut redacted: RedactedImage,
        mut regions: Vec<BBox>,
    ) -> Result<(RedactedImage, Vec<Detection>), String> {
        let size = (redacted.width() as f32, redacted.height() as f32);
        let (client, width, height) = self.faces.as_mut().ok_or("no face model is configured")?;
        let mut all = Vec::new();
        for _ in 0..VERIFY_PASSES {
            let again = sample_of(&redacted).ok_or("the redacted picture cannot be searched again")?;
            let picture = (redacted.rgb(), redacted.width(), redacted.height());
            let found = find_faces(client, &again, (*width, *height), picture)?;
            if found.is_empty() {
                break;
            }
            let painted = regions.len();
            regions::regions(&FACES_ONLY, &found, &[], size, &mut regions);
            redacted = redact::cover(redacted, &regions, painted);
            all.extend(found);
        }
        Ok((redacted, all))
    }

    /// Searches a picture made of redacted pictures — a contact sheet, a
    /// strip of thumbnails — again, as [`Redactor::redact`] searches its
    /// result: scaled down, a covered head on its shoulders can look like a
    /// face to the model, and what it finds is covered too.
    pub fn recheck(&mut self, image: RedactedImage, policy: &CameraPrivacyPlan) -> Result<RedactedImage, String> {
        self.verify(image, Vec::new(), policy)
    }

    /// [`Self::search_again`], where the camera's policy covers faces.
    fn verify(
        &mut self,
        redacted: RedactedImage,
        regions: Vec<BBox>,
        policy: &CameraPrivacyPlan,
    ) -> Result<RedactedImage, String> {
        if !policy.redact.faces {
            return Ok(redacted);
        }
        self.search_again(redacted, regions).map(|(redacted, _)| redacted)
    }
}

/// Searches of the redacted picture, at most: covering a face can leave its
/// surroundings — hair, a hat, the edge of a neighbouring patch — looking
/// enough like a face for the model, so what it still finds is covered
/// too, and the result searched again.
const VERIFY_PASSES: usize = 2;

const FACES_ONLY: RedactSet = RedactSet {
    faces: true,
    heads: false,
    persons: false,
    plates: false,
};

/// The whole picture, as one region.
const WHOLE: BBox = BBox {
    x1: -0.01,
    y1: -0.01,
    x2: 1.01,
    y2: 1.01,
};

/// A picture of `size` covered whole (its pixels are never read).
fn whole_of((width, height): (f32, f32)) -> RedactedImage {
    let blank = vec![0u8; width as usize * height as usize * 3];
    let image = RawImage::from_rgb(&blank, width as usize, height as usize, width as usize * 3)
        .unwrap_or_else(|| RawImage::from_rgb(&[0; 3], 1, 1, 3).expect("one black pixel is a picture"));
    redact::redact(image, &[WHOLE])
}

/// A redacted picture as an RGB sample, for the face search to look at again.
fn sample_of(image: &RedactedImage) -> Option<gst::Sample> {
    let info = gst_video::VideoInfo::builder(gst_video::VideoFormat::Rgb, image.width() as u32, image.height() as u32)
        .build()
        .ok()?;
    let stride = info.stride()[0].max(0) as usize;
    let row = image.width() * 3;
    let mut data = vec![0u8; info.size()];
    for (y, pixels) in image.rgb().chunks_exact(row).enumerate() {
        data[y * stride..y * stride + row].copy_from_slice(pixels);
    }
    let caps = info.to_caps().ok()?;
    Some(
        gst::Sample::builder()
            .buffer(&gst::Buffer::from_mut_slice(data))
            .caps(&caps)
            .build(),
    )
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
