//! Per-subscriber rates: what RADIUS, the configuration and operators ask
//! for, read into one [`Rates`] (a rate each way, or none) that the data
//! plane polices. Sans-IO and pure: the engine calls [`asked`] on an
//! Access-Accept or a CoA-Request, and [`Settings::default_for`] for the
//! configured defaults.
//!
//! The attributes read (each documented with an example in OPERATIONS.md):
//!
//! * **Mikrotik-Rate-Limit** (vendor 14988, type 8), a string
//!   `rx[/tx] [rx-burst[/tx-burst] [rx-threshold[/tx-threshold]
//!   [rx-time[/tx-time]]]]`: rx is what the NAS receives, the subscriber's
//!   upload; tx its download; a missing tx is rx. Speeds take `k`, `M`,
//!   `G` (×1000); 0 is no limit. A policer has no burst-above-rate mode:
//!   with a burst rate and time given the bucket holds burst-rate ×
//!   burst-time ÷ 8 bytes (at least the default), what may pass at once
//!   after a pause; the threshold is read and not used.
//! * **WISPr-Bandwidth-Max-Up / -Down** (vendor 14122, types 7 and 8):
//!   bits/s as a 32-bit integer; 0 is no limit.
//! * **Cisco-AVPair** (vendor 9, type 1) `[prefix:]sub-qos-policy-in=NAME`
//!   (upload) and `sub-qos-policy-out=NAME` (download), each naming a
//!   `[[rate_profile]]` whose `up` (for `in`) or `down` (for `out`) rate
//!   it takes. Other Cisco-AVPairs are not rates and are left alone.
//! * **Filter-Id** (RFC 2865 §5.11) naming a `[[rate_profile]]`: both of
//!   its directions (a direction the profile leaves out is unlimited).
//!
//! Several may come together: each direction takes the first that gives
//! it, in the order above. A value that does not parse, or a profile
//! that does not exist or lacks the direction asked, is an error
//! ([`RateError`]) for the whole packet: the caller refuses the session,
//! NAKs the CoA, or falls back, as configured; it never goes unlimited
//! silently.

use crate::aaa::radius::packet::{Attr, attr};
use std::collections::HashMap;
use std::fmt;

/// Vendor ids and types of the rate attributes.
pub mod vendor {
    /// MikroTik.
    pub const MIKROTIK: u32 = 14988;
    /// Mikrotik-Rate-Limit.
    pub const MIKROTIK_RATE_LIMIT: u8 = 8;
    /// The Wi-Fi Alliance's WISPr.
    pub const WISPR: u32 = 14122;
    /// WISPr-Bandwidth-Max-Up.
    pub const WISPR_MAX_UP: u8 = 7;
    /// WISPr-Bandwidth-Max-Down.
    pub const WISPR_MAX_DOWN: u8 = 8;
    /// Cisco.
    pub const CISCO: u32 = 9;
    /// Cisco-AVPair.
    pub const CISCO_AVPAIR: u8 = 1;
}

/// A policed rate: `kbps` (1,000 bit/s units, never 0) and a bucket of
/// `burst` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rate {
    /// kbit/s.
    pub kbps: u32,
    /// Bytes that may pass at once after a pause.
    pub burst: u32,
}

impl Rate {
    /// `bits_per_sec` with the default burst: 100 ms at the rate, at
    /// least 12,000 bytes (8 full-size packets). `None` for 0 (no limit)
    /// and anything under 1 kbit/s.
    pub fn of_bits(bits_per_sec: u64) -> Option<Rate> {
        let kbps = u32::try_from(bits_per_sec / 1000).unwrap_or(u32::MAX);
        (kbps > 0).then(|| Rate {
            kbps,
            burst: default_burst(kbps),
        })
    }

    /// The same rate with a bucket of `burst` bytes (at least one
    /// full-size packet, or nothing larger could ever pass).
    pub fn with_burst(self, burst: u64) -> Rate {
        Rate {
            burst: u32::try_from(burst.max(1_500)).unwrap_or(u32::MAX),
            ..self
        }
    }

    /// bits/s.
    pub fn bits(&self) -> u64 {
        u64::from(self.kbps) * 1000
    }
}

fn default_burst(kbps: u32) -> u32 {
    u32::try_from((u64::from(kbps) * 1000 / 8 / 10).max(12_000)).unwrap_or(u32::MAX)
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (burst {} B)", speed(self.bits()), self.burst)
    }
}

