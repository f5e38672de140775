//! Questions in flight: the cap on how many go to upstreams at once, and
//! coalescing of identical ones.
//!
//! A query that missed the cache joins the flight of its question (its cache
//! key: name, type, class, DO, CD). When none is in flight it *leads* a new
//! one, which asks the upstreams; when one is, it *follows*: it waits for the
//! leader's outcome and renders it for its own client, sending nothing
//! upstream. At most `forward.max_in_flight` flights exist at once and at most
//! [`MAX_FOLLOWERS`] queries follow one; a query beyond either is answered
//! SERVFAIL at once ([`Joined::Full`]), so a flood of distinct names, or of
//! one name, holds a bounded amount of memory and never more upstream work.
//!
//! A flight ends when its leader does, however it does: a leader whose client
//! went away (a closed TCP connection drops its future) ends the flight
//! without an outcome, and its followers start over, one of them leading.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::watch;

use super::cache::Key;
use super::message::Prepared;

/// Queries that may wait on one question in flight.
pub(crate) const MAX_FOLLOWERS: usize = 128;

/// How a flight ended, for the leader's and every follower's client.
#[derive(Debug, Clone)]
pub(crate) enum Outcome {
    Answer(Arc<Prepared>),
    /// Every upstream failed within the deadline: SERVFAIL.
    Failed,
    /// Every upstream of the name's set was at its cap, or had no socket:
    /// SERVFAIL too, counted apart.
    OverCap,
}

/// What followers of a flight share. The sender of the outcome is the
/// leader's alone, so a flight whose leader is gone is seen to have ended.
#[derive(Debug)]
struct Flight {
    outcome: watch::Receiver<Option<Outcome>>,
    followers: AtomicUsize,
}

/// The flights in the air.
#[derive(Debug)]
pub(crate) struct Flights {
    limit: usize,
    flights: Mutex<HashMap<Key, Arc<Flight>>>,
}

/// What a query that missed the cache does.
#[derive(Debug)]
pub(crate) enum Joined<'a> {
    /// Ask the upstreams, then [`Lead::land`].
    Lead(Lead<'a>),
    /// Wait for the leader: [`Follower::outcome`].
    Follow(Follower),
    /// Too many flights, or too many followers of this one: SERVFAIL now.
    Full,
}

/// The query that asks the upstreams for a flight. Dropping it ends the flight.
#[derive(Debug)]
pub(crate) struct Lead<'a> {
    flights: &'a Flights,
    key: Key,
    flight: Arc<Flight>,
    outcome: watch::Sender<Option<Outcome>>,
}

/// A query waiting for a flight's outcome.
#[derive(Debug)]
pub(crate) struct Follower {
    flight: Arc<Flight>,
    outcome: watch::Receiver<Option<Outcome>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Flights {
    /// At most `limit` flights at once.
    pub(crate) fn new(limit: usize) -> Flights {
        Flights {
            limit,
            flights: Mutex::new(HashMap::new()),
        }
    }

    /// Flights in the air now.
    pub(crate) fn len(&self) -> usize {
        lock(&self.flights).len()
    }

    /// Joins the flight of `key`, or starts it.
    pub(crate) fn join(&self, key: &Key) -> Joined<'_> {
        let mut flights = lock(&self.flights);
        if let Some(flight) = flights.get(key) {
            let joined = flight
                .followers
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                    (n < MAX_FOLLOWERS).then_some(n + 1)
                });
            return match joined {
                Ok(_) => Joined::Follow(Follower {
                    flight: Arc::clone(flight),
                    outcome: flight.outcome.clone(),
                }),
                Err(_) => Joined::Full,
            };
        }
        if flights.len() >= self.limit {
            return Joined::Full;
        }
        let (outcome, landed) = watch::channel(None);
        let flight = Arc::new(Flight {
            outcome: landed,
            followers: AtomicUsize::new(0),
        });
        flights.insert(key.clone(), Arc::clone(&flight));
        Joined::Lead(Lead {
            flights: self,
            key: key.clone(),
            flight,
            outcome,
        })
    }
}

impl Lead<'_> {
    /// Gives every follower the outcome and ends the flight.
    pub(crate) fn land(self, outcome: Outcome) {
        self.outcome.send_replace(Some(outcome));
    }
}

impl Drop for Lead<'_> {
    fn drop(&mut self) {
        let mut flights = lock(&self.flights.flights);
        if flights
            .get(&self.key)
            .is_some_and(|f| Arc::ptr_eq(f, &self.flight))
        {
            flights.remove(&self.key);
        }
    }
}

impl Follower {
    /// The leader's outcome; `None` when the flight ended without one.
    pub(crate) async fn outcome(mut self) -> Option<Outcome> {
        let landed = self.outcome.wait_for(Option::is_some).await;
        landed.ok().and_then(|outcome| outcome.clone())
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        self.flight.followers.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use ferrodns_dataplane::engine::CLASS_IN;
    use ferrodns_dataplane::record::RType;
    use ferrodns_dataplane::wire::Rcode;

    use super::*;
    use crate::forward::message::tests::wire;

    fn key(name: &str) -> Key {
        Key {
            qname: wire(name),
            qtype: RType::A,
            qclass: CLASS_IN,
            dnssec_ok: false,
            checking_disabled: false,
        }
    }

    fn answer() -> Outcome {
        let prepared = Prepared::build(
            &wire("a.test."),
            RType::A,
            CLASS_IN,
            Rcode::NoError,
            [&[], &[], &[]],
        );
        Outcome::Answer(Arc::new(prepared.unwrap_or_else(|_| unreachable!())))
    }

    #[tokio::test]
    async fn identical_questions_wait_for_one_leader() {
        let flights = Flights::new(8);
        let Joined::Lead(lead) = flights.join(&key("a.test.")) else {
            unreachable!()
        };
        let followers: Vec<Follower> = (0..3)
            .map(|_| match flights.join(&key("a.test.")) {
                Joined::Follow(f) => f,
                other => unreachable!("{other:?}"),
            })
            .collect();
        assert_eq!(flights.len(), 1);
        let waits: Vec<_> = followers
            .into_iter()
            .map(|f| tokio::spawn(f.outcome()))
            .collect();
        lead.land(answer());
        for wait in waits {
            let outcome = wait.await.unwrap_or_else(|e| unreachable!("{e}"));
            assert!(matches!(outcome, Some(Outcome::Answer(_))));
        }
        assert_eq!(flights.len(), 0, "the flight ended with its leader");
    }

    #[tokio::test]
    async fn caps_on_flights_and_followers_answer_at_once() {
        let flights = Flights::new(2);
        let first = flights.join(&key("a.test."));
        let second = flights.join(&key("b.test."));
        assert!(matches!(first, Joined::Lead(_)) && matches!(second, Joined::Lead(_)));
        assert!(matches!(flights.join(&key("c.test.")), Joined::Full));
        let followers: Vec<Joined<'_>> = (0..MAX_FOLLOWERS)
            .map(|_| flights.join(&key("a.test.")))
            .collect();
        assert!(followers.iter().all(|j| matches!(j, Joined::Follow(_))));
        assert!(matches!(flights.join(&key("a.test.")), Joined::Full));
        drop(followers);
        assert!(matches!(flights.join(&key("a.test.")), Joined::Follow(_)));
        // A leader gone without an outcome: its followers learn it, and the
        // question may fly again.
        let Joined::Follow(orphan) = flights.join(&key("b.test.")) else {
            unreachable!()
        };
        drop(second);
        assert!(orphan.outcome().await.is_none());
        assert!(matches!(flights.join(&key("b.test.")), Joined::Lead(_)));
    }
}
