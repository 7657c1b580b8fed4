//! A latency model for the fakes: every call takes one round trip on tokio's clock.
//!
//! On a paused clock (`#[tokio::test(start_paused = true)]`) the round trips take no real time,
//! and the clock says how many of them a flow made one after the other: calls issued together
//! start at the same instant. `tests/critical_path.rs` measures gate-start's path to
//! `StartExecution` this way (docs/performance.md).

use super::lock;
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// One call as the latency model saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoundTrip {
    /// The call, by IAM action name.
    pub call: &'static str,
    /// Round trips completed before it was issued: its depth on the critical path.
    pub issued_after: u32,
}

/// A virtual network shared by the fakes it is set on ([`super::Calls::set_latency`]).
#[derive(Debug)]
pub struct Latency {
    round_trip: Duration,
    origin: Instant,
    log: Mutex<Vec<RoundTrip>>,
}

impl Latency {
    /// Every call takes `round_trip`; the clock starts now.
    pub fn new(round_trip: Duration) -> Self {
        Self {
            round_trip,
            origin: Instant::now(),
            log: Mutex::default(),
        }
    }

    /// Waits one round trip, noting when `call` was issued.
    pub(super) async fn round_trip(&self, call: &'static str) {
        let issued_after = self.elapsed_round_trips();
        lock(&self.log).push(RoundTrip { call, issued_after });
        tokio::time::sleep(self.round_trip).await;
    }

    /// Whole round trips elapsed since the model started.
    pub fn elapsed_round_trips(&self) -> u32 {
        let elapsed = self.origin.elapsed().as_nanos();
        let unit = self.round_trip.as_nanos().max(1);
        u32::try_from(elapsed / unit).unwrap_or(u32::MAX)
    }

    /// Every call so far, in the order issued.
    pub fn calls(&self) -> Vec<RoundTrip> {
        lock(&self.log).clone()
    }

    /// How many round trips came one after the other before the first `call`.
    pub fn round_trips_before(&self, call: &str) -> Option<u32> {
        lock(&self.log)
            .iter()
            .find(|r| r.call == call)
            .map(|r| r.issued_after)
    }
}
