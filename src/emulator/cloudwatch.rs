//! The stage's CloudWatch metrics (namespace AWS/ApiGateway, dimensions ApiId and Stage), per
//! minute, and GetMetricData in the protocol the AWS SDKs send it (Smithy RPC v2 CBOR), so the
//! dashboard reads the demo's metrics through the very code path it uses against AWS.
//!
//! The counts come from what the access log sees (every `$connect`, message and `$disconnect`)
//! and from delivered pushes: ConnectCount, MessageCount (both directions, as AWS counts it),
//! ClientError (4xx answers to clients), IntegrationError (4xx/5xx from the backend),
//! ExecutionError (5xx of the gateway's own) and IntegrationLatency.

use crate::access_logs::AccessLogEntry;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use ciborium::Value;
use std::collections::BTreeMap;
use std::sync::Mutex;

/// The request path of GetMetricData in RPC v2 CBOR (the Rust SDK).
pub const GET_METRIC_DATA_PATH: &str =
    "/service/GraniteServiceVersion20100801/operation/GetMetricData";

/// The `X-Amz-Target` of GetMetricData in AWS JSON 1.0 (`POST /`; botocore 1.43 picks it, the
/// first protocol of CloudWatch's list it speaks).
pub const GET_METRIC_DATA_TARGET: &str = "GraniteServiceVersion20100801.GetMetricData";

/// Which wire protocol a GetMetricData request came in, and so the answer goes out in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    RpcV2Cbor,
    AwsJson1_0,
}

/// A day and a bit of minutes: the dashboard's longest window is 24 h.
const KEPT_MINUTES: i64 = 25 * 60;

#[derive(Debug, Default, Clone, Copy)]
struct Minute {
    connects: f64,
    messages: f64,
    client_errors: f64,
    integration_errors: f64,
    execution_errors: f64,
    latency_sum: f64,
    latency_samples: f64,
}

/// Per-minute counters of one stage.
#[derive(Debug, Default)]
pub struct StageMetrics {
    minutes: Mutex<BTreeMap<i64, Minute>>,
}

fn this_minute() -> i64 {
    time::OffsetDateTime::now_utc()
        .unix_timestamp()
        .div_euclid(60)
}

impl StageMetrics {
    fn add(&self, change: impl FnOnce(&mut Minute)) {
        let minute = this_minute();
        let mut minutes = self.minutes.lock().unwrap_or_else(|p| p.into_inner());
        change(minutes.entry(minute).or_default());
        while minutes
            .first_key_value()
            .is_some_and(|(first, _)| *first < minute - KEPT_MINUTES)
        {
            minutes.pop_first();
        }
    }

    /// Count what an access-log line says happened.
    pub fn observe(&self, entry: &AccessLogEntry) {
        self.add(|m| {
            match entry.event_type.as_str() {
                "CONNECT" => m.connects += 1.0,
                "MESSAGE" => m.messages += 1.0,
                _ => {}
            }
            match entry.status {
                400..=499 => m.client_errors += 1.0,
                500..=599 => m.execution_errors += 1.0,
                _ => {}
            }
            if entry.integration_status.is_some_and(|s| s >= 400) {
                m.integration_errors += 1.0;
            }
            if let Some(latency) = entry.integration_latency {
                m.latency_sum += latency as f64;
                m.latency_samples += 1.0;
            }
        });
    }

    /// A push delivered to a client: a message, as AWS counts MessageCount.
    pub fn message_sent(&self) {
        self.add(|m| m.messages += 1.0);
    }

    /// One statistic of one metric per `period_minutes` from `start` to `end` (minutes),
    /// newest first as CloudWatch answers by default; only periods with data.
    fn series(
        &self,
        metric: &str,
        stat: &str,
        start: i64,
        end: i64,
        period_minutes: i64,
    ) -> Vec<(i64, f64)> {
        let minutes = self.minutes.lock().unwrap_or_else(|p| p.into_inner());
        let mut periods: BTreeMap<i64, (f64, f64)> = BTreeMap::new();
        for (minute, m) in minutes.range(start..end) {
            let (value, samples) = match metric {
                "ConnectCount" => (m.connects, m.connects),
                "MessageCount" => (m.messages, m.messages),
                "ClientError" => (m.client_errors, m.connects + m.messages),
                "IntegrationError" => (m.integration_errors, m.connects + m.messages),
                "ExecutionError" => (m.execution_errors, m.connects + m.messages),
                "IntegrationLatency" => (m.latency_sum, m.latency_samples),
                _ => continue,
            };
            let period = start + (minute - start) / period_minutes * period_minutes;
            let slot = periods.entry(period).or_default();
            slot.0 += value;
            slot.1 += samples;
        }
        periods
            .into_iter()
            .rev()
            .filter(|(_, (_, samples))| *samples > 0.0)
            .map(|(period, (sum, samples))| {
                let value = match stat {
                    "Average" => sum / samples,
                    "SampleCount" => samples,
                    _ => sum,
                };
                (period * 60, value)
            })
            .collect()
    }
}

