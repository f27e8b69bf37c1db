//! One rate controller for every Management API call wsdash makes in a process.
//!
//! - A ceiling (calls per second) the operator sets: unlimited against loopback endpoints (the
//!   emulator, moto), a share of the account's quota against AWS.
//! - AIMD under throttling: a 429 halves the current rate (at most once per cool-down, since a
//!   burst of 429s is one signal), and successes win it back step by step, with jitter so that
//!   several wsdash processes do not climb in lockstep.
//! - Operator first: a push or a disconnect takes the next slot; background probe sweeps only
//!   take slots no operator call is waiting for, so they never queue in front of one.

use rand::Rng;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
// tokio's clock, so that tests with paused time see the waits.
use tokio::time::Instant;

/// The slowest a throttled controller goes.
pub const MIN_RATE: f64 = 1.0;
/// 429s within this long count as one signal (calls in flight when the first one came back
/// were sent at the old rate), so a steady trickle of 429s halves the rate once a second.
const DECREASE_COOL_DOWN: Duration = Duration::from_secs(1);
/// Successes raise the rate at most this often, by about [`INCREASE_SHARE`] of the ceiling.
const INCREASE_EVERY: Duration = Duration::from_millis(100);
const INCREASE_SHARE: f64 = 0.05;
/// After a decrease, successes wait this long before they raise the rate again.
const INCREASE_HOLD: Duration = Duration::from_millis(200);
/// The header warns for this long after the last 429.
const THROTTLED_FOR: Duration = Duration::from_secs(5);

/// Who is calling: the operator's own action, or a background sweep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    Operator,
    Background,
}

/// What the controller is doing, for headers and messages.
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct RateStatus {
    /// None: no ceiling.
    pub ceiling: Option<f64>,
    /// The rate in force now (below the ceiling after throttling).
    pub current: Option<f64>,
    /// A 429 arrived in the last few seconds.
    pub throttled: bool,
    pub throttles: u64,
    /// The operator's own calls (pushes, disconnects): their ceiling and current rate, higher
    /// than the background's by default. None: no ceiling.
    pub operator_ceiling: Option<f64>,
    pub operator_current: Option<f64>,
}

impl RateStatus {
    /// "480/500 calls/s", "unlimited".
    pub fn describe(&self) -> String {
        match (self.current, self.ceiling) {
            (Some(current), Some(ceiling)) if current < ceiling => {
                format!("{current:.0}/{ceiling:.0} calls/s")
            }
            (_, Some(ceiling)) => format!("{ceiling:.0} calls/s"),
            _ => "unlimited".into(),
        }
    }

    /// How long `calls` take at the current rate (None when unlimited).
    pub fn eta(&self, calls: usize) -> Option<Duration> {
        self.current
            .map(|rate| Duration::from_secs_f64(calls as f64 / rate.max(MIN_RATE)))
    }

    /// The status as the operator's own calls see it (their ceiling and rate).
    pub fn for_operator(&self) -> RateStatus {
        RateStatus {
            ceiling: self.operator_ceiling,
            current: self.operator_current,
            ..*self
        }
    }
}

struct State {
    ceiling: Option<f64>,
    rate: f64,
    next_slot: Instant,
    /// The operator lane's own ceiling, rate and next slot (AIMD moves both lanes together).
    operator_ceiling: Option<f64>,
    operator_rate: f64,
    operator_next_slot: Instant,
    last_decrease: Option<Instant>,
    last_increase: Instant,
    throttled_at: Option<Instant>,
    throttles: u64,
}

pub struct RateController {
    state: Mutex<State>,
    operators_waiting: AtomicUsize,
}

impl RateController {
    /// `ceiling` None: no limit (AIMD then has nothing to work on; throttled calls are retried
    /// with backoff by their callers).
    pub fn new(ceiling: Option<f64>) -> Self {
        let ceiling = ceiling.filter(|c| c.is_finite() && *c > 0.0);
        let now = Instant::now();
        Self {
            state: Mutex::new(State {
                ceiling,
                rate: ceiling.unwrap_or(f64::INFINITY),
                next_slot: now,
                operator_ceiling: ceiling,
                operator_rate: ceiling.unwrap_or(f64::INFINITY),
                operator_next_slot: now,
                last_decrease: None,
                last_increase: now,
                throttled_at: None,
                throttles: 0,
            }),
            operators_waiting: AtomicUsize::new(0),
        }
    }

    pub fn unlimited() -> Arc<Self> {
        Arc::new(Self::new(None))
    }

