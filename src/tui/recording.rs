//! Recording a dashboard session: every piece of data the dashboard receives (scans, stream
//! changes, probe answers, push outcomes, access-log lines, the emulator's counters, orphans,
//! the rate controller, errors) as one JSON line each, with the time it arrived, appended to a
//! file and flushed at least every second, so a crash loses at most the last second and a
//! killed recorder leaves a readable file (a torn last line is skipped on reading). `replay`
//! feeds the lines back through the same `update`, so every view works on them as live.

use super::action::Action;
use super::app::EnvironmentInfo;
use super::failure::Failure;
use crate::access_logs::LogLine;
use crate::management::GatewayError;
use crate::model::{ConnectionInfo, ConnectionRecord, DeliveryClass, DeliveryOutcome, StatsView};
use crate::ops::orphans::Orphan;
use crate::ops::pacing::RateStatus;
use crate::ops::probe::ProbeResult;
use crate::store::changes::StoreChange;
use crate::store::{MalformedRecord, StoreSnapshot};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

/// One line of a recording.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// When the dashboard received it (epoch ms).
    pub at_ms: i64,
    #[serde(flatten)]
    pub data: Recorded,
}

/// A probe answer as recorded: the connection's details, or the failure's class and words.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeAnswer {
    pub record: ConnectionRecord,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub info: Option<ConnectionInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed: Option<(DeliveryClass, String)>,
}

/// An access-log line as it came: its time and its text (parsed again on replay).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedLine {
    pub at_ms: i64,
    pub raw: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Recorded {
    /// The first line: what the header said.
    Environment {
        name: String,
        color: String,
        endpoint: String,
        table: String,
        access_logs: Option<String>,
    },
    Scanned {
        records: Vec<ConnectionRecord>,
        malformed: Vec<MalformedRecord>,
        closed: usize,
        /// Expiry times by connection id (epoch ms).
        expires: HashMap<String, i64>,
    },
    /// A scan as the difference from the scan before it in the file: a big table that changes
    /// a little costs a little (the first scan, and one after an environment switch, is whole).
    ScanDelta {
        added: Vec<ConnectionRecord>,
        removed: Vec<String>,
        malformed: Vec<MalformedRecord>,
        closed: usize,
        expires: HashMap<String, i64>,
    },
    /// Anything that failed, in the words the dashboard showed (`what` says which read).
    Failed {
        what: String,
        error: String,
    },
    Changes {
        changes: Vec<StoreChange>,
    },
    FeedOpened {
        source: String,
    },
    Probed {
        answers: Vec<ProbeAnswer>,
    },
    /// Probe answers as the ones that differ from the connection's last recorded answer, and
    /// the connection ids whose answer was the same again (the replay repeats it).
    ProbedAgain {
        changed: Vec<ProbeAnswer>,
        same: Vec<String>,
    },
    Delivered {
        outcome: DeliveryOutcome,
    },
    EmulatorStats {
        stats: StatsView,
    },
    Handshakes {
        lines: Vec<RecordedLine>,
    },
    /// Handshakes as the lines not written before: the replay keeps the window itself.
    NewHandshakes {
        lines: Vec<RecordedLine>,
    },
    Orphans {
        orphans: Vec<Orphan>,
    },
    Rate {
        status: RateStatus,
    },
}

fn lines_of(lines: &[LogLine]) -> Vec<RecordedLine> {
    lines
        .iter()
        .map(|l| RecordedLine {
            at_ms: l.at_ms,
            raw: l.raw.clone(),
        })
        .collect()
}

fn ms(t: time::OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

fn time_of(ms: i64) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}

impl Recorded {
    pub fn environment(env: &EnvironmentInfo) -> Self {
        Recorded::Environment {
            name: env.name.clone(),
            color: env.color.clone(),
            endpoint: env.endpoint.clone(),
            table: env.table.clone(),
            access_logs: env.access_logs.clone(),
        }
    }