/// A refusal as both protocols carry it: `__type` and `message` in the body.
pub fn error_response(
    protocol: Protocol,
    status: StatusCode,
    error_type: &str,
    message: &str,
) -> Response {
    let body = Value::Map(vec![
        (Value::Text("__type".into()), Value::Text(error_type.into())),
        (Value::Text("message".into()), Value::Text(message.into())),
    ]);
    respond(protocol, status, &body)
}

fn respond(protocol: Protocol, status: StatusCode, body: &Value) -> Response {
    match protocol {
        Protocol::RpcV2Cbor => cbor_response(status, body),
        Protocol::AwsJson1_0 => {
            let mut response = (status, json_of(body).to_string()).into_response();
            response.headers_mut().insert(
                "content-type",
                HeaderValue::from_static("application/x-amz-json-1.0"),
            );
            response
        }
    }
}

/// CBOR to JSON as AWS JSON 1.0 writes the same shapes: timestamps as epoch seconds.
fn json_of(value: &Value) -> serde_json::Value {
    use serde_json::Value as Json;
    match value {
        Value::Tag(_, inner) => json_of(inner),
        Value::Integer(i) => i64::try_from(*i).map(Json::from).unwrap_or(Json::Null),
        Value::Float(f) => serde_json::Number::from_f64(*f)
            .map(Json::Number)
            .unwrap_or(Json::Null),
        Value::Text(t) => Json::String(t.clone()),
        Value::Bool(b) => Json::Bool(*b),
        Value::Array(items) => Json::Array(items.iter().map(json_of).collect()),
        Value::Map(entries) => Json::Object(
            entries
                .iter()
                .filter_map(|(k, v)| Some((k.as_text()?.to_string(), json_of(v))))
                .collect(),
        ),
        _ => Json::Null,
    }
}

fn cbor_response(status: StatusCode, body: &Value) -> Response {
    let mut bytes = Vec::new();
    if ciborium::into_writer(body, &mut bytes).is_err() {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    let mut response = (status, bytes).into_response();
    let headers = response.headers_mut();
    headers.insert("content-type", HeaderValue::from_static("application/cbor"));
    headers.insert("smithy-protocol", HeaderValue::from_static("rpc-v2-cbor"));
    response
}

fn field<'a>(map: &'a Value, name: &str) -> Option<&'a Value> {
    map.as_map()?
        .iter()
        .find(|(k, _)| k.as_text() == Some(name))
        .map(|(_, v)| v)
}

fn text<'a>(map: &'a Value, name: &str) -> Option<&'a str> {
    field(map, name)?.as_text()
}

/// Epoch seconds of a CBOR timestamp (tag 1 over an integer or a float).
fn epoch_seconds(value: &Value) -> Option<f64> {
    let inner = match value {
        Value::Tag(1, inner) => inner.as_ref(),
        other => other,
    };
    match inner {
        Value::Integer(i) => i64::try_from(*i).ok().map(|i| i as f64),
        Value::Float(f) => Some(*f),
        _ => None,
    }
}

fn timestamp(seconds: i64) -> Value {
    Value::Tag(1, Box::new(Value::Integer(seconds.into())))
}