/// `bits` as an operator writes it: `100M`, `512k`, `1500`.
pub fn speed(bits: u64) -> String {
    match bits {
        b if b >= 1_000_000_000 && b % 1_000_000_000 == 0 => format!("{}G", b / 1_000_000_000),
        b if b >= 1_000_000 && b % 1_000_000 == 0 => format!("{}M", b / 1_000_000),
        b if b >= 1_000 && b % 1_000 == 0 => format!("{}k", b / 1_000),
        b => b.to_string(),
    }
}

/// A session's rates each way; `None`: not limited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Rates {
    /// From the subscriber (upload).
    pub up: Option<Rate>,
    /// To the subscriber (download).
    pub down: Option<Rate>,
}

impl Rates {
    /// Whether neither direction is limited.
    pub fn is_unlimited(&self) -> bool {
        self.up.is_none() && self.down.is_none()
    }
}

/// Where one direction of a session's rate comes from. Kept per session
/// rather than the rate itself, so a reload that changes a profile
/// changes the sessions using it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Hash)]
pub enum Source {
    /// The configured default (the local user's profile, else the pool's).
    #[default]
    Default,
    /// This rate, or no limit (RADIUS gave a number, or an operator did).
    Fixed(Option<Rate>),
    /// That direction of this profile (no limit if it has none).
    Profile(String),
}

/// Which direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// From the subscriber.
    Up,
    /// To the subscriber.
    Down,
}

/// What a packet asks of a session's rates, each way (`None`: nothing,
/// the direction stays as it is).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Asked {
    /// Upload.
    pub up: Option<Source>,
    /// Download.
    pub down: Option<Source>,
}

impl Asked {
    /// Whether it asks nothing.
    pub fn is_empty(&self) -> bool {
        self.up.is_none() && self.down.is_none()
    }

    /// `to` with what is asked replacing it.
    pub fn apply(&self, to: &[Source; 2]) -> [Source; 2] {
        [
            self.up.clone().unwrap_or_else(|| to[0].clone()),
            self.down.clone().unwrap_or_else(|| to[1].clone()),
        ]
    }

    /// Each direction from `self`, else from `other`.
    fn or(self, other: Asked) -> Asked {
        Asked {
            up: self.up.or(other.up),
            down: self.down.or(other.down),
        }
    }
}

/// Named rate profiles (`[[rate_profile]]`).
pub type Profiles = HashMap<String, Rates>;

/// Why a packet's rates cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RateError {
    /// A value that does not parse.
    Malformed {
        /// The attribute.
        attr: &'static str,
        /// Its value, as received (lossy UTF-8).
        value: String,
    },
    /// A profile name no `[[rate_profile]]` has.
    UnknownProfile {
        /// The attribute that named it.
        attr: &'static str,
        /// The name.
        name: String,
    },
    /// A profile without the direction the attribute asks for.
    NoDirection {
        /// The attribute.
        attr: &'static str,
        /// The profile.
        name: String,
        /// "up" or "down".
        direction: &'static str,
    },
}

impl fmt::Display for RateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RateError::Malformed { attr, value } => write!(f, "{attr} {value:?} does not parse"),
            RateError::UnknownProfile { attr, name } => {
                write!(
                    f,
                    "{attr} names rate profile {name:?}, which is not configured"
                )
            }
            RateError::NoDirection {
                attr,
                name,
                direction,
            } => write!(f, "{attr}: rate profile {name:?} has no {direction} rate"),
        }
    }
}

impl std::error::Error for RateError {}

/// A speed as RADIUS servers and operators write it: digits with an
/// optional fraction and a `k`, `M` or `G` suffix (powers of 1000, any
/// case), optionally followed by `bps`/`bit`: bits/s.
pub fn parse_speed(s: &str) -> Option<u64> {
    let s = s.trim();
    let s = s
        .strip_suffix("bps")
        .or_else(|| s.strip_suffix("bit"))
        .unwrap_or(s);
    let (num, mult) = match s.chars().last()? {
        'k' | 'K' => (&s[..s.len() - 1], 1_000u64),
        'm' | 'M' => (&s[..s.len() - 1], 1_000_000),
        'g' | 'G' => (&s[..s.len() - 1], 1_000_000_000),
        _ => (s, 1),
    };
    let (int, frac) = num.split_once('.').unwrap_or((num, ""));
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    if !int.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let whole: u64 = if int.is_empty() { 0 } else { int.parse().ok()? };
    let mut v = whole.checked_mul(mult)?;
    // The fraction, to whole bits/s.
    let mut scale = mult;
    for d in frac.bytes().take(9) {
        scale /= 10;
        v = v.checked_add(u64::from(d - b'0') * scale)?;
    }
    Some(v)
}