    /// The data an action carries into the dashboard; `None` for what the operator did
    /// (keys, the mouse) and for the clock, which the replay keeps itself.
    pub fn of(action: &Action) -> Option<Self> {
        let failed = |what: &str, e: &Failure| Recorded::Failed {
            what: what.into(),
            error: e.to_string(),
        };
        Some(match action {
            Action::Scanned(Ok(snapshot)) => Recorded::Scanned {
                records: snapshot.records.clone(),
                malformed: snapshot.malformed.clone(),
                closed: snapshot.closed,
                expires: snapshot
                    .expires
                    .iter()
                    .map(|(id, at)| (id.clone(), ms(*at)))
                    .collect(),
            },
            Action::Scanned(Err(e)) => failed("scan", e),
            Action::StoreChanged(changes) => Recorded::Changes {
                changes: changes.clone(),
            },
            Action::FeedOpened(source) => Recorded::FeedOpened {
                source: source.clone(),
            },
            Action::FeedLost(e) => failed("feed", e),
            Action::Probed(results) => Recorded::Probed {
                answers: results
                    .iter()
                    .map(|r| ProbeAnswer {
                        record: r.record.clone(),
                        info: r.answer.as_ref().ok().cloned(),
                        failed: r.answer.as_ref().err().map(|e| (e.class(), e.to_string())),
                    })
                    .collect(),
            },
            Action::Delivered(outcome) => Recorded::Delivered {
                outcome: outcome.clone(),
            },
            Action::EmulatorStats(Ok(stats)) => Recorded::EmulatorStats {
                stats: stats.clone(),
            },
            Action::EmulatorStats(Err(e)) => failed("emulator", e),
            Action::Handshakes(Ok(lines)) => Recorded::Handshakes {
                lines: lines_of(lines),
            },
            Action::Handshakes(Err(e)) => failed("handshakes", e),
            Action::OrphansFound(Ok(orphans)) => Recorded::Orphans {
                orphans: orphans.clone(),
            },
            Action::OrphansFound(Err(e)) => failed("orphans", e),
            Action::RateObserved(status) => Recorded::Rate { status: *status },
            _ => return None,
        })
    }

    /// The action to feed `update` on replay.
    pub fn action(&self) -> Option<Action> {
        let recorded = |error: &str| Failure::Recorded(error.to_string());
        Some(match self {
            Recorded::Environment { .. }
            | Recorded::ScanDelta { .. }
            | Recorded::ProbedAgain { .. }
            | Recorded::NewHandshakes { .. } => return None,
            Recorded::Scanned {
                records,
                malformed,
                closed,
                expires,
            } => Action::Scanned(Ok(StoreSnapshot {
                records: records.clone(),
                malformed: malformed.clone(),
                closed: *closed,
                expires: expires
                    .iter()
                    .map(|(id, at)| (id.clone(), time_of(*at)))
                    .collect(),
            })),
            Recorded::Failed { what, error } => match what.as_str() {
                "scan" => Action::Scanned(Err(recorded(error))),
                "feed" => Action::FeedLost(recorded(error)),
                "emulator" => Action::EmulatorStats(Err(recorded(error))),
                "handshakes" => Action::Handshakes(Err(recorded(error))),
                "orphans" => Action::OrphansFound(Err(recorded(error))),
                _ => return None,
            },
            Recorded::Changes { changes } => Action::StoreChanged(changes.clone()),
            Recorded::FeedOpened { source } => Action::FeedOpened(source.clone()),
            Recorded::Probed { answers } => Action::Probed(
                answers
                    .iter()
                    .map(|a| ProbeResult {
                        record: a.record.clone(),
                        answer: match (&a.info, &a.failed) {
                            (_, Some((class, message))) => Err(gateway_error(*class, message)),
                            (Some(info), None) => Ok(info.clone()),
                            (None, None) => Ok(ConnectionInfo::default()),
                        },
                    })
                    .collect(),
            ),
            Recorded::Delivered { outcome } => Action::Delivered(outcome.clone()),
            Recorded::EmulatorStats { stats } => Action::EmulatorStats(Ok(stats.clone())),
            Recorded::Handshakes { lines } => Action::Handshakes(Ok(lines
                .iter()
                .map(|l| LogLine::parse(l.at_ms, l.raw.clone()))
                .collect())),
            Recorded::Orphans { orphans } => Action::OrphansFound(Ok(orphans.clone())),
            Recorded::Rate { status } => Action::RateObserved(*status),
        })
    }
}

