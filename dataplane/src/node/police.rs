//! Per-session policing: a token bucket per session and direction (RFC
//! 2697's single-rate idea with one bucket: conform or drop). Pure: the
//! bucket's state is one `u64` the caller keeps (the worker keeps it in
//! its own per-session counter words, so a conforming packet touches no
//! cache line the counters did not), and time is the caller's tick.
//!
//! Guarantees: over any interval, bytes admitted ≤ burst + rate × time
//! (to within 1/16 byte per admitted packet and 8 ppm of rate); a packet
//! larger than the bucket holds is dropped and takes nothing; a fresh
//! state (0) is a full bucket. Refuses nothing: every input gives an
//! answer.
//!
//! State layout: tokens in 1/16 byte in the high 32 bits (so a burst is
//! at most 256 MiB), the tick of the last refill in the low 32 (never 0,
//! so a used state is never 0). Ticks are 2^14 ns (16.384 µs), odd ones
//! only, and wrap after 19.5 hours: a session silent for a multiple of
//! that finds its bucket refilled by the remainder, which is almost
//! always more than a burst's worth anyway.

use crate::table::Rate;

/// Nanoseconds to ticks: `ns >> TICK_SHIFT`.
pub const TICK_SHIFT: u32 = 14;

/// Token units (1/16 byte) per tick per kbit/s, with 20 fractional bits:
/// 1 kbit/s is 2,000 units/s, × 16.384 µs = 0.032768, × 2^20 = 34,359.7.
const UNITS_PER_TICK_KBPS: u64 = 34_360;
const FRACTION: u32 = 20;
/// 1/16 byte.
const UNIT_SHIFT: u32 = 4;

/// The tick of `ns` nanoseconds on the worker's clock. Never 0 (the
/// lowest bit is set, so ticks step by two: 32 µs, still far finer than
/// any bucket), which keeps a used state from ever reading as fresh.
#[inline(always)]
pub fn tick(ns: u64) -> u32 {
    (ns >> TICK_SHIFT) as u32 | 1
}

/// Whether a packet of `bytes` conforms to `rate` at tick `now` (from
/// [`tick`]), and the bucket's new state.
#[inline(always)]
pub fn admit(state: u64, rate: Rate, now: u32, bytes: u32) -> (u64, bool) {
    let need = u64::from(bytes) << UNIT_SHIFT;
    let (tokens, stamp) = (state >> 32, state as u32);
    // A busy session's packets mostly share the batch's tick: nothing to
    // add, only to take.
    if stamp == now {
        return match tokens.checked_sub(need) {
            Some(left) => ((left << 32) | u64::from(now), true),
            None => (state, false),
        };
    }
    let depth = (u64::from(rate.burst) << UNIT_SHIFT).min(u64::from(u32::MAX));
    let tokens = if state == 0 {
        depth
    } else {
        let elapsed = now.wrapping_sub(stamp);
        // kbps × units ≤ 2^32 × 2^16: one 64 × 64 → 128-bit multiply.
        let per_tick = u64::from(rate.kbps) * UNITS_PER_TICK_KBPS;
        let fill = (u128::from(per_tick) * u128::from(elapsed)) >> FRACTION;
        // A fill beyond the depth (a long silence, an absurd rate) fills
        // the bucket, no more.
        (tokens + fill.min(u128::from(depth)) as u64).min(depth)
    };
    match tokens.checked_sub(need) {
        Some(left) => ((left << 32) | u64::from(now), true),
        // Refused: the state stays, so the time since the last refill
        // keeps counting whole (refilling now would round away a fraction
        // of a unit at every refusal, which at a low rate and a high
        // packet rate is most of the rate).
        None => (state, false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sends `size`-byte packets every `gap_ns` for `secs` seconds at a
    /// rate of `kbps`: the bytes admitted.
    fn offer(kbps: u32, burst: u32, size: u32, gap_ns: u64, secs: u64) -> u64 {
        let rate = Rate { kbps, burst };
        let (mut state, mut passed, mut t) = (0u64, 0u64, 1u64 << 20);
        let end = t + secs * 1_000_000_000;
        while t < end {
            let (s, ok) = admit(state, rate, tick(t), size);
            state = s;
            if ok {
                passed += u64::from(size);
            }
            t += gap_ns;
        }
        passed
    }

    #[test]
    fn twice_the_rate_offered_passes_the_rate_plus_one_burst() {
        // 10 Mbit/s policed, 20 Mbit/s of 1,500-byte packets for 10 s.
        let (rate, burst) = (10_000, 125_000);
        let gap = 1_500 * 8 * 1_000_000_000 / 20_000_000;
        let passed = offer(rate, burst, 1_500, gap, 10);
        let want = 10_000_000 / 8 * 10 + u64::from(burst);
        let err = (passed as f64 - want as f64).abs() / want as f64;
        assert!(err < 0.002, "passed {passed}, want {want}");
    }

    #[test]
    fn small_packets_often_lose_nothing_to_rounding() {
        // 64 kbit/s; 64-byte packets every 2 µs (far faster than a tick).
        let passed = offer(64, 1_500, 64, 2_000, 20);
        let want = 64_000 / 8 * 20 + 1_500;
        let err = (passed as f64 - want as f64).abs() / want as f64;
        assert!(err < 0.01, "passed {passed}, want {want}");
    }

    #[test]
    fn under_the_rate_nothing_is_dropped() {
        // 50 Mbit/s of traffic against a 100 Mbit/s rate.
        let gap = 1_000 * 8 * 1_000_000_000 / 50_000_000;
        let passed = offer(100_000, 12_000, 1_000, gap, 5);
        let sent = 5 * 1_000_000_000 / gap * 1_000;
        assert!(passed + 1_000 >= sent, "passed {passed} of {sent}");
    }

    #[test]
    fn a_fresh_bucket_is_full_and_a_packet_larger_than_it_takes_nothing() {
        let rate = Rate {
            kbps: 1_000,
            burst: 3_000,
        };
        let (s, ok) = admit(0, rate, 5, 3_000);
        assert!(ok);
        let (s, ok) = admit(s, rate, 5, 1);
        assert!(!ok, "empty, same tick");
        let big = Rate {
            kbps: 1,
            burst: 100,
        };
        let (s2, ok) = admit(0, big, 9, 101);
        assert!(!ok);
        let (_, ok) = admit(s2, big, 9, 100);
        assert!(ok, "the refused packet took nothing");
        // A long silence (and a wrapped tick) refills to the burst only.
        let (s, ok) = admit(s, rate, 5u32.wrapping_add(1 << 30), 3_000);
        assert!(ok);
        assert!(!admit(s, rate, 5u32.wrapping_add(1 << 30), 16).1);
    }

    #[test]
    fn extreme_rates_do_not_overflow() {
        let r = Rate {
            kbps: u32::MAX,
            burst: u32::MAX,
        };
        // The bucket is at most 256 MiB: a larger packet never passes, the
        // largest that fits does after any silence.
        let (s, ok) = admit(1, r, u32::MAX, u32::MAX);
        assert!(!ok);
        assert_eq!(s, 1, "a refused packet leaves the state");
        let (s, ok) = admit(1, r, u32::MAX, (1 << 28) - 1);
        assert!(ok);
        let (_, ok) = admit(s, r, 0, 1);
        assert!(ok, "one tick later at ~4 Tbit/s");
    }
}
