//! Command-line arguments.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

const AFTER_HELP: &str = "\
Exit codes:
  0  ok, or nothing to do
  1  a step or probe failed at run time
  2  invalid config or arguments; nothing touched
  3  refused: a step would destroy data without consent, or a path is not what the spec
     needs (a symlink or file where a directory belongs); nothing touched
  4  drift or changes pending (validate, and plan --detailed-exitcode)

Try it on a scratch root, no real disks needed:
  jts-provision --config examples/hot-directories.toml --root /tmp/jts-demo plan
  jts-provision --config examples/hot-directories.toml --root /tmp/jts-demo apply
  jts-provision --config examples/hot-directories.toml --root /tmp/jts-demo validate";

/// Plan and apply the storage of a JTS trading host from one declarative spec.
///
/// The spec declares LVM volume groups and volumes with their filesystems and snapshot
/// policies, service accounts and groups, and directory trees with exact owner, mode and
/// POSIX ACLs. `plan` shows what would change, `apply` changes it (idempotent, journaled,
/// nothing destroyed without consent, never following a symlink), `validate` reports drift.
#[derive(Debug, Parser)]
#[command(name = "jts-provision", version, after_help = AFTER_HELP)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags accepted before or after the subcommand.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// The host spec (TOML).
    #[arg(long, global = true, value_name = "FILE", default_value = "/etc/jts/storage.toml")]
    pub config: PathBuf,
    /// Manage the system under DIR instead of `/`: spec paths, /etc/passwd, /etc/group and
    /// the journal are re-rooted there, as with `useradd --prefix`. Block devices are not.
    #[arg(long, global = true, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// Machine-readable output on stdout; logs go to stderr.
    #[arg(long, global = true)]
    pub json: bool,
    /// More log output on stderr (-v info, -vv debug).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only errors on stderr.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check the spec alone: syntax, keys, paths, sizes, mkfs options, modes, ACLs, names. Needs no root.
    Check,
    /// Print what the machine has, for everything the spec names, as JSON.
    ///
    /// Save it to plan offline later: `jts-provision probe > observed.json`, then
    /// `jts-provision plan --state observed.json` on any machine, as any user.
    Probe,
    /// Show the steps that would bring the machine to the spec. Changes nothing.
    Plan(PlanArgs),
    /// Carry out the plan, then verify that nothing is left to do.
    Apply(ApplyArgs),
    /// Report every difference between the machine and the spec (exit 4 if any).
    Validate,
    /// Print the system integration files the spec renders (unit drop-ins, the fstrim
    /// timer, the NVMe udev rule), with their paths under --root. Writes nothing.
    ///
    /// `apply` writes these same files; `plan` and `validate` show those that differ.
    Render,
    /// Health of every managed mount: usage against `[health]` thresholds, mounted from
    /// the expected source, read-write, expected options, responding. Never hangs on a
    /// dead NFS mount. Exit codes follow the monitoring-plugin convention: 0 OK,
    /// 1 WARNING, 2 CRITICAL, 3 UNKNOWN.
    Health(HealthArgs),
    /// fstrim every managed local filesystem that is mounted. One that cannot discard, or
    /// is not mounted, is reported and skipped, never stopping the others; exit 1 only
    /// when a filesystem that supports discard fails. Run weekly by jts-fstrim.timer.
    Trim,
    /// Scrub every managed btrfs filesystem that is mounted (`btrfs scrub start -B`): read
    /// every block and check it against its checksum, repairing from a good copy where
    /// the profile keeps two. Run monthly by jts-scrub.timer; `[upkeep.NAME] scrub =
    /// false` leaves a filesystem out. Exit 1 when a scrub found errors or failed.
    Scrub(ScrubArgs),
    /// LVM snapshots under the spec's `[snapshots.LV]` policies.
    #[command(subcommand)]
    Snapshot(SnapshotCommand),
    /// Lifecycle between tiers under the spec's `[[rules]]`: move aged files (hot → warm →
    /// cold), verified and crash-safe, or delete them.
    ///
    /// A move copies each file to a temporary name beside its destination, hashing what it
    /// reads, makes the batch durable, verifies it, renames it into place (never over
    /// another file) and only then unlinks the sources. Killed at any moment, the next run
    /// finishes or rolls back the interrupted batch: every file is at its source or
    /// verified at its destination.
    #[command(subcommand, after_help = TIER_HELP)]
    Tier(TierCommand),
    /// Print the shell completion script for SHELL on stdout. The Debian package installs
    /// those of bash, zsh and fish.
    #[command(after_help = COMPLETIONS_HELP)]
    Completions {
        /// The shell to complete for.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Write the man pages generated from these definitions into DIR (one per command,
    /// e.g. jts-provision.1, jts-provision-apply.1), for packaging.
    #[command(hide = true)]
    Manpages {
        /// An existing directory.
        dir: PathBuf,
    },
    /// Prove the host serves its databases: the kernel's own answers, not the spec's bits.
    #[command(subcommand)]
    Verify(VerifyCommand),
    /// Backups under the spec's `[backups.NAME]`: one file per archive (pax tar + zstd,
    /// readable by `tar --zstd -xf`), its manifest of blake3 sums inside, found on every
    /// tier `[[rules]]` move it to.
    #[command(subcommand, after_help = BACKUP_HELP)]
    Backup(BackupCommand),
}

