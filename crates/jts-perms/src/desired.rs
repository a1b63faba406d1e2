//! The ACLs a directory should carry, computed from its spec entries and mode.
//!
//! Access ACL: `user::`, `mask::` and `other::` are the mode's bits (the kernel stores
//! them there), `group::` is the mode's group bits unless the spec says otherwise, and
//! the named entries are the spec's. Default ACL: the spec's entries, with the base
//! entries filled in from the mode and the mask computed as `setfacl` does.

use crate::accounts::Accounts;
use crate::acl::{AclEntry, Perms, ResolvedEntry, Tag};
use jts_core::Mode;
use jts_core::Principal;

/// Access or default ACL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AclKind {
    /// `system.posix_acl_access`.
    Access,
    /// `system.posix_acl_default`.
    Default,
}

impl AclKind {
    /// The xattr name.
    pub fn xattr(self) -> &'static str {
        match self {
            Self::Access => crate::acl::ACCESS_XATTR,
            Self::Default => crate::acl::DEFAULT_XATTR,
        }
    }

    /// `"access"` or `"default"`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Access => "access",
            Self::Default => "default",
        }
    }
}

fn resolve(tag: &Tag<Principal>, accounts: &Accounts) -> Option<Tag<u32>> {
    Some(match tag {
        Tag::UserObj => Tag::UserObj,
        Tag::User(who) => Tag::User(accounts.uid(who)?),
        Tag::GroupObj => Tag::GroupObj,
        Tag::Group(who) => Tag::Group(accounts.gid(who)?),
        Tag::Mask => Tag::Mask,
        Tag::Other => Tag::Other,
    })
}

/// The complete ACL to write, or an empty list when none is needed (the mode says it all).
/// `None` when a name cannot be resolved yet (its account is still to be created).
pub fn full_acl(kind: AclKind, entries: &[AclEntry], mode: Mode, accounts: &Accounts) -> Option<Vec<ResolvedEntry>> {
    let mut wanted = Vec::new();
    for entry in entries.iter().filter(|e| e.default == (kind == AclKind::Default)) {
        wanted.push((resolve(&entry.tag, accounts)?, entry.perms));
    }
    Some(complete(kind, wanted, mode).into_iter().map(|(tag, perms)| ResolvedEntry { tag, perms }).collect())
}

/// The complete ACL with names, as `setfacl --set` takes it: `"u::rwx,g::r-x,g:backup:r-x,m::r-x,o::---"`.
pub fn full_acl_text(kind: AclKind, entries: &[AclEntry], mode: Mode) -> String {
    let wanted =
        entries.iter().filter(|e| e.default == (kind == AclKind::Default)).map(|e| (e.tag.clone(), e.perms)).collect();
    complete(kind, wanted, mode)
        .into_iter()
        .map(|(tag, perms)| AclEntry { default: false, tag, perms }.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

fn complete<Q: Clone + Ord>(kind: AclKind, wanted: Vec<(Tag<Q>, Perms)>, mode: Mode) -> Vec<(Tag<Q>, Perms)> {
    let given = |tag: Tag<Q>| wanted.iter().find(|(t, _)| *t == tag).map(|(_, p)| *p);
    let group_obj = given(Tag::GroupObj).unwrap_or(Perms(mode.group()));
    let named: Vec<(Tag<Q>, Perms)> = wanted.iter().filter(|(t, _)| t.is_named()).cloned().collect();
    let mut full = match kind {
        AclKind::Access if named.is_empty() && group_obj.0 == mode.group() => return Vec::new(),
        AclKind::Access => vec![
            (Tag::UserObj, Perms(mode.user())),
            (Tag::GroupObj, group_obj),
            (Tag::Mask, Perms(mode.group())),
            (Tag::Other, Perms(mode.other())),
        ],
        AclKind::Default if wanted.is_empty() => return Vec::new(),
        AclKind::Default => {
            let mut base = vec![
                (Tag::UserObj, given(Tag::UserObj).unwrap_or(Perms(mode.user()))),
                (Tag::GroupObj, group_obj),
                (Tag::Other, given(Tag::Other).unwrap_or(Perms(mode.other()))),
            ];
            if !named.is_empty() {
                let union = named.iter().fold(group_obj.0, |bits, (_, perms)| bits | perms.0);
                base.push((Tag::Mask, given(Tag::Mask).unwrap_or(Perms(union))));
            }
            base
        }
    };
    full.extend(named);
    full.sort();
    full.dedup_by(|a, b| a.0 == b.0);
    full
}

/// The part of an access ACL that `mode` does not show: `group::` and the named entries.
/// This is what [`crate::state::DirState::acl`] records.
pub fn beyond_mode(full: &[ResolvedEntry]) -> Vec<ResolvedEntry> {
    full.iter().filter(|e| matches!(e.tag, Tag::GroupObj | Tag::User(_) | Tag::Group(_))).cloned().collect()
}

/// What an observed directory should record for `kind` once the ACL is in place.
pub fn expected_observation(kind: AclKind, full: &[ResolvedEntry]) -> Vec<ResolvedEntry> {
    match kind {
        AclKind::Access => beyond_mode(full),
        AclKind::Default => full.to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::GroupEntry;

    fn accounts() -> Accounts {
        let mut accounts = Accounts::default();
        accounts.groups.insert("backup".into(), GroupEntry { gid: 34, members: vec![] });
        accounts
    }

    fn entries(texts: &[&str]) -> Vec<AclEntry> {
        texts.iter().map(|t| t.parse().unwrap()).collect()
    }

    #[test]
    fn access_acl_takes_base_entries_from_mode() {
        let full = full_acl(AclKind::Access, &entries(&["group:backup:r-x"]), Mode::new(0o750), &accounts()).unwrap();
        let text: Vec<String> = full.iter().map(ToString::to_string).collect();
        assert_eq!(text, ["user::rwx", "group::r-x", "group:34:r-x", "mask::r-x", "other::---"]);
    }

    #[test]
    fn no_entries_means_no_acl() {
        assert_eq!(full_acl(AclKind::Access, &[], Mode::new(0o750), &accounts()), Some(vec![]));
        assert_eq!(
            full_acl(AclKind::Default, &entries(&["group:backup:r-x"]), Mode::new(0o750), &accounts()),
            Some(vec![])
        );
    }

    #[test]
    fn default_acl_computes_mask_like_setfacl() {
        let full = full_acl(AclKind::Default, &entries(&["d:g:backup:rwx"]), Mode::new(0o750), &accounts()).unwrap();
        let text: Vec<String> = full.iter().map(ToString::to_string).collect();
        assert_eq!(text, ["user::rwx", "group::r-x", "group:34:rwx", "mask::rwx", "other::---"]);
    }

    #[test]
    fn text_form_keeps_names() {
        let text = full_acl_text(AclKind::Access, &entries(&["group:backup:r-x", "d:g:backup:r-x"]), Mode::new(0o750));
        assert_eq!(text, "user::rwx,group::r-x,group:backup:r-x,mask::r-x,other::---");
    }

    #[test]
    fn unknown_names_are_unresolved() {
        assert_eq!(full_acl(AclKind::Access, &entries(&["g:nobody2:r"]), Mode::new(0o750), &accounts()), None);
    }
}