/// A failed probe again, by its recorded class: what decides the row's state.
fn gateway_error(class: DeliveryClass, message: &str) -> GatewayError {
    match class {
        DeliveryClass::Gone => GatewayError::Gone,
        DeliveryClass::Throttled => GatewayError::Throttled(message.to_string()),
        _ => GatewayError::Other {
            status: 0,
            message: message.to_string(),
        },
    }
}

/// Where a dashboard records: a file opened for appending, flushed at least every second.
pub struct Recorder {
    out: std::io::BufWriter<std::fs::File>,
    redact: bool,
    flushed: std::time::Instant,
    /// The rate controller is observed four times a second: only its changes are kept.
    last_rate: Option<RateStatus>,
    /// The records of the last scan written, by connection id: the next is written as a delta.
    last_scan: Option<HashMap<String, ConnectionRecord>>,
    /// The newest handshake line written (its time and text): later reads write what is newer.
    last_handshake: Option<(i64, String)>,
    /// Each connection's last probe answer written: an answer the same again costs its id.
    last_answers: HashMap<String, ProbeAnswer>,
}

impl Recorder {
    pub fn open(path: &Path, redact: bool) -> std::io::Result<Self> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        Ok(Self {
            out: std::io::BufWriter::new(file),
            redact,
            flushed: std::time::Instant::now(),
            last_rate: None,
            last_scan: None,
            last_handshake: None,
            last_answers: HashMap::new(),
        })
    }

    /// Append one piece of data, received at `at`.
    pub fn record(&mut self, at: time::OffsetDateTime, data: Recorded) {
        if let Recorded::Rate { status } = &data {
            if self.last_rate == Some(*status) {
                return;
            }
            self.last_rate = Some(*status);
        }
        let data = if self.redact {
            super::redaction::redacted(data)
        } else {
            data
        };
        let data = self.as_delta(data);
        let entry = Entry {
            at_ms: ms(at),
            data,
        };
        if let Ok(line) = serde_json::to_string(&entry) {
            // A recording that cannot be written must not stop the dashboard: it says so once.
            if writeln!(self.out, "{line}").is_err() {
                tracing::warn!("cannot write the recording");
            }
        }
        self.flush_if_due();
    }

    /// A scan after a scan: only what changed.
    fn as_delta(&mut self, data: Recorded) -> Recorded {
        match data {
            Recorded::Scanned {
                records,
                malformed,
                closed,
                expires,
            } => {
                let now: HashMap<String, ConnectionRecord> = records
                    .iter()
                    .map(|r| (r.connection_id.clone(), r.clone()))
                    .collect();
                let Some(before) = self.last_scan.replace(now) else {
                    return Recorded::Scanned {
                        records,
                        malformed,
                        closed,
                        expires,
                    };
                };
                let added = records
                    .into_iter()
                    .filter(|r| before.get(&r.connection_id) != Some(r))
                    .collect();
                let now = self.last_scan.as_ref();
                let removed = before
                    .into_keys()
                    .filter(|id| now.is_some_and(|n| !n.contains_key(id)))
                    .collect();
                Recorded::ScanDelta {
                    added,
                    removed,
                    malformed,
                    closed,
                    expires,
                }
            }
            Recorded::Handshakes { lines } => {
                // Each read returns the whole window again; most of it was written already.
                let newest = self.last_handshake.clone();
                if let Some(last) = lines
                    .iter()
                    .max_by(|a, b| a.at_ms.cmp(&b.at_ms).then_with(|| a.raw.cmp(&b.raw)))
                {
                    self.last_handshake = Some((last.at_ms, last.raw.clone()));
                }
                match newest {
                    None => Recorded::Handshakes { lines },
                    Some(after) => Recorded::NewHandshakes {
                        lines: lines
                            .into_iter()
                            .filter(|l| (l.at_ms, &l.raw) > (after.0, &after.1))
                            .collect(),
                    },
                }
            }
            Recorded::Probed { answers } => {
                let (mut changed, mut same) = (Vec::new(), Vec::new());
                for answer in answers {
                    let id = answer.record.connection_id.clone();
                    if self.last_answers.get(&id) == Some(&answer) {
                        same.push(id);
                    } else {
                        self.last_answers.insert(id, answer.clone());
                        changed.push(answer);
                    }
                }
                Recorded::ProbedAgain { changed, same }
            }
            Recorded::Environment { .. } => {
                self.last_scan = None;
                self.last_handshake = None;
                self.last_answers.clear();
                data
            }
            other => other,
        }
    }

    /// At most a second of data waits in memory.
    pub fn flush_if_due(&mut self) {
        if self.flushed.elapsed() >= std::time::Duration::from_secs(1) {
            let _ = self.out.flush();
            self.flushed = std::time::Instant::now();
        }
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        let _ = self.out.flush();
    }
}