/// One `a[/b]` field of Mikrotik-Rate-Limit: (rx, tx), tx defaulting to rx.
fn pair<T: Copy>(field: &str, parse: impl Fn(&str) -> Option<T>) -> Option<(T, T)> {
    match field.split_once('/') {
        Some((a, b)) => Some((parse(a)?, parse(b)?)),
        None => {
            let v = parse(field)?;
            Some((v, v))
        }
    }
}

/// Mikrotik-Rate-Limit (see the module docs).
fn mikrotik(value: &str) -> Option<Asked> {
    let mut fields = value.split_whitespace();
    let (rx, tx) = pair(fields.next()?, parse_speed)?;
    // A field that is there must parse; one that is not is `None`.
    fn opt<T>(f: Option<&str>, parse: impl Fn(&str) -> Option<(T, T)>) -> Option<Option<(T, T)>> {
        match f {
            None => Some(None),
            Some(f) => parse(f).map(Some),
        }
    }
    let burst_rate = opt(fields.next(), |f| pair(f, parse_speed))?;
    let _threshold = opt(fields.next(), |f| pair(f, parse_speed))?;
    let burst_time = opt(fields.next(), |f| {
        pair(f, |t| t.trim_end_matches('s').parse::<u64>().ok())
    })?;
    let with = |rate: u64, burst: Option<u64>, time: Option<u64>| {
        let r = Rate::of_bits(rate)?;
        Some(match (burst, time) {
            (Some(b), Some(t)) if b > rate && t > 0 => {
                r.with_burst((b.saturating_mul(t) / 8).max(u64::from(r.burst)))
            }
            _ => r,
        })
    };
    Some(Asked {
        up: Some(Source::Fixed(with(
            rx,
            burst_rate.map(|b| b.0),
            burst_time.map(|t| t.0),
        ))),
        down: Some(Source::Fixed(with(
            tx,
            burst_rate.map(|b| b.1),
            burst_time.map(|t| t.1),
        ))),
    })
}

/// Whether `a` is one of the rate attributes this module reads.
pub fn is_rate_attr(a: &Attr) -> bool {
    if a.kind == attr::FILTER_ID {
        return true;
    }
    match vsa(a) {
        Some((vendor::MIKROTIK, vendor::MIKROTIK_RATE_LIMIT, _))
        | Some((vendor::WISPR, vendor::WISPR_MAX_UP | vendor::WISPR_MAX_DOWN, _)) => true,
        Some((vendor::CISCO, vendor::CISCO_AVPAIR, v)) => cisco_policy(v).is_some(),
        _ => false,
    }
}

/// A Vendor-Specific attribute's (vendor, type, value), for one TLV.
fn vsa(a: &Attr) -> Option<(u32, u8, &[u8])> {
    if a.kind != attr::VENDOR_SPECIFIC {
        return None;
    }
    let v = &a.value;
    let id = u32::from_be_bytes(v.get(..4)?.try_into().ok()?);
    let kind = *v.get(4)?;
    let len = usize::from(*v.get(5)?);
    Some((id, kind, v.get(6..len.checked_add(4)?)?))
}

/// `[prefix:]sub-qos-policy-(in|out)=NAME` → (is `in`, NAME).
fn cisco_policy(v: &[u8]) -> Option<(bool, &[u8])> {
    let s = v.rsplit(|&b| b == b':').next().unwrap_or(v);
    if let Some(n) = s.strip_prefix(b"sub-qos-policy-in=") {
        return Some((true, n));
    }
    s.strip_prefix(b"sub-qos-policy-out=").map(|n| (false, n))
}

