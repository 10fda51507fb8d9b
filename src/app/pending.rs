//! A reload in progress, as the main loop sees it: what its task prepared
//! off the loop ([`Prepared`]) and the requests that arrived meanwhile
//! ([`Coalesce`]: one more reload, however many). Plain data: the reload
//! itself is in [`super::reload`].

use std::collections::BTreeMap;

use super::models::LoadedModel;
use crate::plan::Plan;

/// One reload's preparation, made off the main loop: the config read and
/// checked, and its models loaded (unchanged ones shared, not reloaded).
pub(super) enum Prepared {
    Ready {
        plan: Box<Plan>,
        models: BTreeMap<String, LoadedModel>,
    },
    /// The file failed its check: every problem, one a line.
    Invalid(String),
    /// A model failed to load.
    ModelFailed(String),
}

/// Reload requests against reloads in progress: a request while one runs
/// makes exactly one more after it, however many arrive (each reads the
/// file as it is then, so one more sees every change).
#[derive(Debug, Default)]
pub(super) struct Coalesce {
    running: bool,
    again: bool,
}

impl Coalesce {
    /// A request: true when a reload is to start now.
    pub(super) fn ask(&mut self) -> bool {
        if self.running {
            self.again = true;
            false
        } else {
            self.running = true;
            true
        }
    }

    /// The reload in progress is done: true when another is to start now.
    pub(super) fn done(&mut self) -> bool {
        self.running = std::mem::take(&mut self.again);
        self.running
    }
}

#[cfg(test)]
mod tests {
    use super::Coalesce;

    #[test]
    fn requests_during_a_reload_make_exactly_one_more() {
        let mut c = Coalesce::default();
        assert!(c.ask(), "the first request starts a reload");
        assert!(!c.ask());
        assert!(!c.ask());
        assert!(!c.ask());
        assert!(c.done(), "three requests meanwhile: one more reload");
        assert!(!c.done(), "and no more after it");
        assert!(c.ask(), "idle again: the next request starts one");
    }

    #[test]
    fn a_reload_with_no_request_meanwhile_is_the_last() {
        let mut c = Coalesce::default();
        assert!(c.ask());
        assert!(!c.done());
        assert!(c.ask());
    }

    #[test]
    fn a_request_during_the_follow_up_makes_one_more_again() {
        let mut c = Coalesce::default();
        assert!(c.ask());
        assert!(!c.ask());
        assert!(c.done());
        assert!(!c.ask(), "the follow-up is running");
        assert!(c.done());
        assert!(!c.done());
    }
}
