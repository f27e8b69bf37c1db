//! Dashboard benchmarks against DESIGN.md §6: load, filter keystrokes, frame render time and
//! memory with 100,000 and 1,000,000 records, and the demo's time to first frame.
//!
//! `cargo bench --bench dashboard` (each table size runs in a child process of its own, so its
//! RSS is not inflated by the other's).

// The tests' harness; a bench uses only part of it.
#[allow(dead_code)]
#[path = "../tests/it/common/mod.rs"]
mod common;

use common::measure::percentile;
use ratatui::backend::TestBackend;
use ratatui::Terminal;
use std::time::{Duration, Instant};
use wsdash::model::{ConnectionInfo, ConnectionRecord};
use wsdash::ops::probe::ProbeResult;
use wsdash::store::changes::{ItemKey, StoreChange};
use wsdash::store::StoreSnapshot;
use wsdash::tui::action::Action;
use wsdash::tui::app::{App, EnvironmentInfo};
use wsdash::tui::update::update;
use wsdash::tui::views::render;

const SIZES: [usize; 2] = [100_000, 1_000_000];
/// Set in the child process: the table size it measures.
const SIZE_VARIABLE: &str = "WSDASH_BENCH_DASHBOARD_RECORDS";

/// This process's resident memory in MB.
fn rss_mb() -> f64 {
    common::measure::rss_mb(std::process::id())
}

fn loaded_app(records: usize) -> App {
    let now = time::OffsetDateTime::now_utc();
    let mut app = App::new(
        EnvironmentInfo {
            name: "bench".into(),
            api_rate: Some(50.0),
            ..Default::default()
        },
        now,
    );
    let _ = update(&mut app, Action::Resize(200, 60));
    let _ = update(&mut app, Action::Tick(now));
    let records: Vec<ConnectionRecord> = (0..records)
        .map(|i| ConnectionRecord {
            user_id: format!("user-{i:07}"),
            connection_id: format!("{i:015}="),
            connected_at: now - time::Duration::seconds((i % 7000) as i64),
        })
        .collect();
    let _ = update(
        &mut app,
        Action::Scanned(Ok(StoreSnapshot {
            records,
            malformed: vec![],
            ..Default::default()
        })),
    );
    // Probe answers arrive in batches, as the dashboard's sweeps deliver them: each batch the
    // records it probed and their answers. Every client has an address of its own.
    let total = app.table.rows.len();
    for start in (0..total).step_by(5_000) {
        let probes: Vec<ProbeResult> = (start..(start + 5_000).min(total))
            .map(|i| {
                let record = app.table.at(i).map(|row| row.record()).expect("row");
                let n: usize = record.user_id[5..].parse().unwrap_or(i);
                ProbeResult {
                    answer: if n.is_multiple_of(5) {
                        Err(wsdash::management::GatewayError::Gone)
                    } else {
                        Ok(ConnectionInfo {
                            connected_at: Some(record.connected_at),
                            last_active_at: Some(now),
                            source_ip: Some(format!(
                                "10.{}.{}.{}",
                                n / 65_536 % 256,
                                n / 256 % 256,
                                n % 256
                            )),
                            user_agent: Some("Mozilla/5.0 (X11; Linux x86_64)".into()),
                        })
                    },
                    record,
                }
            })
            .collect();
        let _ = update(&mut app, Action::Probed(probes));
    }
    app
}

