//! Checks a [`PermsSpec`] before anything is observed or touched: every problem is
//! reported at once, each with its location, what is wrong and how to fix it.

use std::collections::{BTreeMap, BTreeSet};

use jts_core::SpecError;
use serde_spanned::Spanned;

use crate::accounts::Accounts;
use crate::acl::Tag;
use crate::spec::PermsSpec;
use jts_core::{Principal, check_name};

/// Checks the spec against itself and against the accounts that already exist.
///
/// Names must be declared in the spec or present in `accounts`; ids the spec fixes must
/// agree with existing accounts (jts adopts accounts, it never renumbers them).
pub fn check(spec: &PermsSpec, accounts: &Accounts) -> Vec<SpecError> {
    let mut errors = Vec::new();
    let known = Known::new(spec, accounts);
    check_groups(spec, accounts, &mut errors);
    check_users(spec, accounts, &known, &mut errors);
    check_directories(spec, &known, &mut errors);
    errors
}

/// The names a spec may refer to: declared or already present.
struct Known<'a> {
    users: BTreeSet<&'a str>,
    groups: BTreeSet<&'a str>,
    group_ids: BTreeSet<u32>,
}

impl<'a> Known<'a> {
    fn new(spec: &'a PermsSpec, accounts: &'a Accounts) -> Self {
        // A user without `group` gets a group of its name, but only when jts creates the
        // user: an adopted user keeps the primary group it has.
        let implicit = spec
            .users
            .iter()
            .filter(|(name, user)| user.get_ref().group.is_none() && !accounts.users.contains_key(*name))
            .map(|(name, _)| name.as_str());
        Self {
            users: spec.users.keys().chain(accounts.users.keys()).map(String::as_str).collect(),
            groups: spec.groups.keys().chain(accounts.groups.keys()).map(String::as_str).chain(implicit).collect(),
            group_ids: spec
                .groups
                .values()
                .filter_map(|g| g.get_ref().gid)
                .chain(accounts.groups.values().map(|g| g.gid))
                .collect(),
        }
    }

    fn has_user(&self, principal: &Principal) -> bool {
        match principal {
            Principal::Id(_) => true,
            Principal::Name(name) => self.users.contains(name.as_str()),
        }
    }

    fn has_group(&self, principal: &Principal) -> bool {
        match principal {
            Principal::Id(_) => true,
            Principal::Name(name) => self.groups.contains(name.as_str()),
        }
    }
}

fn error<T>(at: &Spanned<T>, key: impl Into<String>, message: impl Into<String>) -> SpecError {
    SpecError::new(Some(at.span()), key, message)
}

fn check_groups(spec: &PermsSpec, accounts: &Accounts, errors: &mut Vec<SpecError>) {
    let mut by_gid: BTreeMap<u32, &str> = BTreeMap::new();
    for (name, group) in &spec.groups {
        let key = format!("groups.{name}");
        if let Err(why) = check_name(name) {
            errors.push(error(group, &key, why));
        }
        let Some(gid) = group.get_ref().gid else { continue };
        if gid == NO_ID {
            errors.push(error(group, format!("{key}.gid"), NO_ID_MESSAGE.replace("ID", "gid")));
        }
        if let Some(other) = by_gid.insert(gid, name) {
            errors.push(error(
                group,
                format!("{key}.gid"),
                format!("gid {gid} is also given to group {other:?}; give each group its own gid"),
            ));
        }
        if let Some(existing) = accounts.groups.get(name).filter(|g| g.gid != gid) {
            errors.push(error(group, format!("{key}.gid"), format!(
                "group {name:?} already exists with gid {}, not {gid}; jts adopts existing groups and never renumbers them: set gid = {} or remove the gid line",
                existing.gid, existing.gid
            )));
        }
        if let Some((owner, _)) = accounts.groups.iter().find(|(other, g)| g.gid == gid && *other != name) {
            errors.push(error(
                group,
                format!("{key}.gid"),
                format!("gid {gid} already belongs to group {owner:?} on this machine; pick a free gid"),
            ));
        }
    }
}

/// `(uid_t) -1`: chown, setfacl and the shadow tools read it as "no id" or "leave as is".
const NO_ID: u32 = u32::MAX;

const NO_ID_MESSAGE: &str =
    "ID 4294967295 is (uid_t) -1, which chown and useradd take as \"no change\", not an id; pick a smaller ID";

