//! End-to-end tests of the `jts-provision` command line that need no root.
//!
//! Bad input must exit 2, print `FILE:LINE:COL: ` and a message saying what is wrong and
//! how to fix it, and touch nothing. Good input must plan, dry-run and explain itself.

use std::path::Path;

use jts_testkit::{Run, assert_same_snapshot, example, jts, jts_at, repo_root, snapshot, tempdir, write_file};

/// Every subcommand that loads the spec; each must reject a bad one the same way.
const SUBCOMMANDS: [&[&str]; 7] = [
    &["check"],
    &["probe"],
    &["plan"],
    &["plan", "--detailed-exitcode"],
    &["apply"],
    &["apply", "--dry-run"],
    &["validate"],
];

/// Lines before each mistake, so that the line numbers are not trivially 1 or 2.
const PREAMBLE: &str = "\
# A spec with one mistake below.
version = 1

[groups.backup]
gid = 2001

";

/// How precisely the reported location is checked.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Col {
    /// LINE and COL are where the needle starts.
    Exact,
    /// Only LINE is where the needle starts.
    LineOnly,
}

/// The 1-based line and column (in characters) where `needle` first starts in `text`.
#[track_caller]
fn line_col(text: &str, needle: &str) -> (usize, usize) {
    let at = text.find(needle).unwrap_or_else(|| panic!("{needle:?} is not in the spec text"));
    assert_eq!(text.matches(needle).count(), 1, "{needle:?} must occur once in the spec text to locate it");
    let before = &text[..at];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |rest| rest.chars().count()) + 1;
    (line, col)
}

/// Asserts that `spec` is rejected by every subcommand: exit 2, a located message on
/// stderr whose line contains every word of `wrong` and `fix`, nothing on stdout, and no
/// change to the `--root` directory, whether it is missing or exists.
#[track_caller]
fn assert_rejected(spec_text: &str, at: &str, col: Col, wrong: &[&str], fix: &[&str]) {
    let tmp = tempdir();
    let spec = write_file(tmp.path(), "spec.toml", spec_text);
    let (line, column) = line_col(spec_text, at);
    let prefix = match col {
        Col::Exact => format!("{}:{line}:{column}: ", spec.display()),
        Col::LineOnly => format!("{}:{line}:", spec.display()),
    };
    let fresh = tmp.path().join("fresh-root");
    for args in SUBCOMMANDS {
        let run = jts_at(&spec, &fresh, args);
        run.expect_code(2);
        assert_located(&run, &prefix, wrong, fix);
        assert!(run.stdout.is_empty(), "a config error prints nothing on stdout without --json:{run:?}");
        assert!(!fresh.exists(), "`{}` created --root {}:{run:?}", args.join(" "), fresh.display());
    }

    // An existing root with account files and a directory of the spec's tree: untouched.
    let existing = tmp.path().join("existing-root");
    std::fs::create_dir_all(existing.join("etc")).unwrap();
    std::fs::create_dir_all(existing.join("data/jts")).unwrap();
    std::fs::write(existing.join("etc/passwd"), "root:x:0:0:root:/root:/bin/bash\n").unwrap();
    std::fs::write(existing.join("etc/group"), "root:x:0:\n").unwrap();
    let before = snapshot(&existing);
    for args in [&["apply"][..], &["apply", "--dry-run"], &["plan"]] {
        let run = jts_at(&spec, &existing, args);
        run.expect_code(2);
        assert_located(&run, &prefix, wrong, fix);
    }
    assert_same_snapshot(&before, &snapshot(&existing), "the existing --root after a rejected spec");

    // With --json, the same lines also come as {"errors": [...]} on stdout.
    let run = jts_at(&spec, &fresh, &["check", "--json"]);
    run.expect_code(2);
    let errors = run.json()["errors"].as_array().cloned().unwrap_or_default();
    assert!(
        errors.iter().any(|e| e.as_str().is_some_and(|e| e.starts_with(&prefix))),
        "--json errors do not include a line starting with {prefix:?}:{run:?}"
    );
    assert!(!fresh.exists());
}

