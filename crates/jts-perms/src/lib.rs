//! Service accounts and directory trees for jts-storage.
//!
//! This crate owns three spec sections: `[groups.*]` and `[users.*]` (sysusers-like:
//! system accounts with a nologin shell, fixed or allocated ids, existing accounts
//! adopted and never deleted) and `[[directories]]` (tmpfiles-like: owner, group, mode
//! including setgid, `children`, `recursive`, access and default POSIX ACLs).
//!
//! The loop is the one every concern follows:
//!
//! 1. [`check()`] the spec (pure, reports every problem with its location);
//! 2. [`observe()`] the machine into an [`Observed`] (serializable; no symlink followed);
//! 3. [`plan()`] the steps (pure);
//! 4. run them with [`jts_core::execute`], which re-checks each step's preconditions.
//!
//! ```
//! use jts_perms::{Observed, PermsSpec, check, plan};
//! use jts_core::Step;
//!
//! let spec: PermsSpec = toml::from_str(r#"
//!     [groups.backup]
//!     gid = 2001
//!     [users.postgres]
//!     uid = 2100
//!     groups = ["backup"]
//!     [[directories]]
//!     path = "/data/jts/hot/postgresql"
//!     owner = "postgres"
//!     group = "postgres"
//!     mode = "0750"
//!     acl = ["group:backup:r-x"]
//! "#).unwrap();
//! let mut observed = Observed::default(); // a blank machine
//! assert!(check(&spec, &observed.accounts).is_empty());
//! let steps = plan(&spec, &observed);
//! assert!(steps.refused.is_empty());
//! steps.simulate(&mut observed);
//! assert!(plan(&spec, &observed).is_empty(), "a second plan has nothing to do");
//! ```

mod access;
mod accounts;
mod acl;
mod apply;
mod check;
mod deferred;
mod desired;
mod error;
mod observe;
mod plan;
mod reach;
mod spec;
mod state;
mod step;

pub use access::{
    Access, Blocked, Expectation, Facts, Identity, MountFlags, PROBE_PREFIX, Probed, expected, explain, identities,
    probe, read_facts,
};
pub use accounts::{Accounts, GroupEntry, UserEntry};
pub use acl::{AclEntry, Perms, ResolvedEntry, Tag};
pub use check::check;
pub use deferred::Deferred;
pub use desired::AclKind;
pub use error::{Error, Result};
pub use jts_core::{Mode, Principal};
pub use observe::{observe, observe_to_plan, observe_without_contents};
pub use plan::plan;
pub use reach::{Unreachable, unreachable};
pub use spec::{DirectorySpec, GroupSpec, PermsSpec, UserSpec};
pub use state::{ContentEntry, DirState, Observed, PathState};
pub use step::{ContentFix, PermsStep};
