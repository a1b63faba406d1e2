//! Checks `[filesystems.*]` and `[nfs_mounts.*]` before anything is observed or touched.
//! Every problem names the key, the option and the fix.

use std::collections::BTreeMap;
use std::ops::Range;

use jts_core::{AbsPath, SpecError};
use jts_fs::{FormatSpec, FsKind, Problem, Severity, check_filesystem};
use serde_spanned::Spanned;

use crate::nfs::{check_nfs_options, check_nfs_source};
use crate::spec::{IdentifyBy, MountFs, MountTarget, MountsSpec};

/// The errors in the spec's mount sections, together with `others` (mounts the caller
/// declares elsewhere, such as LVM volumes): every error refuses the whole spec.
pub fn check(spec: &MountsSpec, others: &[MountTarget]) -> Vec<SpecError> {
    findings(spec, others).0
}

/// The warnings: accepted, but ignored, deprecated or unsafe (`soft`, `intr`,
/// `data=writeback`, …). Nothing is refused for them.
pub fn check_warnings(spec: &MountsSpec, others: &[MountTarget]) -> Vec<SpecError> {
    findings(spec, others).1
}

/// Mount points below other managed mount points, as `(parent, child)`: allowed, and
/// the planner mounts each parent before its children.
pub fn nesting(targets: &[MountTarget]) -> Vec<(AbsPath, AbsPath)> {
    let mut pairs = Vec::new();
    for child in targets {
        for parent in targets {
            if child.mount_point.ancestors().contains(&parent.mount_point) {
                pairs.push((parent.mount_point.clone(), child.mount_point.clone()));
            }
        }
    }
    pairs.sort();
    pairs
}

type Findings = (Vec<SpecError>, Vec<SpecError>);

fn findings(spec: &MountsSpec, others: &[MountTarget]) -> Findings {
    let mut found = (Vec::new(), Vec::new());
    let mut points: BTreeMap<AbsPath, (String, Option<Range<usize>>, bool)> = BTreeMap::new();
    for target in others {
        points.insert(target.mount_point.clone(), (target.name.clone(), None, target.fs() == MountFs::Nfs));
    }
    for (name, fs) in &spec.filesystems {
        let key = format!("filesystems.{name}");
        check_filesystem_section(&key, fs, &mut found);
        let mp = &fs.get_ref().mount_point;
        claim(&mut points, &key, mp, false, &mut found.0);
    }
    for (name, nfs) in &spec.nfs_mounts {
        let key = format!("nfs_mounts.{name}");
        let fields = nfs.get_ref();
        if let Err(message) = check_nfs_source(fields.source.get_ref()) {
            found.0.push(SpecError::new(Some(fields.source.span()), format!("{key}.source"), message));
        }
        let options: Vec<String> = fields.options.iter().map(|o| o.get_ref().clone()).collect();
        let spans: Vec<Range<usize>> = fields.options.iter().map(Spanned::span).collect();
        report(&format!("{key}.options"), check_nfs_options(&options), &options, &spans, nfs.span(), &mut found);
        claim(&mut points, &key, &fields.mount_point, true, &mut found.0);
    }
    check_under_network(&points, &mut found.0);
    found
}

fn check_filesystem_section(key: &str, fs: &Spanned<crate::spec::FilesystemSpec>, found: &mut Findings) {
    let fields = fs.get_ref();
    let kind = *fields.filesystem.get_ref();
    if kind == FsKind::None {
        found.0.push(SpecError::new(
            Some(fields.filesystem.span()),
            format!("{key}.filesystem"),
            "a [filesystems.*] entry is mounted, so it needs a filesystem: write ext4, xfs or btrfs",
        ));
        return;
    }
    if fields.identify_by == IdentifyBy::Label && fields.label.is_none() {
        found.0.push(SpecError::new(
            Some(fs.span()),
            format!("{key}.identify_by"),
            "identify_by = \"label\" needs a label: add label = \"...\" or use identify_by = \"uuid\"",
        ));
    }
    let mut format = FormatSpec::new(kind).with_mkfs_options(fields.mkfs_options.iter().cloned());
    if let Some(preset) = fields.preset {
        format = format.with_preset(preset);
    }
    if let Some(label) = &fields.label {
        format = format.with_label(label.get_ref().clone());
    }
    let options: Vec<String> = fields.mount_options.iter().map(|o| o.get_ref().clone()).collect();
    let spans: Vec<Range<usize>> = fields.mount_options.iter().map(Spanned::span).collect();
    let problems = check_filesystem(&format, &options, None);
    report(&format!("{key}.mount_options"), problems, &options, &spans, fs.span(), found);
}

/// Turns problems into located errors and warnings: at the option when it is one of
/// `options`, at the section otherwise.
fn report(
    key: &str,
    problems: Vec<Problem>,
    options: &[String],
    spans: &[Range<usize>],
    section: Range<usize>,
    found: &mut Findings,
) {
    for problem in problems {
        let span = options.iter().position(|o| *o == problem.option).map_or(section.clone(), |i| spans[i].clone());
        let message = format!("{}: {}; fix: {}", problem.option, problem.message, problem.fix);
        let error = SpecError::new(Some(span), key, message);
        match problem.severity {
            Severity::Error => found.0.push(error),
            Severity::Warning => found.1.push(error),
        }
    }
}

