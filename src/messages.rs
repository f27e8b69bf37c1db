//! The guide's message types (§3.3, §4.2) and one example payload for each.

/// `assets/templates.json`: one example payload per message type.
pub const TEMPLATES_JSON: &str = include_str!("../assets/templates.json");

/// The message types in the guide's order.
pub const MESSAGE_TYPES: [&str; 6] = [
    "new_content",
    "new_comment",
    "status_update",
    "alert_triggered",
    "unread_counts",
    "heartbeat",
];

/// The template for a message type, with a fresh timestamp.
pub fn template(message_type: &str) -> Option<serde_json::Value> {
    let all: serde_json::Value = serde_json::from_str(TEMPLATES_JSON).ok()?;
    let mut payload = all.get(message_type)?.clone();
    if let Some(object) = payload.as_object_mut() {
        object.insert(
            "sent_at".into(),
            crate::model::iso_millis(crate::model::now_utc_millis()).into(),
        );
    }
    Some(payload)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_message_type_has_a_template_of_its_type() {
        for t in MESSAGE_TYPES {
            let payload = template(t).expect(t);
            assert_eq!(payload["type"], t);
        }
        assert!(template("nope").is_none());
    }
}
