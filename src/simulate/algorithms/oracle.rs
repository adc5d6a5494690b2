//! `oracle`: perfect foresight. Each second it holds the smallest reservation within the
//! target's [min, max] that processes everything waiting and arriving in that second, so the
//! backlog stays at zero (unless even max cannot). Its concurrency-seconds are the floor for
//! any algorithm that keeps the backlog at zero; its writes are not a real option (it may
//! change every second).

use super::{Moment, Scaler};
use crate::policy::Target;

pub struct Oracle {
    min: u32,
    max: u32,
}

impl Oracle {
    pub fn new(target: &Target) -> Oracle {
        Oracle {
            min: target.min,
            max: target.max,
        }
    }
}

impl Scaler for Oracle {
    fn reservation(&mut self, moment: &Moment) -> u32 {
        // Clamped into [min, max], both u32.
        moment
            .needed
            .clamp(u64::from(self.min), u64::from(self.max)) as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Policy;

    #[test]
    fn the_oracle_holds_what_this_second_needs_within_the_bounds() {
        let json = r#"{"targets": [{"function": "f", "min": 2, "max": 50,
            "queue": {"name": "q", "messages_per_instance": 1}}]}"#;
        let target = Policy::from_json(json, "test").unwrap().targets.remove(0);
        let mut oracle = Oracle::new(&target);
        let at = |needed| Moment {
            needed,
            ..Moment::between_evaluations(1, 7)
        };
        assert_eq!(oracle.reservation(&at(30)), 30);
        assert_eq!(oracle.reservation(&at(0)), 2);
        assert_eq!(oracle.reservation(&at(80)), 50);
    }
}
