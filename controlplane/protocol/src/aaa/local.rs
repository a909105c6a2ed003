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
//! the entry; [`Users::verify`] judges PAP, CHAP-MD5 and MS-CHAPv2
//! credentials (with the MS-CHAPv2 authenticator response on accept) and
//! never says which of user or password was wrong.

use crate::ppp::auth::{Credentials, Decision, verify_with_password};
use serde::Deserialize;
use std::collections::HashMap;
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

/// The users, by name.
#[derive(Debug, Clone, Default)]
pub struct Users {
    by_name: HashMap<Vec<u8>, User>,
}

impl Users {
    /// Parses the file's text.
    pub fn parse(text: &str) -> Result<Users, String> {
        let f: File = toml::from_str(text).map_err(|e| e.to_string())?;
        let mut by_name = HashMap::new();
        for (i, u) in f.user.into_iter().enumerate() {
            if u.name.is_empty() {
                return Err(format!("user[{i}].name: must not be empty"));
            }
            let key = u.name.clone().into_bytes();
            if by_name.insert(key, u.clone()).is_some() {
                return Err(format!("user[{i}].name: {:?} listed twice", u.name));
            }
        }
        Ok(Users { by_name })
    }

    /// Reads a file.
    pub fn load(path: &std::path::Path) -> Result<Users, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Users::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Adds a user (tests, emulator).
    pub fn insert(&mut self, u: User) {
        self.by_name.insert(u.name.clone().into_bytes(), u);
    }

    /// How many users.
    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    /// No users.
    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }

    /// One user.
    pub fn get(&self, name: &[u8]) -> Option<&User> {
        self.by_name.get(name)
    }

    /// Judges credentials.
    pub fn verify(&self, c: &Credentials) -> Decision {
        match self.by_name.get(c.user()) {
            Some(u) => verify_with_password(c, u.password.as_bytes()),
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
