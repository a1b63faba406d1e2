//! Reads the machine into an [`Observed`], without following symlinks and without root
//! where permissions allow.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;

use jts_core::nofollow::{FileKind, Lookup, Node, lookup};
use jts_core::walk::Pending;
use jts_core::{AbsPath, Root};

use crate::accounts::Accounts;
use crate::acl::{ACCESS_XATTR, DEFAULT_XATTR, ResolvedEntry, Tag, decode_xattr};
use crate::error::{Error, Result};
use crate::plan::WantedContents;
use crate::spec::PermsSpec;
use crate::state::{ContentEntry, DirState, Observed, PathState};
use jts_core::Mode;

/// Observes the accounts and every path the spec names, with their ancestors, and the
/// contents of `recursive` directories: what `probe` saves, to plan from elsewhere.
pub fn observe(spec: &PermsSpec, root: &Root) -> Result<Observed> {
    observe_with(spec, root, Contents::All)
}

/// [`observe`], keeping of the contents of `recursive` directories only the entries whose
/// owner, group or mode differ from what their directory declares: all that [`plan`] acts
/// on, so it plans the same, but a `validate` of a tree that is as declared holds none of
/// its million entries. An entry that would be right once accounts still to be created
/// exist is kept (planning then finds nothing to do for it).
///
/// [`plan`]: crate::plan()
pub fn observe_to_plan(spec: &PermsSpec, root: &Root) -> Result<Observed> {
    observe_with(spec, root, Contents::Drifted)
}

/// [`observe`] without the contents of `recursive` directories: what verification after
/// an apply reads. Each content fix was made through a descriptor checked to be the entry
/// observed, and its system call's success is its verification; walking the whole tree
/// again would double the cost of a repair. `validate` walks it.
pub fn observe_without_contents(spec: &PermsSpec, root: &Root) -> Result<Observed> {
    observe_with(spec, root, Contents::None)
}

/// Which entries of `recursive` directories an observation keeps.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Contents {
    All,
    Drifted,
    None,
}

fn observe_with(spec: &PermsSpec, root: &Root, contents: Contents) -> Result<Observed> {
    let mut observed = Observed { accounts: Accounts::read(root)?, ..Observed::default() };
    let directories = spec.directories();
    let declared: BTreeSet<&AbsPath> = directories.iter().map(|d| &d.path).collect();
    let root_exists = root.dir().is_dir();
    for dir in &directories {
        for path in dir.path.ancestors().iter().chain(std::iter::once(&dir.path)) {
            if let Some(seen) = observed.paths.get(path) {
                if matches!(seen, PathState::Directory(_)) {
                    continue;
                }
                break;
            }
            let (state, node) = if root_exists { observe_path(root, path)? } else { (PathState::Missing, None) };
            let is_dir = matches!(state, PathState::Directory(_));
            observed.paths.insert(path.clone(), state);
            if let (Some(node), true, true) =
                (node, is_dir, contents != Contents::None && dir.recursive && *path == dir.path)
            {
                let skip: BTreeSet<PathBuf> =
                    declared.iter().filter(|d| ***d != dir.path).map(|d| root.resolve(d)).collect();
                let wanted = WantedContents::of(dir, &observed.accounts);
                let keep =
                    |is_dir, uid, gid, mode| contents == Contents::All || wanted.fix(is_dir, uid, gid, mode).is_some();
                observed.contents.insert(path.clone(), Arc::new(observe_contents(node, &skip, keep)?));
            }
            if !is_dir {
                break;
            }
        }
    }
    Ok(observed)
}

fn observe_path(root: &Root, path: &AbsPath) -> Result<(PathState, Option<Node>)> {
    let node = match lookup(root, path)? {
        Lookup::Found(node) => node,
        Lookup::Missing => return Ok((PathState::Missing, None)),
        Lookup::Blocked { .. } => return Ok((PathState::Missing, None)),
    };
    let state = match node.kind() {
        FileKind::Directory => PathState::Directory(read_dir_state(&node)?),
        FileKind::Symlink => PathState::Symlink { target: node.read_link()?.to_string_lossy().into_owned() },
        FileKind::File => PathState::File,
        FileKind::Special => PathState::Special,
    };
    Ok((state, Some(node)))
}

/// Reads owner, mode and both ACLs of an open directory.
pub fn read_dir_state(node: &Node) -> Result<DirState> {
    let stat = node.restat()?;
    // The kernel keeps an access ACL only when it says more than the mode; its owner,
    // mask and other entries *are* the mode bits, so only the rest is kept here.
    let acl = read_acl(node, ACCESS_XATTR)?
        .into_iter()
        .filter(|entry| matches!(entry.tag, Tag::GroupObj | Tag::User(_) | Tag::Group(_)))
        .collect();
    Ok(DirState {
        uid: stat.st_uid,
        gid: stat.st_gid,
        mode: Mode::new(stat.st_mode),
        acl,
        default_acl: read_acl(node, DEFAULT_XATTR)?,
    })
}

fn read_acl(node: &Node, name: &str) -> Result<Vec<ResolvedEntry>> {
    match xattr::get_deref(node.proc_path(), name) {
        Ok(Some(bytes)) => {
            let mut entries =
                decode_xattr(&bytes).map_err(|reason| Error::MalformedAcl { path: node.path().into(), reason })?;
            entries.sort();
            Ok(entries)
        }
        Ok(None) => Ok(Vec::new()),
        Err(err) if err.raw_os_error() == Some(nix::libc::EOPNOTSUPP) => Ok(Vec::new()),
        Err(source) => Err(Error::Acl { op: "read", path: node.path().into(), source }),
    }
}

/// Every file and directory below `top`, sorted by path: on one filesystem, outside
/// the `skip`ped directories (declared in the spec themselves), never through a symlink.
fn observe_contents(
    top: Node,
    skip: &BTreeSet<PathBuf>,
    keep: impl Fn(bool, u32, u32, Mode) -> bool + Sync,
) -> Result<Vec<ContentEntry>> {
    let device = top.stat().st_dev;
    let mut entries =
        jts_core::walk::in_parallel(vec![(top, PathBuf::new())], |(node, relative): Pending, entries, next| {
            for name in jts_core::walk::read_names(&node)? {
                let Some(stat) = node.stat_child(&name)? else { continue };
                let is_dir = match FileKind::of(&stat) {
                    FileKind::Directory => true,
                    FileKind::File => false,
                    FileKind::Symlink | FileKind::Special => continue,
                };
                if stat.st_dev != device || (is_dir && skip.contains(&node.path().join(&name))) {
                    continue;
                }
                let (uid, gid, mode) = (stat.st_uid, stat.st_gid, Mode::new(stat.st_mode));
                let kept = keep(is_dir, uid, gid, mode);
                if !(kept || is_dir) {
                    continue;
                }
                let path = relative.join(&name);
                // Opened without following: if it was swapped for a symlink since the stat,
                // the walk does not descend into it.
                if is_dir {
                    if let Some(child) = node.child(&name)?.filter(|c| c.kind() == FileKind::Directory) {
                        next.push((child, path.clone()));
                    }
                }
                if kept {
                    entries.push(ContentEntry { path: Arc::from(path), is_dir, uid, gid, mode });
                }
            }
            Ok::<_, Error>(())
        })?;
    entries.sort_unstable_by(|a, b| jts_core::walk::tree_order(&a.path, &b.path));
    Ok(entries)
}