const BACKUP_HELP: &str = "\
Exit codes: 0 done, 1 a backup, verify or restore failed (the others still ran), 2 invalid
spec or arguments (a non-empty restore target included); nothing touched.

Examples:
  jts-provision backup run etc                     # one archive of backup `etc` now
  jts-provision backup list                        # every archive, on every tier
  jts-provision backup verify --sample 10          # re-read the least recently verified tenth
  jts-provision backup prune --dry-run             # what `keep` would remove, and why
  jts-provision backup restore etc --to /srv/restore/etc
  tar --zstd --xattrs --xattrs-include='*' -xpf etc-20261203T220000Z.tar.zst   # no jts needed";

#[derive(Debug, Subcommand)]
pub enum BackupCommand {
    /// Take a backup now: a new archive in its `to`, written under a temporary name,
    /// synced, then renamed. Shows bytes/s on a terminal; `--json` prints the report.
    Run {
        /// Only these backups (all by default).
        names: Vec<String>,
        #[command(flatten)]
        lock: BackupLockArgs,
    },
    /// Every archive, wherever it lies (`to` or where `[[rules]]` moved it): age, size,
    /// files and last verification. Reads only each archive's footer.
    List {
        /// Only these backups (all by default).
        names: Vec<String>,
    },
    /// Re-read archives and check every file against the manifest. The result is
    /// recorded for `backup list` (and `health`).
    Verify {
        /// Only this backup.
        name: Option<String>,
        /// Verify only this percentage of the archives, those verified longest ago first,
        /// so that a nightly `--sample 10` covers every archive in ten nights.
        #[arg(long, value_name = "PERCENT", value_parser = clap::value_parser!(u8).range(1..=100))]
        sample: Option<u8>,
        #[command(flatten)]
        lock: BackupLockArgs,
    },
    /// Apply `keep` over every tier together and remove what it drops, saying why.
    /// The newest archive is never removed.
    Prune {
        /// Only this backup.
        name: Option<String>,
        /// Print what would be removed, and why, without removing anything.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        lock: BackupLockArgs,
    },
    /// Restore an archive (the newest by default) into an empty directory, verifying each
    /// file as it is written; owners, modes, ACLs, xattrs, hard links and holes are kept.
    Restore {
        /// The backup.
        name: String,
        /// The archive's id (`YYYYMMDDTHHMMSSZ`, as `backup list` shows).
        #[arg(long, value_name = "ID")]
        archive: Option<String>,
        /// The empty directory to restore into (created if missing; not re-rooted).
        #[arg(long, value_name = "DIR")]
        to: PathBuf,
    },
}

#[derive(Debug, Args)]
pub struct BackupLockArgs {
    /// While another backup command holds the backup lock, wait up to DURATION for it
    /// instead of failing at once (the rendered timers wait 6h, so backups scheduled at
    /// the same minute run one after the other).
    #[arg(long, value_name = "DURATION", default_value = "0s")]
    pub wait: jts_core::SpecDuration,
}

const COMPLETIONS_HELP: &str = "\
Without the package:
  jts-provision completions bash > /etc/bash_completion.d/jts-provision
  jts-provision completions zsh > /usr/local/share/zsh/site-functions/_jts-provision
  jts-provision completions fish > ~/.config/fish/completions/jts-provision.fish";

