//! Tiering for jts-storage: moving or deleting files between hot, warm and cold tiers.
//!
//! This crate holds the self-contained first part of the lifecycle:
//!
//! - [`rules`]: the `[[rules]]` spec section and its checks;
//! - [`glob`]: the glob dialect of `include` and `exclude`;
//! - [`scan`]: walking a rule's source without following symlinks or crossing
//!   filesystems, and selecting the files the rule applies to.
//!
//! ```
//! use jts_tiering::glob::Glob;
//!
//! let glob = Glob::new("**/*.log").unwrap();
//! assert!(glob.matches("2026/11/app.log"));
//! assert!(glob.matches("app.log"));
//! assert!(!glob.matches("app.log.gz"));
//! ```

pub mod glob;
pub mod rules;
pub mod scan;
