//! Root tier: the Ansible collection (`ansible/`) drives a fleet of three hosts with its
//! playbook `jts.storage.fleet`. Each host is a local connection with its own `--root`
//! and its own loop device, so no network is needed. As linux-system-roles check their
//! roles: `--check` first changes nothing (ctimes and fstab compared), the first run
//! changes every host, the second changes none, and a bad spec on one host fails that host
//! with jts's own message while the others complete.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use jts_testkit::{
    LoopDevice, MIB, Run, TempDir, assert_same_snapshot, provision_bin, repo_root, require_root, snapshot, tempdir,
    tool,
};
use serde_json::Value;

const HOSTS: [&str; 3] = ["primary", "standby", "research"];

/// The fleet: a scratch directory with each host's `--root`, its disk, the staged
/// collection and the inventory.
struct Fleet {
    work: TempDir,
    disks: Vec<LoopDevice>,
}

impl Fleet {
    fn new() -> Self {
        let work = tempdir();
        // ansible-test and ansible-playbook find a collection at …/ansible_collections/NS/NAME.
        let staged = work.path().join("collections/ansible_collections/jts");
        std::fs::create_dir_all(&staged).unwrap();
        std::os::unix::fs::symlink(repo_root().join("ansible"), staged.join("storage")).unwrap();
        let mut disks = Vec::new();
        for host in HOSTS {
            let root = work.path().join(host);
            std::fs::create_dir_all(root.join("etc")).unwrap();
            std::fs::write(root.join("etc/fstab"), "# /etc/fstab of the image\nproc /proc proc defaults 0 0\n")
                .unwrap();
            let mut disk = LoopDevice::new(64 * MIB);
            disk.unmount_on_drop(root.join("data").join(host));
            disks.push(disk);
        }
        Self { work, disks }
    }

    fn root(&self, host: &str) -> PathBuf {
        self.work.path().join(host)
    }

    /// Writes the inventory: every host's spec, `bad_host`'s with a mode jts refuses.
    fn write_inventory(&self, bad_host: Option<&str>) -> PathBuf {
        let mut hosts = serde_json::Map::new();
        for (host, disk) in HOSTS.iter().zip(&self.disks) {
            let root = self.root(host);
            let mode = if Some(*host) == bad_host { "0999" } else { "0750" };
            let vars = serde_json::json!({
                "ansible_connection": "local",
                "ansible_python_interpreter": "{{ ansible_playbook_python }}",
                "jts_storage_root": root,
                "jts_storage_config": root.join("etc/jts/storage.toml"),
                "jts_storage_binary": provision_bin(),
                "jts_storage_spec": {
                    "version": 1,
                    "groups": { "dba": { "gid": 2001 } },
                    "filesystems": { "data": {
                        "device": disk.device(), "filesystem": "ext4", "label": format!("jts-{host}"),
                        "mount_point": format!("/data/{host}"),
                    } },
                    "directories": [
                        { "path": format!("/data/{host}/db"), "owner": "root", "group": "dba", "mode": mode },
                    ],
                },
            });
            hosts.insert((*host).to_owned(), vars);
        }
        // JSON is YAML: the inventory plugin for YAML reads it.
        let inventory = serde_json::json!({ "all": { "hosts": hosts } });
        let path = self.work.path().join("inventory.yml");
        std::fs::write(&path, serde_json::to_string_pretty(&inventory).unwrap()).unwrap();
        path
    }

    /// Runs the collection's playbook; returns the run and its recap per host.
    fn play(&self, inventory: &Path, extra: &[&str]) -> (Run, Recap) {
        let home = self.work.path().join("ansible-home");
        let env = [
            format!("ANSIBLE_COLLECTIONS_PATH={}", self.work.path().join("collections").display()),
            format!("ANSIBLE_HOME={}", home.display()),
            format!("ANSIBLE_LOCAL_TEMP={}", home.join("tmp").display()),
            "ANSIBLE_CALLBACK_RESULT_FORMAT=json".to_owned(),
            "ANSIBLE_NOCOLOR=1".to_owned(),
            "ANSIBLE_FORKS=3".to_owned(),
        ];
        let mut args: Vec<String> = env.to_vec();
        args.extend(["ansible-playbook".to_owned(), "-i".to_owned(), inventory.display().to_string()]);
        args.push("jts.storage.fleet".to_owned());
        args.extend(extra.iter().map(|a| (*a).to_owned()));
        let run = tool("env", &args);
        let recap = recap(&run);
        (run, recap)
    }

    /// Every host's `--root` tree (with ctimes) and fstab, to prove nothing was touched.
    fn state(&self) -> BTreeMap<String, (BTreeMap<PathBuf, jts_testkit::Inode>, String)> {
        HOSTS
            .iter()
            .map(|host| {
                let root = self.root(host);
                let fstab = std::fs::read_to_string(root.join("etc/fstab")).unwrap();
                ((*host).to_owned(), (snapshot(&root), fstab))
            })
            .collect()
    }
}

/// `HOST: {KEY: N}` from the PLAY RECAP lines (`primary : ok=2 changed=1 … failed=0 …`).
type Recap = BTreeMap<String, BTreeMap<String, u64>>;

fn recap(run: &Run) -> Recap {
    let lines = run.stdout.lines().skip_while(|line| !line.starts_with("PLAY RECAP")).skip(1);
    let recap: Recap = lines
        .filter_map(|line| line.split_once(" : "))
        .map(|(host, counts)| {
            let counts = counts
                .split_whitespace()
                .filter_map(|pair| pair.split_once('='))
                .map(|(key, n)| (key.to_owned(), n.parse().unwrap()))
                .collect();
            (host.trim().to_owned(), counts)
        })
        .collect();
    assert!(HOSTS.iter().all(|h| recap.contains_key(*h)), "no recap of every host:{run:?}");
    recap
}

