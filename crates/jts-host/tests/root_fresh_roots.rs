//! Root tier: the convergence property on real fresh roots. For random specs of
//! accounts and directories (under `/var/lib`, `/var/log`, `/etc`, `/data`, `/srv`), one
//! apply on an empty root succeeds, and a fresh plan of the result is empty: jts's own
//! state (journal, lock, seeded account files) never races the spec's directories.

use jts_core::{Context, Root, SystemRunner};
use jts_host::{Applied, MachineObserver};
use proptest::prelude::*;

const PATHS: [&str; 8] =
    ["/var/lib/app", "/var/lib/app/data", "/var/log/app", "/etc/app", "/data/jts/hot", "/srv/a/b", "/var", "/etc"];
const MODES: [&str; 6] = ["0700", "0750", "0755", "2770", "1777", "0711"];
const USERS: [&str; 3] = ["svc_a", "svc_b", "svc_c"];

/// A spec: users (with or without a fixed uid), and directories with an owner (a user or
/// root), a mode and maybe a group ACL.
fn spec() -> impl Strategy<Value = String> {
    let users = prop::collection::btree_map(0usize..3, any::<bool>(), 0..3);
    let dirs = prop::collection::btree_map(0usize..PATHS.len(), (0usize..4, 0usize..MODES.len(), any::<bool>()), 1..5);
    (users, dirs).prop_map(|(users, dirs)| {
        let mut text = String::from("version = 1\n[groups.readers]\n");
        for (user, fixed) in &users {
            text.push_str(&format!("[users.{}]\n", USERS[*user]));
            if *fixed {
                text.push_str(&format!("uid = {}\n", 2100 + user));
            }
        }
        for (path, (owner, mode, acl)) in dirs {
            let owner = users.keys().nth(owner).map_or("root", |user| USERS[*user]);
            text.push_str(&format!(
                "[[directories]]\npath = \"{}\"\nowner = \"{owner}\"\nmode = \"{}\"\n",
                PATHS[path], MODES[mode]
            ));
            if acl {
                text.push_str("acl = [\"group:readers:r-x\", \"default:group:readers:r-x\"]\n");
            }
        }
        text
    })
}

fn apply_then_plan(text: &str) -> Result<(), TestCaseError> {
    let scratch = tempfile::tempdir().unwrap();
    let file = scratch.path().join("storage.toml");
    std::fs::write(&file, text).unwrap();
    let root = Root::new(scratch.path().join("root")).unwrap();
    std::fs::create_dir(root.dir()).unwrap();
    let accounts = jts_perms::Accounts::read(&root).unwrap();
    let spec = jts_host::load_checked(&file, &accounts);
    prop_assume!(spec.is_ok(), "check rejects it (e.g. an ACL wider than the mode's mask)");
    let spec = spec.unwrap();
    let runner = SystemRunner;
    let observer = MachineObserver { root: &root, runner: &runner };
    let ctx = Context { root: &root, runner: &runner };
    let _lock = jts_host::lock(&root, "test apply").unwrap();
    let mut journal = jts_host::open_journal(&root, None, "apply").unwrap();
    let first = jts_host::plan_with_consent(
        &spec,
        &jts_host::observe(&spec, &root, &runner).unwrap(),
        &root,
        &[],
        jts_host::Detail::Commands,
    )
    .map_err(|err| TestCaseError::fail(format!("{err}\n{text}")))?;
    prop_assert!(first.report.refused.is_empty(), "{:?}\n{text}", first.report.refused);
    let applied = jts_host::apply(&spec, first.plan, &ctx, &observer, &mut journal, &[]).unwrap();
    let Applied::Ran { report, not_converged } = applied else { panic!("refused after mounting, without mounts") };
    prop_assert!(report.failed.is_none(), "failed: {:?}\n{text}", report.failed);
    prop_assert!(not_converged.is_empty(), "validate would find: {not_converged:?}\n{text}");
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    #[ignore = "root tier: needs uid 0 (loop devices, mount, chown, ACLs)"]
    fn root_one_apply_on_a_fresh_root_converges(text in spec()) {
        jts_testkit::require_root();
        apply_then_plan(&text)?;
    }
}