#[derive(Debug, Subcommand)]
pub enum VerifyCommand {
    /// Every declared service user against every declared directory, asked of the kernel:
    /// a probe runs as the user (its uid, primary gid and supplementary groups, through
    /// setpriv) and tries to enter and list each directory, to create and remove a file
    /// and a directory there, and to execute the file. Nothing is left behind and no
    /// symlink is followed.
    ///
    /// Expected access comes from the spec: the owner gets the owner bits, the group and
    /// its members the group bits or their ACL entry, others the other bits, except that
    /// no service user reaches another service's directory through the others' bits.
    /// `access = { kafka = "---" }` on a `[[directories]]` entry overrides it. Each miss
    /// names its reason: a closed parent, an ACL mask, a read-only or noexec mount, or
    /// nothing on disk (a security module?).
    #[command(after_help = VERIFY_ACCESS_HELP)]
    Access,
    /// Measure each managed mount with fio, using the workload of the database that lives
    /// there: postgresql 8 KiB random read/write with fsync, kafka 1 MiB sequential
    /// append, clickhouse 1 MiB sequential read and write, redis 4 KiB appends with
    /// periodic fsync, mongodb 16 KiB random read/write, nas (NFS) 1 MiB sequential write
    /// then read.
    ///
    /// Each run is bounded (`[performance.NAME] size`, default 64MiB; `runtime`, default
    /// 10s), works in a `.jts-perf.*` directory of its own on the mount and removes it; a
    /// run killed with -9 leaves one that the next run removes. A run that would fill the
    /// mount past the `[health]` warning level is refused. Also shows what makes the
    /// numbers: the I/O scheduler in effect, discard support, and PV alignment.
    #[command(after_help = VERIFY_PERFORMANCE_HELP)]
    Performance(PerformanceArgs),
    /// The probe of `verify access`, run as one user: prints what the kernel allowed on
    /// each PATH as JSON. Not for operators.
    #[command(hide = true)]
    AccessProbe {
        /// Spec paths (re-rooted by --root).
        paths: Vec<PathBuf>,
    },
}

#[derive(Debug, Args)]
pub struct PerformanceArgs {
    /// Only this mount (an LV, `[filesystems.NAME]` or `[nfs_mounts.NAME]` name; repeat
    /// for several); every managed mount by default.
    #[arg(long = "mount", value_name = "NAME")]
    pub mounts: Vec<String>,
    /// Print the Prometheus text format instead of the table.
    #[arg(long, conflicts_with = "json")]
    pub prometheus: bool,
    /// Also write the Prometheus text atomically to FILE, for node_exporter's textfile
    /// collector.
    #[arg(long, value_name = "FILE")]
    pub textfile: Option<PathBuf>,
}

const VERIFY_PERFORMANCE_HELP: &str = "\
Thresholds, all optional, per mount:
  [performance.lv_postgres]
  min_iops = 5000            # reads and writes together
  min_bandwidth = \"200MiB\"   # per second
  max_p99_latency = \"5ms\"    # completion latency, the worse of reads and writes

Exit codes: 0 measured and every threshold met, 4 a threshold missed, 1 a run failed
or was refused, 2 invalid spec.

Examples:
  jts-provision verify performance --mount lv_postgres
  jts-provision verify performance --json
  jts-provision verify performance --textfile /var/lib/node_exporter/textfile_collector/jts-perf.prom";

const VERIFY_ACCESS_HELP: &str = "\
Cells read r (list), w (create and remove files and directories), x (enter, and execute
a file created there). A cell that differs shows what the kernel allowed, then the
spec's expectation in parentheses; the reasons follow the matrix.

Exit codes: 0 every cell as expected, 4 a cell differs or a declared user does not exist
yet, 1 a probe could not run, 2 invalid spec.

Examples:
  jts-provision verify access
  jts-provision --root /tmp/jts-demo --config examples/hot-directories.toml verify access --json";

const TIER_HELP: &str = "\
Exit codes: 0 every rule done, 1 a rule failed (destination full, not responding, I/O
error; the others still ran), 2 invalid spec or arguments.

Examples:
  jts-provision tier plan                       # what would move or be deleted now
  jts-provision tier run --max-bytes 50GiB      # move at most 50 GiB in this run
  jts-provision tier run --rule logs-to-warm --json";

#[derive(Debug, Subcommand)]
pub enum TierCommand {
    /// What each rule would move or delete now: files, bytes, the first paths, and whether
    /// the destination has room above the reserve. Changes nothing.
    Plan(TierArgs),
    /// Move and delete now. Shows progress (bytes/s) on a terminal; `--json` prints a
    /// summary per rule. Writes /var/lib/jts/tier/last-run.json for `health`.
    ///
    /// Each rule runs in a process of its own, so that a rule stuck on a dead NAS can be
    /// given up on and the run still ends on time.
    Run(TierRunArgs),
    /// One rule, for `tier run` (which starts it as a child process and reads its
    /// progress and report, as JSON lines, on stdout). Takes no lock: not for operators.
    #[command(hide = true)]
    RunRule(TierRunArgs),
}

#[derive(Debug, Args)]
pub struct TierArgs {
    /// Only this rule (repeat for several); all rules by default.
    #[arg(long = "rule", value_name = "NAME")]
    pub rules: Vec<String>,
    /// Give up on a rule whose source or destination makes no progress for this long (a
    /// hung NFS mount); the other rules still run.
    #[arg(long, value_name = "DURATION", default_value = "60s")]
    pub io_timeout: jts_core::SpecDuration,
}