/// Asserts that one stderr line starts with `prefix` and contains every key word.
#[track_caller]
fn assert_located(run: &Run, prefix: &str, wrong: &[&str], fix: &[&str]) {
    let Some(line) = run.stderr.lines().find(|l| l.starts_with(prefix)) else {
        panic!("no stderr line starts with {prefix:?}:{run:?}");
    };
    for word in wrong.iter().chain(fix) {
        assert!(
            line.to_lowercase().contains(&word.to_lowercase()),
            "the message does not say {word:?}\n  message: {line}{run:?}"
        );
    }
}

#[test]
fn toml_syntax_error_is_located() {
    let spec = format!("{PREAMBLE}[[directories]\npath = \"/data/jts/hot\"\nmode = \"0750\"\n");
    // The parser reports the end of the unclosed header, on its line.
    assert_rejected(&spec, "[[directories]\n", Col::LineOnly, &["unclosed array table"], &["expected `]`"]);
}

#[test]
fn unknown_key_is_located() {
    let spec = format!("{PREAMBLE}[[directories]]\npath = \"/data/jts/hot\"\ncolour = \"red\"\nmode = \"0750\"\n");
    assert_rejected(&spec, "colour", Col::Exact, &["unknown field `colour`"], &["expected one of", "`path`", "`mode`"]);
}

#[test]
fn relative_path_is_located() {
    let spec = format!("{PREAMBLE}[[directories]]\npath = \"data/jts/hot\"\n");
    assert_rejected(&spec, "\"data/jts/hot\"", Col::Exact, &["\"data/jts/hot\" is relative"], &["absolute path"]);
}

#[test]
fn path_with_dot_dot_is_located() {
    let spec = format!("{PREAMBLE}[[directories]]\npath = \"/data/jts/../etc\"\n");
    assert_rejected(
        &spec,
        "\"/data/jts/../etc\"",
        Col::Exact,
        &["contains `..`"],
        &["absolute path without `.` or `..`"],
    );
}

#[test]
fn duplicate_path_is_located_at_the_second_entry() {
    let spec = format!(
        "{PREAMBLE}[[directories]]\npath = \"/data/jts/hot\"\nmode = \"0755\"\n\n\
         [[directories]]\npath = \"/data/jts/hot\" # again\nmode = \"0750\"\n"
    );
    assert_rejected(
        &spec,
        "\"/data/jts/hot\" # again",
        Col::Exact,
        &["/data/jts/hot is declared twice", "first at directories[0].path"],
        &["keep one entry per directory"],
    );
}

#[test]
fn child_duplicating_a_directory_is_located_at_the_child() {
    let spec = format!(
        "{PREAMBLE}[[directories]]\npath = \"/data/jts/hot/kafka\"\n\n\
         [[directories]]\npath = \"/data/jts/hot\"\nchildren = [\n  \"redis\",\n  \"kafka\",\n]\n"
    );
    assert_rejected(
        &spec,
        "\"kafka\"",
        Col::Exact,
        &["directories[1].children", "/data/jts/hot/kafka is declared twice"],
        &["keep one entry per directory"],
    );
}

#[test]
fn directory_duplicating_a_child_is_located_at_the_directory() {
    let spec = format!(
        "{PREAMBLE}[[directories]]\npath = \"/data/jts/hot\"\nchildren = [\"kafka\"]\n\n\
         [[directories]]\npath = \"/data/jts/hot/kafka\"\n"
    );
    assert_rejected(
        &spec,
        "\"/data/jts/hot/kafka\"",
        Col::Exact,
        &["/data/jts/hot/kafka is declared twice", "first at directories[0].children"],
        &["keep one entry per directory"],
    );
}

#[test]
fn non_octal_mode_is_located() {
    let spec = format!("{PREAMBLE}[[directories]]\npath = \"/data/jts/hot\"\nmode = \"0799\"\n");
    assert_rejected(
        &spec,
        "\"0799\"",
        Col::Exact,
        &["invalid mode \"0799\"", "'9' is not an octal digit"],
        &["octal string", "\"0750\""],
    );
}

#[test]
fn unquoted_mode_is_located() {
    let spec = format!("{PREAMBLE}[[directories]]\npath = \"/data/jts/hot\"\nmode = 750\n");
    assert_rejected(&spec, "750", Col::Exact, &["mode 750 is a decimal number"], &["quote it", "mode = \"0750\""]);
}

