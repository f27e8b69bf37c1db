//! The audit log: append-only JSON lines, synced to disk per entry, written before a mutation is
//! carried out, so every deleted item can be read back and restored.

use crate::model::{iso_millis, now_utc_millis, ConnectionRecord};
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// ISO-8601 UTC.
    pub at: String,
    /// push | disconnect | delete | restore
    pub op: String,
    /// intent (written before the call) or result (after).
    pub phase: String,
    pub environment: String,
    pub actor: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record: Option<ConnectionRecord>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_id: Option<String>,
    /// The full stored item (DynamoDB JSON), for deletes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("cannot write the audit log {path}: {source}; nothing was changed")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read the audit log {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
}

pub struct AuditLog {
    path: PathBuf,
    file: Mutex<File>,
    environment: String,
    actor: String,
}

impl AuditLog {
    pub fn open(path: &Path, environment: &str) -> Result<Self, AuditError> {
        let write_error = |source| AuditError::Write {
            path: path.to_path_buf(),
            source,
        };
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(write_error)?;
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(write_error)?;
        Ok(Self {
            path: path.to_path_buf(),
            file: Mutex::new(file),
            environment: environment.to_string(),
            actor: std::env::var("USER").unwrap_or_else(|_| "unknown".into()),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A blank entry for this log's environment and actor.
    pub fn entry(&self, op: &str, phase: &str) -> AuditEntry {
        AuditEntry {
            at: iso_millis(now_utc_millis()),
            op: op.into(),
            phase: phase.into(),
            environment: self.environment.clone(),
            actor: self.actor.clone(),
            record: None,
            connection_id: None,
            item: None,
            detail: None,
            outcome: None,
        }
    }

    /// Append and fsync one entry; the caller must not mutate anything if this fails.
    pub fn append(&self, entry: &AuditEntry) -> Result<(), AuditError> {
        self.append_all(std::slice::from_ref(entry))
    }

    /// Append entries with one write and one fsync: a batch of intents costs one disk flush,
    /// and on return every one of them is on disk.
    pub fn append_all(&self, entries: &[AuditEntry]) -> Result<(), AuditError> {
        if entries.is_empty() {
            return Ok(());
        }
        let write_error = |source| AuditError::Write {
            path: self.path.clone(),
            source,
        };
        let mut lines = Vec::new();
        for entry in entries {
            serde_json::to_writer(&mut lines, entry)
                .map_err(|e| write_error(std::io::Error::other(e)))?;
            lines.push(b'\n');
        }
        let mut file = self.file.lock().unwrap_or_else(|p| p.into_inner());
        file.write_all(&lines).map_err(write_error)?;
        file.sync_data().map_err(write_error)
    }
}

/// Read every entry; lines that do not parse are returned as errors with their line number.
pub fn read_audit_log(path: &Path) -> Result<(Vec<AuditEntry>, Vec<String>), AuditError> {
    let file = File::open(path).map_err(|source| AuditError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let mut entries = Vec::new();
    let mut bad = Vec::new();
    for (n, line) in BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|source| AuditError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str(&line) {
            Ok(entry) => entries.push(entry),
            Err(e) => bad.push(format!("line {}: {e}", n + 1)),
        }
    }
    Ok((entries, bad))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_and_bad_lines_are_reported() {
        let dir = std::env::temp_dir().join(format!("wsdash-audit-{}", std::process::id()));
        let path = dir.join("audit.jsonl");
        let log = AuditLog::open(&path, "test").unwrap();
        let mut entry = log.entry("delete", "intent");
        entry.record = Some(ConnectionRecord::new("u", "c"));
        log.append(&entry).unwrap();
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"not json\n")
            .unwrap();
        let (entries, bad) = read_audit_log(&path).unwrap();
        assert_eq!(entries, vec![entry]);
        assert_eq!(bad.len(), 1);
        std::fs::remove_dir_all(dir).ok();
    }
}
