//! `wsdash replay FILE`: a recorded session (`recording`) in the same dashboard, read-only, with
//! a REPLAY banner. The recorded data goes through the same `update` as live data did, at the
//! recorded times, so filter, sort, details, the storm view and the orphans view work as they
//! did live. Nothing is asked of any store or gateway: the effects `update` asks for are
//! dropped. `Space` pauses, `+` `-` change the speed (1× to 60×), `[` `]` go back or forward
//! a minute, `:at 11:32` jumps; `--at T --output json` prints the table as it stood at T.

use super::action::{Action, Effect};
use super::app::{App, EnvironmentInfo, Prompt};
use super::keymap::action_for;
use super::recording::{read, Entry, Recorded};
use super::update::update;
use super::views;
use super::visible::OnScreen;
use crossterm::event::{Event, EventStream, KeyCode, KeyEventKind};
use futures_util::StreamExt;
use std::path::Path;
use std::time::Duration;
use time::OffsetDateTime;

const SPEEDS: [f64; 7] = [1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0];
/// How far `[` and `]` move.
const SEEK_STEP_MS: i64 = 60_000;

/// A recording, ready to play.
pub struct Replay {
    entries: Vec<Entry>,
    pub start_ms: i64,
    pub end_ms: i64,
    /// Lines that could not be read (a killed recorder's torn last line).
    pub unreadable: usize,
}

fn time_of(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

fn env_of(data: &Recorded) -> Option<EnvironmentInfo> {
    match data {
        Recorded::Environment {
            name,
            color,
            endpoint,
            table,
            access_logs,
        } => Some(EnvironmentInfo {
            name: name.clone(),
            color: color.clone(),
            endpoint: endpoint.clone(),
            table: table.clone(),
            access_logs: access_logs.clone(),
            // Replayed, nothing may change: no store or gateway is even open.
            readonly: true,
            ..Default::default()
        }),
        _ => None,
    }
}

impl Replay {
    pub fn load(path: &Path) -> Result<Self, String> {
        let (entries, unreadable) =
            read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let (Some(first), Some(last)) = (entries.first(), entries.last()) else {
            return Err(format!("{} holds no recorded data", path.display()));
        };
        Ok(Self {
            start_ms: first.at_ms,
            end_ms: last.at_ms,
            entries,
            unreadable,
        })
    }

    /// A dashboard before the first entry.
    fn fresh(&self) -> App {
        let env = self
            .entries
            .iter()
            .find_map(|e| env_of(&e.data))
            .unwrap_or_else(|| EnvironmentInfo {
                name: "recording".into(),
                readonly: true,
                ..Default::default()
            });
        App::new(env, time_of(self.start_ms))
    }

    /// Feed the entries from `next` up to `until_ms` (inclusive); the index of the next one.
    fn feed(&self, app: &mut App, mut next: usize, until_ms: i64) -> usize {
        while let Some(entry) = self.entries.get(next).filter(|e| e.at_ms <= until_ms) {
            let _ = update(app, Action::Tick(time_of(entry.at_ms)));
            let action = match env_of(&entry.data) {
                // The first one is the dashboard's own; a later one is `:env NAME`.
                Some(env) if next > 0 => Some(Action::EnvironmentSwitched(env)),
                Some(_) => None,
                None => entry.data.action(),
            };
            if let Some(action) = action {
                let _ = update(app, action);
            }
            next += 1;
        }
        next
    }

    /// The dashboard as it stood at `at_ms`.
    pub fn state_at(&self, at_ms: i64) -> App {
        let mut app = self.fresh();
        let _ = self.feed(&mut app, 0, at_ms);
        let _ = update(&mut app, Action::Tick(time_of(at_ms)));
        app
    }

    /// `11:32`, `11:32:05` (UTC, on the recording's first day, or the next if that is before
    /// it starts), an RFC 3339 time, or `+90` seconds from the start.
    pub fn parse_time(&self, text: &str) -> Option<i64> {
        let text = text.trim();
        if let Some(seconds) = text.strip_prefix('+') {
            return seconds
                .parse::<f64>()
                .ok()
                .map(|s| self.start_ms + (s * 1000.0) as i64);
        }
        if let Some(at) = crate::model::parse_iso(text) {
            return Some((at.unix_timestamp_nanos() / 1_000_000) as i64);
        }
        let parts: Vec<u8> = text
            .split(':')
            .map(|p| p.parse::<u8>().ok())
            .collect::<Option<_>>()?;
        let (h, m, s) = match parts.as_slice() {
            [h, m] => (*h, *m, 0),
            [h, m, s] => (*h, *m, *s),
            _ => return None,
        };
        let start = time_of(self.start_ms);
        let at = start.replace_time(time::Time::from_hms(h, m, s).ok()?);
        let at = if at < start.replace_second(0).ok()? {
            at + time::Duration::days(1)
        } else {
            at
        };
        Some((at.unix_timestamp_nanos() / 1_000_000) as i64)
    }
}

/// Play `replay` in the terminal until `q`.
pub async fn run(replay: Replay) -> std::io::Result<()> {
    let mut signals = crate::shutdown::Signals::install()?;
    let mut terminal = ratatui::init();
    let result = play(&mut terminal, &replay, &mut signals).await;
    ratatui::restore();
    result
}

struct Player {
    app: App,
    next: usize,
    clock_ms: i64,
    speed: usize,
    paused: bool,
}

impl Player {
    fn banner(&mut self, replay: &Replay) {
        let at = time_of(self.clock_ms);
        self.app.env.replay = Some(format!(
            "{:02}:{:02}:{:02} ×{}{}{}",
            at.hour(),
            at.minute(),
            at.second(),
            SPEEDS[self.speed],
            if self.paused { " PAUSED" } else { "" },
            if self.clock_ms >= replay.end_ms {
                " (end)"
            } else {
                ""
            },
        ));
    }

    /// Go to `target_ms`: forward feeds what lies between; backward starts again from the
    /// start. The operator's filter, sort and screen stay.
    fn seek(&mut self, replay: &Replay, target_ms: i64) {
        let target_ms = target_ms.clamp(replay.start_ms, replay.end_ms);
        if target_ms < self.clock_ms {
            let mut fresh = replay.fresh();
            fresh.table.filter = std::mem::take(&mut self.app.table.filter);
            fresh.table.sort = self.app.table.sort;
            fresh.table.sort_descending = self.app.table.sort_descending;
            fresh.viewport = self.app.viewport;
            fresh.overlay = std::mem::replace(&mut self.app.overlay, super::app::Overlay::None);
            self.app = fresh;
            self.next = 0;
        }
        self.next = replay.feed(&mut self.app, self.next, target_ms);
        self.clock_ms = target_ms;
        let _ = update(&mut self.app, Action::Tick(time_of(target_ms)));
        self.app.recompute_visible();
    }
}

async fn play(
    terminal: &mut ratatui::DefaultTerminal,
    replay: &Replay,
    signals: &mut crate::shutdown::Signals,
) -> std::io::Result<()> {
    let mut player = Player {
        app: replay.fresh(),
        next: 0,
        clock_ms: replay.start_ms,
        speed: 0,
        paused: false,
    };
    let size = terminal.size()?;
    let _ = update(&mut player.app, Action::Resize(size.width, size.height));
    player.seek(replay, replay.start_ms);
    if replay.unreadable > 0 {
        player.app.notice.status = Some(format!(
            "{} line(s) of the recording could not be read (a recorder stopped mid-line) and were skipped",
            replay.unreadable
        ));
    }
    let no_color = views::no_color_requested();
    let mut events = EventStream::new();
    let step = Duration::from_millis(100);
    let mut tick = tokio::time::interval(step);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        player.banner(replay);
        terminal.draw(|f| views::render_with(&player.app, f, no_color))?;
        tokio::select! {
            event = events.next() => match event {
                Some(Ok(Event::Key(key))) if key.kind != KeyEventKind::Release => {
                    if !replay_key(&mut player, replay, key) {
                        if let Some(action) = action_for(&player.app, key) {
                            let quit = matches!(action, Action::Quit);
                            // Nothing is asked of anyone: the effects are dropped.
                            let effects: Vec<Effect> = update(&mut player.app, action);
                            drop(effects);
                            if quit {
                                return Ok(());
                            }
                        }
                    }
                }
                Some(Ok(Event::Resize(w, h))) => {
                    let _ = update(&mut player.app, Action::Resize(w, h));
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e),
                None => return Ok(()),
            },
            _ = tick.tick() => {
                if !player.paused && player.clock_ms < replay.end_ms {
                    let advance = (step.as_millis() as f64 * SPEEDS[player.speed]) as i64;
                    let target = player.clock_ms + advance;
                    player.seek(replay, target);
                }
            }
            _ = signals.recv() => return Ok(()),
        }
    }
}

