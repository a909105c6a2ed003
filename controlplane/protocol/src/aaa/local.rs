//! The local users file: who may connect, with which password, and where
//! their address comes from.
//!
//! ```toml
//! [[user]]
//! name = "alice"
//! password = "s3cret"
//! address = "100.64.0.10"   # optional static address
//! pool = "business"         # optional pool (else the default pool)
//! rate_profile = "gold"     # optional rate profile (lnsd's [[rate_profile]])
//! ```
//!
//! Contract: [`Users::parse`] refuses duplicates and unknown keys, naming
//! the entry; a million users load in about a second into tens of MB (the
//! usual shape of the file is read line by line, the users kept in one
//! sorted arena); [`Users::verify`] judges PAP, CHAP-MD5 and MS-CHAPv2
//! credentials (with the MS-CHAPv2 authenticator response on accept) and
//! never says which of user or password was wrong.

use crate::ppp::auth::{Credentials, Decision, verify_with_password};
use serde::Deserialize;
use std::net::Ipv4Addr;

/// One user.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    /// Login name.
    pub name: String,
    /// Clear-text password (CHAP and MS-CHAPv2 need it).
    pub password: String,
    /// Static IPv4 address.
    pub address: Option<Ipv4Addr>,
    /// Pool to lease from.
    pub pool: Option<String>,
    /// Rate profile (`[[rate_profile]]` in lnsd's configuration) when
    /// RADIUS gives none.
    #[serde(default)]
    pub rate_profile: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    user: Vec<User>,
}

/// One user as [`Users::get`] gives it, borrowed from the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UserRef<'a> {
    /// Login name.
    pub name: &'a [u8],
    /// Clear-text password.
    pub password: &'a [u8],
    /// Static IPv4 address.
    pub address: Option<Ipv4Addr>,
    /// Pool to lease from.
    pub pool: Option<&'a str>,
    /// Rate profile.
    pub rate_profile: Option<&'a str>,
}

/// A user in the table: names and passwords in one byte arena, pool and
/// profile names interned (a few distinct ones for millions of users).
#[derive(Debug, Clone, Copy)]
struct Entry {
    name: (u32, u16),
    password: (u32, u16),
    address: Option<Ipv4Addr>,
    pool: u16,
    rate_profile: u16,
}

/// No pool or profile.
const NONE: u16 = u16::MAX;

/// The users, sorted by name. A million of them take the arena (names
/// and passwords), 24 bytes each of index, and the interned pool and
/// profile names: tens of MB, not the per-user allocations of a map of
/// owned strings.
#[derive(Debug, Clone, Default)]
pub struct Users {
    bytes: Vec<u8>,
    entries: Vec<Entry>,
    names: Vec<String>,
}

impl Users {
    /// Parses the file's text. The file's usual shape (`[[user]]` tables
    /// of `key = "string"` lines, comments, blank lines) is read line by
    /// line without building a document; anything else TOML allows goes
    /// through the full TOML parser. Errors name the entry (and the line,
    /// when read line by line).
    pub fn parse(text: &str) -> Result<Users, String> {
        match lines::parse(text) {
            Ok(u) => u.finish(),
            Err(lines::Error::Unsupported) => {
                let f: File = toml::from_str(text).map_err(|e| e.to_string())?;
                let mut u = Users::default();
                for (i, user) in f.user.into_iter().enumerate() {
                    u.push(&user).map_err(|e| format!("user[{i}].{e}"))?;
                }
                u.finish()
            }
            Err(lines::Error::Bad(e)) => Err(e),
        }
    }

    /// Reads a file.
    pub fn load(path: &std::path::Path) -> Result<Users, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Users::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Appends a user (unsorted until [`Users::finish`]); `Err` names the
    /// field at fault.
    fn push(&mut self, u: &User) -> Result<(), String> {
        if u.name.is_empty() {
            return Err("name: must not be empty".into());
        }
        let name = self.store(u.name.as_bytes(), "name")?;
        let password = self.store(u.password.as_bytes(), "password")?;
        let pool = self.intern(u.pool.as_deref())?;
        let rate_profile = self.intern(u.rate_profile.as_deref())?;
        self.entries.push(Entry {
            name,
            password,
            address: u.address,
            pool,
            rate_profile,
        });
        Ok(())
    }

