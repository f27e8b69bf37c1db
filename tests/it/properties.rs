//! Property tests: whatever arrives from outside — a DynamoDB item, a config file, a payload, a
//! token, a client's frames — wsdash answers with a value or an error, never a panic.

use crate::common;

use aws_sdk_dynamodb::types::AttributeValue;
use proptest::prelude::*;
use std::collections::HashMap;
use std::path::Path;
use wsdash::store::schema::{KeyedBy, SchemaOverrides, TableSchema, TimeFormat};

fn attribute() -> impl Strategy<Value = AttributeValue> {
    let leaf = prop_oneof![
        any::<String>().prop_map(AttributeValue::S),
        // Numbers as DynamoDB sends them: any text, since a broken writer sends anything.
        prop_oneof![
            any::<i64>().prop_map(|n| n.to_string()),
            any::<f64>().prop_map(|n| n.to_string()),
            "[0-9eE.+-]{0,40}",
        ]
        .prop_map(AttributeValue::N),
        any::<bool>().prop_map(AttributeValue::Bool),
        Just(AttributeValue::Null(true)),
        prop::collection::vec(any::<u8>(), 0..64)
            .prop_map(|b| AttributeValue::B(aws_smithy_types::Blob::new(b))),
        prop::collection::vec(any::<String>(), 0..4).prop_map(AttributeValue::Ss),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(AttributeValue::L),
            prop::collection::hash_map("[a-z_]{1,12}", inner, 0..4).prop_map(AttributeValue::M),
        ]
    })
}

fn item() -> impl Strategy<Value = HashMap<String, AttributeValue>> {
    let known = prop_oneof![
        Just("user_id".to_string()),
        Just("connection_id".to_string()),
        Just("connected_at".to_string()),
        "[a-z_]{1,10}",
    ];
    prop::collection::hash_map(known, attribute(), 0..6)
}

