//! Preprocessing: a scaled RGB frame from GStreamer into the model's input
//! tensor, written into a buffer that is reused for every frame.
//!
//! Scaling already happened inside GStreamer; this only reorders channels,
//! applies the manifest's scale and offset, and respects the row stride.

use super::manifest::{ColourOrder, InputSpec, Layout};
use crate::vocab::FrameLayout;

/// A packed 8-bit RGB image borrowed from a decoded frame.
#[derive(Debug, Clone, Copy)]
pub struct ImageView<'a> {
    pub data: &'a [u8],
    pub width: usize,
    pub height: usize,
    /// Bytes per row; GStreamer pads RGB rows to 4 bytes.
    pub stride: usize,
}

impl<'a> ImageView<'a> {
    /// The pixels of a decoded frame, `data` being its mapped buffer.
    pub fn new(data: &'a [u8], layout: &FrameLayout) -> Self {
        Self {
            data,
            width: layout.width,
            height: layout.height,
            stride: layout.stride,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PreprocessError {
    #[error("frame is {got_w}×{got_h} but the model takes {want_w}×{want_h}")]
    Size {
        got_w: usize,
        got_h: usize,
        want_w: usize,
        want_h: usize,
    },
    #[error("frame buffer holds {got} bytes, {need} needed for {width}×{height} with stride {stride}")]
    Short {
        got: usize,
        need: usize,
        width: usize,
        height: usize,
        stride: usize,
    },
}

/// Maps bytes to input values with a lookup table per channel.
#[derive(Debug, Clone)]
pub struct Preprocessor {
    /// lut[c][v]: value for byte v of the model's channel c.
    lut: [[f32; 256]; 3],
    /// For the model's channel c, which RGB channel feeds it.
    source_channel: [usize; 3],
    layout: Layout,
    width: usize,
    height: usize,
}

impl Preprocessor {
    pub fn new(spec: &InputSpec) -> Self {
        let mut lut = [[0.0; 256]; 3];
        for (c, table) in lut.iter_mut().enumerate() {
            let (scale, offset) = (spec.scale.channel(c), spec.offset.channel(c));
            for (v, slot) in table.iter_mut().enumerate() {
                *slot = v as f32 * scale + offset;
            }
        }
        let source_channel = match spec.colour {
            ColourOrder::Rgb => [0, 1, 2],
            ColourOrder::Bgr => [2, 1, 0],
        };
        Self {
            lut,
            source_channel,
            layout: spec.layout,
            width: spec.width as usize,
            height: spec.height as usize,
        }
    }

    /// Number of f32 values one image fills.
    pub fn len(&self) -> usize {
        self.width * self.height * 3
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Writes one image into `out` (`len()` values).
    pub fn fill(&self, image: &ImageView<'_>, out: &mut [f32]) -> Result<(), PreprocessError> {
        if image.width != self.width || image.height != self.height {
            return Err(PreprocessError::Size {
                got_w: image.width,
                got_h: image.height,
                want_w: self.width,
                want_h: self.height,
            });
        }
        let need = image.stride * (image.height.saturating_sub(1)) + image.width * 3;
        if image.data.len() < need || image.stride < image.width * 3 {
            return Err(PreprocessError::Short {
                got: image.data.len(),
                need,
                width: image.width,
                height: image.height,
                stride: image.stride,
            });
        }
        let plane = self.width * self.height;
        let [s0, s1, s2] = self.source_channel;
        for y in 0..self.height {
            let row = &image.data[y * image.stride..y * image.stride + self.width * 3];
            match self.layout {
                Layout::Nhwc => {
                    let dst = &mut out[y * self.width * 3..(y + 1) * self.width * 3];
                    for (px, d) in row.chunks_exact(3).zip(dst.chunks_exact_mut(3)) {
                        d[0] = self.lut[0][px[s0] as usize];
                        d[1] = self.lut[1][px[s1] as usize];
                        d[2] = self.lut[2][px[s2] as usize];
                    }
                }
                Layout::Nchw => {
                    let base = y * self.width;
                    for (x, px) in row.chunks_exact(3).enumerate() {
                        out[base + x] = self.lut[0][px[s0] as usize];
                        out[plane + base + x] = self.lut[1][px[s1] as usize];
                        out[2 * plane + base + x] = self.lut[2][px[s2] as usize];
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::infer::manifest::PerChannel;
    use crate::vocab::Resize;

    fn spec(layout: Layout, colour: ColourOrder) -> InputSpec {
        InputSpec {
            name: "x".into(),
            width: 2,
            height: 1,
            layout,
            colour,
            resize: Resize::Stretch,
            scale: PerChannel::All(2.0 / 255.0),
            offset: PerChannel::All(-1.0),
        }
    }

    /// `data` as one row of `width` pixels, `stride` bytes long, through a
    /// preprocessor of `layout` and `colour`: its six floats, or the error.
    fn fill_row(
        (layout, colour): (Layout, ColourOrder),
        data: &[u8],
        width: usize,
        stride: usize,
    ) -> Result<[f32; 6], PreprocessError> {
        let p = Preprocessor::new(&spec(layout, colour));
        let mut out = [0.0; 6];
        let image = ImageView {
            data,
            width,
            height: 1,
            stride,
        };
        p.fill(&image, &mut out).map(|_| out)
    }

    #[test]
    fn nhwc_rgb_normalises_and_skips_row_padding() {
        // one row of two pixels, padded to 8 bytes
        let data = [0, 255, 0, 255, 0, 255, 9, 9];
        let out = fill_row((Layout::Nhwc, ColourOrder::Rgb), &data, 2, 8).unwrap();
        assert_eq!(out, [-1.0, 1.0, -1.0, 1.0, -1.0, 1.0]);
    }

    #[test]
    fn nchw_bgr_puts_blue_first_in_planes() {
        let data = [0, 0, 255, 255, 0, 0];
        let out = fill_row((Layout::Nchw, ColourOrder::Bgr), &data, 2, 6).unwrap();
        assert_eq!(out, [1.0, -1.0, -1.0, -1.0, -1.0, 1.0]);
    }

    #[test]
    fn a_wrong_size_or_short_buffer_is_an_error() {
        let rgb = (Layout::Nhwc, ColourOrder::Rgb);
        assert!(fill_row(rgb, &[0; 6], 3, 9).is_err());
        assert!(fill_row(rgb, &[0; 4], 2, 6).is_err());
    }
}
