//! Carrying out [`PermsStep`]s on the machine: shadow's tools through the runner,
//! directories through no-follow descriptors, ACLs as `system.posix_acl_*` xattrs.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};

use jts_core::nofollow::{FileKind, Lookup, Node, create_dir_all, lookup, open_dir};
use jts_core::{AbsPath, Context, Root, write_atomic};

use crate::accounts::{Accounts, resolve_gid, resolve_uid};
use crate::acl::encode_xattr;
use crate::desired::{AclKind, full_acl};
use crate::error::{Error, Result};
use crate::step::{ContentFix, PermsStep, SEED_ACCOUNT_FILES};
use jts_core::Mode;

/// Checks that what the step relies on still holds on the machine.
pub fn recheck(step: &PermsStep, ctx: &Context<'_>) -> Result<()> {
    let root = ctx.root;
    match step {
        PermsStep::InitAccountFiles => Ok(()),
        PermsStep::CreateGroup { name, .. } => match Accounts::read(root)?.groups.contains_key(name) {
            true => Err(Error::Stale(format!("group {name} exists now"))),
            false => Ok(()),
        },
        PermsStep::CreateUser(user) => match Accounts::read(root)?.users.contains_key(&user.name) {
            true => Err(Error::Stale(format!("user {} exists now", user.name))),
            false => Ok(()),
        },
        PermsStep::ModifyUser { name, .. } => match Accounts::read(root)?.users.contains_key(name) {
            true => Ok(()),
            false => Err(Error::Stale(format!("user {name} no longer exists"))),
        },
        PermsStep::CreateDirectory { dir, .. } => match lookup(root, &dir.path)? {
            Lookup::Missing => Ok(()),
            // Made meanwhile exactly as this step would make it (by `mkdir -p` of jts's own
            // state, say): the step converges instead of failing.
            Lookup::Found(node) if made_already(root, dir, &node)? => Ok(()),
            Lookup::Found(node) => {
                Err(Error::Stale(format!("{} appeared as a {}", node.path().display(), node.kind().name())))
            }
            Lookup::Blocked { at, kind } => {
                Err(Error::Stale(format!("{} is a {}", root.resolve(&at).display(), kind.name())))
            }
        },
        PermsStep::Chown { path, .. }
        | PermsStep::Chmod { path, .. }
        | PermsStep::SetAcl { path, .. }
        | PermsStep::RemoveAcl { path, .. }
        | PermsStep::FixContents { path, .. } => {
            open_dir(root, path).map(drop).map_err(|err| Error::Stale(err.to_string()))
        }
    }
}

/// Carries the step out.
pub fn execute(step: &PermsStep, ctx: &Context<'_>) -> Result<()> {
    let root = ctx.root;
    if let Some(cmd) = step.command(root) {
        ctx.runner.run(&cmd)?;
        return Ok(());
    }
    match step {
        PermsStep::InitAccountFiles => seed_account_files(root),
        PermsStep::CreateDirectory { dir, managed } => {
            let parent_path = dir.path.parent().unwrap_or_else(|| dir.path.clone());
            let parent = open_dir(root, &parent_path)?;
            let name = dir.path.names().last().ok_or_else(|| Error::Stale("cannot create /".into()))?;
            let node = match parent.mkdir(name, 0o700) {
                Ok(node) => node,
                Err(_) if parent.child(name)?.is_some_and(|node| made_already(root, dir, &node).unwrap_or(false)) => {
                    tracing::info!(path = %dir.path, "already exactly as it would be made");
                    return Ok(());
                }
                Err(err) => return Err(err.into()),
            };
            node.chown(Some(resolve_uid(root, &dir.owner)?), Some(resolve_gid(root, &dir.group)?))?;
            node.chmod(dir.mode.bits())?;
            if *managed {
                for kind in [AclKind::Access, AclKind::Default] {
                    write_acl(&node, root, kind, &dir.acl, dir.mode)?;
                }
            }
            Ok(())
        }
        PermsStep::Chown { path, owner, group, .. } => {
            let node = open_dir(root, path)?;
            chown_keeping_mode(&node, resolve_uid(root, owner)?, resolve_gid(root, group)?)
        }
        PermsStep::Chmod { path, mode, .. } => Ok(open_dir(root, path)?.chmod(mode.bits())?),
        PermsStep::SetAcl { path, kind, entries, mode, .. } => {
            write_acl(&open_dir(root, path)?, root, *kind, entries, *mode)
        }
        PermsStep::RemoveAcl { path, kind, .. } => remove_acl(&open_dir(root, path)?, *kind),
        PermsStep::FixContents { path, owner, group, fixes } => {
            fix_contents(&open_dir(root, path)?, fixes, resolve_uid(root, owner)?, resolve_gid(root, group)?)
        }
        PermsStep::CreateGroup { .. } | PermsStep::CreateUser(_) | PermsStep::ModifyUser { .. } => Ok(()),
    }
}

