//! Schedules: when a rule is armed, as time windows on days of the week in
//! the box's local time zone (`schedule = [{ days = ["mon"], from = "22:00",
//! to = "06:00" }]`). A window whose `to` is earlier than its `from` runs
//! past midnight into the next day; its `days` name the day it starts on.
//!
//! The engine passes the local civil time in; this module never reads a
//! clock, so tests choose the time and the zone.

use jiff::civil::{DateTime, Weekday};

use crate::config::Ctx;
use crate::config::Spanned;

crate::config::table! {
    /// One window of a rule's `schedule`.
    pub struct WindowConfig in "" {
        /// Days the window starts on, e.g. ["mon", "tue", "wed", "thu", "fri"];
        /// every day when left out. Names: mon, tue, wed, thu, fri, sat, sun.
        pub days: Option<Spanned<Vec<String>>>;
        /// Start time of day, local, e.g. "22:00" (or "22:00:30").
        #[required]
        pub from: Spanned<String>;
        /// End time of day, local, e.g. "06:00"; "24:00" is the end of the day.
        /// Earlier than `from`: the window ends on the next day.
        #[required]
        pub to: Spanned<String>;
    }
}

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const DAY_SECS: u32 = 86_400;

/// A checked window: seconds of the day, `days` a bit set (bit 0 = Monday).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    days: u8,
    from: u32,
    to: u32,
}

/// A checked schedule; empty means always armed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Schedule {
    windows: Vec<Window>,
}

fn day_bit(day: Weekday) -> u8 {
    1 << day.to_monday_zero_offset()
}

impl Schedule {
    pub fn is_always(&self) -> bool {
        self.windows.is_empty()
    }

    /// Whether the rule is armed at this local time.
    pub fn is_open(&self, local: DateTime) -> bool {
        if self.windows.is_empty() {
            return true;
        }
        let secs = local.hour() as u32 * 3600 + local.minute() as u32 * 60 + local.second() as u32;
        let today = day_bit(local.weekday());
        let yesterday = day_bit(local.weekday().previous());
        self.windows.iter().any(|w| {
            if w.from < w.to {
                w.days & today != 0 && (w.from..w.to).contains(&secs)
            } else {
                // past midnight: the evening part today, the morning part
                // belongs to the window that started yesterday
                (w.days & today != 0 && secs >= w.from) || (w.days & yesterday != 0 && secs < w.to)
            }
        })
    }
}

/// "HH:MM" or "HH:MM:SS" as seconds of the day; "24:00" only when `end`.
fn time_of_day(text: &str, end: bool) -> Option<u32> {
    let parts: Vec<&str> = text.split(':').collect();
    if !(2..=3).contains(&parts.len()) || parts.iter().any(|p| p.len() != 2) {
        return None;
    }
    let mut n = [0u32; 3];
    for (slot, part) in n.iter_mut().zip(&parts) {
        *slot = part.parse().ok()?;
    }
    let [h, m, s] = n;
    let secs = h * 3600 + m * 60 + s;
    let ok = m < 60 && s < 60 && (secs < DAY_SECS || (end && secs == DAY_SECS));
    ok.then_some(secs)
}

