//! The library API without the CLI: `run` moves and deletes under a root, writes the status
//! file, and holds the run lock.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use jts_core::Root;
use jts_tiering::rules::RuleSpec;
use jts_tiering::run::{STATUS_FILE, lock, read_status};
use jts_tiering::{Error, Rule, RunOptions, run};

fn rules(text: &str) -> Vec<Rule> {
    #[derive(serde::Deserialize)]
    struct Doc {
        rules: Vec<RuleSpec>,
    }
    let doc: Doc = toml::from_str(text).unwrap();
    assert_eq!(jts_tiering::rules::check(&doc.rules), []);
    doc.rules.iter().map(|spec| spec.compile().unwrap()).collect()
}

fn old_file(path: &Path, content: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, content).unwrap();
    let old = SystemTime::now() - Duration::from_secs(30 * 86_400);
    std::fs::File::options().write(true).open(path).unwrap().set_modified(old).unwrap();
}

#[test]
fn run_moves_and_deletes_writes_the_status_and_holds_the_lock() {
    let scratch = tempfile::tempdir().unwrap();
    let dir = scratch.path();
    let root = Root::new(dir).unwrap();
    old_file(&dir.join("hot/logs/a/x.log"), "x");
    old_file(&dir.join("hot/logs/b/y.log"), "y");
    std::fs::write(dir.join("hot/logs/a/new.log"), "young").unwrap();
    old_file(&dir.join("hot/tmp/junk.tmp"), "junk");
    std::fs::create_dir_all(dir.join("warm/logs")).unwrap();
    let rules = rules(
        r#"
[[rules]]
name = "logs"
from = "/hot/logs"
to = "/warm/logs"
include = ["**/*.log"]
older_than = "7d"
action = "move"
reserve = "0B"
prune_empty_dirs = true

[[rules]]
name = "tmp"
from = "/hot/tmp"
older_than = "7d"
action = "delete"
"#,
    );
    let report = run(&root, &rules, &RunOptions::default(), &Arc::default()).unwrap();
    assert!(report.ok, "{report:#?}");
    assert_eq!((report.rules[0].moved_files, report.rules[1].deleted_files), (2, 1));
    assert_eq!(std::fs::read_to_string(dir.join("warm/logs/a/x.log")).unwrap(), "x");
    assert_eq!(std::fs::read_to_string(dir.join("warm/logs/b/y.log")).unwrap(), "y");
    assert!(dir.join("hot/logs/a/new.log").exists(), "young files stay");
    assert!(!dir.join("hot/logs/b").exists(), "emptied directories are pruned");
    assert!(!dir.join("hot/tmp/junk.tmp").exists());
    let status = read_status(&root).unwrap_or_else(|| panic!("no {STATUS_FILE}"));
    assert!(status.ok && status.last_success_at == Some(report.finished_at));

    let held = lock(&root).unwrap();
    let second = run(&root, &rules, &RunOptions::default(), &Arc::default());
    assert!(matches!(second, Err(Error::Core(jts_core::Error::Locked { .. }))), "{second:?}");
    drop(held);
    let again = run(&root, &rules, &RunOptions::default(), &Arc::default()).unwrap();
    assert_eq!(again.rules.iter().map(|r| r.moved_files + r.deleted_files).sum::<u64>(), 0, "nothing left to do");
}

#[test]
fn size_and_fullness_triggers_limit_what_a_rule_does() {
    let scratch = tempfile::tempdir().unwrap();
    let dir = scratch.path();
    let root = Root::new(dir).unwrap();
    old_file(&dir.join("hot/big.bin"), &"b".repeat(2000));
    old_file(&dir.join("hot/small.bin"), "s");
    std::fs::create_dir_all(dir.join("warm")).unwrap();
    let rule = |extra: &str| {
        rules(&format!(
            "[[rules]]\nname = \"r\"\nfrom = \"/hot\"\nto = \"/warm\"\nolder_than = \"1d\"\naction = \"move\"\n\
             reserve = \"0B\"\n{extra}\n"
        ))
    };
    // A filesystem is never more than 100 % full: the rule waits, and says why.
    let idle = run(&root, &rule("when_source_above_percent = 100"), &RunOptions::default(), &Arc::default()).unwrap();
    assert!(idle.ok);
    assert_eq!(idle.rules[0].moved_files, 0);
    assert!(idle.rules[0].idle.as_deref().unwrap().contains("below when_source_above_percent = 100"), "{idle:?}");
    let plan = jts_tiering::plan(&root, &rule("when_source_above_percent = 100"), Duration::from_secs(10));
    assert!(plan[0].idle.is_some() && plan[0].files == 2, "{plan:?}");

    let report = run(
        &root,
        &rule("larger_than = \"1KiB\"\nwhen_source_above_percent = 0"),
        &RunOptions::default(),
        &Arc::default(),
    )
    .unwrap();
    assert_eq!(report.rules[0].moved_files, 1, "only the file over 1 KiB: {report:?}");
    assert!(dir.join("warm/big.bin").exists() && dir.join("hot/small.bin").exists());
}
