//! A session's accounting clock, out of the engine: when it started,
//! when Session-Timeout ends it (RFC 2865 §5.27), when the next
//! Accounting Interim-Update is due (Acct-Interim-Interval, RFC 2869
//! §5.16, never below 60 s as that section asks), and when to look
//! whether Idle-Timeout (RFC 2865 §5.28) has run out: the owner reports
//! the subscriber's traffic ([`Schedule::active`]), the clock says when
//! to look again and whether it has been idle too long.
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
    /// Idle-Timeout, the last instant traffic was seen, and when to look.
    idle: Option<Duration>,
    last_active: Option<Instant>,
    idle_check_at: Option<Instant>,
}

/// What fell due.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Due {
    /// Session-Timeout ran out: end the session.
    pub timed_out: bool,
    /// An Interim-Update is due.
    pub interim: bool,
    /// Time to look at the subscriber's traffic (Idle-Timeout): report
    /// it with [`Schedule::active`], then ask [`Schedule::idle_expired`].
    pub idle_check: bool,
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

    /// A new Session-Timeout (a CoA): `secs` of service from when the
    /// session came up (RFC 2865 §5.27); 0 removes the limit. A limit
    /// already past ends the session at the next [`Schedule::due`].
    pub fn set_session_timeout(&mut self, secs: u32) {
        self.deadline = match (secs, self.started) {
            (0, _) | (_, None) => None,
            (t, Some(s)) => Some(s + Duration::from_secs(u64::from(t))),
        };
    }

    /// Idle-Timeout from `now` on (`None`: never idle out). Looked at
    /// every quarter of it, so a session ends between 1 and 1.25 times
    /// the timeout after its last traffic.
    pub fn set_idle(&mut self, now: Instant, idle: Option<Duration>) {
        self.idle = idle.filter(|d| !d.is_zero());
        self.last_active = Some(now);
        self.idle_check_at = self.idle.map(|d| now + Self::idle_step(d));
    }

    fn idle_step(idle: Duration) -> Duration {
        (idle / 4).max(Duration::from_secs(1))
    }

    /// The subscriber's traffic was seen by `now` (`moved`: its count
    /// grew since the last report); the next look is scheduled.
    pub fn active(&mut self, now: Instant, moved: bool) {
        if moved {
            self.last_active = Some(now);
        }
        self.idle_check_at = self.idle.map(|d| now + Self::idle_step(d));
    }

    /// Whether Idle-Timeout has run out at `now`.
    pub fn idle_expired(&self, now: Instant) -> bool {
        match (self.idle, self.last_active) {
            (Some(d), Some(t)) => now.saturating_duration_since(t) >= d,
            _ => false,
        }
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
        [self.deadline, self.interim_at, self.idle_check_at]
            .into_iter()
            .flatten()
            .min()
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
        let idle_check = self.idle_check_at.is_some_and(|t| t <= now);
        if idle_check {
            // Until the owner reports the traffic it finds.
            self.idle_check_at = None;
        }
        Due {
            timed_out,
            interim,
            idle_check,
        }
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
    fn idle_timeout_counts_from_the_last_traffic_seen() {
        let t0 = Instant::now();
        let s = |n: u64| t0 + Duration::from_secs(n);
        let mut c = Schedule::default();
        c.start(t0, None, None, None);
        c.set_idle(t0, Some(Duration::from_secs(40)));
        assert_eq!(c.next(), Some(s(10)));
        assert!(c.due(s(10)).idle_check);
        assert_eq!(c.next(), None, "until the traffic is reported");
        c.active(s(10), true);
        assert!(!c.idle_expired(s(10)));
        for t in [20, 30, 40] {
            assert!(c.due(s(t)).idle_check);
            c.active(s(t), false);
            assert!(!c.idle_expired(s(t)));
        }
        assert!(c.due(s(50)).idle_check);
        c.active(s(50), false);
        assert!(c.idle_expired(s(50)), "40 s since the traffic at 10 s");
        c.set_idle(s(50), None);
        assert!(!c.idle_expired(s(500)));
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