/// What `attrs` ask of the session's rates (see the module docs), with
/// `profiles` to look names up in.
pub fn asked(attrs: &[Attr], profiles: &Profiles) -> Result<Asked, RateError> {
    let text = |v: &[u8]| String::from_utf8_lossy(v).into_owned();
    let (mut mk, mut wispr, mut cisco, mut filter) = (
        Asked::default(),
        Asked::default(),
        Asked::default(),
        Asked::default(),
    );
    for a in attrs {
        if a.kind == attr::FILTER_ID {
            let name = text(&a.value);
            if !profiles.contains_key(&name) {
                return Err(RateError::UnknownProfile {
                    attr: "Filter-Id",
                    name,
                });
            }
            filter = filter.or(Asked {
                up: Some(Source::Profile(name.clone())),
                down: Some(Source::Profile(name)),
            });
            continue;
        }
        match vsa(a) {
            Some((vendor::MIKROTIK, vendor::MIKROTIK_RATE_LIMIT, v)) => {
                let m =
                    std::str::from_utf8(v)
                        .ok()
                        .and_then(mikrotik)
                        .ok_or(RateError::Malformed {
                            attr: "Mikrotik-Rate-Limit",
                            value: text(v),
                        })?;
                mk = mk.or(m);
            }
            Some((vendor::WISPR, k @ (vendor::WISPR_MAX_UP | vendor::WISPR_MAX_DOWN), v)) => {
                let name = if k == vendor::WISPR_MAX_UP {
                    "WISPr-Bandwidth-Max-Up"
                } else {
                    "WISPr-Bandwidth-Max-Down"
                };
                let bits = <[u8; 4]>::try_from(v)
                    .map(u32::from_be_bytes)
                    .map_err(|_| RateError::Malformed {
                        attr: name,
                        value: format!("{v:02x?}"),
                    })?;
                let r = Some(Source::Fixed(Rate::of_bits(u64::from(bits))));
                if k == vendor::WISPR_MAX_UP {
                    wispr.up = wispr.up.or(r);
                } else {
                    wispr.down = wispr.down.or(r);
                }
            }
            Some((vendor::CISCO, vendor::CISCO_AVPAIR, v)) => {
                let Some((inbound, name)) = cisco_policy(v) else {
                    continue;
                };
                let name = text(name);
                let p = profiles.get(&name).ok_or(RateError::UnknownProfile {
                    attr: "Cisco-AVPair",
                    name: name.clone(),
                })?;
                let (rate, direction) = if inbound {
                    (p.up, "up")
                } else {
                    (p.down, "down")
                };
                if rate.is_none() {
                    return Err(RateError::NoDirection {
                        attr: "Cisco-AVPair",
                        name,
                        direction,
                    });
                }
                let src = Some(Source::Profile(name));
                if inbound {
                    cisco.up = cisco.up.or(src);
                } else {
                    cisco.down = cisco.down.or(src);
                }
            }
            _ => {}
        }
    }
    Ok(mk.or(wispr).or(cisco).or(filter))
}

/// What to do with a session whose RADIUS rates cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum OnInvalid {
    /// Refuse the session (authentication fails with the reason).
    #[default]
    Refuse,
    /// Give it this profile instead.
    Fallback(String),
}

/// The rate settings: profiles, defaults, and what an unusable RADIUS
/// value does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settings {
    /// `[[rate_profile]]` by name.
    pub profiles: Profiles,
    /// The profile of sessions whose address comes from a pool, by pool
    /// (a pool's `rate_profile`).
    pub pools: HashMap<String, String>,
    /// What an unusable RADIUS value does.
    pub on_invalid: OnInvalid,
}

impl Settings {
    /// The rates a session gets when RADIUS asks none: its local user's
    /// profile (`user_profile`), else its pool's, else none.
    pub fn default_for(&self, user_profile: Option<&str>, pool: Option<&str>) -> Rates {
        user_profile
            .and_then(|p| self.profiles.get(p))
            .or_else(|| {
                pool.and_then(|p| self.pools.get(p))
                    .and_then(|p| self.profiles.get(p))
            })
            .copied()
            .unwrap_or_default()
    }