/// A recording, read back: its entries in order, and how many lines could not be read (a
/// killed recorder's torn last line).
pub fn read(path: &Path) -> std::io::Result<(Vec<Entry>, usize)> {
    let text = std::fs::read_to_string(path)?;
    let mut entries = Vec::new();
    let mut unreadable = 0;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        match serde_json::from_str::<Entry>(line) {
            Ok(entry) => entries.push(entry),
            Err(_) => unreadable += 1,
        }
    }
    entries.sort_by_key(|e| e.at_ms);
    Ok((whole_scans(entries), unreadable))
}

/// Every delta made whole again (a scan, the handshake window), in file order, so each entry
/// replays by itself.
fn whole_scans(entries: Vec<Entry>) -> Vec<Entry> {
    let window_ms = super::telemetry::HANDSHAKES_WINDOW.whole_milliseconds() as i64;
    let mut handshakes: Vec<RecordedLine> = Vec::new();
    let mut last: Vec<ConnectionRecord> = Vec::new();
    let mut answers: HashMap<String, ProbeAnswer> = HashMap::new();
    entries
        .into_iter()
        .map(|entry| {
            let data = match entry.data {
                Recorded::Scanned {
                    records,
                    malformed,
                    closed,
                    expires,
                } => {
                    last = records.clone();
                    Recorded::Scanned {
                        records,
                        malformed,
                        closed,
                        expires,
                    }
                }
                Recorded::ScanDelta {
                    added,
                    removed,
                    malformed,
                    closed,
                    expires,
                } => {
                    let removed: std::collections::HashSet<String> = removed.into_iter().collect();
                    let changed: std::collections::HashSet<&str> =
                        added.iter().map(|r| r.connection_id.as_str()).collect();
                    let mut records: Vec<ConnectionRecord> = last
                        .iter()
                        .filter(|r| {
                            !removed.contains(&r.connection_id)
                                && !changed.contains(r.connection_id.as_str())
                        })
                        .cloned()
                        .collect();
                    records.extend(added.iter().cloned());
                    last = records.clone();
                    Recorded::Scanned {
                        records,
                        malformed,
                        closed,
                        expires,
                    }
                }
                Recorded::Handshakes { lines } => {
                    handshakes = lines.clone();
                    Recorded::Handshakes { lines }
                }
                Recorded::Probed { answers: now } => {
                    for a in &now {
                        answers.insert(a.record.connection_id.clone(), a.clone());
                    }
                    Recorded::Probed { answers: now }
                }
                Recorded::ProbedAgain { changed, same } => {
                    let mut now: Vec<ProbeAnswer> = same
                        .iter()
                        .filter_map(|id| answers.get(id).cloned())
                        .collect();
                    for a in changed {
                        answers.insert(a.record.connection_id.clone(), a.clone());
                        now.push(a);
                    }
                    Recorded::Probed { answers: now }
                }
                Recorded::NewHandshakes { lines } => {
                    handshakes.extend(lines);
                    let since = entry.at_ms - window_ms;
                    handshakes.retain(|l| l.at_ms >= since);
                    Recorded::Handshakes {
                        lines: handshakes.clone(),
                    }
                }
                Recorded::Environment { .. } => {
                    last.clear();
                    handshakes.clear();
                    answers.clear();
                    entry.data
                }
                other => other,
            };
            Entry {
                at_ms: entry.at_ms,
                data,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_recorded_kind_comes_back_as_the_action_it_was() {
        let record = ConnectionRecord::new("alice", "A1");
        let actions = vec![
            Action::Scanned(Ok(StoreSnapshot {
                records: vec![record.clone()],
                ..Default::default()
            })),
            Action::Probed(vec![ProbeResult {
                record: record.clone(),
                answer: Err(GatewayError::Gone),
            }]),
            Action::RateObserved(RateStatus {
                ceiling: Some(500.0),
                current: Some(250.0),
                throttled: true,
                throttles: 3,
                ..Default::default()
            }),
            Action::StoreChanged(vec![StoreChange::Removed {
                key: crate::store::changes::ItemKey {
                    user_id: Some("alice".into()),
                    connection_id: Some("A1".into()),
                },
            }]),
        ];
        for action in actions {
            let recorded = Recorded::of(&action).expect("data");
            let line = serde_json::to_string(&Entry {
                at_ms: 1,
                data: recorded,
            })
            .expect("json");
            let back: Entry = serde_json::from_str(&line).expect("read back");
            let again = back.data.action().expect("an action");
            assert_eq!(Recorded::of(&again), Recorded::of(&action), "{line}");
        }
        assert_eq!(Recorded::of(&Action::Quit), None);
    }

    #[test]
    fn a_scan_after_a_scan_is_written_as_its_difference_and_read_back_whole() {
        let dir = std::env::temp_dir().join(format!("wsdash-rec-delta-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("session.jsonl");
        let scan = |ids: &[&str]| Recorded::Scanned {
            records: ids
                .iter()
                .map(|id| ConnectionRecord::new("u", *id))
                .collect(),
            malformed: vec![],
            closed: 0,
            expires: Default::default(),
        };
        {
            let mut recorder = Recorder::open(&path, false).expect("open");
            let now = time::OffsetDateTime::now_utc();
            recorder.record(now, scan(&["A", "B", "C"]));
            recorder.record(now, scan(&["B", "C", "D"]));
        }
        let text = std::fs::read_to_string(&path).expect("file");
        assert!(
            text.lines()
                .nth(1)
                .is_some_and(|l| l.contains("scan_delta")),
            "{text}"
        );
        let (entries, _) = read(&path).expect("read");
        let Recorded::Scanned { records, .. } = &entries[1].data else {
            panic!("{entries:?}");
        };
        let mut ids: Vec<&str> = records.iter().map(|r| r.connection_id.as_str()).collect();
        ids.sort();
        assert_eq!(ids, ["B", "C", "D"]);
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn an_answer_the_same_again_is_written_as_its_id_and_read_back_whole() {
        let dir = std::env::temp_dir().join(format!("wsdash-rec-probe-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("session.jsonl");
        let probed = |gone: bool| {
            Recorded::of(&Action::Probed(
                ["A", "B"]
                    .iter()
                    .map(|id| ProbeResult {
                        record: ConnectionRecord::new("u", *id),
                        answer: if gone && *id == "B" {
                            Err(GatewayError::Gone)
                        } else {
                            Ok(ConnectionInfo::default())
                        },
                    })
                    .collect(),
            ))
            .expect("data")
        };
        {
            let mut recorder = Recorder::open(&path, false).expect("open");
            let now = time::OffsetDateTime::now_utc();
            recorder.record(now, probed(false));
            recorder.record(now, probed(true));
        }
        let text = std::fs::read_to_string(&path).expect("file");
        let second = text.lines().nth(1).unwrap_or_default();
        assert!(second.contains(r#""same":["A"]"#), "{second}");
        let (entries, _) = read(&path).expect("read");
        let Recorded::Probed { answers } = &entries[1].data else {
            panic!("{entries:?}");
        };
        assert_eq!(answers.len(), 2);
        assert!(answers
            .iter()
            .any(|a| a.record.connection_id == "B" && a.failed.is_some()));
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn a_torn_last_line_is_skipped() {
        let dir = std::env::temp_dir().join(format!("wsdash-rec-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("session.jsonl");
        {
            let mut recorder = Recorder::open(&path, false).expect("open");
            recorder.record(
                time::OffsetDateTime::now_utc(),
                Recorded::FeedOpened {
                    source: "stream".into(),
                },
            );
        }
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .expect("append");
        write!(file, "{{\"at_ms\": 5, \"kind\": \"scann").expect("torn");
        let (entries, unreadable) = read(&path).expect("read");
        assert_eq!((entries.len(), unreadable), (1, 1));
        std::fs::remove_dir_all(dir).ok();
    }
}
