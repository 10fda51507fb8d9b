//! The evidence clip encoder: redacted pictures in, an H.264 MP4 file out,
//! by GStreamer (`appsrc ! videoconvert ! <encoder> ! h264parse ! mp4mux !
//! filesink`). Its only input is [`RedactedImage`], which only
//! [`super::redact`] makes, and its only output is an [`EncodedClip`] with
//! private fields: no raw camera frame can reach a clip. A hardware H.264
//! encoder is used when GStreamer has one that starts (VA-API, V4L2),
//! `x264enc` (`speed-preset=veryfast tune=zerolatency`) otherwise. It
//! never scales or resamples: every frame given is one frame of the clip.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use gstreamer_video as gst_video;
use sha2::{Digest, Sha256};

use super::redact::RedactedImage;

/// Hardware H.264 encoders tried first, in order, when GStreamer has them.
const HARDWARE: &[&str] = &["vah264enc", "vaapih264enc", "v4l2h264enc"];
/// Longest the encoder may take to finish the file after the last frame.
const FINISH: Duration = Duration::from_secs(60);
/// Bit rate of the software encoder, kbit/s: enough for a 640×360 scene
/// at a few frames a second, whose covered regions are flat.
const BITRATE_KBPS: u32 = 600;

#[derive(Debug, thiserror::Error)]
pub enum VideoError {
    #[error("no H.264 encoder: install gstreamer1.0-plugins-ugly (x264enc) or a hardware encoder")]
    NoEncoder,
    #[error("the clip encoder: {0}")]
    Pipeline(String),
    #[error("frame {index} is {got:?}, the clip is {want:?}")]
    Size {
        index: u64,
        got: (usize, usize),
        want: (usize, usize),
    },
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
}

/// An MP4 file made by [`VideoEncoder`] of redacted frames only.
#[derive(Debug, Clone)]
pub struct EncodedClip {
    path: PathBuf,
    frames: u64,
    sha256: [u8; 32],
    bytes: u64,
    encoder: String,
}

impl EncodedClip {
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Frames encoded.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// The SHA-256 of the file.
    pub fn sha256(&self) -> &[u8; 32] {
        &self.sha256
    }

    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// The GStreamer element that encoded it, e.g. "x264enc".
    pub fn encoder(&self) -> &str {
        &self.encoder
    }

    /// Bytes `offset..offset + len` of the file (fewer at its end), for
    /// sending it in parts.
    pub fn read_part(&self, offset: u64, len: usize) -> std::io::Result<Vec<u8>> {
        use std::io::Seek;
        let mut file = std::fs::File::open(&self.path)?;
        file.seek(std::io::SeekFrom::Start(offset))?;
        let mut part = Vec::with_capacity(len);
        file.take(len as u64).read_to_end(&mut part)?;
        Ok(part)
    }
}

/// The SHA-256 of a file.
pub fn sha256_file(path: &Path) -> std::io::Result<[u8; 32]> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher.finalize().into())
}

/// A clip being encoded: frames go in one by one, [`Self::finish`] closes
/// the file.
pub struct VideoEncoder {
    pipeline: gst::Pipeline,
    src: gst_app::AppSrc,
    info: gst_video::VideoInfo,
    fps: u32,
    pushed: u64,
    path: PathBuf,
    encoder: String,
}

impl VideoEncoder {
    /// Starts a clip of `width`×`height` pictures at `fps` into `path`.
    pub fn start(path: &Path, width: u32, height: u32, fps: u32) -> Result<Self, VideoError> {
        gst::init().map_err(|e| VideoError::Pipeline(e.to_string()))?;
        let fps = fps.max(1);
        let hardware = HARDWARE
            .iter()
            .filter(|name| gst::ElementFactory::find(name).is_some())
            .map(|name| name.to_string());
        let mut last = VideoError::NoEncoder;
        for encoder in hardware.chain(
            gst::ElementFactory::find("x264enc")
                .is_some()
                .then(|| "x264enc".to_string()),
        ) {
            match Self::start_with(&encoder, path, width, height, fps) {
                Ok(started) => return Ok(started),
                Err(e) => {
                    tracing::debug!(encoder = %encoder, error = %e, "clip encoder did not start; trying the next");
                    last = e;
                }
            }
        }
        Err(last)
    }