#[test]
fn acl_with_bad_permissions_is_located() {
    let spec =
        format!("{PREAMBLE}[[directories]]\npath = \"/data/jts/hot\"\nmode = \"0750\"\nacl = [\"group:backup:rwz\"]\n");
    assert_rejected(
        &spec,
        "\"group:backup:rwz\"",
        Col::Exact,
        &["malformed ACL entry \"group:backup:rwz\"", "\"rwz\""],
        &["may only contain r, w, x and -", "\"r-x\""],
    );
}

#[test]
fn acl_without_permissions_is_located() {
    let spec =
        format!("{PREAMBLE}[[directories]]\npath = \"/data/jts/hot\"\nmode = \"0750\"\nacl = [\"group:backup\"]\n");
    assert_rejected(
        &spec,
        "\"group:backup\"",
        Col::Exact,
        &["malformed ACL entry \"group:backup\""],
        &["[default:]TYPE:NAME:PERMS", "\"group:backup:r-x\""],
    );
}

#[test]
fn acl_error_in_a_multi_line_array_is_located_at_the_entry() {
    let spec = format!(
        "{PREAMBLE}[[directories]]\npath = \"/data/jts/hot\"\nmode = \"0750\"\nacl = [\n  \"group:backup:r-x\",\n  \
         \"default:group:backup:r-x\",\n  \"group:backup:rwz\",\n]\n"
    );
    assert_rejected(
        &spec,
        "\"group:backup:rwz\"",
        Col::Exact,
        &["malformed ACL entry \"group:backup:rwz\""],
        &["may only contain r, w, x and -"],
    );
}

#[test]
fn unknown_owner_is_located() {
    let spec = format!("{PREAMBLE}[[directories]]\npath = \"/data/jts/hot\"\nowner = \"ghost\"\n");
    assert_rejected(
        &spec,
        "\"ghost\"",
        Col::Exact,
        &["owner ghost is neither declared under [users] nor present in /etc/passwd"],
        &["declare [users.ghost]", "numeric uid"],
    );
}

#[test]
fn unknown_group_is_located() {
    let spec = format!("{PREAMBLE}[[directories]]\npath = \"/data/jts/hot\"\ngroup = \"ghosts\"\n");
    assert_rejected(
        &spec,
        "\"ghosts\"",
        Col::Exact,
        &["group ghosts is neither declared under [groups] nor present in /etc/group"],
        &["declare [groups.ghosts]", "numeric gid"],
    );
}

#[test]
fn acl_naming_an_unknown_group_is_located() {
    let spec = format!(
        "{PREAMBLE}[[directories]]\npath = \"/data/jts/hot\"\nmode = \"0750\"\nacl = [\"group:auditors:r-x\"]\n"
    );
    assert_rejected(
        &spec,
        "\"group:auditors:r-x\"",
        Col::Exact,
        &["group auditors is neither declared nor present"],
        &["declare [groups.auditors]"],
    );
}

#[test]
fn unknown_primary_group_of_a_user_is_located() {
    let spec = format!("{PREAMBLE}[users.svc]\nuid = 2500\ngroup = \"ghosts\"\n");
    assert_rejected(
        &spec,
        "\"ghosts\"",
        Col::Exact,
        &["primary group ghosts is neither declared under [groups] nor present in /etc/group"],
        &["declare [groups.ghosts]"],
    );
}

#[test]
fn unknown_supplementary_group_of_a_user_is_located() {
    let spec = format!("{PREAMBLE}[users.svc]\nuid = 2500\ngroups = [\"backup\", \"ghosts\"]\n");
    assert_rejected(
        &spec,
        "\"ghosts\"",
        Col::Exact,
        &["supplementary group ghosts is neither declared"],
        &["declare [groups.ghosts] or remove it"],
    );
}

#[test]
fn unsupported_version_is_located() {
    let spec = "# A spec in a format this binary does not read.\n\nversion = 2 # the next format\n";
    assert_rejected(spec, "2 # the next format", Col::Exact, &["unsupported spec version 2"], &["reads version 1"]);
}