fn schema(keyed_by: KeyedBy) -> TableSchema {
    TableSchema {
        names: SchemaOverrides::default(),
        keyed_by,
        user_index: None,
        connection_index: None,
        time_format: TimeFormat::Iso8601,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn any_item_parses_to_a_record_or_a_malformed_reason(item in item()) {
        for keyed_by in [KeyedBy::User, KeyedBy::Connection, KeyedBy::UserThenConnection] {
            match schema(keyed_by).parse(&item) {
                Ok(record) => {
                    // A record's id can always go into a Management API path.
                    prop_assert!(wsdash::model::connection_id_problem(&record.connection_id).is_none());
                    let _ = wsdash::text::printable(&record.user_id);
                }
                Err(malformed) => prop_assert!(!malformed.reason.is_empty()),
            }
        }
        // Items round-trip through the audit log's JSON form without a panic.
        let json = wsdash::store::schema::item_to_json(&item);
        let _ = wsdash::store::schema::item_from_json(&json);
    }

    #[test]
    fn any_time_value_parses_or_says_why(value in attribute()) {
        let _ = wsdash::store::schema::parse_time(&value);
    }

    #[test]
    fn any_text_is_printable_without_control_characters(text in any::<String>()) {
        let shown = wsdash::text::printable(&text);
        prop_assert!(!shown.chars().any(char::is_control));
        let _ = wsdash::model::connection_id_problem(&text);
        let _ = wsdash::model::parse_iso(&text);
        let _ = wsdash::logging::redact(&text);
    }

    #[test]
    fn any_config_file_loads_or_says_what_is_wrong(text in config_text()) {
        let path = Path::new("/tmp/wsdash-prop.toml");
        if let Ok(file) = wsdash::config::parse_config(&text, path) {
            let _ = wsdash::config::resolve(&file, path, None, &Default::default());
            for name in file.env.keys() {
                let _ = wsdash::config::resolve(&file, path, Some(name), &Default::default());
            }
        }
    }

    #[test]
    fn any_payload_is_accepted_or_refused(bytes in prop::collection::vec(any::<u8>(), 0..140_000), json in any::<bool>()) {
        let _ = wsdash::ops::push::check_payload(&bytes, json);
    }

    #[test]
    fn any_token_is_a_user_or_an_error(token in token()) {
        let auth = wsdash::emulator::auth::TokenAuth::new(Some("secret".into()), true);
        match auth.authenticate(Some(&token)) {
            Ok(user) => prop_assert!(!user.is_empty()),
            Err(e) => prop_assert!(!e.to_string().is_empty()),
        }
    }
}

/// TOML-shaped text with the real keys and hostile values, plus plain noise.
fn config_text() -> impl Strategy<Value = String> {
    let key = prop_oneof![
        Just("region"),
        Just("profile"),
        Just("table"),
        Just("endpoint"),
        Just("dynamodb_endpoint"),
        Just("readonly"),
        Just("color"),
        Just("probe_rate"),
        Just("probe_concurrency"),
        Just("scan_segments"),
        Just("bogus"),
    ];
    let value = prop_oneof![
        any::<String>().prop_map(|s| format!("{s:?}")),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<f64>().prop_map(|n| format!("{n:?}")),
        Just("nan".to_string()),
        Just("inf".to_string()),
        Just("-0.0".to_string()),
        Just("true".to_string()),
        Just("[1, 2]".to_string()),
    ];
    let env = prop::collection::vec((key, value), 0..6).prop_map(|pairs| {
        pairs
            .into_iter()
            .map(|(k, v)| format!("{k} = {v}\n"))
            .collect::<String>()
    });
    prop_oneof![
        ("[a-z]{1,6}", env.clone())
            .prop_map(|(name, body)| format!("default_env = \"{name}\"\n[env.{name}]\n{body}")),
        env.prop_map(|body| format!("[env.x]\n{body}")),
        any::<String>(),
    ]
}

/// Dev tokens, JWT-shaped text with arbitrary segments, and noise.
fn token() -> impl Strategy<Value = String> {
    use base64::Engine;
    let b64 = |v: Vec<u8>| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
    let json_segment = prop_oneof![
        Just(r#"{"alg":"HS256","typ":"JWT"}"#.to_string()),
        Just(r#"{"alg":"none"}"#.to_string()),
        r#"\{"sub":".{0,20}","exp":-?[0-9]{1,20}(\.[0-9]+)?,"iat":-?[0-9e.]{1,25}\}"#,
        any::<String>(),
    ];
    prop_oneof![
        any::<String>().prop_map(|s| format!("dev:{s}")),
        (
            json_segment.clone(),
            json_segment,
            prop::collection::vec(any::<u8>(), 0..40)
        )
            .prop_map(move |(h, p, sig)| format!(
                "{}.{}.{}",
                b64(h.into_bytes()),
                b64(p.into_bytes()),
                b64(sig)
            )),
        any::<String>(),
    ]
}

/// A client may send anything: the gateway routes it, closes the socket with a code, or
/// answers with an error frame, and keeps serving everyone else.
#[test]
fn any_client_frames_leave_the_gateway_serving() {
    use futures_util::{SinkExt, StreamExt};
    use proptest::test_runner::{Config, TestRunner};
    use tokio_tungstenite::tungstenite::Message;
    let demo = common::quiet_demo(&[]);
    let common::DemoUrls {
        websocket, admin, ..
    } = demo.demo_urls();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let frames = prop::collection::vec(
        prop_oneof![
            any::<String>().prop_map(Message::text),
            ".{0,2000}".prop_map(Message::text),
            r#"\{"action":"[a-z$]{0,10}","data":.{0,50}\}"#.prop_map(Message::text),
            prop::collection::vec(any::<u8>(), 0..200_000).prop_map(Message::binary),
            prop::collection::vec(any::<u8>(), 0..125).prop_map(|b| Message::Ping(b.into())),
        ],
        1..6,
    );
    let mut runner = TestRunner::new(Config {
        cases: 40,
        ..Config::default()
    });
    runner
        .run(&frames, |frames| {
            runtime.block_on(async {
                let (mut socket, _) =
                    tokio_tungstenite::connect_async(format!("{websocket}?token=dev:fuzz"))
                        .await
                        .expect("the gateway still accepts connections");
                for frame in frames {
                    if socket.send(frame).await.is_err() {
                        break;
                    }
                }
                // Drain whatever comes back (answers, errors, a close) for a moment.
                let _ = tokio::time::timeout(std::time::Duration::from_millis(50), async {
                    while let Some(Ok(_)) = socket.next().await {}
                })
                .await;
                let _ = socket.close(None).await;
            });
            Ok(())
        })
        .expect("no frame sequence breaks the gateway");
    let stats = runtime.block_on(async {
        reqwest::get(format!("{admin}/stats"))
            .await
            .expect("admin API answers")
            .status()
    });
    assert!(stats.is_success());
}