    fn store(&mut self, b: &[u8], what: &str) -> Result<(u32, u16), String> {
        let len = u16::try_from(b.len()).map_err(|_| format!("{what}: longer than 65535 bytes"))?;
        let at = u32::try_from(self.bytes.len())
            .map_err(|_| "the users file holds more than 4 GiB of names".to_string())?;
        self.bytes.extend_from_slice(b);
        Ok((at, len))
    }

    fn intern(&mut self, name: Option<&str>) -> Result<u16, String> {
        let Some(n) = name else {
            return Ok(NONE);
        };
        if let Some(i) = self.names.iter().position(|x| x == n) {
            return Ok(i as u16);
        }
        let i = u16::try_from(self.names.len())
            .ok()
            .filter(|&i| i != NONE)
            .ok_or_else(|| "more than 65534 distinct pool and profile names".to_string())?;
        self.names.push(n.to_string());
        Ok(i)
    }

    fn bytes_of(&self, (at, len): (u32, u16)) -> &[u8] {
        &self.bytes[at as usize..at as usize + usize::from(len)]
    }

    fn name_of(&self, i: u16) -> Option<&str> {
        (i != NONE).then(|| self.names[usize::from(i)].as_str())
    }

    /// Sorts by name; a name listed twice is an error naming its entries
    /// (in file order).
    fn finish(mut self) -> Result<Users, String> {
        let mut order: Vec<u32> = (0..self.entries.len() as u32).collect();
        order.sort_by(|&a, &b| {
            let (x, y) = (&self.entries[a as usize], &self.entries[b as usize]);
            self.bytes_of(x.name)
                .cmp(self.bytes_of(y.name))
                .then(a.cmp(&b))
        });
        for w in order.windows(2) {
            let (a, b) = (&self.entries[w[0] as usize], &self.entries[w[1] as usize]);
            if self.bytes_of(a.name) == self.bytes_of(b.name) {
                return Err(format!(
                    "user[{}].name: {:?} listed twice (first as user[{}])",
                    w[1],
                    String::from_utf8_lossy(self.bytes_of(b.name)),
                    w[0]
                ));
            }
        }
        self.entries = order.iter().map(|&i| self.entries[i as usize]).collect();
        Ok(self)
    }

    /// Adds a user, or replaces the one of that name (tests, emulator).
    pub fn insert(&mut self, u: User) {
        let name = u.name.as_bytes();
        let found = self.find(name);
        let at = self.entries.len();
        if self.push(&u).is_err() {
            return;
        }
        let e = self.entries.remove(at);
        match found {
            Ok(i) => self.entries[i] = e,
            Err(i) => self.entries.insert(i, e),
        }
    }

    fn find(&self, name: &[u8]) -> Result<usize, usize> {
        self.entries
            .binary_search_by(|e| self.bytes_of(e.name).cmp(name))
    }

    /// How many users.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// No users.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// One user.
    pub fn get(&self, name: &[u8]) -> Option<UserRef<'_>> {
        let e = self.entries[self.find(name).ok()?];
        Some(UserRef {
            name: self.bytes_of(e.name),
            password: self.bytes_of(e.password),
            address: e.address,
            pool: self.name_of(e.pool),
            rate_profile: self.name_of(e.rate_profile),
        })
    }

    /// Judges credentials.
    pub fn verify(&self, c: &Credentials) -> Decision {
        match self.get(c.user()) {
            Some(u) => verify_with_password(c, u.password),
            None => {
                // The same work as for a known user, so timing does not
                // tell which user names exist.
                let _ = verify_with_password(c, b"\0no such user\0");
                Decision::Reject {
                    message: "authentication failed".into(),
                }
            }
        }
    }
}

/// The users file read line by line: `[[user]]` headers and
/// `key = "basic string"` or `key = 'literal string'` lines, `#`
/// comments and blank lines. Anything else is [`Error::Unsupported`], for
/// the full TOML parser to judge.
mod lines {
    use super::{User, Users};

    pub enum Error {
        /// Valid TOML, maybe, but not this shape.
        Unsupported,
        /// Wrong, and why (with the entry and line).
        Bad(String),
    }