/// Whether `node` is a directory exactly as creating `dir` would leave it: owner, group,
/// mode and ACLs (its contents aside).
fn made_already(root: &Root, dir: &crate::spec::Directory, node: &Node) -> Result<bool> {
    if node.kind() != FileKind::Directory {
        return Ok(false);
    }
    let current = crate::observe::read_dir_state(node)?;
    let observed = crate::Observed { accounts: Accounts::read(root)?, ..Default::default() };
    let mut differences = Vec::new();
    let dir = crate::spec::Directory { recursive: false, ..dir.clone() };
    crate::plan::plan_existing(&dir, &current, &observed, &mut differences);
    Ok(differences.is_empty())
}

fn seed_account_files(root: &Root) -> Result<()> {
    create_dir_all(root, &AbsPath::new("/etc")?, 0o755)?;
    for (file, contents, mode) in SEED_ACCOUNT_FILES {
        let path = AbsPath::new(file)?;
        if matches!(lookup(root, &path)?, Lookup::Missing) {
            write_atomic(root, &path, contents.as_bytes(), mode)?;
        }
    }
    Ok(())
}

/// `chown` clears setuid and setgid on files; put the mode back as it was.
fn chown_keeping_mode(node: &Node, uid: u32, gid: u32) -> Result<()> {
    let before = node.mode();
    node.chown(Some(uid), Some(gid))?;
    if node.restat()?.st_mode & 0o7777 != before {
        node.chmod(before)?;
    }
    Ok(())
}

fn write_acl(node: &Node, root: &Root, kind: AclKind, entries: &[crate::acl::AclEntry], mode: Mode) -> Result<()> {
    let accounts = Accounts::read(root)?;
    let full = full_acl(kind, entries, mode, &accounts).ok_or_else(|| {
        let name = entries.iter().find(|e| e.tag.is_named()).map_or_else(String::new, ToString::to_string);
        Error::Unresolved { kind: "ACL entry", name, db: root.dir().join("etc") }
    })?;
    if full.is_empty() {
        return remove_acl(node, kind);
    }
    xattr::set_deref(node.proc_path(), kind.xattr(), &encode_xattr(&full)).map_err(|source| {
        if source.raw_os_error() == Some(nix::libc::EOPNOTSUPP) {
            Error::AclUnsupported { path: node.path().into() }
        } else {
            Error::Acl { op: "write", path: node.path().into(), source }
        }
    })
}

fn remove_acl(node: &Node, kind: AclKind) -> Result<()> {
    match xattr::remove_deref(node.proc_path(), kind.xattr()) {
        Ok(()) => Ok(()),
        // Nothing to remove: no ACL, or a filesystem without ACLs at all (NFS v4.2).
        Err(err) if matches!(err.raw_os_error(), Some(nix::libc::ENODATA | nix::libc::EOPNOTSUPP)) => Ok(()),
        Err(source) => Err(Error::Acl { op: "remove", path: node.path().into(), source }),
    }
}

/// Fixes the entries of a recursive directory, one parent directory at a time, on
/// [`jts_core::walk::THREADS`] threads. Fixes are sorted by path, so siblings are adjacent
/// and share one open parent. The first error stops the threads and is returned.
fn fix_contents(top: &Node, fixes: &[ContentFix], uid: u32, gid: u32) -> Result<()> {
    let siblings: Vec<&[ContentFix]> = fixes.chunk_by(|a, b| a.path.parent() == b.path.parent()).collect();
    let next = AtomicUsize::new(0);
    let (stop, failure) = (AtomicBool::new(false), Mutex::new(None));
    let fix_siblings = |group: &[ContentFix]| -> Result<()> {
        let Some(dir) = group[0].path.parent() else { return Ok(()) };
        let Some(parent) = walk_below(top, dir)? else { return Ok(()) };
        for fix in group {
            if let Some(name) = fix.path.file_name() {
                fix_entry(&parent, name, fix, uid, gid)?;
            }
        }
        Ok(())
    };
    std::thread::scope(|scope| {
        for _ in 0..jts_core::walk::THREADS {
            scope.spawn(|| {
                while !stop.load(Ordering::Relaxed) {
                    let Some(group) = siblings.get(next.fetch_add(1, Ordering::Relaxed)) else { break };
                    if let Err(err) = fix_siblings(group) {
                        stop.store(true, Ordering::Relaxed);
                        failure.lock().unwrap_or_else(PoisonError::into_inner).get_or_insert(err);
                    }
                }
            });
        }
    });
    failure.into_inner().unwrap_or_else(PoisonError::into_inner).map_or(Ok(()), Err)
}