#[test]
fn every_problem_is_reported_at_once_each_at_its_line() {
    let spec = format!(
        "{PREAMBLE}[[directories]]\npath = \"/data/jts/hot\"\nowner = \"ghost\"\ngroup = \"ghosts\"\n\n\
         [[directories]]\npath = \"/data/jts/hot\" # again\n"
    );
    let tmp = tempdir();
    let file = write_file(tmp.path(), "spec.toml", &spec);
    let run = jts_at(&file, &tmp.path().join("root"), &["check"]);
    run.expect_code(2);
    for at in ["\"ghost\"", "\"ghosts\"", "\"/data/jts/hot\" # again"] {
        let (line, col) = line_col(&spec, at);
        let prefix = format!("{}:{line}:{col}: ", file.display());
        assert!(run.stderr.lines().any(|l| l.starts_with(&prefix)), "no error at {at} ({prefix}):{run:?}");
    }
}

#[test]
fn names_present_in_the_roots_account_files_are_accepted() {
    let tmp = tempdir();
    let root = tmp.path().join("root");
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::write(
        root.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/bash\nghost:x:3000:3000::/nonexistent:/bin/false\n",
    )
    .unwrap();
    std::fs::write(root.join("etc/group"), "root:x:0:\nghosts:x:3000:\n").unwrap();
    let spec = format!(
        "{PREAMBLE}[users.svc]\nuid = 2500\ngroup = \"ghosts\"\n\n\
         [[directories]]\npath = \"/data/jts/hot\"\nowner = \"ghost\"\ngroup = \"ghosts\"\n"
    );
    let file = write_file(tmp.path(), "spec.toml", &spec);
    let before = snapshot(&root);
    jts_at(&file, &root, &["check"]).expect_code(0);
    assert_same_snapshot(&before, &snapshot(&root), "--root after check");
    // Without those accounts the same spec is refused.
    let run = jts_at(&file, &tmp.path().join("empty-root"), &["check"]);
    run.expect_code(2);
    assert!(run.stderr.contains("owner ghost is neither declared"), "{run:?}");
}

#[test]
fn missing_config_file_exits_2_with_a_hint() {
    let tmp = tempdir();
    let run = jts_at(&tmp.path().join("no-such.toml"), &tmp.path().join("root"), &["plan"]);
    run.expect_code(2);
    assert!(run.stderr.contains("cannot read the spec"), "{run:?}");
    assert!(run.stderr.contains("--config"), "{run:?}");
    assert!(!tmp.path().join("root").exists());
}

#[test]
fn bad_arguments_exit_2() {
    let tmp = tempdir();
    let root = tmp.path().join("root");
    let example = example("hot-directories.toml");
    for args in [&["frobnicate"][..], &["plan", "--no-such-flag"], &["apply", "--dry-run=yes"], &["-v", "-q", "plan"]] {
        let mut all = vec!["--config", example.to_str().unwrap(), "--root", root.to_str().unwrap()];
        all.extend(args);
        let run = jts(&all);
        run.expect_code(2);
        assert!(!run.stderr.is_empty(), "clap explains the mistake on stderr:{run:?}");
    }
    // No subcommand at all is a usage error too.
    jts(&["--config", example.to_str().unwrap()]).expect_code(2);
    assert!(!root.exists());
}

#[test]
fn check_accepts_the_example() {
    let tmp = tempdir();
    let root = tmp.path().join("root");
    let run = jts_at(&example("hot-directories.toml"), &root, &["check"]);
    run.expect_code(0);
    assert!(run.stdout.contains(": ok ("), "{run:?}");
    let json = jts_at(&example("hot-directories.toml"), &root, &["check", "--json"]);
    json.expect_code(0);
    let value = json.json();
    assert_eq!(value["ok"], true, "{json:?}");
    assert!(value["users"].as_u64().unwrap_or(0) > 0 && value["directories"].as_u64().unwrap_or(0) > 0, "{json:?}");
    assert!(!root.exists(), "check created --root");
}

