//! The worker pipeline's stages (DESIGN §4, "vectors, not packets"): pure
//! functions over one packet's bytes, called by the workers over each
//! batch. Every refusal is a named [`drop::Drop`].
//!
//! * [`encap`]: downstream, subscriber packet into its tunnel, from a
//!   per-session template.
//!
//! Decapsulation, classification and hairpinning arrive next to it.

pub mod drop;
pub mod encap;