/// (first frame, data sources ready) in ms after the process started, from the dashboard's log.
fn first_frame_ms() -> Option<(f64, f64)> {
    if !common::tmux::available() {
        return None;
    }
    let dir = std::env::temp_dir().join(format!("wsdash-bench-ff-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).ok()?;
    let command = format!(
        "env XDG_CONFIG_HOME={d} XDG_STATE_HOME={d} {bin} demo --clients 20",
        d = dir.display(),
        bin = common::BIN
    );
    let tmux = common::tmux::Tmux::start_sized(&command, 140, 45);
    let log = dir.join("wsdash").join("wsdash.log");
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut found = None;
    while Instant::now() < deadline && found.is_none() {
        std::thread::sleep(Duration::from_millis(100));
        found = std::fs::read_to_string(&log).ok().and_then(|text| {
            let value = |marker: &str, key: &str| -> Option<f64> {
                let line = text.lines().find(|l| l.contains(marker))?;
                line.split(key)
                    .nth(1)?
                    .split_whitespace()
                    .next()?
                    .parse::<f64>()
                    .ok()
            };
            Some((
                value("first frame drawn", "first_frame_ms=")?,
                value("data sources ready", "ready_ms=")?,
            ))
        });
    }
    drop(tmux);
    let _ = std::fs::remove_dir_all(&dir);
    found
}

fn main() {
    if let Some(records) = std::env::var(SIZE_VARIABLE)
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
    {
        measure_table(records);
        return;
    }
    println!("== dashboard benchmark ==");
    for records in SIZES {
        let status = std::process::Command::new(std::env::current_exe().expect("own path"))
            .env(SIZE_VARIABLE, records.to_string())
            .status();
        if !status.as_ref().is_ok_and(|s| s.success()) {
            println!("{records} records: the measuring process failed ({status:?})");
        }
    }
    first_frame();
}

/// Load, filter keystrokes, frames and RSS with `records` rows, in this process.
fn measure_table(records: usize) {
    let before = rss_mb();
    let started = Instant::now();
    let mut app = loaded_app(records);
    let load_time = started.elapsed();
    let after = rss_mb();
    println!(
        "{records} records loaded (scan + probe merged) in {:.0} ms; process RSS {after:.1} MB ({:.1} MB for the records; budget at 1M: < 3 s, < 250 MB)",
        load_time.as_secs_f64() * 1000.0,
        after - before
    );

    println!(
        "a row is {} bytes (with its ids and probe answer inline; the search columns and the index come on top)",
        std::mem::size_of::<wsdash::tui::table::Row>()
    );
    // A filter typed key by key, three times: each keystroke re-filters the table in `update`.
    let mut keystrokes = Vec::new();
    // The filter each keystroke left, to name the slowest.
    let mut typed = Vec::new();
    let backspace = crossterm::event::KeyEvent::new(
        crossterm::event::KeyCode::Backspace,
        crossterm::event::KeyModifiers::NONE,
    );
    for _ in 0..3 {
        // The prompt opens with the filter in force: erased first, untimed.
        let _ = update(&mut app, Action::StartFilter);
        for _ in 0..app.table.filter.chars().count() {
            let _ = update(&mut app, Action::PromptKey(backspace));
        }
        for c in "state:live user-00012".chars() {
            let key = crossterm::event::KeyEvent::new(
                crossterm::event::KeyCode::Char(c),
                crossterm::event::KeyModifiers::NONE,
            );
            let t = Instant::now();
            let _ = update(&mut app, Action::PromptKey(key));
            keystrokes.push(t.elapsed().as_secs_f64() * 1000.0);
            typed.push(app.table.filter.clone());
        }
        // Backspace back to `state:live `: each keystroke widens the filter again.
        for _ in 0.."user-00012".len() {
            let t = Instant::now();
            let _ = update(&mut app, Action::PromptKey(backspace));
            keystrokes.push(t.elapsed().as_secs_f64() * 1000.0);
            typed.push(app.table.filter.clone());
        }
        let _ = update(&mut app, Action::SubmitPrompt);
    }
    let budget = if records > 100_000 { 16 } else { 5 };
    println!(
        "filter keystroke over {records} rows ({} keys typed and erased): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms (budget p99 < {budget} ms; {} rows match at the end)",
        keystrokes.len(),
        percentile(&mut keystrokes.clone(), 0.5),
        percentile(&mut keystrokes.clone(), 0.99),
        keystrokes.iter().cloned().fold(0.0, f64::max),
        app.table.visible.len()
    );
    if let Some((slowest, ms)) = typed
        .iter()
        .zip(&keystrokes)
        .max_by(|a, b| a.1.total_cmp(b.1))
    {
        println!("  slowest keystroke: {ms:.2} ms, leaving the filter {slowest:?}");
    }

    let mut terminal = Terminal::new(TestBackend::new(200, 60)).expect("terminal");
    for _ in 0..20 {
        terminal.draw(|f| render(&app, f)).expect("draw");
    }
    let mut frames = Vec::new();
    for i in 0..500 {
        // Move the selection so every frame differs.
        let _ = update(&mut app, if i % 2 == 0 { Action::Down } else { Action::Up });
        let t = Instant::now();
        terminal.draw(|f| render(&app, f)).expect("draw");
        frames.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    println!(
        "frame render, {records} records, filter active, 200x60: p50 {:.3} ms, p99 {:.3} ms (budget < 5 ms)",
        percentile(&mut frames.clone(), 0.5),
        percentile(&mut frames, 0.99)
    );
    // A followed table: each batch from the stream adds 25 records and removes 25.
    let mut batches = Vec::new();
    for batch in 0..20 {
        let changes: Vec<StoreChange> = (0..25)
            .flat_map(|i| {
                let user = format!("streamed-{batch}-{i}");
                let gone = app
                    .table
                    .at((batch * 25 + i) * 7 % app.table.rows.len())
                    .map(|row| row.record())
                    .expect("row");
                [
                    StoreChange::Put {
                        key: ItemKey {
                            user_id: Some(user.clone()),
                            connection_id: None,
                        },
                        item: Ok(ConnectionRecord {
                            user_id: user,
                            connection_id: format!("Strm{batch:04}{i:06}="),
                            connected_at: app.now,
                        }),
                    },
                    StoreChange::Removed {
                        key: ItemKey {
                            user_id: Some(gone.user_id),
                            connection_id: None,
                        },
                    },
                ]
            })
            .collect();
        let t = Instant::now();
        let _ = update(&mut app, Action::StoreChanged(changes));
        batches.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    println!(
        "stream batch (25 puts + 25 deletes) applied to {records} rows: p50 {:.1} ms, max {:.1} ms (budget at 1M: p50 < 5 ms)",
        percentile(&mut batches.clone(), 0.5),
        batches.iter().cloned().fold(0.0, f64::max)
    );
    measure_storm_view(&mut app, &mut terminal);
    println!("process RSS at the end: {:.1} MB", rss_mb());
}

/// The reconnect-storm view (`f`) during a storm: 10,000 users with 3 new connections each in
/// the last minutes and 5,000 handshakes from the access log (a fifth refused), redrawn live.
fn measure_storm_view(app: &mut App, terminal: &mut Terminal<TestBackend>) {
    const USERS: usize = 10_000;
    let now = app.now;
    for round in 0..3 {
        let appeared: Vec<(String, String)> = (0..USERS)
            .map(|u| (format!("storm-{u:05}"), format!("S{round}{u:013}=")))
            .collect();
        app.telemetry.churn.record(
            now - time::Duration::seconds(90 - 30 * round as i64),
            appeared,
            USERS,
        );
    }
    let handshakes: Vec<wsdash::access_logs::LogLine> = (0..5_000)
        .map(|i| {
            let status = if i % 5 == 0 { 401 } else { 200 };
            let id = format!("S{}{:013}=", i % 3, i);
            let mut entry =
                wsdash::access_logs::AccessLogEntry::now(&id, "CONNECT", "$connect", status);
            entry.source_ip = format!("10.0.{}.{}", (i / 250) % 250, i % 250);
            entry.user_agent = "Chrome/131".into();
            wsdash::access_logs::LogLine {
                at_ms: entry.request_time_epoch,
                raw: String::new(),
                entry: Some(entry),
            }
        })
        .collect();
    let _ = update(app, Action::Handshakes(Ok(handshakes)));
    let _ = update(app, Action::ShowFlapping);
    let mut frames = Vec::new();
    for i in 0..100 {
        // A key and the frame after it: scrolling asks the view how long it is.
        let t = Instant::now();
        let _ = update(app, Action::ScrollOverlay(if i % 2 == 0 { 1 } else { -1 }));
        terminal.draw(|f| render(app, f)).expect("draw");
        frames.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    println!(
        "storm view (f), a scroll key and its frame, {USERS} users flapping, 5,000 handshakes: p50 {:.2} ms, p99 {:.2} ms",
        percentile(&mut frames.clone(), 0.5),
        percentile(&mut frames, 0.99)
    );
    let _ = update(app, Action::Back);
}

fn first_frame() {
    let runs: Vec<(f64, f64)> = (0..5).filter_map(|_| first_frame_ms()).collect();
    if runs.is_empty() {
        println!("first frame: not measured (needs tmux)");
    } else {
        let mut firsts: Vec<f64> = runs.iter().map(|r| r.0).collect();
        let mut ready: Vec<f64> = runs.iter().map(|r| r.1).collect();
        println!(
            "demo: first frame {:.1} ms, emulator + backend + swarm started {:.1} ms after the process started (medians of {}; budget < 200 ms)",
            percentile(&mut firsts, 0.5),
            percentile(&mut ready, 0.5),
            runs.len()
        );
    }
}
