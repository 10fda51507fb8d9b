//! The registry of rule kinds: one line per kind in the `rule_kinds!`
//! invocation below, which declares the kind's module (a file in this
//! folder) and generates the kind names ([`KINDS`]), the enums over the kinds
//! ([`RuleKindConfig`], [`RuleKindPlan`] and the running state) and their
//! dispatch to the kind modules.
//!
//! Every kind module exposes the same items (see the steps in the parent
//! module's doc): `Config` (its keys beside the common ones) and `Plan`
//! (them checked), declared together with `config::table!`; `Config`'s
//! [`KindConfig`] (what the kind is, a [`Kind`], and any check beyond the
//! keys' ranges); and `State`, which implements [`RuleState`]: the kind's
//! per-frame logic, on tracks or, when its `pixel_watch` says so, on
//! grayscale frames. Nothing outside a kind's own file and its line here
//! names the kind.

use super::blobs::GrayFrame;
use super::common::RuleCommon;
use super::incident::Target;
use super::kind::{Kind, KindConfig, PixelWatch, RuleState, Scope};
use super::zone::Zone;
use crate::config::Ctx;
use crate::config::de::{Node, from_node};
use crate::config::diag::{Diagnostics, SourceFile};
use crate::track::Track;

/// The registry of rule kinds: `"name" => Variant(module)`, one line a kind.
macro_rules! rule_kinds {
    ($($name:literal => $variant:ident($module:ident),)+) => {
        $(pub mod $module;)+

        /// The names of the kinds, for error messages.
        pub const KINDS: &[&str] = &[$($name),+];

        /// Each kind's name and its own keys (beside the common ones) as
        /// JSON Schema, for the schema of the whole file.
        pub fn kind_schemas(generator: &mut schemars::SchemaGenerator) -> Vec<(&'static str, schemars::Schema)> {
            vec![$(($name, <$module::Config as schemars::JsonSchema>::json_schema(generator)),)+]
        }

        /// Home Assistant's binary sensor device class for a kind: what "on"
        /// means for its incidents ("problem" for a name that is no kind).
        pub fn device_class(name: &str) -> &'static str {
            match name {
                $($name => <$module::Config as KindConfig>::KIND.device_class,)+
                _ => "problem",
            }
        }

        /// The kind-specific part of a rule, as written.
        #[derive(Debug, Clone)]
        pub enum RuleKindConfig {
            $($variant($module::Config),)+
        }

        /// The kind-specific part of a checked rule.
        #[derive(Debug, Clone, PartialEq)]
        pub enum RuleKindPlan {
            $($variant($module::Plan),)+
        }

        /// The kind-specific state of a running rule.
        #[derive(Debug)]
        #[allow(clippy::large_enum_variant)]
        pub(crate) enum KindState {
            $($variant($module::State),)+
        }

        /// Reads the keys of kind `name`; None when there is no such kind.
        pub(crate) fn load_kind(
            name: &str,
            file: &SourceFile,
            node: &Node<'_>,
            diags: &mut Diagnostics,
        ) -> Option<Option<RuleKindConfig>> {
            match name {
                $($name => Some(from_node(file, node, diags).map(RuleKindConfig::$variant)),)+
                _ => None,
            }
        }

        impl RuleKindConfig {
            pub fn name(&self) -> &'static str {
                match self {
                    $(Self::$variant(_) => $name,)+
                }
            }

            /// What the kind is: its shape, labels, per-target policy.
            pub(crate) fn kind(&self) -> Kind {
                match self {
                    $(Self::$variant(_) => <$module::Config as KindConfig>::KIND,)+
                }
            }

            pub(crate) fn check(&self, common: &RuleCommon, owner: &str, ctx: &mut Ctx<'_>) -> Option<RuleKindPlan> {
                match self {
                    $(Self::$variant(c) => c.check(common, owner, ctx).map(RuleKindPlan::$variant),)+
                }
            }
        }

        impl RuleKindPlan {
            pub fn name(&self) -> &'static str {
                match self {
                    $(Self::$variant(_) => $name,)+
                }
            }

            /// What the rule needs of the camera's motion branch; None when
            /// it follows tracks.
            pub fn pixel_watch(&self) -> Option<PixelWatch> {
                match self {
                    $(Self::$variant(p) => <$module::State as RuleState>::pixel_watch(p),)+
                }
            }

            /// How long the kind's own dwell takes before its condition
            /// holds for an object already there (see [`RuleState::warm_up`]).
            pub fn warm_up(&self) -> std::time::Duration {
                match self {
                    $(Self::$variant(p) => <$module::State as RuleState>::warm_up(p),)+
                }
            }

            pub(crate) fn state(&self) -> KindState {
                match self {
                    $(Self::$variant(p) => KindState::$variant(<$module::State as RuleState>::new(p)),)+
                }
            }
        }

        // A state is only ever built from its own plan: the arms that pair
        // one kind's state with another's plan do nothing.
        impl KindState {
            pub(crate) fn evaluate(&mut self, plan: &RuleKindPlan, scope: &Scope<'_>, tracks: &[Track], out: &mut Vec<Target>) {
                match (self, plan) {
                    $((Self::$variant(state), RuleKindPlan::$variant(plan)) => state.evaluate(plan, scope, tracks, out),)+
                    _ => {}
                }
            }

            pub(crate) fn analyse(&mut self, plan: &RuleKindPlan, zone: &Zone, frame: &GrayFrame<'_>, out: &mut Vec<Target>) -> bool {
                match (self, plan) {
                    $((Self::$variant(state), RuleKindPlan::$variant(plan)) => state.analyse(plan, zone, frame, out),)+
                    _ => false,
                }
            }

            pub(crate) fn follows(&self, target_id: u64) -> bool {
                match self {
                    $(Self::$variant(state) => state.follows(target_id),)+
                }
            }
        }
    };
}

rule_kinds! {
    "intrusion" => Intrusion(intrusion),
    "line_crossing" => LineCrossing(line_crossing),
    "loitering" => Loitering(loitering),
    "crowd" => Crowd(crowd),
    "restricted_object" => RestrictedObject(restricted_object),
    "fire_lane" => FireLane(fire_lane),
    "perimeter_climb" => PerimeterClimb(perimeter_climb),
    "fall" => Fall(fall),
    "thrown_object" => ThrownObject(thrown_object),
}

impl RuleKindPlan {
    /// Whether the kind watches grayscale frames rather than tracks.
    pub fn watches_motion(&self) -> bool {
        self.pixel_watch().is_some()
    }
}
