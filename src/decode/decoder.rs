//! Decoder choice: for the codec a stream turns out to carry, pick a hardware
//! decoder when one is installed (VA-API, NVDEC, V4L2 stateful…), otherwise the
//! best software one (libav), unless the operator named one. A libav decoder
//! decodes on one thread: cameras already decode in parallel, and frame
//! threading would keep a set of frames per thread for every camera.

use std::sync::{Arc, Mutex};

use gstreamer as gst;
use gstreamer::prelude::*;
use serde::Deserialize;

/// `decoder` in `[cameras.decode]`: "auto" (default), "software", or an element name.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(from = "String")]
pub enum DecoderChoice {
    #[default]
    Auto,
    Software,
    Element(String),
}

impl From<String> for DecoderChoice {
    fn from(value: String) -> Self {
        match value.as_str() {
            "auto" => Self::Auto,
            "software" => Self::Software,
            _ => Self::Element(value),
        }
    }
}

/// The decoder picked and why, for the log line.
#[derive(Debug, Clone)]
pub struct Chosen {
    pub factory: gst::ElementFactory,
    pub reason: String,
}

/// Settings of a decoder just created. A libav decoder gets one thread:
/// with the default (one per core, frame threading) each camera held about
/// 4.6 MB more of decoded frames on a 2-core box (docs/benchmarks.md), and a
/// box's cameras keep its cores busy without it.
pub fn configure(decoder: &gst::Element) {
    let libav = decoder.factory().is_some_and(|f| f.name().starts_with("avdec_"));
    if libav && decoder.has_property("max-threads") {
        decoder.set_property("max-threads", 1i32);
    }
}

fn is_hardware(f: &gst::ElementFactory) -> bool {
    f.klass().contains("Hardware")
}

/// Installed decoders that accept `caps`, best rank first.
fn candidates(caps: &gst::CapsRef) -> Vec<gst::ElementFactory> {
    let mut list: Vec<gst::ElementFactory> =
        gst::ElementFactory::factories_with_type(gst::ElementFactoryType::DECODER, gst::Rank::MARGINAL)
            .into_iter()
            .filter(|f| f.can_sink_all_caps(caps))
            .collect();
    list.sort_by_key(|f| std::cmp::Reverse(f.rank()));
    list
}

/// Picks the decoder for `caps` (the parsed stream's caps).
pub fn choose(caps: &gst::CapsRef, choice: &DecoderChoice) -> Result<Chosen, String> {
    let codec = caps.structure(0).map_or("unknown", |s| s.name().as_str()).to_string();
    let all = candidates(caps);
    let software = all.iter().find(|f| !is_hardware(f));
    match choice {
        DecoderChoice::Element(name) => {
            let factory =
                gst::ElementFactory::find(name).ok_or_else(|| format!("decoder `{name}` is not installed"))?;
            if !factory.can_sink_all_caps(caps) {
                return Err(format!("decoder `{name}` cannot decode {codec}"));
            }
            Some(Chosen {
                factory,
                reason: "set by decoder in the config".into(),
            })
        }
        DecoderChoice::Software => software.cloned().map(|factory| Chosen {
            reason: "decoder = \"software\"".into(),
            factory,
        }),
        DecoderChoice::Auto => match all.iter().find(|f| is_hardware(f)) {
            Some(hw) => Some(Chosen {
                factory: hw.clone(),
                reason: "hardware decoder available".into(),
            }),
            None => software.cloned().map(|factory| Chosen {
                reason: "no hardware decoder for this codec; using software".into(),
                factory,
            }),
        },
    }
    .ok_or_else(|| format!("unsupported codec {codec}: no decoder for it is installed (gstreamer1.0-libav has most)"))
}

