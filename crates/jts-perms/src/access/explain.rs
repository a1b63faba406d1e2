//! Why the kernel answered as it did: the first fact that explains each difference
//! between what the spec means and what the probe got, computed from the ancestors'
//! owner, mode and ACL, the directory's own, and the mount's flags.

use std::path::{Path, PathBuf};

use jts_core::nofollow::{FileKind, open_root};
use jts_core::{AbsPath, Root};

use super::model::{Access, Class, Identity};
use super::probe::{Blocked, Probed};
use crate::accounts::Accounts;
use crate::observe::read_dir_state;
use crate::state::DirState;

/// The flags of the mount a directory is on, from `/proc/self/mountinfo`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MountFlags {
    /// The mount point.
    pub mount_point: String,
    /// Mounted read-only (per mount or per superblock).
    pub read_only: bool,
    /// Mounted `noexec`.
    pub noexec: bool,
}

/// What is on disk on the way to a directory, read as root without following a symlink.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    /// Each directory from `/` to the directory itself, with its state (`None` where it
    /// could not be read).
    pub chain: Vec<(PathBuf, Option<DirState>)>,
    /// The flags of the mount the directory is on.
    pub mount: MountFlags,
}

impl Facts {
    fn state_of(&self, path: &Path) -> Option<&DirState> {
        self.chain.iter().find(|(p, _)| p == path).and_then(|(_, state)| state.as_ref())
    }

    fn target(&self) -> Option<&DirState> {
        self.chain.last().and_then(|(_, state)| state.as_ref())
    }
}

/// Reads owner, mode and ACL of every directory from `/` to `path` under `root`.
pub fn read_facts(root: &Root, path: &AbsPath, mount: MountFlags) -> Facts {
    let mut chain = Vec::new();
    if let Ok(mut node) = open_root(&Root::host()) {
        chain.push((PathBuf::from("/"), read_dir_state(&node).ok()));
        let real = root.resolve(path);
        for name in real.components().filter_map(|c| match c {
            std::path::Component::Normal(name) => Some(name),
            _ => None,
        }) {
            match node.child(name) {
                Ok(Some(next)) if next.kind() == FileKind::Directory => {
                    chain.push((next.path().to_path_buf(), read_dir_state(&next).ok()));
                    node = next;
                }
                _ => break,
            }
        }
    }
    Facts { chain, mount }
}

/// The reasons for every difference between `expected` and what `probed` got, one per
/// operation, each naming the fact that explains it, or saying that none does.
pub fn explain(expected: Access, probed: &Probed, id: &Identity, accounts: &Accounts, facts: &Facts) -> Vec<String> {
    let actual = probed.access();
    if actual == expected {
        return Vec::new();
    }
    if let Some(blocked) = &probed.blocked {
        return vec![blocked_reason(blocked, id, accounts, facts)];
    }
    let mut reasons = Vec::new();
    let on_disk = facts.target().map(|state| (state, Class::of(state, id)));
    for op in expected.missing_from(actual) {
        let want = match op {
            'r' => 4,
            'w' => 3,
            _ => 1,
        };
        let reason = match (op, &on_disk) {
            ('w', _) if facts.mount.read_only || probed.write_error.as_deref() == Some("EROFS") => {
                format!("w denied: read-only mount {}", facts.mount.mount_point)
            }
            ('x', _) if probed.search && probed.exec == Some(false) && facts.mount.noexec => {
                format!("x denied: noexec mount {}", facts.mount.mount_point)
            }
            (_, Some((state, class))) if !class.allows(want) => {
                format!("{op} denied: {}", describe(class, state, accounts))
            }
            _ => format!(
                "{op} denied by the kernel; no mode, ACL or mount flag explains it: a security module (AppArmor, SELinux) or an immutable attribute?"
            ),
        };
        reasons.push(reason);
    }
    for op in actual.missing_from(expected) {
        let reason = match &on_disk {
            Some((state, class)) => format!("{op} granted: {}", describe(class, state, accounts)),
            None => format!("{op} granted, and the directory could not be read to say why"),
        };
        reasons.push(reason);
    }
    reasons
}

fn blocked_reason(blocked: &Blocked, id: &Identity, accounts: &Accounts, facts: &Facts) -> String {
    match blocked {
        Blocked::Denied { at } => match facts.state_of(at) {
            Some(state) if !Class::of(state, id).allows(1) => {
                format!("parent {}: {}", at.display(), describe(&Class::of(state, id), state, accounts))
            }
            _ => format!(
                "search of {} denied by the kernel; no mode, ACL or mount flag explains it: a security module?",
                at.display()
            ),
        },
        Blocked::Symlink { at } => format!("{} is a symlink, not followed", at.display()),
        Blocked::NotADirectory { at } => format!("{} is not a directory", at.display()),
        Blocked::Missing { at } => format!("{} does not exist; run `jts-provision apply`", at.display()),
        Blocked::Error { at, error } => format!("{}: {error}", at.display()),
    }
}