#[derive(Debug, Args)]
pub struct TierRunArgs {
    #[command(flatten)]
    pub select: TierArgs,
    /// Move or delete at most this many bytes in this run (e.g. 50GiB).
    #[arg(long, value_name = "SIZE")]
    pub max_bytes: Option<jts_core::Size>,
    /// Move or delete at most this many files in this run.
    #[arg(long, value_name = "N")]
    pub max_files: Option<u64>,
    /// Files per batch (one group commit: copy, sync, rename, sync, unlink).
    /// Smaller batches lose less work to an interruption and sync more often.
    #[arg(
        long,
        value_name = "N",
        default_value_t = jts_tiering::run::DEFAULT_BATCH_FILES,
        value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..),
    )]
    pub batch_files: usize,
    /// `run-rule` only: the `tier run` that started it; the child ends when that process does.
    #[arg(long, value_name = "PID", hide = true)]
    pub parent_pid: Option<u32>,
}

#[derive(Debug, Args)]
pub struct ScrubArgs {
    /// Also write the counters as Prometheus text, atomically, to FILE (jts-scrub.service
    /// writes /var/lib/prometheus/node-exporter/jts-scrub.prom).
    #[arg(long, value_name = "FILE")]
    pub textfile: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct HealthArgs {
    /// Print the Prometheus text format instead of the table.
    #[arg(long, conflicts_with = "json")]
    pub prometheus: bool,
    /// Also write the Prometheus text atomically to FILE, for node_exporter's textfile
    /// collector (e.g. /var/lib/node_exporter/textfile_collector/jts.prom).
    #[arg(long, value_name = "FILE")]
    pub textfile: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum SnapshotCommand {
    /// Take a snapshot of each policy's volume (UTC-timestamped name, COW size from the policy).
    Create {
        /// Only this volume (an LV name with a `[snapshots.LV]` policy).
        #[arg(long, value_name = "LV")]
        volume: Option<String>,
        /// Write the journal here instead of ROOT/var/lib/jts/journal.
        #[arg(long, value_name = "DIR")]
        journal: Option<PathBuf>,
    },
    /// List snapshots with origin, age, COW fill and validity.
    List,
    /// Remove what the policies drop: beyond `keep_last`, older than `max_age` (except the
    /// newest valid one), invalid or with exhausted COW space.
    Prune {
        /// Only this volume's snapshots (an LV name with a `[snapshots.LV]` policy).
        #[arg(long, value_name = "LV")]
        volume: Option<String>,
        /// Print what would be removed, and why, without removing anything.
        #[arg(long)]
        dry_run: bool,
        /// Write the journal here instead of ROOT/var/lib/jts/journal.
        #[arg(long, value_name = "DIR")]
        journal: Option<PathBuf>,
    },
    /// Roll a volume back to one of its snapshots (`lvconvert --merge`). Everything written
    /// to the volume since the snapshot is lost and the snapshot is consumed, so
    /// `--allow-destroy` must name the volume. The merge starts now when the volume is not
    /// in use; when it is mounted, at its next activation: stop what uses it and unmount it
    /// first to roll back now (the command says how).
    ///
    /// Example: jts-provision snapshot rollback lv_postgres --snapshot
    /// lv_postgres-snap-20261203T183000Z --allow-destroy lv_postgres
    Rollback {
        /// The volume to roll back (an LV of the spec).
        #[arg(value_name = "LV")]
        volume: String,
        /// The snapshot to roll back to (`snapshot list` shows them).
        #[arg(long, value_name = "NAME")]
        snapshot: String,
        /// Consent: the rollback runs only when this names the volume.
        #[arg(long, value_name = "LV")]
        allow_destroy: Vec<String>,
        /// Print the command and when the merge would happen, without running it.
        #[arg(long)]
        dry_run: bool,
        /// Write the journal here instead of ROOT/var/lib/jts/journal.
        #[arg(long, value_name = "DIR")]
        journal: Option<PathBuf>,
    },
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Plan against a state saved by `probe` instead of observing this machine.
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,
    /// Exit 4 when there are changes to make.
    #[arg(long)]
    pub detailed_exitcode: bool,
    #[command(flatten)]
    pub consent: ConsentArgs,
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// Print the exact commands and syscalls, in order, without running any of them.
    #[arg(long)]
    pub dry_run: bool,
    /// Write the journal here instead of ROOT/var/lib/jts/journal.
    #[arg(long, value_name = "DIR")]
    pub journal: Option<PathBuf>,
    #[command(flatten)]
    pub consent: ConsentArgs,
}

#[derive(Debug, Args)]
pub struct ConsentArgs {
    /// Consent to destroying OBJECT; the spec's `allow_destroy` must name it too.
    #[arg(long, value_name = "OBJECT")]
    pub allow_destroy: Vec<String>,
}
