//! `o`: the orphans, one line each, the selected one marked. Built as text so the tests read
//! exactly what the operator reads.

use crate::text::printable;
use crate::tui::app::App;

/// The view's title and lines.
pub fn build(app: &App, selected: Option<&str>) -> (String, Vec<String>) {
    let title = " orphans: open at the gateway, unknown to the store ".to_string();
    let Some(source) = &app.env.access_logs else {
        return (
            title,
            vec![
                "Orphans are found in the stage's access log; this environment has none.".into(),
                "Set log_group in its configuration (wsdash doctor prints how to turn access logging on).".into(),
            ],
        );
    };
    let mut lines = vec![format!(
        "From {source} (CONNECT without DISCONNECT, the last 2 h) and the store; each confirmed by GetConnection."
    )];
    match &app.telemetry.orphans {
        None => lines.push("(looking…)".into()),
        Some(Err(e)) => lines.push(format!("cannot look: {}", printable(&e.to_string()))),
        Some(Ok(orphans)) if orphans.is_empty() => {
            lines.push("None: every open connection has its record.".into())
        }
        Some(Ok(orphans)) => {
            lines.push(format!(
                "{} connection(s) no push reaches. d closes the selected one: its client reconnects and registers again.",
                orphans.len()
            ));
            lines.push(String::new());
            let now_ms = (app.now.unix_timestamp_nanos() / 1_000_000) as i64;
            for orphan in orphans {
                let mark = if selected == Some(orphan.connection_id.as_str()) {
                    "▶"
                } else {
                    " "
                };
                let ip = orphan
                    .info
                    .source_ip
                    .clone()
                    .unwrap_or_else(|| orphan.source_ip.clone());
                let agent = orphan
                    .info
                    .user_agent
                    .clone()
                    .unwrap_or_else(|| orphan.user_agent.clone());
                lines.push(format!(
                    "{mark} {}  {:>7}  {}  {}",
                    printable(&orphan.connection_id),
                    crate::model::format_age(time::Duration::milliseconds(
                        now_ms - orphan.connected_at_ms
                    )),
                    printable(&ip),
                    printable(&agent),
                ));
            }
        }
    }
    (title, lines)
}
