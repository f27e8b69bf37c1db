//! The only place that knows keys. The help overlay is generated from these tables, so it can
//! never disagree with what the keys do.

use super::action::Action;
use super::app::{App, Overlay, Prompt};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

pub struct Binding {
    pub keys: &'static str,
    pub help: &'static str,
    matches: fn(&KeyEvent) -> bool,
    action: fn() -> Action,
}

fn plain(key: &KeyEvent, code: KeyCode) -> bool {
    key.code == code && !key.modifiers.contains(KeyModifiers::CONTROL)
}

fn ctrl(key: &KeyEvent, c: char) -> bool {
    key.code == KeyCode::Char(c) && key.modifiers.contains(KeyModifiers::CONTROL)
}

/// The connections table.
pub const TABLE_KEYS: &[Binding] = &[
    Binding {
        keys: "↑/k ↓/j",
        help: "move",
        matches: |k| plain(k, KeyCode::Up) || plain(k, KeyCode::Char('k')),
        action: || Action::Up,
    },
    Binding {
        keys: "",
        help: "",
        matches: |k| plain(k, KeyCode::Down) || plain(k, KeyCode::Char('j')),
        action: || Action::Down,
    },
    Binding {
        keys: "PgUp PgDn",
        help: "page",
        matches: |k| plain(k, KeyCode::PageUp),
        action: || Action::PageUp,
    },
    Binding {
        keys: "",
        help: "",
        matches: |k| plain(k, KeyCode::PageDown),
        action: || Action::PageDown,
    },
    Binding {
        keys: "g G",
        help: "first / last row",
        matches: |k| plain(k, KeyCode::Char('g')) || plain(k, KeyCode::Home),
        action: || Action::Top,
    },
    Binding {
        keys: "",
        help: "",
        matches: |k| plain(k, KeyCode::Char('G')) || plain(k, KeyCode::End),
        action: || Action::Bottom,
    },
    Binding {
        keys: "Space",
        help: "mark / unmark the row",
        matches: |k| plain(k, KeyCode::Char(' ')),
        action: || Action::ToggleMark,
    },
    Binding {
        keys: "Enter",
        help: "details of the connection",
        matches: |k| plain(k, KeyCode::Enter),
        action: || Action::OpenDetails,
    },
    Binding {
        keys: "/",
        help: "filter (words, state:stale, user:, id:, ip:)",
        matches: |k| plain(k, KeyCode::Char('/')),
        action: || Action::StartFilter,
    },
    Binding {
        keys: ":",
        help:
            "command line (:push USER JSON, :purge, :doctor, :env NAME, :readonly, :sort COL, :q)",
        matches: |k| plain(k, KeyCode::Char(':')),
        action: || Action::StartCommand,
    },
    Binding {
        keys: "s S",
        help: "sort by the next column / reverse",
        matches: |k| plain(k, KeyCode::Char('s')),
        action: || Action::CycleSort,
    },
    Binding {
        keys: "",
        help: "",
        matches: |k| plain(k, KeyCode::Char('S')),
        action: || Action::ReverseSort,
    },
    Binding {
        keys: "p",
        help: "push composer",
        matches: |k| plain(k, KeyCode::Char('p')),
        action: || Action::OpenComposer,
    },
    Binding {
        keys: "d",
        help: "disconnect selected / marked connections",
        matches: |k| plain(k, KeyCode::Char('d')),
        action: || Action::OpenDisconnect,
    },
    Binding {
        keys: "x",
        help: "purge stale records (shows the plan first)",
        matches: |k| plain(k, KeyCode::Char('x')),
        action: || Action::OpenPurge,
    },
    Binding {
        keys: "f",
        help: "reconnect storms: users whose connection keeps changing, churn per minute",
        matches: |k| plain(k, KeyCode::Char('f')),
        action: || Action::ShowFlapping,
    },
    Binding {
        keys: "l",
        help: "access log: follow the gateway's log, filtered",
        matches: |k| plain(k, KeyCode::Char('l')),
        action: || Action::ShowLogs,
    },
    Binding {
        keys: "o",
        help: "orphans: connections the gateway holds that the store lost (d closes one)",
        matches: |k| plain(k, KeyCode::Char('o')),
        action: || Action::ShowOrphans,
    },
    Binding {
        keys: "y Y",
        help: "copy the connection id / the row as JSON to the clipboard (OSC 52)",
        matches: |k| plain(k, KeyCode::Char('y')),
        action: || Action::Copy { as_json: false },
    },
    Binding {
        keys: "",
        help: "",
        matches: |k| plain(k, KeyCode::Char('Y')),
        action: || Action::Copy { as_json: true },
    },
    Binding {
        keys: "r",
        help: "refresh now",
        matches: |k| plain(k, KeyCode::Char('r')),
        action: || Action::RefreshNow,
    },
    Binding {
        keys: "Esc",
        help: "clear the filter / close",
        matches: |k| plain(k, KeyCode::Esc),
        action: || Action::Back,
    },
    Binding {
        keys: "?",
        help: "this help",
        matches: |k| plain(k, KeyCode::Char('?')),
        action: || Action::ToggleHelp,
    },
    Binding {
        keys: "q Ctrl-C",
        help: "quit",
        matches: |k| plain(k, KeyCode::Char('q')) || ctrl(k, 'c'),
        action: || Action::Quit,
    },
];