    pub fn parse(text: &str) -> Result<Users, Error> {
        let mut users = Users::default();
        let mut cur: Option<(User, [bool; 5], usize)> = None;
        let mut n = 0usize;
        let flush = |users: &mut Users, cur: Option<(User, [bool; 5], usize)>, n: usize| {
            let Some((u, seen, line)) = cur else {
                return Ok(());
            };
            for (i, key) in ["name", "password"].iter().enumerate() {
                if !seen[i] {
                    return Err(Error::Bad(format!(
                        "user[{n}] (line {line}): missing field `{key}`"
                    )));
                }
            }
            users
                .push(&u)
                .map_err(|e| Error::Bad(format!("user[{n}].{e} (line {line})")))
        };
        for (i, raw) in text.lines().enumerate() {
            let line_no = i + 1;
            let line = strip_comment(raw).ok_or(Error::Unsupported)?.trim();
            if line.is_empty() {
                continue;
            }
            if line == "[[user]]" {
                if cur.is_some() {
                    flush(&mut users, cur.take(), n)?;
                    n += 1;
                }
                cur = Some((
                    User {
                        name: String::new(),
                        password: String::new(),
                        address: None,
                        pool: None,
                        rate_profile: None,
                    },
                    [false; 5],
                    line_no,
                ));
                continue;
            }
            let (Some((u, seen, _)), Some((key, value))) = (cur.as_mut(), line.split_once('='))
            else {
                return Err(Error::Unsupported);
            };
            let key = key.trim();
            let value = string(value.trim()).ok_or(Error::Unsupported)?;
            let bad = |why: String| Error::Bad(format!("user[{n}].{key} (line {line_no}): {why}"));
            let slot = match key {
                "name" => 0,
                "password" => 1,
                "address" => 2,
                "pool" => 3,
                "rate_profile" => 4,
                _ => return Err(bad("unknown field".into())),
            };
            if std::mem::replace(&mut seen[slot], true) {
                return Err(bad("given twice".into()));
            }
            match slot {
                0 => u.name = value,
                1 => u.password = value,
                2 => {
                    u.address = Some(
                        value
                            .parse()
                            .map_err(|_| bad(format!("{value:?} is not an IPv4 address")))?,
                    )
                }
                3 => u.pool = Some(value),
                _ => u.rate_profile = Some(value),
            }
        }
        flush(&mut users, cur, n)?;
        Ok(users)
    }

    /// The line without its comment; `None` for a line this reader does
    /// not take apart (a quote it cannot follow).
    fn strip_comment(line: &str) -> Option<&str> {
        let mut quote: Option<u8> = None;
        let mut escaped = false;
        for (i, b) in line.bytes().enumerate() {
            match (quote, b) {
                (Some(b'"'), b'\\') if !escaped => {
                    escaped = true;
                    continue;
                }
                (Some(q), c) if c == q && !escaped => quote = None,
                (None, b'"' | b'\'') => quote = Some(b),
                (None, b'#') => return Some(&line[..i]),
                _ => {}
            }
            escaped = false;
        }
        quote.is_none().then_some(line)
    }