fn owner_names(state: &DirState, accounts: &Accounts) -> String {
    let user =
        accounts.users.iter().find(|(_, u)| u.uid == state.uid).map_or(state.uid.to_string(), |(n, _)| n.clone());
    let group =
        accounts.groups.iter().find(|(_, g)| g.gid == state.gid).map_or(state.gid.to_string(), |(n, _)| n.clone());
    format!("{user}:{group}")
}

fn perms(bits: u8) -> String {
    crate::acl::Perms(bits).to_string()
}

/// The class of the permission check that decided, in the words of `ls -l` and `getfacl`.
fn describe(class: &Class, state: &DirState, accounts: &Accounts) -> String {
    let group_name =
        |gid: u32| accounts.groups.iter().find(|(_, g)| g.gid == gid).map_or(gid.to_string(), |(n, _)| n.clone());
    match class {
        Class::Owner(bits) => format!("mode {} gives the owner {}", state.mode, perms(*bits)),
        Class::Other(bits) => {
            format!("mode {} owned by {} gives others {}", state.mode, owner_names(state, accounts), perms(*bits))
        }
        Class::NamedUser { perms: p, mask } if p & !mask != 0 => {
            format!("ACL mask {} limits the user entry {}", perms(*mask), perms(*p))
        }
        Class::NamedUser { perms: p, .. } => format!("ACL user entry {}", perms(*p)),
        Class::Group { entries, mask } => {
            let list = entries
                .iter()
                .map(|(gid, p)| match gid {
                    Some(gid) => format!("group:{}:{}", group_name(*gid), perms(*p)),
                    None if mask.is_some() => format!("group::{}", perms(*p)),
                    None => format!("mode {} gives group {} {}", state.mode, group_name(state.gid), perms(*p)),
                })
                .collect::<Vec<_>>()
                .join(", ");
            match mask {
                Some(mask) if entries.iter().any(|(_, p)| p & !mask != 0) => {
                    format!("ACL mask {} limits {list}", perms(*mask))
                }
                Some(mask) => format!("ACL {list} (mask {})", perms(*mask)),
                None => list,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acl::ResolvedEntry;
    use jts_core::Mode;

    fn state(uid: u32, gid: u32, mode: u32, acl: &[&str]) -> DirState {
        let acl = acl.iter().map(|e| e.parse::<ResolvedEntry>().unwrap()).collect();
        DirState { uid, gid, mode: Mode::new(mode), acl, default_acl: Vec::new() }
    }

    fn probed(access: &str, blocked: Option<Blocked>) -> Probed {
        let a = Access::from_perms(access.parse().unwrap());
        Probed {
            path: AbsPath::new("/d").unwrap(),
            blocked,
            read: a.read,
            search: a.search,
            write: a.write,
            write_error: None,
            exec: None,
            left_behind: Vec::new(),
        }
    }

    fn backup() -> Identity {
        Identity { name: "backup".into(), uid: 34, gid: 34, groups: Vec::new() }
    }

    fn rwx() -> Access {
        Access::from_perms("rwx".parse().unwrap())
    }

    #[test]
    fn a_closed_parent_is_named_with_its_mode_and_owner() {
        let facts = Facts {
            chain: vec![("/".into(), Some(state(0, 0, 0o755, &[]))), ("/data".into(), Some(state(0, 0, 0o700, &[])))],
            mount: MountFlags::default(),
        };
        let reasons = explain(
            rwx(),
            &probed("---", Some(Blocked::Denied { at: "/data".into() })),
            &backup(),
            &Accounts::default(),
            &facts,
        );
        assert_eq!(reasons, ["parent /data: mode 0700 owned by 0:0 gives others ---"]);
    }

    #[test]
    fn a_mask_that_removes_w_is_named() {
        let facts = Facts {
            chain: vec![("/d".into(), Some(state(0, 34, 0o2750, &["group::r-x", "group:34:rwx"])))],
            mount: MountFlags::default(),
        };
        let reasons = explain(rwx(), &probed("r-x", None), &backup(), &Accounts::default(), &facts);
        assert_eq!(reasons, ["w denied: ACL mask r-x limits group::r-x, group:34:rwx"]);
    }

    #[test]
    fn a_read_only_mount_is_named_and_the_unexplained_is_said_to_be() {
        let facts = Facts {
            chain: vec![("/d".into(), Some(state(34, 34, 0o700, &[])))],
            mount: MountFlags { mount_point: "/d".into(), read_only: true, noexec: false },
        };
        assert_eq!(
            explain(rwx(), &probed("r-x", None), &backup(), &Accounts::default(), &facts),
            ["w denied: read-only mount /d"]
        );
        let facts = Facts { mount: MountFlags::default(), ..facts };
        let reasons = explain(rwx(), &probed("r-x", None), &backup(), &Accounts::default(), &facts);
        assert!(reasons[0].contains("no mode, ACL or mount flag explains it"), "{reasons:?}");
    }
}