/// Fixes one entry of a recursive directory. The entry is opened without following a
/// symlink and checked to be still the kind of file that was observed; owner and mode
/// are then changed through that descriptor, so both land on the entry checked. An entry
/// gone since is skipped; one of another kind is left alone with a warning (`validate`
/// shows it). Regular files get no setuid/setgid bits and directories keep theirs across
/// chown, so no mode needs restoring here.
fn fix_entry(parent: &Node, name: &std::ffi::OsStr, fix: &ContentFix, uid: u32, gid: u32) -> Result<()> {
    let Some(node) = parent.child(name)? else { return Ok(()) };
    let expected = if fix.is_dir { FileKind::Directory } else { FileKind::File };
    if node.kind() != expected {
        tracing::warn!(
            "{}: observed as a {}, now a {}; its owner and mode were left alone (`validate` shows \
             whether it is still wrong, the next `apply` fixes it)",
            node.path().display(),
            expected.name(),
            node.kind().name()
        );
        return Ok(());
    }
    if fix.chown {
        node.chown(Some(uid), Some(gid))?;
    }
    if let Some(mode) = fix.mode {
        node.chmod(mode.bits())?;
    }
    Ok(())
}

/// Opens the directory `relative` below `top` (`top` itself for an empty path) without
/// following symlinks; `None` if it is gone or no longer a directory.
fn walk_below(top: &Node, relative: &std::path::Path) -> Result<Option<Node>> {
    let mut current = top.child(std::ffi::OsStr::new("."))?;
    for name in relative.iter() {
        let Some(dir) = current.filter(|node| node.kind() == FileKind::Directory) else { return Ok(None) };
        current = dir.child(name)?;
    }
    Ok(current.filter(|node| node.kind() == FileKind::Directory))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};

    use super::*;

    fn fix(path: &str, is_dir: bool, mode: u32) -> ContentFix {
        ContentFix { path: std::path::Path::new(path).into(), is_dir, chown: true, mode: Some(Mode::new(mode)) }
    }

    /// An entry observed as a file that is a directory, or a symlink, by the time it is
    /// fixed keeps owner and mode; the entries around it are fixed.
    #[test]
    #[ignore = "root tier: needs uid 0 (loop devices, mount, chown, ACLs)"]
    fn root_an_entry_of_another_kind_than_observed_is_left_alone() {
        jts_testkit::require_root();
        let tmp = tempfile::tempdir().unwrap();
        let top_path = tmp.path().join("top");
        std::fs::create_dir(&top_path).unwrap();
        std::fs::create_dir(top_path.join("was-a-file")).unwrap();
        std::fs::set_permissions(top_path.join("was-a-file"), PermissionsExt::from_mode(0o755)).unwrap();
        std::fs::write(tmp.path().join("outside"), "x").unwrap();
        symlink(tmp.path().join("outside"), top_path.join("now-a-link")).unwrap();
        std::fs::write(top_path.join("plain"), "x").unwrap();
        let root = Root::new(tmp.path()).unwrap();
        let top = open_dir(&root, &AbsPath::new("/top").unwrap()).unwrap();

        let fixes = [fix("now-a-link", false, 0o640), fix("plain", false, 0o640), fix("was-a-file", false, 0o640)];
        fix_contents(&top, &fixes, 4321, 4321).unwrap();

        let stat = |name: &str| std::fs::symlink_metadata(top_path.join(name)).unwrap();
        let changed = stat("was-a-file");
        assert_eq!((changed.uid(), changed.gid(), changed.mode() & 0o7777), (0, 0, 0o755), "the directory");
        assert_eq!((stat("now-a-link").uid(), stat("now-a-link").gid()), (0, 0), "the symlink itself");
        let outside = std::fs::metadata(tmp.path().join("outside")).unwrap();
        assert_eq!((outside.uid(), outside.mode() & 0o777), (0, 0o644), "the symlink's target");
        let plain = stat("plain");
        assert_eq!((plain.uid(), plain.gid(), plain.mode() & 0o7777), (4321, 4321, 0o640), "the file");
    }
}