/// One query's answer, or why the request is invalid.
fn answer_query(
    metrics: &StageMetrics,
    query: &Value,
    api_id: &str,
    stage: &str,
    start: i64,
    end: i64,
) -> Result<Value, String> {
    let id = text(query, "Id").ok_or("every MetricDataQuery needs an Id")?;
    let stat = field(query, "MetricStat").ok_or_else(|| {
        format!("query {id}: only MetricStat queries are served by the emulator (no Expression)")
    })?;
    let metric = field(stat, "Metric").ok_or_else(|| format!("query {id}: no Metric"))?;
    let period = field(stat, "Period")
        .and_then(|p| p.as_integer())
        .and_then(|p| i64::try_from(p).ok())
        .ok_or_else(|| format!("query {id}: no Period"))?;
    if period <= 0 || period % 60 != 0 {
        return Err(format!(
            "query {id}: the Period must be a multiple of 60 seconds, got {period}"
        ));
    }
    let statistic = text(stat, "Stat").unwrap_or("Sum");
    let name = text(metric, "MetricName").unwrap_or_default();
    let dimensions: Vec<(&str, &str)> = field(metric, "Dimensions")
        .and_then(Value::as_array)
        .map(|dims| {
            dims.iter()
                .filter_map(|d| Some((text(d, "Name")?, text(d, "Value")?)))
                .collect()
        })
        .unwrap_or_default();
    // CloudWatch answers an unknown metric or dimension set with no data, not an error.
    let ours = text(metric, "Namespace") == Some("AWS/ApiGateway")
        && dimensions.len() == 2
        && dimensions.contains(&("ApiId", api_id))
        && dimensions.contains(&("Stage", stage));
    let points = if ours {
        metrics.series(name, statistic, start, end, period / 60)
    } else {
        Vec::new()
    };
    Ok(Value::Map(vec![
        (Value::Text("Id".into()), Value::Text(id.into())),
        (Value::Text("Label".into()), Value::Text(name.into())),
        (
            Value::Text("Timestamps".into()),
            Value::Array(points.iter().map(|(t, _)| timestamp(*t)).collect()),
        ),
        (
            Value::Text("Values".into()),
            Value::Array(points.iter().map(|(_, v)| Value::Float(*v)).collect()),
        ),
        (
            Value::Text("StatusCode".into()),
            Value::Text("Complete".into()),
        ),
    ]))
}

/// GetMetricData for this stage's metrics, from a request body in `protocol`.
pub fn get_metric_data(
    protocol: Protocol,
    metrics: &StageMetrics,
    api_id: &str,
    stage: &str,
    body: &[u8],
) -> Response {
    let invalid = |message: &str| {
        error_response(
            protocol,
            StatusCode::BAD_REQUEST,
            "InvalidParameterValue",
            message,
        )
    };
    let request = match protocol {
        Protocol::RpcV2Cbor => ciborium::from_reader::<Value, _>(body).ok(),
        Protocol::AwsJson1_0 => serde_json::from_slice::<serde_json::Value>(body)
            .ok()
            .and_then(|json| Value::serialized(&json).ok()),
    };
    let Some(request) = request else {
        return invalid("the body cannot be read in the request's protocol");
    };
    let (Some(start), Some(end)) = (
        field(&request, "StartTime").and_then(epoch_seconds),
        field(&request, "EndTime").and_then(epoch_seconds),
    ) else {
        return invalid("StartTime and EndTime are required");
    };
    if end <= start {
        return invalid("The parameter StartTime must be less than the parameter EndTime.");
    }
    let (start, end) = ((start / 60.0).floor() as i64, (end / 60.0).ceil() as i64);
    let queries = field(&request, "MetricDataQueries")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if queries.is_empty() || queries.len() > 500 {
        return invalid("MetricDataQueries must hold 1 to 500 queries");
    }
    let mut results = Vec::with_capacity(queries.len());
    for query in &queries {
        match answer_query(metrics, query, api_id, stage, start, end) {
            Ok(result) => results.push(result),
            Err(message) => return invalid(&message),
        }
    }
    respond(
        protocol,
        StatusCode::OK,
        &Value::Map(vec![
            (
                Value::Text("MetricDataResults".into()),
                Value::Array(results),
            ),
            (Value::Text("Messages".into()), Value::Array(vec![])),
        ]),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minutes_fold_into_periods_newest_first_and_averages_divide_by_samples() {
        let metrics = StageMetrics::default();
        let mut connect = AccessLogEntry::now("a", "CONNECT", "$connect", 200);
        connect.integration_latency = Some(10);
        metrics.observe(&connect);
        connect.integration_latency = Some(30);
        connect.status = 401;
        metrics.observe(&connect);
        metrics.message_sent();
        let now = this_minute();
        assert_eq!(
            metrics.series("ConnectCount", "Sum", now - 5, now + 1, 1),
            vec![(now * 60, 2.0)]
        );
        assert_eq!(
            metrics.series("ClientError", "Sum", now - 5, now + 1, 1),
            vec![(now * 60, 1.0)]
        );
        assert_eq!(
            metrics.series("IntegrationLatency", "Average", now - 5, now + 1, 1),
            vec![(now * 60, 20.0)]
        );
        assert_eq!(
            metrics.series("MessageCount", "Sum", now - 5, now + 1, 1),
            vec![(now * 60, 1.0)]
        );
        assert!(metrics
            .series("Nothing", "Sum", now - 5, now + 1, 1)
            .is_empty());
    }
}
