//! The connections table; only the rows on screen are built into widgets.

use crate::model::{age_since, format_age};
use crate::ops::classify::{ConnectionState, IDLE_TIMEOUT, MAX_CONNECTION_AGE};
use crate::text::printable;
use crate::tui::app::{App, RowView, SortColumn};
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::widgets::{Block, Borders, Cell, Row, Table};
use ratatui::Frame;

pub fn state_color(state: ConnectionState) -> Color {
    match state {
        ConnectionState::Live => Color::Green,
        ConnectionState::Stale => Color::Red,
        ConnectionState::Expired => Color::Magenta,
        ConnectionState::Unknown => Color::Yellow,
        ConnectionState::Malformed => Color::LightRed,
        ConnectionState::Unprobed => Color::Gray,
    }
}

fn cells(app: &App, row: &RowView<'_>) -> Vec<Cell<'static>> {
    let marked = if app.table.marked.contains(row.key()) {
        "●"
    } else {
        " "
    };
    let (age, idle) = if row.state == ConnectionState::Malformed {
        (String::new(), String::new())
    } else {
        let age = app.now - row.connected_at();
        let pct =
            (age.as_seconds_f64() / MAX_CONNECTION_AGE.as_seconds_f64() * 100.0).clamp(0.0, 999.0);
        let idle = row.info().and_then(|i| i.last_active_at()).map(|t| {
            let idle = app.now - t;
            let warn = if idle > IDLE_TIMEOUT * 0.8 { "!" } else { "" };
            format!("{}{warn}", format_age(idle))
        });
        (
            format!("{} {pct:>3.0}%", age_since(app.now, row.connected_at())),
            idle.unwrap_or_default(),
        )
    };
    let info = row.info();
    let outcome = match (row.last_outcome(), row.malformed()) {
        (_, Some(m)) => printable(&m.reason).into_owned(),
        (Some(o), _) => format!("{} {:.0}ms", o.class.as_str(), o.latency_ms),
        (None, _) => printable(row.probe_error().unwrap_or_default()).into_owned(),
    };
    vec![
        Cell::from(format!("{marked}{}", printable(row.user_id()))),
        Cell::from(printable(row.connection_id()).into_owned()),
        Cell::from(age),
        Cell::from(idle),
        Cell::from(printable(&row.source_ip().unwrap_or_default()).into_owned()),
        Cell::from(
            printable(
                info.and_then(|i| i.user_agent.as_deref())
                    .unwrap_or_default(),
            )
            .into_owned(),
        ),
        Cell::from(row.state.as_str()).style(Style::default().fg(state_color(row.state))),
        Cell::from(outcome),
    ]
}

/// Columns kept on a narrow terminal: user, connection, age, state, outcome.
const NARROW_COLUMNS: [usize; 5] = [0, 1, 2, 6, 7];
const NARROW_BELOW: u16 = 100;

fn keep_columns<T>(items: Vec<T>, narrow: bool) -> Vec<T> {
    if !narrow {
        return items;
    }
    items
        .into_iter()
        .enumerate()
        .filter(|(i, _)| NARROW_COLUMNS.contains(i))
        .map(|(_, x)| x)
        .collect()
}

/// The header cell a sort column belongs to (USER AGENT is shown but not sortable).
fn header_index(sort: SortColumn) -> usize {
    match sort {
        SortColumn::User => 0,
        SortColumn::Connection => 1,
        SortColumn::Age => 2,
        SortColumn::Idle => 3,
        SortColumn::SourceIp => 4,
        SortColumn::State => 6,
        SortColumn::Outcome => 7,
    }
}

pub fn render(app: &App, frame: &mut Frame, area: Rect) {
    let narrow = area.width < NARROW_BELOW;
    let height = area.height.saturating_sub(3).max(1) as usize;
    // The table may have shrunk (an error band appeared) since update placed the offset: keep
    // the selection on screen without mutating state.
    let offset = if app.table.selected >= app.table.offset + height {
        app.table.selected + 1 - height
    } else {
        app.table.offset
    };
    let start = offset.min(app.table.visible.len());
    let end = (start + height.max(1)).min(app.table.visible.len());
    let rows: Vec<Row> = app.table.visible[start..end]
        .iter()
        .enumerate()
        .filter_map(|(n, i)| {
            let row = app.table.at(*i)?;
            let mut style = Style::default();
            if row.flash_until().is_some_and(|t| t > app.now) {
                style = style.add_modifier(Modifier::BOLD).bg(Color::DarkGray);
            }
            if start + n == app.table.selected {
                style = style.add_modifier(Modifier::REVERSED);
            }
            Some(Row::new(keep_columns(cells(app, &row), narrow)).style(style))
        })
        .collect();
    let arrow = if app.table.sort_descending {
        "▲"
    } else {
        "▼"
    };
    let header_names = [
        "USER",
        "CONNECTION",
        "AGE /2h",
        "IDLE",
        "SOURCE IP",
        "USER AGENT",
        "STATE",
        "LAST OUTCOME",
    ];
    let sort_column = header_index(app.table.sort);
    let header_cells: Vec<Cell> = header_names
        .iter()
        .enumerate()
        .map(|(i, h)| {
            if i == sort_column {
                Cell::from(format!("{h}{arrow}"))
                    .style(Style::default().add_modifier(Modifier::BOLD | Modifier::UNDERLINED))
            } else {
                Cell::from(*h).style(Style::default().add_modifier(Modifier::BOLD))
            }
        })
        .collect();
    let header = Row::new(keep_columns(header_cells, narrow));
    let filter = if app.table.filter.is_empty() {
        String::new()
    } else {
        format!(" filter: {} ", app.table.filter)
    };
    let title = format!(
        " connections {}/{}{}{} ",
        app.table.visible.len(),
        app.table.rows.len(),
        if app.table.marked.is_empty() {
            String::new()
        } else {
            format!(" · {} marked", app.table.marked.len())
        },
        filter
    );
    let widths = [
        Constraint::Length(14),
        Constraint::Length(17),
        Constraint::Length(11),
        Constraint::Length(7),
        Constraint::Length(15),
        Constraint::Min(10),
        Constraint::Length(9),
        Constraint::Length(18),
    ];
    let table = Table::new(rows, keep_columns(widths.to_vec(), narrow))
        .header(header)
        .block(Block::default().borders(Borders::ALL).title(title));
    frame.render_widget(table, area);
}
