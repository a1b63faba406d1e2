//! `verify access`: the kernel's own answer to "can this service user use this directory?".
//!
//! Owner, mode and ACL checks are not proof: a closed ancestor, an ACL mask, a read-only
//! or `noexec` mount, or a security module can deny what the bits seem to allow. So the
//! answer is asked of the kernel, by a probe running as the user ([`probe()`]), and
//! compared with what the spec means ([`expected`]); each miss gets a reason computed
//! from what is on disk and in the mount table ([`explain()`]), never guessed.
//!
//! - [`mod@model`]: the kernel's permission check over owner, mode and access ACL, pure;
//! - [`probe()`]: the real operations, run as the user, never following a symlink;
//! - [`mod@explain`]: why the kernel answered as it did, from observed facts.

mod explain;
mod model;
mod probe;

pub use explain::{Facts, MountFlags, explain, read_facts};
pub use model::{Access, Expectation, Identity, expected, identities};
pub use probe::{Blocked, PROBE_PREFIX, Probed, probe};