/// Whether an element by this name exists, for config checks.
pub fn installed(name: &str) -> bool {
    gst::ElementFactory::find(name).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn h264_gets_a_decoder_and_explicit_choices_are_checked() {
        gst::init().unwrap();
        let caps = gst::Caps::builder("video/x-h264")
            .field("stream-format", "byte-stream")
            .field("alignment", "au")
            .build();
        let chosen = choose(&caps, &DecoderChoice::Auto).unwrap();
        assert!(chosen.factory.can_sink_all_caps(&caps));
        let sw = choose(&caps, &DecoderChoice::Software).unwrap();
        assert!(!is_hardware(&sw.factory));
        assert!(choose(&caps, &DecoderChoice::Element("avdec_h264".into())).is_ok());
        let err = choose(&caps, &DecoderChoice::Element("avdec_h265".into())).unwrap_err();
        assert!(err.contains("cannot decode video/x-h264"), "{err}");
        let err = choose(&caps, &DecoderChoice::Element("no_such_dec".into())).unwrap_err();
        assert!(err.contains("not installed"), "{err}");
        let weird = gst::Caps::builder("video/x-nonexistent-codec").build();
        assert!(
            choose(&weird, &DecoderChoice::Auto)
                .unwrap_err()
                .contains("unsupported codec video/x-nonexistent-codec")
        );
    }
}

/// What [`attach_decoder`] found: the codec, the decoder and why it was chosen.
#[derive(Debug, Clone, Default)]
pub struct DecoderReport {
    pub codec: String,
    pub decoder: String,
    pub reason: String,
}

/// parsebin exposes the parsed stream once it knows the codec: pick a decoder
/// for it and link it in front of `first`. Raw video is linked directly. A
/// codec without a decoder becomes an error on the bus.
pub fn attach_decoder(
    pipeline: &gst::Pipeline,
    parse: &gst::Element,
    first: &gst::Element,
    camera: Arc<str>,
    choice: DecoderChoice,
    report: Option<Arc<Mutex<DecoderReport>>>,
) {
    let target = first.static_pad("sink");
    let pipeline = pipeline.downgrade();
    parse.connect_pad_added(move |parse, pad| {
        let (Some(target), Some(pipeline)) = (target.as_ref(), pipeline.upgrade()) else { return };
        let caps = pad.current_caps().unwrap_or_else(|| pad.query_caps(None));
        let Some(name) = caps.structure(0).map(|s| s.name().to_string()) else { return };
        if target.is_linked() || !(name.starts_with("video/") || name.starts_with("image/")) {
            return;
        }
        let profile = caps.structure(0).and_then(|s| s.get::<String>("profile").ok());
        let mut found = DecoderReport {
            codec: profile.map_or_else(|| name.clone(), |p| format!("{name} ({p})")),
            ..DecoderReport::default()
        };
        let linked = if name == "video/x-raw" {
            found.decoder = "none (raw video)".into();
            pad.link(target).map(|_| ()).map_err(|e| format!("{e:?}"))
        } else {
            choose(&caps, &choice).and_then(|chosen| {
                let dec = chosen.factory.create().build().map_err(|e| e.to_string())?;
                configure(&dec);
                pipeline.add(&dec).map_err(|e| e.to_string())?;
                dec.sync_state_with_parent().map_err(|e| e.to_string())?;
                let sink = dec.static_pad("sink").ok_or("decoder has no sink pad")?;
                pad.link(&sink).map_err(|e| format!("{e:?}"))?;
                let src = dec.static_pad("src").ok_or("decoder has no src pad")?;
                src.link(target).map_err(|e| format!("{e:?}"))?;
                tracing::info!(camera = %camera, codec = %name, decoder = %chosen.factory.name(), reason = %chosen.reason, "decoder chosen");
                found.decoder = chosen.factory.name().to_string();
                found.reason = chosen.reason;
                Ok(())
            })
        };
        match linked {
            Ok(()) => {
                if let Some(report) = &report {
                    *report.lock().unwrap_or_else(|p| p.into_inner()) = found;
                }
            }
            Err(reason) => gst::element_error!(parse, gst::StreamError::CodecNotFound, ("{}", reason)),
        }
    });
}