fn check_users(spec: &PermsSpec, accounts: &Accounts, known: &Known<'_>, errors: &mut Vec<SpecError>) {
    let mut by_uid: BTreeMap<u32, &str> = BTreeMap::new();
    for (name, user) in &spec.users {
        let key = format!("users.{name}");
        let fields = user.get_ref();
        if let Err(why) = check_name(name) {
            errors.push(error(user, &key, why));
        }
        if let Some(comment) = fields.comment.as_ref().filter(|c| c.contains([':', '\n'])) {
            errors.push(error(user, format!("{key}.comment"), format!(
                "comment {comment:?} holds a `:` or a line break, which separate the fields of /etc/passwd (useradd refuses it); write it without them"
            )));
        }
        let existing = accounts.users.get(name);
        if let Some(uid) = fields.uid {
            if uid == NO_ID {
                errors.push(error(user, format!("{key}.uid"), NO_ID_MESSAGE.replace("ID", "uid")));
            }
            if let Some(other) = by_uid.insert(uid, name) {
                errors.push(error(
                    user,
                    format!("{key}.uid"),
                    format!("uid {uid} is also given to user {other:?}; give each user its own uid"),
                ));
            }
            if let Some(existing) = existing.filter(|u| u.uid != uid) {
                errors.push(error(user, format!("{key}.uid"), format!(
                    "user {name:?} already exists with uid {}, not {uid}; jts adopts existing users and never renumbers them: set uid = {} or remove the uid line",
                    existing.uid, existing.uid
                )));
            }
            if let Some((owner, _)) = accounts.users.iter().find(|(other, u)| u.uid == uid && *other != name) {
                errors.push(error(
                    user,
                    format!("{key}.uid"),
                    format!("uid {uid} already belongs to user {owner:?} on this machine; pick a free uid"),
                ));
            }
        }
        if let Some(group) = &fields.group {
            let gkey = format!("{key}.group");
            let principal = group.get_ref();
            let unknown = match principal {
                Principal::Name(_) => !known.has_group(principal),
                Principal::Id(gid) => !known.group_ids.contains(gid),
            };
            if unknown {
                errors.push(error(group, &gkey, format!(
                    "primary group {principal} is neither declared under [groups] nor present in /etc/group; declare [groups.{principal}] or name an existing group"
                )));
            } else if let Some(existing) = existing {
                let wanted = accounts.gid(principal).or_else(|| spec_gid(spec, principal));
                if wanted.is_some_and(|gid| gid != existing.gid)
                    || (wanted.is_none() && matches!(principal, Principal::Name(_)))
                {
                    errors.push(error(group, &gkey, format!(
                        "user {name:?} already exists with primary gid {}, which is not group {principal}; jts never changes an existing user's primary group: set group to the existing one, or change it by hand with `usermod -g`",
                        existing.gid
                    )));
                }
            }
        }
        for group in &fields.groups {
            let Some(principal) = group.get_ref().value() else {
                let why = group.get_ref().error().unwrap_or_default();
                errors.push(error(
                    group,
                    format!("{key}.groups"),
                    format!("{why}; list group names or gids, e.g. groups = [\"backup\"]"),
                ));
                continue;
            };
            // Unlike a file's group, a supplementary group must exist as a group entry.
            let exists = match principal {
                Principal::Id(gid) => known.group_ids.contains(gid),
                name => known.has_group(name),
            };
            if !exists {
                errors.push(error(group, format!("{key}.groups"), format!(
                    "supplementary group {principal} is neither declared under [groups] nor present in /etc/group; declare [groups.{principal}] or remove it"
                )));
            }
        }
    }
}

fn spec_gid(spec: &PermsSpec, principal: &Principal) -> Option<u32> {
    match principal {
        Principal::Id(gid) => Some(*gid),
        Principal::Name(name) => spec.groups.get(name).and_then(|g| g.get_ref().gid),
    }
}

/// A systemd unit name: `NAME.TYPE` of ASCII letters, digits and `:-_.@\\`.
fn is_unit_name(name: &str) -> bool {
    const TYPES: [&str; 6] = [".service", ".socket", ".mount", ".target", ".timer", ".path"];
    let allowed = |c: char| c.is_ascii_alphanumeric() || ":-_.@\\".contains(c);
    TYPES.iter().any(|t| name.len() > t.len() && name.ends_with(t)) && name.chars().all(allowed) && name.len() <= 255
}