/// Inside the push composer (help text only; the composer handles its own editing keys).
pub const COMPOSER_KEYS: &[(&str, &str)] = &[
    ("Tab", "next field: target, type, payload"),
    ("← →", "on target: who; on type: message template"),
    ("Ctrl-P Ctrl-N", "recall recently sent payloads"),
    ("Enter", "send"),
    ("Esc", "close"),
];

/// In the reconnect-storm view (`f`), besides scrolling.
pub const STORM_KEYS: &[(&str, &str)] = &[("w", "sparklines over the last 1 h / 3 h / 24 h")];

/// In the access-log panel (`l`).
pub const LOGS_KEYS: &[(&str, &str)] = &[
    (
        "/",
        "filter: words, \"phrases\", -exclusions (CloudWatch patterns; JSON ones on AWS)",
    ),
    (
        "↑↓ PgUp PgDn",
        "scroll back and forth; G follows the newest again",
    ),
    ("Esc", "close"),
];

/// In a confirmation dialog.
pub const CONFIRM_KEYS: &[(&str, &str)] = &[
    ("y", "do it"),
    ("r", "disconnect: also delete the records"),
    ("n Esc", "cancel"),
];

/// Rows PgUp/PgDn scroll a summary or the help by.
const OVERLAY_PAGE: usize = 10;

/// Turn a key into an action, given what is on screen.
pub fn action_for(app: &App, key: KeyEvent) -> Option<Action> {
    if ctrl(&key, 'c') {
        return Some(Action::Quit);
    }
    if app.prompt.kind != Prompt::None {
        return Some(match key.code {
            KeyCode::Enter => Action::SubmitPrompt,
            KeyCode::Esc => Action::Back,
            _ => Action::PromptKey(key),
        });
    }
    match &app.overlay {
        Overlay::None => TABLE_KEYS
            .iter()
            .find(|b| (b.matches)(&key))
            .map(|b| (b.action)()),
        Overlay::Composer(_) => Some(match key.code {
            KeyCode::Esc => Action::Back,
            _ => Action::ComposerKey(key),
        }),
        Overlay::Confirm(_) => match key.code {
            KeyCode::Char('y') | KeyCode::Char('Y') => Some(Action::Confirm),
            KeyCode::Char('r') => Some(Action::ToggleDeleteRecord),
            KeyCode::Char('n') | KeyCode::Esc | KeyCode::Char('q') => Some(Action::Back),
            _ => None,
        },
        Overlay::Progress(_) => None,
        Overlay::Storm if key.code == KeyCode::Char('w') => Some(Action::CycleMetricsWindow),
        Overlay::Logs => match key.code {
            KeyCode::Esc | KeyCode::Char('q') => Some(Action::Back),
            KeyCode::Char('/') => Some(Action::StartLogFilter),
            // Scrolling counts back from the newest line.
            KeyCode::Up | KeyCode::Char('k') => Some(Action::ScrollOverlay(1)),
            KeyCode::Down | KeyCode::Char('j') => Some(Action::ScrollOverlay(-1)),
            KeyCode::PageUp => Some(Action::ScrollOverlay(OVERLAY_PAGE as isize)),
            KeyCode::PageDown | KeyCode::Char(' ') => {
                Some(Action::ScrollOverlay(-(OVERLAY_PAGE as isize)))
            }
            KeyCode::Char('g') | KeyCode::Home => Some(Action::ScrollOverlay(isize::MAX / 2)),
            KeyCode::Char('G') | KeyCode::End => Some(Action::ScrollOverlay(isize::MIN / 2)),
            _ => None,
        },
        Overlay::Orphans { .. } => match key.code {
            KeyCode::Esc | KeyCode::Enter | KeyCode::Char('q') => Some(Action::Back),
            KeyCode::Up | KeyCode::Char('k') => Some(Action::ScrollOverlay(-1)),
            KeyCode::Down | KeyCode::Char('j') => Some(Action::ScrollOverlay(1)),
            KeyCode::Char('d') => Some(Action::DisconnectOrphan),
            _ => None,
        },
        Overlay::Help | Overlay::Summary(..) | Overlay::Storm => match key.code {
            KeyCode::Esc | KeyCode::Enter | KeyCode::Char('q') | KeyCode::Char('?') => {
                Some(Action::Back)
            }
            KeyCode::Up | KeyCode::Char('k') => Some(Action::ScrollOverlay(-1)),
            KeyCode::Down | KeyCode::Char('j') => Some(Action::ScrollOverlay(1)),
            KeyCode::PageUp => Some(Action::ScrollOverlay(-(OVERLAY_PAGE as isize))),
            KeyCode::PageDown | KeyCode::Char(' ') => {
                Some(Action::ScrollOverlay(OVERLAY_PAGE as isize))
            }
            KeyCode::Char('g') | KeyCode::Home => Some(Action::ScrollOverlay(isize::MIN / 2)),
            KeyCode::Char('G') | KeyCode::End => Some(Action::ScrollOverlay(isize::MAX / 2)),
            _ => None,
        },
        Overlay::Details(_) => match key.code {
            KeyCode::Esc | KeyCode::Enter | KeyCode::Char('q') | KeyCode::Char('?') => {
                Some(Action::Back)
            }
            KeyCode::Up | KeyCode::Char('k') => Some(Action::Up),
            KeyCode::Down | KeyCode::Char('j') => Some(Action::Down),
            _ => None,
        },
    }
}

/// Help lines: (keys, what they do), in table order, bindings that share a line merged.
pub fn help_lines() -> Vec<(&'static str, &'static str)> {
    TABLE_KEYS
        .iter()
        .filter(|b| !b.keys.is_empty())
        .map(|b| (b.keys, b.help))
        .collect()
}
