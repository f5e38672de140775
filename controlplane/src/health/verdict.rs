//! One address's state, from the outcomes of its checks (sans-IO).
//!
//! An address is DOWN after `retries` failed checks in a row and UP again after
//! one good check, so a dead backend leaves the answers within
//! `interval × retries` (plus one timeout) and a recovered one returns within
//! one interval. A check that could not be made (no ICMP socket, no descriptor
//! left) says nothing about the address and changes nothing.

/// What one check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A port accepted the connection, or the echo came back.
    Passed,
    /// Refused, unreachable, or no answer within the timeout.
    Failed,
    /// The check could not be made here; says nothing about the address.
    Unknown,
}

/// An address's current state and its run of failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Verdict {
    up: bool,
    failures: u32,
}

impl Verdict {
    /// Starts from what is known (etcd's status, or UP for a new address).
    pub(crate) fn new(up: bool) -> Verdict {
        Verdict { up, failures: 0 }
    }

    pub(crate) fn is_up(self) -> bool {
        self.up
    }

    /// Takes one check's outcome; `Some(up)` when the state flips.
    pub(crate) fn record(&mut self, outcome: Outcome, retries: u32) -> Option<bool> {
        match outcome {
            Outcome::Passed => {
                self.failures = 0;
                (!self.up).then(|| {
                    self.up = true;
                    true
                })
            }
            Outcome::Failed => {
                self.failures = self.failures.saturating_add(1);
                (self.up && self.failures >= retries).then(|| {
                    self.up = false;
                    false
                })
            }
            Outcome::Unknown => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn down_after_retries_failures_in_a_row_up_after_one_pass() {
        let mut verdict = Verdict::new(true);
        assert_eq!(verdict.record(Outcome::Failed, 3), None);
        assert_eq!(verdict.record(Outcome::Failed, 3), None);
        assert_eq!(
            verdict.record(Outcome::Passed, 3),
            None,
            "the run is broken"
        );
        assert_eq!(verdict.record(Outcome::Failed, 3), None);
        assert_eq!(verdict.record(Outcome::Failed, 3), None);
        assert_eq!(verdict.record(Outcome::Failed, 3), Some(false));
        assert_eq!(verdict.record(Outcome::Failed, 3), None, "already DOWN");
        assert!(!verdict.is_up());
        assert_eq!(verdict.record(Outcome::Passed, 3), Some(true));
        assert!(verdict.is_up());
    }

    #[test]
    fn checks_that_could_not_be_made_change_nothing() {
        let mut verdict = Verdict::new(true);
        for _ in 0..10 {
            assert_eq!(verdict.record(Outcome::Unknown, 1), None);
        }
        assert!(verdict.is_up());
        let mut down = Verdict::new(false);
        assert_eq!(down.record(Outcome::Unknown, 1), None);
        assert!(!down.is_up());
    }
}