    /// Give the operator's own calls their own ceiling (never below the background's): a push
    /// to 10,000 users should not take 20 s because sweeps are kept to 5% of the quota.
    pub fn with_operator_ceiling(self, operator: Option<f64>) -> Self {
        {
            let mut state = self.lock();
            let operator = operator.filter(|c| c.is_finite() && *c > 0.0);
            state.operator_ceiling = match (operator, state.ceiling) {
                (Some(op), Some(bg)) => Some(op.max(bg)),
                (op, _) => op,
            };
            state.operator_rate = state.operator_ceiling.unwrap_or(f64::INFINITY);
        }
        self
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Change the ceiling (`:rate N`, `:rate unlimited`); the current rate follows at once.
    pub fn set_ceiling(&self, ceiling: Option<f64>) {
        let mut state = self.lock();
        state.ceiling = ceiling.filter(|c| c.is_finite() && *c > 0.0);
        state.rate = state.ceiling.unwrap_or(f64::INFINITY);
        state.next_slot = Instant::now();
        // An explicit ceiling is the operator's word for every lane.
        state.operator_ceiling = state.ceiling;
        state.operator_rate = state.rate;
        state.operator_next_slot = state.next_slot;
    }

    pub fn status(&self) -> RateStatus {
        let state = self.lock();
        RateStatus {
            ceiling: state.ceiling,
            current: state.ceiling.map(|_| state.rate),
            throttled: state
                .throttled_at
                .is_some_and(|at| at.elapsed() < THROTTLED_FOR),
            throttles: state.throttles,
            operator_ceiling: state.operator_ceiling,
            operator_current: state.operator_ceiling.map(|_| state.operator_rate),
        }
    }

    /// Wait for a slot in `lane`.
    pub async fn acquire(&self, lane: Lane) {
        match lane {
            Lane::Operator => self.acquire_operator().await,
            Lane::Background => self.acquire_background().await,
        }
    }

    async fn acquire_operator(&self) {
        struct Waiting<'a>(&'a AtomicUsize);
        impl Drop for Waiting<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::SeqCst);
            }
        }
        self.operators_waiting.fetch_add(1, Ordering::SeqCst);
        let _waiting = Waiting(&self.operators_waiting);
        let wait = {
            let mut state = self.lock();
            if state.operator_ceiling.is_none() {
                return;
            }
            let now = Instant::now();
            let slot = state.operator_next_slot.max(now);
            state.operator_next_slot = slot + interval(state.operator_rate);
            slot.saturating_duration_since(now)
        };
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }

    async fn acquire_background(&self) {
        loop {
            let wait = {
                let mut state = self.lock();
                if state.ceiling.is_none() {
                    return;
                }
                let now = Instant::now();
                let interval = interval(state.rate);
                if self.operators_waiting.load(Ordering::SeqCst) > 0 {
                    // Yield the slots to the operator's calls; look again shortly.
                    interval.min(Duration::from_millis(10))
                } else if state.next_slot <= now {
                    state.next_slot = now + interval;
                    return;
                } else {
                    state.next_slot - now
                }
            };
            tokio::time::sleep(wait.max(Duration::from_micros(100))).await;
        }
    }

    /// Tell the controller how a call went: a 429 slows everyone down, successes speed back up.
    pub fn observe(&self, throttled: bool) {
        let mut state = self.lock();
        let now = Instant::now();
        if throttled {
            state.throttled_at = Some(now);
            state.throttles += 1;
        }
        if state.ceiling.is_none() && state.operator_ceiling.is_none() {
            return;
        }
        if throttled {
            if state
                .last_decrease
                .is_none_or(|at| now.duration_since(at) >= DECREASE_COOL_DOWN)
            {
                // A 429 is the account's quota speaking: both lanes back off.
                if state.ceiling.is_some() {
                    state.rate = (state.rate / 2.0).max(MIN_RATE);
                    // The slots already handed out were at the old pace: start the new one now.
                    state.next_slot = state.next_slot.min(now + interval(state.rate));
                }
                if state.operator_ceiling.is_some() {
                    state.operator_rate = (state.operator_rate / 2.0).max(MIN_RATE);
                    state.operator_next_slot = state
                        .operator_next_slot
                        .min(now + interval(state.operator_rate));
                }
                state.last_decrease = Some(now);
            }
        } else if now.duration_since(state.last_increase) >= INCREASE_EVERY
            && state
                .last_decrease
                .is_none_or(|at| now.duration_since(at) >= INCREASE_HOLD)
        {
            let jitter = rand::rng().random_range(0.5..1.5);
            if let Some(ceiling) = state.ceiling {
                state.rate = (state.rate + ceiling * INCREASE_SHARE * jitter).min(ceiling);
            }
            if let Some(ceiling) = state.operator_ceiling {
                state.operator_rate =
                    (state.operator_rate + ceiling * INCREASE_SHARE * jitter).min(ceiling);
            }
            state.last_increase = now;
        }
    }
}

fn interval(rate: f64) -> Duration {
    if rate.is_finite() && rate > 0.0 {
        Duration::from_secs_f64(1.0 / rate.max(MIN_RATE))
    } else {
        Duration::ZERO
    }
}