#[test]
fn plan_json_lists_steps_in_execution_order() {
    let tmp = tempdir();
    let root = tmp.path().join("root");
    let run = jts_at(&example("hot-directories.toml"), &root, &["plan", "--json"]);
    run.expect_code(0);
    let plan = run.json();
    assert_eq!(plan["refused"], serde_json::json!([]), "{run:?}");
    let steps = plan["steps"].as_array().expect("steps array");
    assert!(!steps.is_empty(), "a fresh root needs steps:{run:?}");
    for step in steps {
        assert!(step["kind"].is_string(), "kind: {step}");
        assert!(step["object"].is_string(), "object: {step}");
        assert!(step["description"].as_str().is_some_and(|d| !d.is_empty()), "description: {step}");
        assert_eq!(step["destructive"], false, "nothing here destroys data: {step}");
        let commands = step["commands"].as_array().unwrap_or_else(|| panic!("commands array: {step}"));
        assert!(commands.iter().all(serde_json::Value::is_string), "commands are strings: {step}");
    }
    let kinds: Vec<&str> = steps.iter().map(|s| s["kind"].as_str().unwrap()).collect();
    let objects: Vec<&str> = steps.iter().map(|s| s["object"].as_str().unwrap()).collect();
    assert_eq!(kinds[0], "InitAccountFiles", "a fresh root gets account files first: {kinds:?}");
    let last = |kind: &str| kinds.iter().rposition(|k| *k == kind);
    let first = |kind: &str| kinds.iter().position(|k| *k == kind);
    assert!(last("CreateGroup") < first("CreateUser"), "groups before users: {kinds:?}");
    assert!(last("CreateUser") < first("CreateDirectory"), "accounts before directories: {kinds:?}");
    // Every directory is created after its parent (when the parent is created too).
    for (index, object) in objects.iter().enumerate().filter(|(i, _)| kinds[*i] == "CreateDirectory") {
        let parent = Path::new(object).parent().and_then(Path::to_str).unwrap_or("/");
        if let Some(at) = objects.iter().position(|o| *o == parent) {
            assert!(at < index, "{object} is created before its parent {parent}");
        }
    }
    for expected in
        ["/data", "/data/jts", "/data/jts/hot", "/data/jts/hot/postgresql/data", "/data/jts/hot/clickhouse/tmp"]
    {
        assert!(objects.contains(&expected), "no step creates {expected}: {objects:?}");
    }
    let useradd = steps.iter().find(|s| s["kind"] == "CreateUser").unwrap();
    let command = useradd["commands"][0].as_str().unwrap();
    assert!(command.starts_with("useradd ") && command.contains(&format!("--prefix {}", root.display())), "{command}");
    assert!(!root.exists(), "plan created --root");
}

#[test]
fn plan_detailed_exitcode_is_4_when_changes_are_pending() {
    let tmp = tempdir();
    let root = tmp.path().join("root");
    jts_at(&example("hot-directories.toml"), &root, &["plan", "--detailed-exitcode"]).expect_code(4);
    jts_at(&example("hot-directories.toml"), &root, &["plan"]).expect_code(0);
    let run = jts_at(&example("hot-directories.toml"), &root, &["plan", "--detailed-exitcode", "--json"]);
    run.expect_code(4);
    assert!(!run.json()["steps"].as_array().unwrap().is_empty());
    assert!(!root.exists(), "plan created --root");
}

#[test]
fn apply_dry_run_prints_commands_and_creates_nothing() {
    let tmp = tempdir();
    let root = tmp.path().join("root");
    let run = jts_at(&example("hot-directories.toml"), &root, &["apply", "--dry-run"]);
    run.expect_code(0);
    let prefix = format!("--prefix {}", root.display());
    let lines: Vec<&str> = run.stdout.lines().collect();
    let has = |start: &str, part: &str| lines.iter().any(|l| l.starts_with(start) && l.contains(part));
    assert!(has("useradd ", &prefix), "a useradd line with {prefix}:{run:?}");
    assert!(has("groupadd ", &prefix), "a groupadd line with {prefix}:{run:?}");
    assert!(has("useradd ", "--uid 2100"), "postgres gets its fixed uid:{run:?}");
    assert!(has("mkdir ", &root.join("data/jts/hot/postgresql/data").display().to_string()), "{run:?}");
    assert!(has("setfacl ", "group:backup:r-x"), "{run:?}");
    assert!(lines.iter().any(|l| l.starts_with("# dry run")), "{run:?}");
    assert!(!root.exists(), "--dry-run created --root");

    // With an existing root, --dry-run changes nothing there either.
    std::fs::create_dir_all(root.join("data")).unwrap();
    let before = snapshot(&root);
    jts_at(&example("hot-directories.toml"), &root, &["apply", "--dry-run"]).expect_code(0);
    let json = jts_at(&example("hot-directories.toml"), &root, &["apply", "--dry-run", "--json"]);
    json.expect_code(0);
    assert!(!json.json()["steps"].as_array().unwrap().is_empty(), "{json:?}");
    assert_same_snapshot(&before, &snapshot(&root), "--root after apply --dry-run");
}

