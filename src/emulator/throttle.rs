//! The emulated account throttle (`wsdash gateway --rate-limit`): a token bucket shared by
//! every @connections call; above the rate the gateway answers 429 LimitExceededException.
//! (wsdash's own pacing of its calls is `ops::pacing`.)

use std::sync::Mutex;
use std::time::Duration;
// tokio's clock, so that tests with paused time see the waits.
use tokio::time::Instant;

pub struct RateLimiter {
    interval: Duration,
    burst_window: Duration,
    next_slot: Mutex<Instant>,
}

impl RateLimiter {
    /// `per_second` calls a second on average, up to `burst` at once after a quiet spell.
    pub fn new(per_second: f64, burst: u32) -> Self {
        let interval = Duration::from_secs_f64(1.0 / per_second.max(0.001));
        let burst_window = interval * burst.max(1).saturating_sub(1);
        // Start with a full bucket: the first `burst` calls go at once.
        let now = Instant::now();
        Self {
            interval,
            burst_window,
            next_slot: Mutex::new(now.checked_sub(burst_window).unwrap_or(now)),
        }
    }

    /// Wait for a slot.
    pub async fn acquire(&self) {
        let wait = {
            let mut next = self.next_slot.lock().unwrap_or_else(|p| p.into_inner());
            let now = Instant::now();
            let earliest = now.checked_sub(self.burst_window).unwrap_or(now);
            let slot = (*next).max(earliest);
            *next = slot + self.interval;
            slot.saturating_duration_since(now)
        };
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }

    /// Take a slot if one is free now; never waits (servers answer 429 instead).
    pub fn try_acquire(&self) -> bool {
        let mut next = self.next_slot.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let earliest = now.checked_sub(self.burst_window).unwrap_or(now);
        let slot = (*next).max(earliest);
        if slot > now {
            return false;
        }
        *next = slot + self.interval;
        true
    }

    pub fn per_second(&self) -> f64 {
        1.0 / self.interval.as_secs_f64()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_bucket_spaces_calls_after_the_burst() {
        let limiter = RateLimiter::new(10.0, 5);
        let start = tokio::time::Instant::now();
        for _ in 0..15 {
            limiter.acquire().await;
        }
        // 5 free, then 10 more at 100 ms each.
        let elapsed = start.elapsed();
        assert!(elapsed >= Duration::from_millis(900), "{elapsed:?}");
        assert!(elapsed <= Duration::from_millis(1100), "{elapsed:?}");
    }
}