    fn start_with(encoder: &str, path: &Path, width: u32, height: u32, fps: u32) -> Result<Self, VideoError> {
        let settings = if encoder == "x264enc" {
            format!(
                "x264enc speed-preset=veryfast tune=zerolatency bitrate={BITRATE_KBPS} key-int-max={}",
                fps * 2
            )
        } else {
            encoder.to_string()
        };
        let description = format!(
            "appsrc name=src format=time ! videoconvert ! video/x-raw,format=I420 ! {settings} ! h264parse ! \
             mp4mux faststart=true ! filesink name=sink"
        );
        let pipeline = gst::parse::launch(&description)
            .map_err(|e| VideoError::Pipeline(e.to_string()))?
            .downcast::<gst::Pipeline>()
            .map_err(|_| VideoError::Pipeline("not a pipeline".into()))?;
        let named = |name: &str| {
            pipeline
                .by_name(name)
                .ok_or_else(|| VideoError::Pipeline(format!("no element `{name}`")))
        };
        let sink = named("sink")?;
        sink.set_property("location", path.to_string_lossy().to_string());
        let src = named("src")?
            .downcast::<gst_app::AppSrc>()
            .map_err(|_| VideoError::Pipeline("`src` is not an appsrc".into()))?;
        let info = gst_video::VideoInfo::builder(gst_video::VideoFormat::Rgb, width, height)
            .fps(gst::Fraction::new(fps as i32, 1))
            .build()
            .map_err(|e| VideoError::Pipeline(e.to_string()))?;
        let caps = info.to_caps().map_err(|e| VideoError::Pipeline(e.to_string()))?;
        src.set_caps(Some(&caps));
        src.set_max_bytes(64 * 1024 * 1024);
        src.set_block(true);
        let encoder_name = encoder.to_string();
        let started = Self {
            pipeline,
            src,
            info,
            fps,
            pushed: 0,
            path: path.to_path_buf(),
            encoder: encoder_name,
        };
        started
            .pipeline
            .set_state(gst::State::Playing)
            .map_err(|e| VideoError::Pipeline(format!("{}: {e}", started.encoder)))?;
        Ok(started)
    }

    /// The encoder in use, e.g. "x264enc".
    pub fn encoder(&self) -> &str {
        &self.encoder
    }

    /// Adds one redacted picture as the next frame.
    pub fn push(&mut self, frame: &RedactedImage) -> Result<(), VideoError> {
        let want = (self.info.width() as usize, self.info.height() as usize);
        if (frame.width(), frame.height()) != want {
            return Err(VideoError::Size {
                index: self.pushed,
                got: (frame.width(), frame.height()),
                want,
            });
        }
        let stride = self.info.stride()[0].max(0) as usize;
        let row = want.0 * 3;
        let mut data = vec![0u8; self.info.size()];
        for (y, pixels) in frame.rgb().chunks_exact(row).enumerate() {
            data[y * stride..y * stride + row].copy_from_slice(pixels);
        }
        let mut buffer = gst::Buffer::from_mut_slice(data);
        {
            let buffer = buffer
                .get_mut()
                .ok_or_else(|| VideoError::Pipeline("buffer not writable".into()))?;
            let step = 1_000_000_000 / u64::from(self.fps);
            buffer.set_pts(gst::ClockTime::from_nseconds(self.pushed * step));
            buffer.set_duration(gst::ClockTime::from_nseconds(step));
        }
        self.src
            .push_buffer(buffer)
            .map_err(|e| VideoError::Pipeline(format!("{e:?}: {}", self.error_text())))?;
        self.pushed += 1;
        Ok(())
    }

    /// Ends the clip, waits for the file to be written and hashes it.
    pub fn finish(self) -> Result<EncodedClip, VideoError> {
        let result = self.drain();
        let _ = self.pipeline.set_state(gst::State::Null);
        result?;
        let io = |source| VideoError::Io {
            path: self.path.clone(),
            source,
        };
        let bytes = std::fs::metadata(&self.path).map_err(io)?.len();
        let sha256 = sha256_file(&self.path).map_err(io)?;
        Ok(EncodedClip {
            path: self.path.clone(),
            frames: self.pushed,
            sha256,
            bytes,
            encoder: self.encoder.clone(),
        })
    }

    fn drain(&self) -> Result<(), VideoError> {
        self.src
            .end_of_stream()
            .map_err(|e| VideoError::Pipeline(format!("{e:?}")))?;
        let bus = self
            .pipeline
            .bus()
            .ok_or_else(|| VideoError::Pipeline("no bus".into()))?;
        let timeout = gst::ClockTime::from_seconds(FINISH.as_secs());
        match bus.timed_pop_filtered(Some(timeout), &[gst::MessageType::Eos, gst::MessageType::Error]) {
            Some(message) => match message.view() {
                gst::MessageView::Eos(..) => Ok(()),
                gst::MessageView::Error(e) => Err(VideoError::Pipeline(format!(
                    "{}: {}",
                    e.src().map(|s| s.path_string().to_string()).unwrap_or_default(),
                    e.error()
                ))),
                _ => Err(VideoError::Pipeline("unexpected message".into())),
            },
            None => Err(VideoError::Pipeline(format!(
                "the file was not finished within {FINISH:?}"
            ))),
        }
    }

    /// The first error on the bus, if any, for a refused frame.
    fn error_text(&self) -> String {
        let Some(bus) = self.pipeline.bus() else {
            return String::new();
        };
        match bus.pop_filtered(&[gst::MessageType::Error]) {
            Some(message) => match message.view() {
                gst::MessageView::Error(e) => e.error().to_string(),
                _ => String::new(),
            },
            None => String::new(),
        }
    }
}

impl Drop for VideoEncoder {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}