#[test]
fn help_exits_0_and_documents_exit_codes() {
    let run = jts(&["--help"]);
    run.expect_code(0);
    assert!(run.stdout.contains("Exit codes"), "{run:?}");
    for code in ["0  ok", "1  a step or probe failed", "2  invalid config", "3  refused", "4  drift"] {
        assert!(run.stdout.contains(code), "--help does not explain exit code {code:?}:{run:?}");
    }
    for subcommand in ["check", "probe", "plan", "apply", "validate"] {
        assert!(run.stdout.contains(subcommand), "--help does not list {subcommand}:{run:?}");
    }
    let plan = jts(&["plan", "--help"]);
    plan.expect_code(0);
    assert!(plan.stdout.contains("--detailed-exitcode") && plan.stdout.contains("--state"), "{plan:?}");
    let apply = jts(&["apply", "--help"]);
    apply.expect_code(0);
    assert!(apply.stdout.contains("--dry-run") && apply.stdout.contains("--journal"), "{apply:?}");
    jts(&["--version"]).expect_code(0);
}

#[test]
fn global_flags_work_after_the_subcommand() {
    let tmp = tempdir();
    let root = tmp.path().join("root");
    let (spec, root_text) = (example("hot-directories.toml"), root.to_str().unwrap().to_owned());
    let spec = spec.to_str().unwrap();
    let after = jts(&["plan", "--root", &root_text, "--config", spec, "--json"]);
    after.expect_code(0);
    let before = jts(&["--json", "--root", &root_text, "--config", spec, "plan"]);
    before.expect_code(0);
    assert_eq!(after.json(), before.json(), "global flags mean the same before and after the subcommand");
    assert!(after.stdout.contains(&format!("--prefix {root_text}")), "--root after plan is used:{after:?}");
    let mixed = jts(&["-q", "check", "--config", spec, "--root", &root_text, "--json"]);
    mixed.expect_code(0);
    assert_eq!(mixed.json()["ok"], true, "{mixed:?}");
    jts(&["plan", "--detailed-exitcode", "--config", spec, "--root", &root_text, "-v"]).expect_code(4);
    assert!(!root.exists());
}

#[test]
fn every_example_passes_check_under_a_fresh_root() {
    let examples = repo_root().join("examples");
    let mut checked = 0;
    for entry in std::fs::read_dir(&examples).unwrap() {
        let spec = entry.unwrap().path();
        let root = tempdir();
        let run = jts_at(&spec, root.path(), &["check"]);
        assert_eq!(run.code, 0, "{}:{run:?}", spec.display());
        checked += 1;
    }
    assert!(checked >= 4, "{checked} examples");
}

