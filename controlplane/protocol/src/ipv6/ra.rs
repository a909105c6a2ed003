//! When to advertise on one subscriber link (RFC 4861 §6.2.4, §6.2.6).
//!
//! Contract: an [`Advertiser`] started when the link's IPv6CP opens says
//! an advertisement is due at once, then twice more at most
//! MAX_INITIAL_RTR_ADVERT_INTERVAL apart, then every MinRtrAdvInterval to
//! MaxRtrAdvInterval (uniformly at random, so many links started together
//! do not advertise together). A solicitation brings the next one forward
//! to within MAX_RA_DELAY_TIME, but never nearer than
//! MIN_DELAY_BETWEEN_RAS to the last one: a host that solicits in a loop
//! gets an advertisement every 3 s, no more. Sans-IO: the engine asks
//! [`Advertiser::due`] at the session's deadline and sends what it says.

use super::nd::RaConfig;
use std::time::{Duration, Instant};

/// RFC 4861 §10: MAX_INITIAL_RTR_ADVERT_INTERVAL.
const MAX_INITIAL_INTERVAL: Duration = Duration::from_secs(16);
/// RFC 4861 §10: MAX_INITIAL_RTR_ADVERTISEMENTS.
const MAX_INITIAL_ADVERTS: u8 = 3;
/// RFC 4861 §10: MIN_DELAY_BETWEEN_RAS.
const MIN_DELAY_BETWEEN: Duration = Duration::from_secs(3);
/// RFC 4861 §10: MAX_RA_DELAY_TIME, in milliseconds.
const MAX_DELAY_MS: u32 = 500;

/// One link's advertisement schedule.
#[derive(Debug, Clone)]
pub struct Advertiser {
    next: Instant,
    last: Option<Instant>,
    initial: u8,
    rng: u32,
}

impl Advertiser {
    /// The schedule of a link whose IPv6CP just opened: the first
    /// advertisement is due `now`. `seed` varies the intervals.
    pub fn start(now: Instant, seed: u32) -> Self {
        Advertiser {
            next: now,
            last: None,
            initial: MAX_INITIAL_ADVERTS,
            rng: seed | 1,
        }
    }

    /// When the next advertisement is due.
    pub fn next(&self) -> Instant {
        self.next
    }

    /// Whether one is due at `now`; if so it counts as sent, and the next
    /// is scheduled (§6.2.4).
    pub fn due(&mut self, now: Instant, cfg: &RaConfig) -> bool {
        if now < self.next {
            return false;
        }
        self.last = Some(now);
        self.initial = self.initial.saturating_sub(1);
        let (lo, hi) = (
            cfg.min_interval * 1000,
            cfg.max_interval.max(cfg.min_interval) * 1000,
        );
        let mut wait = Duration::from_millis(u64::from(lo + self.draw() % (hi - lo + 1)));
        if self.initial > 0 {
            wait = wait.min(MAX_INITIAL_INTERVAL);
        }
        self.next = now + wait;
        true
    }

    /// A valid Router Solicitation came at `now` (§6.2.6).
    pub fn solicited(&mut self, now: Instant) {
        let delay = Duration::from_millis(u64::from(self.draw() % (MAX_DELAY_MS + 1)));
        let at = match self.last {
            Some(l) if now < l + MIN_DELAY_BETWEEN => l + MIN_DELAY_BETWEEN + delay,
            _ => now + delay,
        };
        self.next = self.next.min(at);
    }

    /// xorshift32: jitter, not secrets.
    fn draw(&mut self) -> u32 {
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.rng = x;
        x
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sends (at each `due`) over `span`, stepping 100 ms.
    fn sent(a: &mut Advertiser, cfg: &RaConfig, from: Instant, span: Duration) -> Vec<Duration> {
        let mut out = Vec::new();
        let mut t = from;
        while t <= from + span {
            if a.due(t, cfg) {
                out.push(t - from);
            }
            t += Duration::from_millis(100);
        }
        out
    }

    #[test]
    fn three_quick_ones_then_the_configured_interval() {
        let cfg = RaConfig {
            min_interval: 200,
            max_interval: 600,
            ..Default::default()
        };
        let t0 = Instant::now();
        for seed in 0..50 {
            let mut a = Advertiser::start(t0, seed);
            let times = sent(&mut a, &cfg, t0, Duration::from_secs(3000));
            assert_eq!(times[0], Duration::ZERO, "the first at once");
            assert!(times[1] <= Duration::from_secs(16));
            assert!(times[2] - times[1] <= Duration::from_secs(16));
            for w in times[2..].windows(2) {
                let gap = w[1] - w[0];
                assert!(
                    gap >= Duration::from_secs(200) && gap <= Duration::from_millis(600_100),
                    "{gap:?}"
                );
            }
            assert!(times.len() >= 7, "{times:?}");
        }
    }

    #[test]
    fn a_solicitation_is_answered_within_half_a_second_but_not_more_than_every_three() {
        let cfg = RaConfig::default();
        let t0 = Instant::now();
        let mut a = Advertiser::start(t0, 7);
        assert!(a.due(t0, &cfg));
        // Twenty seconds on (past the quick ones' first gap or not, the
        // answer is what counts): a solicitation is answered soon.
        let mut a = Advertiser {
            next: t0 + Duration::from_secs(500),
            ..a
        };
        let t1 = t0 + Duration::from_secs(20);
        a.solicited(t1);
        assert!(a.next() >= t1 && a.next() <= t1 + Duration::from_millis(500));
        let sent_at = a.next();
        assert!(a.due(sent_at, &cfg));
        // Another one at once: not before 3 s after the last.
        a.solicited(sent_at + Duration::from_millis(10));
        assert!(a.next() >= sent_at + Duration::from_secs(3));
        assert!(a.next() <= sent_at + Duration::from_millis(3500));
        // A solicitation never pushes a scheduled one later.
        let mut b = Advertiser::start(t0, 9);
        b.solicited(t0 + Duration::from_secs(1));
        assert_eq!(b.next(), t0);
    }
}
