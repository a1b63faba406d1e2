//! The Ansible collection's own checks, on a staged copy at
//! `…/ansible_collections/jts/storage` (where ansible-test requires it): the `ansible-test
//! sanity` tests that run offline, `ansible-doc` of every module and the role, and a strict
//! yamllint of the collection and of the Prometheus rules.
//!
//! ansible-test's other sanity tests (ansible-doc, import, pep8, pylint, runtime-metadata,
//! validate-modules, yamllint) build a virtualenv whose pip comes from a host outside the
//! package registries, which this machine cannot reach; `ansible-doc` and yamllint run
//! directly instead. ansible-core and yamllint come from PyPI (`scripts/install-deps.sh`):
//! as root a missing one fails the test, as another user it skips.

use std::path::Path;

use jts_testkit::{Run, have_program, repo_root, tempdir, tool};

/// The sanity tests that need no virtualenv.
const OFFLINE_SANITY: [&str; 16] = [
    "action-plugin-docs",
    "changelog",
    "compile",
    "empty-init",
    "ignores",
    "line-endings",
    "no-assert",
    "no-get-exception",
    "no-illegal-filenames",
    "no-smart-quotes",
    "replace-urlopen",
    "shebang",
    "shellcheck",
    "symlinks",
    "use-argspec-type-path",
    "use-compat-six",
];

const YAMLLINT: &str = "{extends: default, rules: {line-length: {max: 220}, document-start: disable, \
                        comments: {min-spaces-from-content: 1}}}";

fn tools_present() -> bool {
    let present = ["ansible-test", "ansible-doc", "yamllint"].iter().all(|tool| have_program(tool));
    if !present {
        assert!(!jts_testkit::is_root(), "ansible-core or yamllint is missing: run `bash scripts/install-deps.sh`");
        println!("skipped: ansible-core/yamllint not installed (pip install ansible-core yamllint); required as root");
    }
    present
}

/// Copies `from` to `to` (files and directories only: the collection has no links).
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Runs `program args` in `dir` with `env` (through `env -C`).
fn run_in(dir: &Path, env: &[String], program: &str, args: &[&str]) -> Run {
    let mut all: Vec<String> = vec!["-C".into(), dir.display().to_string()];
    all.extend(env.iter().cloned());
    all.push(program.into());
    all.extend(args.iter().map(|a| (*a).to_owned()));
    tool("env", &all)
}

#[test]
fn the_collection_passes_offline_sanity_ansible_doc_and_yamllint() {
    if !tools_present() {
        return;
    }
    let work = tempdir();
    let collection = work.path().join("ansible_collections/jts/storage");
    copy_tree(&repo_root().join("ansible"), &collection);
    let env =
        [format!("ANSIBLE_COLLECTIONS_PATH={}", work.path().display()), format!("HOME={}", work.path().display())];

    let python = tool("python3", &["-c", "import sys; print('%d.%d' % sys.version_info[:2])"]);
    let mut args = vec!["sanity", "--local", "--python", python.stdout.trim()];
    for test in OFFLINE_SANITY {
        args.extend(["--test", test]);
    }
    let sanity = run_in(&collection, &env, "ansible-test", &args);
    assert_eq!(sanity.code, 0, "ansible-test sanity:{sanity:?}");
    for test in OFFLINE_SANITY {
        assert!(
            sanity.all_output().contains(&format!("Running sanity test \"{test}\"")),
            "{test} did not run:{sanity:?}"
        );
    }

    for module in ["jts.storage.provision", "jts.storage.health"] {
        let doc = run_in(work.path(), &env, "ansible-doc", &[module]);
        assert_eq!(doc.code, 0, "{doc:?}");
        assert!(doc.stdout.contains("EXAMPLES:") && doc.stdout.contains("RETURN VALUES:"), "{doc:?}");
        assert!(doc.stderr.trim().is_empty(), "ansible-doc warns:{doc:?}");
    }
    let role = run_in(work.path(), &env, "ansible-doc", &["-t", "role", "jts.storage.host"]);
    assert!(role.expect_code(0).stdout.contains("jts_storage_spec"), "{role:?}");

    let monitoring = repo_root().join("monitoring");
    let lint =
        tool("yamllint", &["--strict", "-d", YAMLLINT, collection.to_str().unwrap(), monitoring.to_str().unwrap()]);
    assert_eq!(lint.code, 0, "yamllint:{lint:?}");
}