/// A controller and the lane a piece of work calls in.
#[derive(Clone)]
pub struct Pacing {
    pub controller: Arc<RateController>,
    pub lane: Lane,
}

impl Pacing {
    pub fn operator(controller: &Arc<RateController>) -> Self {
        Self {
            controller: controller.clone(),
            lane: Lane::Operator,
        }
    }

    pub fn background(controller: &Arc<RateController>) -> Self {
        Self {
            controller: controller.clone(),
            lane: Lane::Background,
        }
    }

    pub async fn acquire(&self) {
        self.controller.acquire(self.lane).await
    }

    pub fn observe<T>(&self, result: &Result<T, crate::management::GatewayError>) {
        self.controller.observe(matches!(
            result,
            Err(crate::management::GatewayError::Throttled(_))
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_ceiling_spaces_calls() {
        let controller = RateController::new(Some(10.0));
        let start = Instant::now();
        for _ in 0..11 {
            controller.acquire(Lane::Operator).await;
        }
        let elapsed = start.elapsed();
        assert!(elapsed >= Duration::from_millis(990), "{elapsed:?}");
        assert!(elapsed <= Duration::from_millis(1100), "{elapsed:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn the_operators_own_calls_go_at_their_own_higher_ceiling_and_back_off_on_429_too() {
        let controller = RateController::new(Some(10.0)).with_operator_ceiling(Some(40.0));
        let start = Instant::now();
        for _ in 0..41 {
            controller.acquire(Lane::Operator).await;
        }
        let elapsed = start.elapsed();
        assert!(elapsed >= Duration::from_millis(990), "{elapsed:?}");
        assert!(
            elapsed <= Duration::from_millis(1100),
            "40/s, not 10/s: {elapsed:?}"
        );
        let start = Instant::now();
        for _ in 0..11 {
            controller.acquire(Lane::Background).await;
        }
        assert!(
            start.elapsed() >= Duration::from_millis(990),
            "sweeps stay at 10/s"
        );
        controller.observe(true);
        let status = controller.status();
        assert_eq!(
            (status.current, status.operator_current),
            (Some(5.0), Some(20.0))
        );
        assert_eq!(status.for_operator().describe(), "20/40 calls/s");
        // An explicit ceiling (`--rate`, `:rate`) is the operator's word for both lanes.
        controller.set_ceiling(Some(100.0));
        let status = controller.status();
        assert_eq!(
            (status.ceiling, status.operator_ceiling),
            (Some(100.0), Some(100.0))
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_429_halves_the_rate_once_per_burst_and_successes_recover_it() {
        let controller = RateController::new(Some(1000.0));
        for _ in 0..20 {
            controller.observe(true);
        }
        let status = controller.status();
        assert_eq!(status.current, Some(500.0), "a burst of 429s halves once");
        assert!(status.throttled);
        tokio::time::advance(Duration::from_millis(1100)).await;
        controller.observe(true);
        assert_eq!(controller.status().current, Some(250.0));
        // Successes over the next seconds climb back to the ceiling, step by step.
        let mut last = 250.0;
        for _ in 0..200 {
            tokio::time::advance(Duration::from_millis(100)).await;
            controller.observe(false);
            let now = controller.status().current.expect("a rate");
            assert!(now >= last && now - last <= 1000.0 * INCREASE_SHARE * 1.5 + 1e-9);
            last = now;
        }
        assert_eq!(controller.status().current, Some(1000.0));
        tokio::time::advance(THROTTLED_FOR).await;
        assert!(!controller.status().throttled);
    }

    #[tokio::test(start_paused = true)]
    async fn an_operator_call_is_not_queued_behind_a_background_sweep() {
        let controller = Arc::new(RateController::new(Some(10.0)));
        // A sweep of 50 probes (5 s at 10/s) is under way.
        let sweep = {
            let controller = controller.clone();
            tokio::spawn(async move {
                for _ in 0..50 {
                    controller.acquire(Lane::Background).await;
                }
            })
        };
        tokio::time::advance(Duration::from_millis(1000)).await;
        let asked = Instant::now();
        controller.acquire(Lane::Operator).await;
        assert!(
            asked.elapsed() <= Duration::from_millis(110),
            "the operator waited {:?}",
            asked.elapsed()
        );
        sweep.abort();
    }

    #[tokio::test]
    async fn unlimited_never_waits() {
        let controller = RateController::new(None);
        let start = std::time::Instant::now();
        for _ in 0..10_000 {
            controller.acquire(Lane::Operator).await;
            controller.acquire(Lane::Background).await;
        }
        assert!(start.elapsed() < Duration::from_secs(1));
        assert_eq!(controller.status().describe(), "unlimited");
    }
}