    /// A one-line TOML basic or literal string's value.
    fn string(v: &str) -> Option<String> {
        if let Some(inner) = v.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')) {
            return (!inner.contains('\'')).then(|| inner.to_string());
        }
        let inner = v.strip_prefix('"')?.strip_suffix('"')?;
        let mut out = String::with_capacity(inner.len());
        let mut it = inner.chars();
        while let Some(c) = it.next() {
            match c {
                '"' => return None,
                '\\' => out.push(match it.next()? {
                    'n' => '\n',
                    't' => '\t',
                    'r' => '\r',
                    '"' => '"',
                    '\\' => '\\',
                    'u' => {
                        let h: String = it.by_ref().take(4).collect();
                        char::from_u32(u32::from_str_radix(&h, 16).ok()?)?
                    }
                    _ => return None,
                }),
                c if c.is_control() && c != '\t' => return None,
                c => out.push(c),
            }
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_verifies() {
        let u = Users::parse(
            "[[user]]\nname = \"alice\"\npassword = \"pw\"\naddress = \"100.64.0.10\"\n\
             [[user]]\nname = \"bob\"\npassword = \"x\"\npool = \"biz\"\n",
        )
        .unwrap();
        assert_eq!(u.len(), 2);
        assert_eq!(
            u.get(b"alice").unwrap().address,
            Some(Ipv4Addr::new(100, 64, 0, 10))
        );
        let ok = Credentials::Pap {
            user: b"alice".to_vec(),
            password: b"pw".to_vec(),
        };
        assert!(matches!(u.verify(&ok), Decision::Accept { .. }));
        let bad = Credentials::Pap {
            user: b"alice".to_vec(),
            password: b"no".to_vec(),
        };
        let unknown = Credentials::Pap {
            user: b"eve".to_vec(),
            password: b"pw".to_vec(),
        };
        // Same answer for a wrong password and an unknown user.
        assert_eq!(u.verify(&bad), u.verify(&unknown));
    }

    #[test]
    fn the_usual_shape_is_read_line_by_line_and_the_rest_by_toml() {
        let text = "# users\n\n[[user]]  # the first\nname = \"al#ice\"   # a comment\n\
                    password = 'p\\w'\nrate_profile = \"gold\"\n\
                    [[user]]\nname = \"b\\u00e9b\"\npassword = \"x\\\"y\"\npool = \"biz\"\n";
        let u = Users::parse(text).unwrap();
        assert_eq!(u.len(), 2);
        let a = u.get(b"al#ice").unwrap();
        assert_eq!((a.password, a.rate_profile), (&b"p\\w"[..], Some("gold")));
        let b = u.get("béb".as_bytes()).unwrap();
        assert_eq!((b.password, b.pool), (&b"x\"y"[..], Some("biz")));
        // The same as the full TOML parser reads it.
        let f: File = toml::from_str(text).unwrap();
        assert_eq!(f.user.len(), 2);
        assert_eq!(f.user[0].password, "p\\w");
        assert_eq!(f.user[1].name, "béb");
        // Other TOML shapes still load, through the TOML parser.
        let inline = "user = [{ name = \"c\", password = \"z\", address = \"100.64.0.9\" }]\n";
        let c = Users::parse(inline).unwrap();
        assert_eq!(
            c.get(b"c").unwrap().address,
            Some(Ipv4Addr::new(100, 64, 0, 9))
        );
        // Mistakes name the entry and the line.
        let e = Users::parse("[[user]]\nname = \"a\"\n").unwrap_err();
        assert!(e.contains("user[0]") && e.contains("password"), "{e}");
        let e = Users::parse("[[user]]\nname = \"a\"\npassword = \"p\"\naddress = \"x\"\n")
            .unwrap_err();
        assert!(e.contains("user[0].address (line 4)"), "{e}");
        let e =
            Users::parse("[[user]]\nname = \"a\"\nname = \"b\"\npassword = \"p\"\n").unwrap_err();
        assert!(e.contains("given twice"), "{e}");
        let e = Users::parse("[[user]]\nname = \"\"\npassword = \"p\"\n").unwrap_err();
        assert!(e.contains("must not be empty"), "{e}");
    }

    #[test]
    fn many_users_sorted_and_inserted() {
        let mut text = String::new();
        for i in (0..20_000).rev() {
            text.push_str(&format!(
                "[[user]]\nname = \"user{i}\"\npassword = \"pw{i}\"\npool = \"p{}\"\n",
                i % 3
            ));
        }
        let mut u = Users::parse(&text).unwrap();
        assert_eq!(u.len(), 20_000);
        for i in [0, 7, 19_999] {
            let x = u.get(format!("user{i}").as_bytes()).unwrap();
            assert_eq!(x.password, format!("pw{i}").as_bytes());
            assert_eq!(x.pool, Some(format!("p{}", i % 3).as_str()));
        }
        assert!(u.get(b"user20000").is_none());
        u.insert(User {
            name: "user7".into(),
            password: "new".into(),
            address: None,
            pool: None,
            rate_profile: None,
        });
        u.insert(User {
            name: "aaa".into(),
            password: "first".into(),
            address: None,
            pool: None,
            rate_profile: None,
        });
        assert_eq!(u.len(), 20_001);
        assert_eq!(u.get(b"user7").unwrap().password, b"new");
        assert_eq!(u.get(b"aaa").unwrap().password, b"first");
        assert_eq!(u.get(b"user8").unwrap().password, b"pw8");
    }

    #[test]
    fn errors_name_the_entry() {
        let e = Users::parse(
            "[[user]]\nname = \"a\"\npassword = \"p\"\n[[user]]\nname = \"a\"\npassword = \"q\"\n",
        )
        .unwrap_err();
        assert!(e.contains("user[1].name"), "{e}");
        let e = Users::parse("[[user]]\nname = \"a\"\npasword = \"p\"\n").unwrap_err();
        assert!(e.contains("pasword"), "{e}");
    }
}
