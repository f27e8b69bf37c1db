//! Delivery outcomes: counters by class, deliveries per second, the latest results, and in the
//! demo the emulator's own counters of everyone's pushes.

use crate::model::DeliveryClass;
use crate::tui::app::App;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Sparkline};
use ratatui::Frame;

const SHOWN: [(DeliveryClass, &str, Color); 6] = [
    (DeliveryClass::Delivered, "delivered", Color::Green),
    (DeliveryClass::Gone, "gone", Color::Red),
    (DeliveryClass::Forbidden, "forbidden", Color::LightRed),
    (DeliveryClass::PayloadTooLarge, "too large", Color::Magenta),
    (DeliveryClass::Throttled, "throttled", Color::Yellow),
    (DeliveryClass::Other, "error", Color::LightRed),
];

pub fn render(app: &App, frame: &mut Frame, area: Rect) {
    let [left, right] =
        Layout::horizontal([Constraint::Percentage(45), Constraint::Percentage(55)]).areas(area);
    let block = Block::default()
        .borders(Borders::ALL)
        .title(" your pushes ");
    let inner = block.inner(left);
    frame.render_widget(block, left);
    let [counts_area, spark_area, emulator_area] = Layout::vertical([
        Constraint::Length(2),
        Constraint::Min(2),
        Constraint::Length(2),
    ])
    .areas(inner);
    let count = |class: DeliveryClass| app.outcomes.counts.get(&class).copied().unwrap_or(0);
    let errors =
        count(DeliveryClass::Other) + count(DeliveryClass::Timeout) + count(DeliveryClass::Network);
    let spans: Vec<Span> = SHOWN
        .iter()
        .map(|(class, name, color)| {
            let n = if *class == DeliveryClass::Other {
                errors
            } else {
                count(*class)
            };
            Span::styled(format!("{name} {n}  "), Style::default().fg(*color))
        })
        .collect();
    frame.render_widget(
        Paragraph::new(vec![Line::from(spans), Line::from("deliveries/s (60 s):")]),
        counts_area,
    );
    let data: Vec<u64> = app.outcomes.per_second.iter().copied().collect();
    frame.render_widget(
        Sparkline::default()
            .data(&data)
            .style(Style::default().fg(Color::Green)),
        spark_area,
    );
    if let Some(stats) = &app.telemetry.emulator_stats {
        let get = |k: &str| stats.post_to_connection.get(k).copied().unwrap_or(0);
        let line = format!(
            "emulator (all pushes): ok {} gone {} 429 {} 403 {} · sockets {}",
            get("delivered"),
            get("gone"),
            get("throttled"),
            get("forbidden"),
            stats.live_connections
        );
        frame.render_widget(
            Paragraph::new(line).style(Style::default().fg(Color::Cyan)),
            emulator_area,
        );
    }

    let block = Block::default()
        .borders(Borders::ALL)
        .title(" latest outcomes ");
    let inner = block.inner(right);
    frame.render_widget(block, right);
    let lines: Vec<Line> = app
        .outcomes
        .recent
        .iter()
        .take(inner.height as usize)
        .map(|o| {
            let color = if o.class == DeliveryClass::Delivered {
                Color::Green
            } else {
                Color::Red
            };
            Line::from(vec![
                Span::raw(format!("{} ", crate::model::clock(o.at))),
                Span::raw(format!("{:<12} ", crate::text::printable(&o.target))),
                Span::styled(
                    format!("{:<10}", o.class.as_str()),
                    Style::default().fg(color),
                ),
                Span::raw(format!(" {:>6.1} ms", o.latency_ms)),
                Span::raw(if o.record_deleted {
                    "  stale record deleted".to_string()
                } else {
                    String::new()
                }),
            ])
        })
        .collect();
    let text = if lines.is_empty() {
        vec![Line::from("no pushes yet: press p to compose one")]
    } else {
        lines
    };
    frame.render_widget(Paragraph::new(text), inner);
}