/// The replay's own keys (outside the prompt): pause, speed, seek, and `:at T` on the command
/// line. `true` when the key was one of them.
fn replay_key(player: &mut Player, replay: &Replay, key: crossterm::event::KeyEvent) -> bool {
    if player.app.prompt.kind == Prompt::Command && key.code == KeyCode::Enter {
        let typed = player.app.prompt.input.value().trim().to_string();
        if let Some(at) = typed.strip_prefix("at ") {
            let _ = update(&mut player.app, Action::Back);
            match replay.parse_time(at) {
                Some(target) => player.seek(replay, target),
                None => {
                    player.app.notice.status = Some(format!(
                        "{at:?} is not a time: :at 11:32, :at 11:32:05 or :at +90 (seconds from the start)"
                    ))
                }
            }
            return true;
        }
        return false;
    }
    if player.app.prompt.kind != Prompt::None {
        return false;
    }
    match key.code {
        KeyCode::Char(' ') => player.paused = !player.paused,
        KeyCode::Char('+') => player.speed = (player.speed + 1).min(SPEEDS.len() - 1),
        KeyCode::Char('-') => player.speed = player.speed.saturating_sub(1),
        KeyCode::Char('[') => player.seek(replay, player.clock_ms - SEEK_STEP_MS),
        KeyCode::Char(']') => player.seek(replay, player.clock_ms + SEEK_STEP_MS),
        _ => return false,
    }
    true
}

/// The table at `at_ms` as JSON: what `--at T --output json` prints.
pub fn table_json(app: &App) -> serde_json::Value {
    serde_json::Value::Array(
        app.table
            .visible
            .iter()
            .filter_map(|i| app.table.at(*i))
            .map(|row| {
                serde_json::json!({
                    "user_id": row.user_id(),
                    "connection_id": row.connection_id(),
                    "connected_at": crate::model::iso_millis(row.connected_at()),
                    "state": row.state.as_str(),
                    "source_ip": row.source_ip(),
                    "last_outcome": row.last_outcome().map(|o| o.class.as_str()),
                })
            })
            .collect(),
    )
}
