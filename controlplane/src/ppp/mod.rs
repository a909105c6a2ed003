//! PPP
