//! `wsdash overview ENV ENV…`: one row per environment, each refreshed by its own watch
//! (`ops::watch`, its own rate controller): live, stale (or ≈ with its interval while a sweep
//! is incomplete), probe coverage, rate / ceiling and THROTTLED, refused handshakes, orphans,
//! what is failing, read-only, in the environment's colour. `Enter` opens that environment's
//! dashboard; quitting it comes back here.

use crate::ops::classify::ConnectionState;
use crate::ops::watch::{Observer, Summary};
use crate::store::StoreError;
use crate::text::printable;
use crossterm::event::{Event, EventStream, KeyCode, KeyEventKind};
use futures_util::future::BoxFuture;
use futures_util::StreamExt;
use ratatui::layout::Constraint;
use ratatui::style::{Color, Modifier, Style};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One environment as the overview shows it.
#[derive(Debug, Clone, Default)]
pub struct EnvRow {
    pub name: String,
    pub color: String,
    pub readonly: bool,
    pub summary: Option<Summary>,
    pub refused_handshakes: u64,
    pub probe_failures: u64,
    pub access_log_errors: u64,
}

/// Feeds one row from its environment's watch.
pub struct RowObserver(pub Arc<Mutex<EnvRow>>);

impl RowObserver {
    fn with(&self, change: impl FnOnce(&mut EnvRow)) {
        if let Ok(mut row) = self.0.lock() {
            change(&mut row);
        }
    }
}

impl Observer for RowObserver {
    fn summary(&self, summary: &Summary) {
        self.with(|row| row.summary = Some(summary.clone()));
    }
    fn probed(&self, result: &str) {
        if result != "live" && result != "gone" {
            self.with(|row| row.probe_failures += 1);
        }
    }
    fn scanned(&self, _took: Duration, _result: Result<(), &StoreError>) {}
    fn churned(&self, _appeared: usize, _vanished: usize) {}
    fn refused_handshake(&self, _status: u16) {
        self.with(|row| row.refused_handshakes += 1);
    }
    fn access_log_failed(&self, _kind: &'static str) {
        self.with(|row| row.access_log_errors += 1);
    }
    fn throttled(&self, _calls: u64) {}
    fn swept(&self) {}
}

/// The cells of a row, in column order.
pub fn cells(row: &EnvRow) -> [String; 8] {
    let Some(s) = &row.summary else {
        return [
            row.name.clone(),
            "…".into(),
            "…".into(),
            "reading…".into(),
            String::new(),
            String::new(),
            String::new(),
            mode(row),
        ];
    };
    let stale = match &s.estimate {
        Some(e) => e.describe(),
        None => s.count(ConnectionState::Stale).to_string(),
    };
    let coverage = if s.probeable == 0 {
        "—".into()
    } else {
        format!(
            "{:.0}% of {}",
            100.0 * s.probed as f64 / s.probeable as f64,
            s.probeable
        )
    };
    let mut rate = s.rate.describe();
    if s.rate.throttled {
        rate.push_str(" THROTTLED");
    }
    let mut problems = Vec::new();
    if let Some(e) = &s.store_error {
        problems.push(format!("STORE DOWN: {}", printable(&e.to_string())));
    }
    if row.probe_failures > 0 {
        problems.push(format!("{} probes failed", row.probe_failures));
    }
    if row.access_log_errors > 0 {
        problems.push(format!("{} access-log reads failed", row.access_log_errors));
    }
    [
        row.name.clone(),
        s.count(ConnectionState::Live).to_string(),
        stale,
        coverage,
        rate,
        format!(
            "{} refused{}",
            row.refused_handshakes,
            s.orphans
                .map(|n| format!(", {n} orphans"))
                .unwrap_or_default()
        ),
        if problems.is_empty() {
            "ok".into()
        } else {
            problems.join("; ")
        },
        mode(row),
    ]
}

fn mode(row: &EnvRow) -> String {
    if row.readonly {
        "read-only".into()
    } else {
        String::new()
    }
}

/// Opens one environment's dashboard and returns when the operator quits it.
pub type DashboardOpener =
    Arc<dyn Fn(String) -> BoxFuture<'static, Result<(), String>> + Send + Sync>;