#[test]
fn the_tier_demo_of_the_example_moves_the_old_log_and_deletes_the_old_temp_file() {
    let spec = example("tier-demo.toml");
    let root = tempdir();
    let at = |p: &str| root.path().join(p);
    for dir in ["data/hot/logs/app", "data/hot/tmp", "data/warm/logs"] {
        std::fs::create_dir_all(at(dir)).unwrap();
    }
    let aged = |path: &std::path::Path, days: u64| {
        let then = std::time::SystemTime::now() - std::time::Duration::from_secs(days * 86_400);
        std::fs::File::options().write(true).open(path).unwrap().set_modified(then).unwrap();
    };
    std::fs::write(at("data/hot/logs/app/monday.log"), "old\n").unwrap();
    aged(&at("data/hot/logs/app/monday.log"), 10);
    std::fs::write(at("data/hot/logs/app/today.log"), "new\n").unwrap();
    std::fs::write(at("data/hot/tmp/x.tmp"), "junk\n").unwrap();
    aged(&at("data/hot/tmp/x.tmp"), 5);

    let plan = jts_at(&spec, root.path(), &["tier", "plan", "--json"]);
    assert_eq!(plan.code, 0, "{plan:?}");
    let files: Vec<u64> =
        plan.json()["rules"].as_array().unwrap().iter().map(|r| r["files"].as_u64().unwrap()).collect();
    assert_eq!(files, [1, 1]);
    let run = jts_at(&spec, root.path(), &["tier", "run", "--json"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(std::fs::read_to_string(at("data/warm/logs/app/monday.log")).unwrap(), "old\n");
    assert!(at("data/hot/logs/app/today.log").exists() && !at("data/hot/logs/app/monday.log").exists());
    assert!(!at("data/hot/tmp/x.tmp").exists() && at("data/hot/tmp").is_dir());
    assert!(at("var/lib/jts/tier/last-run.json").is_file());
}

/// What bash offers on <TAB> after `line`, with the script `jts-provision completions bash`
/// prints, driven as bash's programmable completion calls it.
fn bash_completes(script: &Path, line: &str) -> Vec<String> {
    let words: Vec<&str> = line.split(' ').collect();
    let driver = format!(
        "source {script} && fn=$(complete -p jts-provision | sed -E 's/.* -F ([^ ]+) .*/\\1/') && \
         COMP_WORDS=({words}) COMP_CWORD={cword} COMP_LINE='{line}' COMP_POINT={point} && \
         $fn jts-provision '{cur}' '{prev}' && printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        script = script.display(),
        words = words.iter().map(|w| format!("'{w}'")).collect::<Vec<_>>().join(" "),
        cword = words.len() - 1,
        point = line.len(),
        cur = words[words.len() - 1],
        prev = words[words.len() - 2],
    );
    let run = jts_testkit::tool("bash", &["-c", driver.as_str()]);
    run.expect_code(0);
    run.stdout.lines().map(str::to_owned).collect()
}

#[test]
fn completions_complete_subcommands_and_their_options_in_bash() {
    let dir = tempdir();
    let run = jts(&["completions", "bash"]);
    run.expect_code(0);
    let script = write_file(dir.path(), "jts-provision.bash", &run.stdout);
    assert!(bash_completes(&script, "jts-provision ap").contains(&"apply".to_owned()));
    // A subcommand's own subcommands (clap_complete offers hidden ones too: `run-rule`).
    let tier = bash_completes(&script, "jts-provision tier r");
    assert!(tier.contains(&"run".to_owned()) && !tier.contains(&"plan".to_owned()), "{tier:?}");
    let options = bash_completes(&script, "jts-provision apply --");
    for option in ["--dry-run", "--allow-destroy", "--journal", "--config", "--root", "--json"] {
        assert!(options.contains(&option.to_owned()), "{option} not in {options:?}");
    }
    for shell in ["zsh", "fish"] {
        let run = jts(&["completions", shell]);
        assert!(run.expect_code(0).stdout.contains("allow-destroy"), "{run:?}");
    }
    let unknown = jts(&["completions", "tcsh"]);
    assert!(unknown.expect_code(2).stderr.contains("possible values: bash"), "{unknown:?}");
}

#[test]
fn manpages_writes_one_page_per_command_and_none_for_hidden_ones() {
    let dir = tempdir();
    let run = jts(&["manpages", dir.path().to_str().unwrap()]);
    run.expect_code(0);
    let mut pages: Vec<String> =
        std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    pages.sort();
    for page in ["jts-provision.1", "jts-provision-apply.1", "jts-provision-tier-run.1", "jts-provision-completions.1"]
    {
        assert!(pages.contains(&page.to_owned()), "{page} not in {pages:?}");
    }
    assert!(!pages.iter().any(|p| p.contains("run-rule") || p.contains("manpages")), "{pages:?}");
    assert_eq!(run.stdout.lines().count(), pages.len(), "{run:?}");
    let top = std::fs::read_to_string(dir.path().join("jts-provision.1")).unwrap();
    assert!(top.starts_with(".ie \\n(.g .ds Aq") && top.contains("jts\\-provision\\-apply(1)"), "{top}");
}

/// The binary starts without loading `libgcc_s`: its build script links the GCC unwinder
/// in (a shared library fewer to map and relocate at every start, as of `health` each
/// minute), while glibc stays shared (NSS, security updates).
#[test]
fn the_binary_loads_glibc_but_not_libgcc_s() {
    let bin = jts_testkit::provision_bin();
    let run = jts_testkit::tool("readelf", &[std::ffi::OsStr::new("--dynamic"), bin.as_os_str()]);
    let needed: Vec<&str> = run.expect_code(0).stdout.lines().filter(|line| line.contains("(NEEDED)")).collect();
    assert!(needed.iter().any(|line| line.contains("[libc.so.6]")), "{run:?}");
    assert!(!needed.iter().any(|line| line.contains("libgcc_s")), "{needed:#?}");
}
