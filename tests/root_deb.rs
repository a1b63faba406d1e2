//! Root tier: the Debian package. `scripts/build-deb.sh` builds it with cargo-deb; the test
//! installs it with `dpkg -i` on this machine, runs what it installed (the binary, its man
//! pages, the bash completion) and purges it, leaving none of its files behind.

use std::path::Path;
use std::time::Duration;

use jts_testkit::{repo_root, require_root, tool, tool_within};

const PACKAGE: &str = "jts-provision";

/// Purges the package when the test ends, passed or not.
struct PurgeOnDrop;

impl Drop for PurgeOnDrop {
    fn drop(&mut self) {
        let _ = tool("dpkg", &["--purge", PACKAGE]);
    }
}

fn installed() -> bool {
    tool("dpkg-query", &["-W", "-f=${db:Status-Status}", PACKAGE]).stdout.trim() == "installed"
}

#[test]
#[ignore = "root tier: needs uid 0 (dpkg -i and dpkg --purge on this machine)"]
fn root_deb_installs_works_and_purges_cleanly() {
    require_root();
    assert!(!installed(), "{PACKAGE} is already installed here; `dpkg --purge {PACKAGE}` first");
    assert!(!Path::new("/usr/bin/jts-provision").exists(), "/usr/bin/jts-provision exists but not from the package");
    let script = repo_root().join("scripts/build-deb.sh");
    // A release build from scratch: minutes on two cores, more while other builds run.
    let build = tool_within(Duration::from_secs(30 * 60), "bash", &[script.to_str().unwrap()]);
    build.expect_code(0);
    let deb = repo_root().join(build.stdout.lines().last().expect("build-deb.sh prints the .deb's path").trim());
    assert!(deb.is_file(), "{build:?}");
    let deb = deb.to_str().unwrap();

    let field = |name: &str| tool("dpkg-deb", &["--field", deb, name]).stdout.trim().to_owned();
    let depends = field("Depends");
    for needed in ["e2fsprogs", "mount", "passwd", "libc6"] {
        assert!(depends.contains(needed), "Depends: {depends}");
    }
    let recommends = field("Recommends");
    for optional in ["lvm2", "xfsprogs", "btrfs-progs", "nfs-common", "acl"] {
        assert!(recommends.contains(optional) && !depends.contains(optional), "Recommends: {recommends}");
    }

    let _purge = PurgeOnDrop;
    tool("dpkg", &["--install", deb]).expect_code(0);
    assert!(installed());
    let files: Vec<String> = tool("dpkg-query", &["-L", PACKAGE])
        .stdout
        .lines()
        .map(str::to_owned)
        .filter(|f| Path::new(f).is_file())
        .collect();

    let version = tool("/usr/bin/jts-provision", &["--version"]);
    assert_eq!(version.expect_code(0).stdout.trim(), format!("jts-provision {}", env!("CARGO_PKG_VERSION")));
    let page = tool("man", &["-w", "jts-provision"]);
    assert_eq!(page.expect_code(0).stdout.trim(), "/usr/share/man/man1/jts-provision.1.gz");
    let apply_page = tool("man", &["-P", "cat", "jts-provision-apply"]);
    assert!(apply_page.expect_code(0).stdout.contains("--allow-destroy"), "{apply_page:?}");
    // The installed bash completion, driven as bash does on <TAB>.
    let complete = tool(
        "bash",
        &[
            "-c",
            "source /usr/share/bash-completion/completions/jts-provision && \
             fn=$(complete -p jts-provision | sed -E 's/.*-F ([^ ]+).*/\\1/') && \
             COMP_WORDS=(jts-provision tier r) COMP_CWORD=2 COMP_LINE='jts-provision tier r' COMP_POINT=20 && \
             $fn jts-provision r tier && printf '%s\\n' \"${COMPREPLY[@]}\"",
        ],
    );
    assert!(complete.expect_code(0).stdout.lines().any(|word| word == "run"), "{complete:?}");
    for (shell, file) in [
        ("zsh", "/usr/share/zsh/vendor-completions/_jts-provision"),
        ("fish", "/usr/share/fish/vendor_completions.d/jts-provision.fish"),
    ] {
        let printed = tool("/usr/bin/jts-provision", &["completions", shell]).expect_code(0).stdout.clone();
        assert_eq!(std::fs::read_to_string(file).unwrap(), printed, "{file}");
    }
    // The example spec renders units that run the installed binary (on a scratch root: this
    // machine's own accounts are not the example's).
    let scratch = jts_testkit::tempdir();
    let args = ["--config", "/etc/jts/storage.toml.example", "--root", scratch.path().to_str().unwrap(), "render"];
    let example = tool("/usr/bin/jts-provision", &args);
    assert!(example.expect_code(0).stdout.contains("ExecStart=/usr/bin/jts-provision"), "{example:?}");

    tool("dpkg", &["--purge", PACKAGE]).expect_code(0);
    assert!(!installed());
    let left: Vec<&String> = files.iter().filter(|f| Path::new(f).exists()).collect();
    assert!(left.is_empty(), "purge left {left:?}");
    assert!(!Path::new("/etc/jts").exists(), "purge left /etc/jts");
    assert_ne!(tool("man", &["-w", "jts-provision"]).code, 0, "the man page is still found");
}
