//! The stage's CloudWatch metrics (namespace AWS/ApiGateway, dimensions ApiId and Stage) per
//! minute over the last hour, through GetMetricData: what the reconnect-storm view draws beside
//! the table's own churn.

use aws_config::SdkConfig;
use aws_sdk_cloudwatch::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat};
use aws_sdk_cloudwatch::Client;

/// The metrics the panel shows, and the statistic that makes sense for each.
pub const METRICS: [(&str, &str); 6] = [
    ("ConnectCount", "Sum"),
    ("MessageCount", "Sum"),
    ("IntegrationError", "Sum"),
    ("ClientError", "Sum"),
    ("ExecutionError", "Sum"),
    ("IntegrationLatency", "Average"),
];

/// One metric, one value per minute, oldest first (0 for minutes without data).
#[derive(Debug, Clone, PartialEq)]
pub struct MetricSeries {
    pub name: String,
    pub values: Vec<f64>,
}

pub struct CloudWatchMetrics {
    client: Client,
    api_id: String,
    stage: String,
}

impl CloudWatchMetrics {
    /// AWS_ENDPOINT_URL_CLOUDWATCH points it elsewhere, as for every SDK client.
    pub fn new(sdk: &SdkConfig, endpoint: Option<&str>, api_id: &str, stage: &str) -> Self {
        let mut config = aws_sdk_cloudwatch::config::Builder::from(sdk);
        if let Some(endpoint) = endpoint {
            config = config.endpoint_url(endpoint);
        }
        CloudWatchMetrics {
            client: Client::from_conf(config.build()),
            api_id: api_id.to_string(),
            stage: stage.to_string(),
        }
    }

    /// The last `minutes` minutes up to `now`, one value per minute.
    pub async fn per_minute(
        &self,
        now: time::OffsetDateTime,
        minutes: usize,
    ) -> Result<Vec<MetricSeries>, String> {
        let end_minute = now.unix_timestamp().div_euclid(60) + 1;
        let start_minute = end_minute - minutes as i64;
        let mut request = self
            .client
            .get_metric_data()
            .start_time(DateTime::from_secs(start_minute * 60))
            .end_time(DateTime::from_secs(end_minute * 60));
        for (i, (name, stat)) in METRICS.iter().enumerate() {
            let metric = Metric::builder()
                .namespace("AWS/ApiGateway")
                .metric_name(*name)
                .dimensions(
                    Dimension::builder()
                        .name("ApiId")
                        .value(&self.api_id)
                        .build(),
                )
                .dimensions(
                    Dimension::builder()
                        .name("Stage")
                        .value(&self.stage)
                        .build(),
                )
                .build();
            request = request.metric_data_queries(
                MetricDataQuery::builder()
                    .id(format!("m{i}"))
                    .metric_stat(
                        MetricStat::builder()
                            .metric(metric)
                            .period(60)
                            .stat(*stat)
                            .build(),
                    )
                    .build(),
            );
        }
        let out = request.send().await.map_err(|e| {
            let code = e.code().unwrap_or_default().to_string();
            let message = e
                .message()
                .map(str::to_string)
                .unwrap_or_else(|| DisplayErrorContext(&e).to_string());
            format!("GetMetricData failed: {code} {message}")
        })?;
        Ok(series_of(&out, start_minute, minutes))
    }
}

/// One value per minute from `start_minute` for each metric of the answer (0 where it has none).
fn series_of(
    out: &aws_sdk_cloudwatch::operation::get_metric_data::GetMetricDataOutput,
    start_minute: i64,
    minutes: usize,
) -> Vec<MetricSeries> {
    METRICS
        .iter()
        .enumerate()
        .map(|(i, (name, _))| {
            let mut values = vec![0.0; minutes];
            let id = format!("m{i}");
            if let Some(result) = out
                .metric_data_results()
                .iter()
                .find(|r| r.id() == Some(id.as_str()))
            {
                for (at, value) in result.timestamps().iter().zip(result.values()) {
                    let minute = at.secs().div_euclid(60);
                    if (start_minute..start_minute + minutes as i64).contains(&minute) {
                        values[(minute - start_minute) as usize] += value;
                    }
                }
            }
            MetricSeries {
                name: name.to_string(),
                values,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_cloudwatch::operation::get_metric_data::GetMetricDataOutput;
    use aws_sdk_cloudwatch::types::MetricDataResult;

    #[test]
    fn answers_land_in_their_minute() {
        let start = 29_000_000;
        let out = GetMetricDataOutput::builder()
            .metric_data_results(
                MetricDataResult::builder()
                    .id("m0")
                    .timestamps(DateTime::from_secs((start + 2) * 60 + 5))
                    .values(7.0)
                    .timestamps(DateTime::from_secs((start + 9) * 60))
                    .values(1.0)
                    .build(),
            )
            .build();
        let series = series_of(&out, start, 4);
        assert_eq!(series[0].name, "ConnectCount");
        assert_eq!(
            series[0].values,
            vec![0.0, 0.0, 7.0, 0.0],
            "outside the window is left out"
        );
        assert_eq!(series[1].values, vec![0.0; 4]);
    }
}
