//! The apply journal: one JSON object per line, appended and fsynced per event.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::nofollow::create_dir_all;
use crate::path::{AbsPath, Root};

/// Where the journal lives unless `--journal DIR` says otherwise (re-rooted under `--root`).
pub const DEFAULT_JOURNAL_DIR: &str = "/var/lib/jts/journal";

/// An open journal file for one run.
#[derive(Debug)]
pub struct Journal {
    file: std::fs::File,
    path: PathBuf,
}

#[derive(Serialize)]
struct Line<'a, T> {
    ts: String,
    #[serde(flatten)]
    event: &'a T,
}

impl Journal {
    /// Creates `dir` under `root` if needed (mode 0700) and opens a new journal file in it.
    pub fn create(root: &Root, dir: &AbsPath, command: &str) -> Result<Self> {
        create_dir_all(root, dir, 0o700)?;
        let stamp = humantime::format_rfc3339_seconds(SystemTime::now()).to_string().replace(':', "");
        let path = root.resolve(dir).join(format!("{command}-{stamp}-{}.jsonl", std::process::id()));
        let file = std::fs::OpenOptions::new()
            .append(true)
            .create_new(true)
            .open(&path)
            .map_err(|source| Error::Journal { path: path.clone(), source })?;
        Ok(Self { file, path })
    }

    /// The journal file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one event with a timestamp and makes it durable before returning.
    pub fn record(&mut self, event: &impl Serialize) -> Result<()> {
        let line = Line { ts: humantime::format_rfc3339_millis(SystemTime::now()).to_string(), event };
        let mut text = serde_json::to_string(&line)
            .map_err(|err| Error::Journal { path: self.path.clone(), source: err.into() })?;
        text.push('\n');
        self.file
            .write_all(text.as_bytes())
            .and_then(|()| self.file.sync_data())
            .map_err(|source| Error::Journal { path: self.path.clone(), source })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appends_one_json_object_per_line() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path()).unwrap();
        let mut journal = Journal::create(&root, &AbsPath::new(DEFAULT_JOURNAL_DIR).unwrap(), "apply").unwrap();
        journal.record(&serde_json::json!({"phase": "start", "seq": 1})).unwrap();
        journal.record(&serde_json::json!({"phase": "done", "seq": 1})).unwrap();
        let text = std::fs::read_to_string(journal.path()).unwrap();
        let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[1]["phase"], "done");
        assert!(lines[0]["ts"].as_str().unwrap().ends_with('Z'));
        assert!(journal.path().starts_with(dir.path().join("var/lib/jts/journal")));
    }
}