/// Run the overview until `q`. `rows` are fed by their watches meanwhile.
pub async fn run(
    rows: Vec<Arc<Mutex<EnvRow>>>,
    open: DashboardOpener,
) -> Result<(), std::io::Error> {
    let mut signals = crate::shutdown::Signals::install()?;
    let mut selected = 0usize;
    let mut status = String::from("Enter: open the dashboard · ↑↓ select · q quit");
    loop {
        let mut terminal = ratatui::init();
        let mut events = EventStream::new();
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        let chosen = loop {
            let snapshot: Vec<EnvRow> = rows
                .iter()
                .map(|r| r.lock().map(|r| r.clone()).unwrap_or_default())
                .collect();
            terminal.draw(|frame| draw(frame, &snapshot, selected, &status))?;
            tokio::select! {
                event = events.next() => match event {
                    Some(Ok(Event::Key(key))) if key.kind != KeyEventKind::Release => match key.code {
                        KeyCode::Char('q') | KeyCode::Esc => break None,
                        KeyCode::Char('c') if key.modifiers.contains(crossterm::event::KeyModifiers::CONTROL) => break None,
                        KeyCode::Up | KeyCode::Char('k') => selected = selected.saturating_sub(1),
                        KeyCode::Down | KeyCode::Char('j') => selected = (selected + 1).min(rows.len().saturating_sub(1)),
                        KeyCode::Enter => break snapshot.get(selected).map(|r| r.name.clone()),
                        _ => {}
                    },
                    Some(Ok(_)) => {}
                    Some(Err(e)) => {
                        ratatui::restore();
                        return Err(e);
                    }
                    None => break None,
                },
                _ = tick.tick() => {}
                _ = signals.recv() => break None,
            }
        };
        ratatui::restore();
        let Some(name) = chosen else {
            return Ok(());
        };
        // The dashboard takes the terminal; the watches go on meanwhile.
        status = match open(name.clone()).await {
            Ok(()) => format!("back from {name} · Enter: open the dashboard · ↑↓ select · q quit"),
            Err(e) => format!("cannot open {name}: {e}"),
        };
    }
}

fn draw(frame: &mut ratatui::Frame, rows: &[EnvRow], selected: usize, status: &str) {
    let area = frame.area();
    let [table_area, status_area] =
        ratatui::layout::Layout::vertical([Constraint::Min(3), Constraint::Length(1)]).areas(area);
    let header = Row::new([
        "ENV",
        "LIVE",
        "STALE",
        "PROBED",
        "API RATE",
        "HANDSHAKES",
        "PROBLEMS",
        "MODE",
    ])
    .style(Style::default().add_modifier(Modifier::BOLD));
    let body: Vec<Row> = rows
        .iter()
        .enumerate()
        .map(|(i, row)| {
            let cells = cells(row);
            let colour = super::views::env_color(&row.color);
            let failing = cells[6] != "ok" && row.summary.is_some();
            let mut line = Row::new(cells.into_iter().enumerate().map(|(n, text)| {
                let cell = Cell::from(text);
                match n {
                    0 => cell.style(Style::default().fg(colour).add_modifier(Modifier::BOLD)),
                    6 if failing => cell.style(Style::default().fg(Color::Red)),
                    _ => cell,
                }
            }));
            if i == selected {
                line = line.style(Style::default().add_modifier(Modifier::REVERSED));
            }
            line
        })
        .collect();
    let table = Table::new(
        body,
        [
            Constraint::Length(12),
            Constraint::Length(6),
            Constraint::Length(22),
            Constraint::Length(14),
            Constraint::Length(24),
            Constraint::Length(22),
            Constraint::Min(20),
            Constraint::Length(10),
        ],
    )
    .header(header)
    .block(
        Block::default()
            .borders(Borders::ALL)
            .title(format!(" overview: {} environments ", rows.len())),
    );
    frame.render_widget(table, table_area);
    frame.render_widget(Paragraph::new(status.to_string()), status_area);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn a_row_says_its_counts_and_what_fails() {
        let mut row = EnvRow {
            name: "prod-eu".into(),
            readonly: true,
            ..Default::default()
        };
        assert_eq!(cells(&row)[3], "reading…");
        row.summary = Some(Summary {
            counts: HashMap::from([(ConnectionState::Live, 7), (ConnectionState::Stale, 2)]),
            probed: 9,
            probeable: 9,
            store_error: Some(StoreError::Network("connection refused".into())),
            orphans: Some(1),
            ..Default::default()
        });
        row.refused_handshakes = 3;
        let cells = cells(&row);
        assert_eq!(cells[1], "7");
        assert_eq!(cells[2], "2");
        assert_eq!(cells[3], "100% of 9");
        assert_eq!(cells[5], "3 refused, 1 orphans");
        assert!(
            cells[6].starts_with("STORE DOWN: cannot reach"),
            "{}",
            cells[6]
        );
        assert_eq!(cells[7], "read-only");
    }
}
