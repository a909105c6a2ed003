//! The hash maps and sets of the engine: std's, with foldhash's keyed
//! hasher instead of SipHash. Their keys are ids we assign and peers'
//! addresses, so a fast hash with a per-process random seed is enough;
//! SipHash cost a sixth of a session setup's instructions
//! (`session_setup` under callgrind, issue 18).

/// [`std::collections::HashMap`] with foldhash; build with `default()`.
pub type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

/// [`std::collections::HashSet`] with foldhash; build with `default()`.
pub type HashSet<K> = std::collections::HashSet<K, foldhash::fast::RandomState>;