fn check_directories(spec: &PermsSpec, known: &Known<'_>, errors: &mut Vec<SpecError>) {
    let mut seen: BTreeMap<jts_core::AbsPath, String> = BTreeMap::new();
    for (index, dir) in spec.directories.iter().enumerate() {
        let key = format!("directories[{index}]");
        let mode = dir.mode.unwrap_or(crate::spec::DEFAULT_DIR_MODE);
        let mut paths = vec![(dir.path.get_ref().clone(), dir.path.span(), format!("{key}.path"))];
        for unit in &dir.required_by {
            if !is_unit_name(unit.get_ref()) {
                errors.push(error(
                    unit,
                    format!("{key}.required_by"),
                    format!(
                        "{:?} is not a systemd unit name; write the full name, e.g. \"docker.service\"",
                        unit.get_ref()
                    ),
                ));
            }
        }
        for child in &dir.children {
            match dir.path.get_ref().join_child(child.get_ref()) {
                Ok(path) => paths.push((path, child.span(), format!("{key}.children"))),
                Err(_) => errors.push(error(child, format!("{key}.children"), format!(
                    "child {:?} is not a plain name; write names like \"data\" or \"logs\" (no `/`, `.` or `..`), or declare a separate [[directories]] entry",
                    child.get_ref()
                ))),
            }
        }
        for (path, span, path_key) in paths {
            if let Some(first) = seen.insert(path.clone(), path_key.clone()) {
                errors.push(SpecError::new(
                    Some(span),
                    path_key,
                    format!("{path} is declared twice (first at {first}); keep one entry per directory"),
                ));
            }
        }
        if let Some(owner) = dir.owner.as_ref().filter(|o| !known.has_user(o.get_ref())) {
            errors.push(error(owner, format!("{key}.owner"), format!(
                "owner {} is neither declared under [users] nor present in /etc/passwd; declare [users.{}] or use an existing user or a numeric uid",
                owner.get_ref(), owner.get_ref()
            )));
        }
        if let Some(group) = dir.group.as_ref().filter(|g| !known.has_group(g.get_ref())) {
            errors.push(error(group, format!("{key}.group"), format!(
                "group {} is neither declared under [groups] nor present in /etc/group; declare [groups.{}] or use an existing group or a numeric gid",
                group.get_ref(), group.get_ref()
            )));
        }
        for (position, entry) in dir.acl.iter().enumerate() {
            let entry_key = format!("{key}.acl[{position}]");
            let Some(acl) = entry.get_ref().value() else {
                errors.push(error(entry, entry_key, entry.get_ref().error().unwrap_or_default()));
                continue;
            };
            let problem = match &acl.tag {
                Tag::UserObj | Tag::Mask | Tag::Other if !acl.default => Some(format!(
                    "{acl}: the owner, mask and other entries of the access ACL come from `mode` ({mode}); drop this entry and set mode instead"
                )),
                Tag::User(who) if !known.has_user(who) => Some(format!(
                    "{acl}: user {who} is neither declared nor present; declare [users.{who}] or fix the name"
                )),
                Tag::Group(who) if !known.has_group(who) => Some(format!(
                    "{acl}: group {who} is neither declared nor present; declare [groups.{who}] or fix the name"
                )),
                tag if !acl.default
                    && (tag.is_named() || *tag == Tag::GroupObj)
                    && acl.perms.0 & !mode.group() != 0 =>
                {
                    Some(format!(
                        "{acl} grants more than the group bits of mode {mode} ({}), which act as the ACL mask, so it would not take effect; raise the group bits of mode or lower this entry",
                        crate::acl::Perms(mode.group())
                    ))
                }
                _ => None,
            };
            if let Some(message) = problem {
                errors.push(error(entry, entry_key, message));
            }
        }
        for (user, perms) in &dir.access {
            let access_key = format!("{key}.access.{user}");
            if let Some(why) = perms.get_ref().error() {
                errors.push(error(perms, access_key, format!("{why}; e.g. access = {{ {user} = \"r-x\" }}")));
            } else if !known.users.contains(user.as_str()) {
                errors.push(error(perms, access_key, format!(
                    "user {user} is neither declared under [users] nor present in /etc/passwd; declare [users.{user}] or fix the name"
                )));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::{GroupEntry, UserEntry};

    fn spec(text: &str) -> PermsSpec {
        toml::from_str(text).unwrap()
    }

    fn machine() -> Accounts {
        let mut accounts = Accounts { files_present: true, ..Accounts::default() };
        accounts.groups.insert("postgres".into(), GroupEntry { gid: 105, members: vec![] });
        accounts.groups.insert("staff".into(), GroupEntry { gid: 50, members: vec![] });
        accounts.users.insert(
            "postgres".into(),
            UserEntry { uid: 105, gid: 105, comment: String::new(), home: "/".into(), shell: "/bin/sh".into() },
        );
        accounts
    }

    fn messages(text: &str) -> Vec<String> {
        check(&spec(text), &machine()).iter().map(ToString::to_string).collect()
    }

    #[test]
    fn a_clean_spec_passes() {
        assert!(
            messages("[users.postgres]\nuid = 105\n[[directories]]\npath = \"/d\"\nowner = \"postgres\"\n").is_empty()
        );
    }

    #[test]
    fn existing_ids_are_never_renumbered() {
        let errors = messages("[users.postgres]\nuid = 2100\n[groups.staff]\ngid = 60\n");
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(errors[0].contains("already exists with gid 50") && errors[0].contains("set gid = 50"), "{errors:?}");
        assert!(errors[1].contains("already exists with uid 105"), "{errors:?}");
    }

    #[test]
    fn an_existing_users_primary_group_is_not_changed() {
        let errors = messages("[users.postgres]\ngroup = \"staff\"\n");
        assert!(errors[0].contains("primary gid 105") && errors[0].contains("usermod -g"), "{errors:?}");
        let errors = messages("[groups.dbgroup]\n[users.postgres]\ngroup = \"dbgroup\"\n");
        assert_eq!(errors.len(), 1, "a group still to be created cannot be the existing user's: {errors:?}");
    }

    #[test]
    fn names_must_be_declared_or_present() {
        let errors = messages(
            "[users.app]\ngroup = \"ghosts\"\ngroups = [\"nope\"]\n[[directories]]\npath = \"/d\"\nowner = \"who\"\ngroup = \"what\"\nacl = [\"g:nobody2:r-x\"]\n",
        );
        let joined = errors.join("\n");
        for needle in ["primary group ghosts", "supplementary group nope", "owner who", "group what", "group nobody2"] {
            assert!(joined.contains(needle), "missing {needle}: {joined}");
        }
    }

    #[test]
    fn access_overrides_name_known_users_and_valid_permissions() {
        let errors = messages(
            "[[directories]]\npath = \"/d\"\naccess = { postgres = \"r-x\", ghost = \"---\", root = \"rwz\" }\n",
        );
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(errors[0].contains("access.ghost") && errors[0].contains("declare [users.ghost]"), "{errors:?}");
        assert!(errors[1].contains("access.root") && errors[1].contains("only contain r, w, x"), "{errors:?}");
    }

    #[test]
    fn a_comment_that_would_break_passwd_is_refused() {
        let errors = messages("[users.app]\ncomment = \"Backups: nightly\"\n");
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].contains("users.app.comment") && errors[0].contains("useradd refuses it"), "{errors:?}");
        assert!(messages("[users.app]\ncomment = \"Backups, nightly\"\n").is_empty());
    }

    #[test]
    fn ids_are_unique() {
        let errors = messages("[groups.a]\ngid = 7\n[groups.b]\ngid = 7\n[groups.c]\ngid = 50\n");
        let joined = errors.join("\n");
        assert!(joined.contains("also given to group"), "{joined}");
        assert!(joined.contains("already belongs to group \"staff\""), "{joined}");
    }

    #[test]
    fn acl_entries_are_checked_against_the_mode() {
        let errors = messages(
            "[[directories]]\npath = \"/d\"\nmode = \"0750\"\nacl = [\"group:staff:rwx\", \"mask::rwx\", \"d:g:staff:rwx\"]\n",
        );
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(errors[0].contains("grants more than the group bits"), "{errors:?}");
        assert!(errors[1].contains("come from `mode`"), "{errors:?}");
    }

    #[test]
    fn duplicate_paths_name_the_first_one() {
        let errors = messages(
            "[[directories]]\npath = \"/d\"\nchildren = [\"x\", \"../y\"]\n[[directories]]\npath = \"/d/x\"\n",
        );
        let joined = errors.join("\n");
        assert!(joined.contains("/d/x is declared twice (first at directories[0].children)"), "{joined}");
        assert!(joined.contains("not a plain name"), "{joined}");
    }
}