/// `KEY=N` of `host` in the recap.
fn stat(recap: &Recap, host: &str, key: &str) -> u64 {
    recap[host][key]
}

#[test]
#[ignore = "root tier: needs uid 0 (loop devices, mkfs, mount) and ansible-core (scripts/install-deps.sh)"]
fn root_ansible_fleet_converges_is_idempotent_checks_without_changes_and_fails_only_the_bad_host() {
    require_root();
    assert!(jts_testkit::have_program("ansible-playbook"), "ansible-playbook is missing: run scripts/install-deps.sh");
    let fleet = Fleet::new();
    let inventory = fleet.write_inventory(None);

    // --check --diff on fresh hosts: every host would change, and nothing does.
    let before = fleet.state();
    let (run, report) = fleet.play(&inventory, &["--check", "--diff"]);
    assert_eq!(run.code, 0, "{run:?}");
    for host in HOSTS {
        assert!(stat(&report, host, "changed") >= 1, "{host} would change: {report:?}");
        assert_eq!(stat(&report, host, "failed"), 0);
    }
    assert!(
        run.stdout.contains("jts-provision plan:") && run.stdout.contains("mkfs.ext4"),
        "the diff shows the plan:{run:?}"
    );
    let after = fleet.state();
    for host in HOSTS {
        assert_eq!(after[host].1, before[host].1, "{host}: --check changed fstab");
        assert_same_snapshot(&before[host].0, &after[host].0, &format!("{host}'s root after --check"));
    }

    // The first run changes every host; the second changes none.
    let (run, report) = fleet.play(&inventory, &[]);
    assert_eq!(run.code, 0, "{run:?}");
    for host in HOSTS {
        assert!(stat(&report, host, "changed") >= 1, "{host}: {report:?}");
        assert!(jts_testkit::mounted_at(fleet.root(host).join("data").join(host)).is_some(), "{host} mounted");
        let fstab = std::fs::read_to_string(fleet.root(host).join("etc/fstab")).unwrap();
        assert!(
            fstab.starts_with("# /etc/fstab of the image\n") && fstab.contains(&format!("/data/{host}")),
            "{fstab}"
        );
        let timer = fleet.root(host).join("etc/systemd/system/timers.target.wants/jts-health.timer");
        // systemctl --root links it as the host will see it (absolute, so dangling from here).
        assert!(timer.symlink_metadata().is_ok(), "{host}: apply enabled jts-health.timer");
    }
    let (run, report) = fleet.play(&inventory, &["-v"]);
    assert_eq!(run.code, 0, "{run:?}");
    for host in HOSTS {
        assert_eq!(stat(&report, host, "changed"), 0, "{host}: second run: {report:?}");
        // The playbook's last task read the host's health as facts (`-v` prints the result).
        let health = run
            .stdout
            .lines()
            .filter_map(|line| line.strip_prefix(&format!("ok: [{host}] => ")))
            .filter_map(|result| serde_json::from_str::<Value>(result).ok())
            .find(|result| result["ansible_facts"].get("jts_health").is_some())
            .unwrap_or_else(|| panic!("no health facts of {host}:{run:?}"));
        let facts = &health["ansible_facts"]["jts_health"];
        assert_eq!(facts["status"], "ok", "{facts}");
        assert_eq!(facts["mounts"][0]["status"], "ok", "{facts}");
        assert!(facts["mounts"][0]["mount"].as_str().unwrap().ends_with(&format!("/data/{host}")), "{facts}");
    }

    // --check on converged hosts: nothing to change, nothing touched.
    let before = fleet.state();
    let (run, report) = fleet.play(&inventory, &["--check", "--diff"]);
    assert_eq!(run.code, 0, "{run:?}");
    let after = fleet.state();
    for host in HOSTS {
        assert_eq!(stat(&report, host, "changed"), 0, "{host}: {report:?}");
        assert_eq!(after[host].1, before[host].1);
        assert_same_snapshot(&before[host].0, &after[host].0, &format!("{host}'s root after a converged --check"));
    }

    // A bad spec on research fails research alone, with jts's message and exit code.
    let bad = fleet.write_inventory(Some("research"));
    let (run, report) = fleet.play(&bad, &[]);
    assert_eq!(run.code, 2, "ansible-playbook: a host failed{run:?}");
    assert_eq!(stat(&report, "research", "failed"), 1, "{report:?}");
    for host in ["primary", "standby"] {
        assert_eq!((stat(&report, host, "failed"), stat(&report, host, "changed")), (0, 0), "{report:?}");
    }
    // `fatal: [research]: FAILED! => {…}`, the task's result as JSON.
    let fatal = run.stdout.split("fatal: [research]: FAILED! => ").nth(1).unwrap_or_else(|| panic!("{run:?}"));
    let failed: Value = serde_json::Deserializer::from_str(fatal).into_iter().next().unwrap().unwrap();
    let msg = failed["msg"].as_str().unwrap();
    assert!(msg.contains("storage.toml:") && msg.contains("0999"), "jts's file:line:col message: {msg}");
    assert_eq!(failed["rc"], 2, "jts's exit code: {failed}");
    assert!(!run.stdout.contains("fatal: [primary]") && !run.stdout.contains("fatal: [standby]"), "{run:?}");
}