pub fn check(owner: &str, windows: &[WindowConfig], ctx: &mut Ctx<'_>) -> Option<Schedule> {
    let mut out = Vec::new();
    let mut ok = true;
    for w in windows {
        let from = time_of_day(w.from.get_ref(), false);
        let to = time_of_day(w.to.get_ref(), true);
        for (value, key, parsed) in [(&w.from, "from", from), (&w.to, "to", to)] {
            if parsed.is_none() {
                ok = false;
                ctx.error(
                    value.span(),
                    format!(
                        "{owner}: schedule `{key}` is \"{}\"; write a time of day as HH:MM, from \"00:00\" to \"24:00\", e.g. \"22:00\"",
                        value.get_ref()
                    ),
                );
            }
        }
        let mut days = 0u8;
        match &w.days {
            None => days = 0x7f,
            Some(names) => {
                if names.get_ref().is_empty() {
                    ok = false;
                    ctx.error(
                        names.span(),
                        format!("{owner}: schedule `days` is empty; list days, e.g. [\"sat\", \"sun\"], or leave it out for every day"),
                    );
                }
                for name in names.get_ref() {
                    match DAYS.iter().position(|d| d.eq_ignore_ascii_case(name)) {
                        Some(i) => days |= 1 << i,
                        None => {
                            ok = false;
                            ctx.error(
                                names.span(),
                                format!("{owner}: unknown day `{name}` in schedule; use {}", DAYS.join(", ")),
                            );
                        }
                    }
                }
            }
        }
        if let (Some(from), Some(to)) = (from, to) {
            if from == to % DAY_SECS {
                ok = false;
                ctx.error(
                    w.to.span(),
                    format!(
                        "{owner}: schedule window from \"{}\" to \"{}\" is empty; for a whole day use from = \"00:00\", to = \"24:00\"",
                        w.from.get_ref(),
                        w.to.get_ref()
                    ),
                );
            }
            out.push(Window { days, from, to });
        }
    }
    ok.then_some(Schedule { windows: out })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule(windows: &[(u8, &str, &str)]) -> Schedule {
        Schedule {
            windows: windows
                .iter()
                .map(|&(days, from, to)| Window {
                    days,
                    from: time_of_day(from, false).unwrap(),
                    to: time_of_day(to, true).unwrap(),
                })
                .collect(),
        }
    }

    /// `day` days after Monday 2026-12-07.
    fn at(day: i8, h: i8, m: i8) -> DateTime {
        let t = jiff::civil::date(2026, 12, 7 + day).at(h, m, 0, 0);
        assert_eq!(t.weekday().to_monday_zero_offset(), day);
        t
    }

    const MON: u8 = 1;
    const TUE: u8 = 2;

    #[test]
    fn a_day_window_is_open_from_its_start_until_just_before_its_end() {
        let s = schedule(&[(MON, "08:00", "17:30")]);
        assert!(!s.is_open(at(0, 7, 59)));
        assert!(s.is_open(at(0, 8, 0)));
        assert!(s.is_open(at(0, 17, 29)));
        assert!(!s.is_open(at(0, 17, 30)));
        assert!(!s.is_open(at(1, 9, 0)), "Tuesday is not listed");
    }

    #[test]
    fn a_window_past_midnight_belongs_to_the_day_it_starts() {
        let s = schedule(&[(MON, "22:00", "06:00")]);
        assert!(!s.is_open(at(0, 5, 0)), "Monday morning is Sunday night's window");
        assert!(s.is_open(at(0, 22, 0)));
        assert!(s.is_open(at(1, 5, 59)), "Tuesday early morning is still Monday night");
        assert!(!s.is_open(at(1, 6, 0)));
        assert!(!s.is_open(at(1, 22, 30)), "Tuesday night is not listed");
    }

    #[test]
    fn several_windows_and_the_end_of_the_day() {
        let s = schedule(&[(MON | TUE, "00:00", "06:00"), (TUE, "20:00", "24:00")]);
        assert!(s.is_open(at(1, 23, 59)));
        assert!(!s.is_open(at(1, 12, 0)));
        assert!(s.is_open(at(0, 0, 0)));
        assert!(Schedule::default().is_open(at(3, 12, 0)));
    }

    #[test]
    fn times_of_day_are_strict() {
        assert_eq!(time_of_day("22:00", false), Some(79_200));
        assert_eq!(time_of_day("06:00:30", false), Some(21_630));
        assert_eq!(time_of_day("24:00", true), Some(86_400));
        for bad in ["24:00", "25:00", "7:00", "07:60", "07", "noon", "07:00:00:00"] {
            assert_eq!(time_of_day(bad, false), None, "{bad}");
        }
    }
}
