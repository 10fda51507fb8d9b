//! Model families: how a model's output tensors become detections. A manifest
//! names its family (`family = "yolov8"`) and gives that family's `[output]`
//! table.
//!
//! Families are a closed set, listed once in the `model_families!` registry
//! below; each is one module here holding its `[output]` table (a serde struct
//! implementing [`OutputDecoding`]), its decoding and its tests. The registry
//! generates everything that lists the families: [`Family`], [`OutputSpec`],
//! the reading of `[output]` for the named family and the dispatch to its
//! decoding. Families that read alike share code through a plain module
//! ([`yolo_common`]), not through the registry. A family imports what every
//! family needs (`OutputDecoding`, `Outputs`, `InputSize`) from `support`,
//! never from this file, which declares it: no file imports one that imports it back.

mod support;
pub mod yolo_common;

use serde::Deserialize;

pub use support::{InputSize, OutputDecoding, Outputs, Tensor};

use crate::config::de::{Node, from_node};
use crate::config::diag::{Diagnostics, SourceFile};
use crate::vocab::Detection;

/// The registry of model families: `"name" => Variant(module::Table)`, where
/// `name` is the manifest's `family` and `Table` the module's `[output]`
/// table. Adding a family is one module in this folder and one line here.
macro_rules! model_families {
    ($($name:literal => $variant:ident($module:ident::$table:ident),)+) => {
        $(pub mod $module;)+

        /// Output decoding families, as a manifest's `family` names them.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
        pub enum Family {
            $(
                #[doc = concat!("`family = \"", $name, "\"`: see [`", stringify!($module), "`].")]
                #[serde(rename = $name)]
                $variant,
            )+
        }

        /// A checked `[output]` table: the family's own keys.
        #[derive(Debug, Clone)]
        pub enum OutputSpec {
            $($variant($module::$table),)+
        }

        /// Reads `[output]` as the table of `family`.
        pub(crate) fn load_output(
            family: Family,
            file: &SourceFile,
            node: &Node<'_>,
            diags: &mut Diagnostics,
        ) -> Option<OutputSpec> {
            match family {
                $(Family::$variant => from_node::<$module::$table>(file, node, diags).map(OutputSpec::$variant),)+
            }
        }

        impl OutputSpec {
            /// The family this table belongs to.
            pub fn family(&self) -> Family {
                match self {
                    $(Self::$variant(_) => Family::$variant,)+
                }
            }

            /// The output tensors this decoding reads.
            pub fn tensor_names(&self) -> Vec<&str> {
                match self {
                    $(Self::$variant(table) => table.tensor_names(),)+
                }
            }

            /// Decodes one frame's outputs; see [`OutputDecoding::decode`].
            pub fn decode(&self, outputs: &Outputs<'_>, scratch: &mut Vec<f32>, out: &mut Vec<Detection>) -> ort::Result<()> {
                match self {
                    $(Self::$variant(table) => table.decode(outputs, scratch, out),)+
                }
            }
        }
    };
}

model_families! {
    "ssd" => Ssd(ssd::SsdOutput),
    "yolov5" => Yolov5(yolov5::YoloOutput),
    "yolov8" => Yolov8(yolov8::Yolov8Output),
    "yolox" => Yolox(yolox::YoloxOutput),
    "centerface" => Centerface(centerface::CenterfaceOutput),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::de::parse_document;

    #[derive(Deserialize)]
    struct Named {
        family: Family,
    }

    /// `[output]` read as `family`'s table, or None with the problems.
    fn load(family: &str, table: &str) -> (Family, Option<OutputSpec>, Diagnostics) {
        let family = toml::from_str::<Named>(&format!("family = \"{family}\""))
            .unwrap()
            .family;
        let file = SourceFile::new("m.toml", format!("[output]\n{table}\n"));
        let mut diags = Diagnostics::default();
        let doc = parse_document(&file, &mut diags).unwrap();
        let node = doc.get_ref().get("output").unwrap();
        let spec = load_output(family, &file, node, &mut diags);
        (family, spec, diags)
    }

    #[test]
    fn every_family_reads_its_own_output_table() {
        for (name, table, tensors) in [
            (
                "ssd",
                "scores = \"s\"\nboxes = \"b\"\nbox_order = \"yxyx\"",
                vec!["s", "b"],
            ),
            ("yolov5", "name = \"o\"", vec!["o"]),
            ("yolov8", "name = \"o\"\ntransposed = true", vec!["o"]),
            ("yolox", "name = \"o\"\nstrides = [8, 16]", vec!["o"]),
            (
                "centerface",
                "heatmap = \"h\"\nscale = \"s\"\noffset = \"f\"",
                vec!["h", "s", "f"],
            ),
        ] {
            let (family, spec, diags) = load(name, table);
            let spec = spec.unwrap_or_else(|| panic!("{name}: {diags:?}"));
            assert_eq!(spec.family(), family, "{name}");
            assert_eq!(spec.tensor_names(), tensors, "{name}");
        }
    }

    #[test]
    fn a_key_of_another_family_is_rejected() {
        let (_, spec, _) = load("yolov8", "name = \"o\"\nstrides = [8]");
        assert!(spec.is_none());
    }

    #[test]
    fn an_unknown_family_lists_the_known_ones() {
        let err = toml::from_str::<Named>("family = \"yolov3\"")
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("unknown variant `yolov3`, expected one of `ssd`, `yolov5`"),
            "{err}"
        );
    }
}