fn claim(
    points: &mut BTreeMap<AbsPath, (String, Option<Range<usize>>, bool)>,
    key: &str,
    mount_point: &Spanned<AbsPath>,
    network: bool,
    errors: &mut Vec<SpecError>,
) {
    let path = mount_point.get_ref();
    let at = Some(mount_point.span());
    if path.parent().is_none() {
        errors.push(SpecError::new(
            at.clone(),
            format!("{key}.mount_point"),
            "jts does not manage the root filesystem `/`; mount this filesystem elsewhere, e.g. /data/warm",
        ));
    }
    if let Some((other, _, _)) = points.get(path) {
        errors.push(SpecError::new(
            at,
            format!("{key}.mount_point"),
            format!("{path} is also the mount point of {other}; give each filesystem its own mount point"),
        ));
        return;
    }
    points.insert(path.clone(), (key.to_owned(), at, network));
}

/// A local filesystem below an NFS mount cannot be mounted at boot: local mounts come
/// before the network, so the parent is not there yet.
fn check_under_network(points: &BTreeMap<AbsPath, (String, Option<Range<usize>>, bool)>, errors: &mut Vec<SpecError>) {
    for (path, (key, span, network)) in points {
        let parent = path.ancestors().into_iter().rev().find_map(|a| points.get(&a).map(|p| (a, p)));
        if let Some((parent, (parent_key, _, true))) = parent.filter(|_| !network) {
            errors.push(SpecError::new(
                span.clone(),
                format!("{key}.mount_point"),
                format!(
                    "{path} is a local filesystem inside the NFS mount {parent} ({parent_key}); local mounts come \
                     up before the network at boot, so this one would fail: mount it outside {parent}"
                ),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(text: &str) -> MountsSpec {
        toml::from_str(text).unwrap()
    }

    fn messages(errors: &[SpecError]) -> Vec<String> {
        errors.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn a_good_spec_has_no_errors() {
        let spec = spec(
            r#"
            [filesystems.warm]
            device = "/dev/sda2"
            filesystem = "btrfs"
            mount_point = "/data/warm-storage"
            mount_options = ["compress=zstd:3", "noatime"]
            [filesystems.inner]
            device = "/dev/sdc"
            filesystem = "ext4"
            mount_point = "/data/warm-storage/inner"
            [nfs_mounts.cold]
            source = "nas.internal:/volume1/jts"
            mount_point = "/mnt/synology"
            options = ["vers=4.2", "hard", "_netdev"]
            "#,
        );
        assert_eq!(messages(&check(&spec, &[])), Vec::<String>::new());
        assert_eq!(check_warnings(&spec, &[]), []);
        let pairs = nesting(&spec.targets());
        assert_eq!(pairs.len(), 1);
        assert_eq!(pairs[0].1.to_string(), "/data/warm-storage/inner");
    }

    #[test]
    fn seed_002_kafka_options_name_the_option_and_the_fix() {
        let source = r#"
            [filesystems.kafka]
            device = "/dev/vg_jts/lv_kafka"
            filesystem = "xfs"
            mount_point = "/var/lib/kafka"
            mount_options = ["defaults", "noatime", "nobarrier", "logbufs=8", "logbsize=256k", "largeio", "swalloc"]
        "#;
        let errors = check(&spec(source), &[]);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].to_string().contains("nobarrier"), "{}", errors[0]);
        assert!(errors[0].message.contains("fix: remove it"));
        assert_eq!(errors[0].line_col(source).unwrap().0, 6, "located at the option's line");
    }

    #[test]
    fn duplicates_root_nfs_source_and_local_under_nfs() {
        let spec = spec(
            r#"
            [filesystems.a]
            device = "/dev/sdb"
            filesystem = "ext4"
            mount_point = "/mnt/cold/local"
            [filesystems.b]
            device = "/dev/sdc"
            filesystem = "ext4"
            mount_point = "/"
            [filesystems.raw]
            device = "/dev/sdd"
            filesystem = "none"
            mount_point = "/raw"
            [nfs_mounts.cold]
            source = "/volume1/jts"
            mount_point = "/mnt/cold"
            options = ["vers=4.2", "soft"]
            "#,
        );
        let lv = MountTarget::block(
            "lv_x",
            AbsPath::new("/dev/vg/x").unwrap(),
            MountFs::Xfs,
            AbsPath::new("/raw").unwrap(),
            vec![],
        );
        let text = messages(&check(&spec, &[lv])).join("\n");
        for needle in [
            "root filesystem",
            "host:/path",
            "inside the NFS mount /mnt/cold",
            "needs a filesystem",
            "also the mount point of lv_x",
        ] {
            assert!(text.contains(needle), "{needle}: {text}");
        }
        let warnings = messages(&check_warnings(&spec, &[])).join("\n");
        assert!(warnings.contains("soft"), "{warnings}");
    }
}