    /// A session's rates from where each direction comes from (`src`,
    /// up then down), its defaults as in [`Settings::default_for`]. A
    /// profile that is gone (a reload removed it) gives the default.
    pub fn resolve(
        &self,
        src: &[Source; 2],
        user_profile: Option<&str>,
        pool: Option<&str>,
    ) -> Rates {
        let default = self.default_for(user_profile, pool);
        let one = |s: &Source, d: Direction| {
            let pick = |r: &Rates| match d {
                Direction::Up => r.up,
                Direction::Down => r.down,
            };
            match s {
                Source::Default => pick(&default),
                Source::Fixed(r) => *r,
                Source::Profile(p) => self.profiles.get(p).map_or(pick(&default), pick),
            }
        };
        Rates {
            up: one(&src[0], Direction::Up),
            down: one(&src[1], Direction::Down),
        }
    }

    /// What a session whose RADIUS rates are unusable gets: `None` to
    /// refuse it.
    pub fn on_invalid(&self) -> Option<Asked> {
        match &self.on_invalid {
            OnInvalid::Refuse => None,
            OnInvalid::Fallback(p) => Some(Asked {
                up: Some(Source::Profile(p.clone())),
                down: Some(Source::Profile(p.clone())),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vsa(vendor: u32, kind: u8, v: &[u8]) -> Attr {
        Attr::vendor(vendor, kind, v)
    }

    fn profiles() -> Profiles {
        let mut p = Profiles::new();
        p.insert(
            "gold".into(),
            Rates {
                up: Rate::of_bits(20_000_000),
                down: Rate::of_bits(100_000_000),
            },
        );
        p.insert(
            "down-only".into(),
            Rates {
                up: None,
                down: Rate::of_bits(5_000_000),
            },
        );
        p
    }

    #[test]
    fn speeds_parse_as_operators_write_them() {
        for (s, bits) in [
            ("100M", 100_000_000),
            ("20m", 20_000_000),
            ("512k", 512_000),
            ("1G", 1_000_000_000),
            ("1.5M", 1_500_000),
            ("64000", 64_000),
            ("10Mbps", 10_000_000),
            ("0", 0),
        ] {
            assert_eq!(parse_speed(s), Some(bits), "{s}");
        }
        for s in ["", "M", "ten", "1..2M", "-1M", "5X"] {
            assert_eq!(parse_speed(s), None, "{s}");
        }
        assert_eq!(speed(100_000_000), "100M");
        assert_eq!(speed(1_500_000), "1500k");
    }

    #[test]
    fn mikrotik_rate_limit_is_rx_up_and_tx_down() {
        let a = asked(&[vsa(vendor::MIKROTIK, 8, b"10M/50M")], &Profiles::new()).unwrap();
        assert_eq!(a.up, Some(Source::Fixed(Rate::of_bits(10_000_000))));
        assert_eq!(a.down, Some(Source::Fixed(Rate::of_bits(50_000_000))));
        // One value: both ways. 0: no limit that way.
        let a = asked(&[vsa(vendor::MIKROTIK, 8, b"2M")], &Profiles::new()).unwrap();
        assert_eq!(a.up, a.down);
        let a = asked(&[vsa(vendor::MIKROTIK, 8, b"0/8M")], &Profiles::new()).unwrap();
        assert_eq!(a.up, Some(Source::Fixed(None)));
        // With bursts: burst-rate × burst-time ÷ 8 bytes.
        let a = asked(
            &[vsa(vendor::MIKROTIK, 8, b"1M/2M 4M/8M 768k/1500k 8/8")],
            &Profiles::new(),
        )
        .unwrap();
        let burst = |s: Option<Source>| match s {
            Some(Source::Fixed(Some(r))) => r.burst,
            s => panic!("{s:?}"),
        };
        assert_eq!(burst(a.up), 4_000_000);
        assert_eq!(burst(a.down), 8_000_000);
        for bad in ["", "fast", "10M/", "1M 2M/x", "1M 2M 1M x/8"] {
            assert!(
                matches!(
                    asked(
                        &[vsa(vendor::MIKROTIK, 8, bad.as_bytes())],
                        &Profiles::new()
                    ),
                    Err(RateError::Malformed { .. })
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn wispr_cisco_and_filter_id_and_their_order() {
        let p = profiles();
        let w = asked(
            &[
                vsa(vendor::WISPR, 7, &3_000_000u32.to_be_bytes()),
                vsa(vendor::WISPR, 8, &9_000_000u32.to_be_bytes()),
            ],
            &p,
        )
        .unwrap();
        assert_eq!(w.up, Some(Source::Fixed(Rate::of_bits(3_000_000))));
        assert_eq!(w.down, Some(Source::Fixed(Rate::of_bits(9_000_000))));
        assert!(matches!(
            asked(&[vsa(vendor::WISPR, 7, &[1, 2])], &p),
            Err(RateError::Malformed { .. })
        ));
        let c = asked(
            &[
                vsa(vendor::CISCO, 1, b"ip:sub-qos-policy-in=gold"),
                vsa(vendor::CISCO, 1, b"ip:addr-pool=x"),
                vsa(vendor::CISCO, 1, b"sub-qos-policy-out=down-only"),
            ],
            &p,
        )
        .unwrap();
        assert_eq!(c.up, Some(Source::Profile("gold".into())));
        assert_eq!(c.down, Some(Source::Profile("down-only".into())));
        assert_eq!(
            asked(&[vsa(vendor::CISCO, 1, b"sub-qos-policy-in=down-only")], &p),
            Err(RateError::NoDirection {
                attr: "Cisco-AVPair",
                name: "down-only".into(),
                direction: "up"
            })
        );
        let f = asked(&[Attr::new(attr::FILTER_ID, b"down-only".to_vec())], &p).unwrap();
        let s = Settings {
            profiles: p.clone(),
            ..Settings::default()
        };
        let fr = s.resolve(&f.apply(&Default::default()), None, None);
        assert_eq!((fr.up, fr.down), (None, Rate::of_bits(5_000_000)));
        assert!(matches!(
            asked(&[Attr::new(attr::FILTER_ID, b"platinum".to_vec())], &p),
            Err(RateError::UnknownProfile { .. })
        ));
        // Mikrotik before WISPr before Cisco before Filter-Id, each way.
        let all = asked(
            &[
                Attr::new(attr::FILTER_ID, b"gold".to_vec()),
                vsa(vendor::WISPR, 8, &9_000_000u32.to_be_bytes()),
                vsa(vendor::MIKROTIK, 8, b"1M/2M"),
            ],
            &p,
        )
        .unwrap();
        assert_eq!(all.down, Some(Source::Fixed(Rate::of_bits(2_000_000))));
        let some = asked(
            &[
                Attr::new(attr::FILTER_ID, b"gold".to_vec()),
                vsa(vendor::WISPR, 8, &9_000_000u32.to_be_bytes()),
            ],
            &p,
        )
        .unwrap();
        assert_eq!(some.down, Some(Source::Fixed(Rate::of_bits(9_000_000))));
        assert_eq!(
            some.up,
            Some(Source::Profile("gold".into())),
            "from the profile"
        );
        assert!(asked(&[], &p).unwrap().is_empty());
    }

    #[test]
    fn sources_resolve_against_profiles_and_defaults() {
        let now = [Source::Default, Source::Fixed(Rate::of_bits(2_000_000))];
        let a = Asked {
            up: None,
            down: Some(Source::Fixed(None)),
        };
        assert_eq!(a.apply(&now), [Source::Default, Source::Fixed(None)]);
        let mut s = Settings {
            profiles: profiles(),
            pools: [("biz".to_string(), "down-only".to_string())].into(),
            on_invalid: OnInvalid::Refuse,
        };
        assert_eq!(s.default_for(Some("gold"), Some("biz")), s.profiles["gold"]);
        assert_eq!(s.default_for(None, Some("biz")), s.profiles["down-only"]);
        assert_eq!(s.default_for(Some("nope"), None), Rates::default());
        let src = [Source::Profile("gold".into()), Source::Default];
        let r = s.resolve(&src, None, Some("biz"));
        assert_eq!(r.up, Rate::of_bits(20_000_000));
        assert_eq!(r.down, Rate::of_bits(5_000_000));
        // A reload changes the profile: the session follows; removes it:
        // the default.
        s.profiles.get_mut("gold").unwrap().up = Rate::of_bits(30_000_000);
        assert_eq!(s.resolve(&src, None, None).up, Rate::of_bits(30_000_000));
        s.profiles.remove("gold");
        assert_eq!(s.resolve(&src, None, None).up, None);
        assert_eq!(s.on_invalid(), None);
        s.on_invalid = OnInvalid::Fallback("down-only".into());
        assert_eq!(
            s.on_invalid().unwrap().down,
            Some(Source::Profile("down-only".into()))
        );
    }
}
