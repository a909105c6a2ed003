//! A session's accounting clock, out of the engine: when it started,
//! when Session-Timeout ends it (RFC 2865 §5.27), and when the next
//! Accounting Interim-Update is due (Acct-Interim-Interval, RFC 2869
//! §5.16, never below 60 s as that section asks).
//!
//! Contract: sans-IO, times come in as arguments. [`Schedule::next`] is
//! the earliest instant the owner must call [`Schedule::due`] at;
//! `due` reports each expiry once and schedules the next interim itself,
//! so a lost or unanswered Interim-Update does not stop the later ones.
//! Who calls it: the engine, when a subscriber first comes up and on its
//! timers.

use std::time::{Duration, Instant};

/// The shortest interim interval honoured (RFC 2869 §5.16).
pub const MIN_INTERIM: Duration = Duration::from_secs(60);

/// One session's clock.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Schedule {
    started: Option<Instant>,
    deadline: Option<Instant>,
    interim_at: Option<Instant>,
    every: Option<Duration>,
}

/// What fell due.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Due {
    /// Session-Timeout ran out: end the session.
    pub timed_out: bool,
    /// An Interim-Update is due.
    pub interim: bool,
}

impl Schedule {
    /// The session is up from `now`: `session_timeout` seconds (RADIUS),
    /// interims every `interim` seconds (RADIUS) or else `default_interim`.
    pub fn start(
        &mut self,
        now: Instant,
        session_timeout: Option<u32>,
        interim: Option<u32>,
        default_interim: Option<Duration>,
    ) {
        self.started = Some(now);
        self.deadline = session_timeout.map(|t| now + Duration::from_secs(u64::from(t)));
        self.every = interim
            .map(|v| Duration::from_secs(u64::from(v)).max(MIN_INTERIM))
            .or(default_interim);
        self.interim_at = self.every.map(|d| now + d);
    }

    /// When the session came up, once it has.
    pub fn started(&self) -> Option<Instant> {
        self.started
    }

    /// Acct-Session-Time at `now`, in whole seconds, once started.
    pub fn session_time(&self, now: Instant) -> Option<u32> {
        self.started
            .map(|s| u32::try_from(now.saturating_duration_since(s).as_secs()).unwrap_or(u32::MAX))
    }

    /// The earliest instant something falls due.
    pub fn next(&self) -> Option<Instant> {
        [self.deadline, self.interim_at].into_iter().flatten().min()
    }

    /// What fell due by `now`; each expiry is reported once.
    pub fn due(&mut self, now: Instant) -> Due {
        let timed_out = self.deadline.is_some_and(|t| t <= now);
        if timed_out {
            self.deadline = None;
        }
        let interim = self.interim_at.is_some_and(|t| t <= now);
        if interim {
            self.interim_at = self.every.map(|d| now + d);
        }
        Due { timed_out, interim }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeout_once_and_interims_every_interval() {
        let t0 = Instant::now();
        let mut s = Schedule::default();
        assert_eq!((s.next(), s.session_time(t0)), (None, None));
        s.start(t0, Some(150), Some(60), None);
        assert_eq!(s.next(), Some(t0 + Duration::from_secs(60)));
        assert_eq!(s.due(t0 + Duration::from_secs(59)), Due::default());
        let d = s.due(t0 + Duration::from_secs(60));
        assert!(d.interim && !d.timed_out);
        assert_eq!(s.next(), Some(t0 + Duration::from_secs(120)));
        s.due(t0 + Duration::from_secs(120));
        assert_eq!(s.next(), Some(t0 + Duration::from_secs(150)));
        let d = s.due(t0 + Duration::from_secs(150));
        assert!(d.timed_out && !d.interim);
        assert!(!s.due(t0 + Duration::from_secs(151)).timed_out, "once");
        assert_eq!(
            s.session_time(t0 + Duration::from_millis(151_900)),
            Some(151)
        );
    }

    #[test]
    fn short_radius_intervals_are_raised_and_the_default_applies() {
        let t0 = Instant::now();
        let mut s = Schedule::default();
        s.start(t0, None, Some(5), Some(Duration::from_secs(300)));
        assert_eq!(s.next(), Some(t0 + MIN_INTERIM), "RFC 2869 §5.16");
        s.start(t0, None, None, Some(Duration::from_secs(300)));
        assert_eq!(s.next(), Some(t0 + Duration::from_secs(300)));
        s.start(t0, None, None, None);
        assert_eq!(s.next(), None);
    }
}
