//! The stage's CloudWatch metrics (namespace AWS/ApiGateway, dimensions ApiId and Stage) over
//! the last 1 h, 3 h or 24 h, through GetMetricData: what the reconnect-storm view draws beside
//! the table's own churn.

use aws_config::SdkConfig;
use aws_sdk_cloudwatch::error::ProvideErrorMetadata;
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

/// The spans the incident view draws, each as `COLUMNS` columns of whole minutes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TimeWindow {
    #[default]
    Hour,
    ThreeHours,
    Day,
}

impl TimeWindow {
    pub const COLUMNS: usize = 60;

    pub fn minutes(self) -> i64 {
        match self {
            TimeWindow::Hour => 60,
            TimeWindow::ThreeHours => 180,
            TimeWindow::Day => 1440,
        }
    }

    /// Minutes per column (and GetMetricData's period, in minutes).
    pub fn column_minutes(self) -> i64 {
        self.minutes() / Self::COLUMNS as i64
    }

    pub fn label(self) -> &'static str {
        match self {
            TimeWindow::Hour => "1 h",
            TimeWindow::ThreeHours => "3 h",
            TimeWindow::Day => "24 h",
        }
    }

    pub fn column_label(self) -> &'static str {
        match self {
            TimeWindow::Hour => "per minute",
            TimeWindow::ThreeHours => "per 3 min",
            TimeWindow::Day => "per 24 min",
        }
    }

    pub fn next(self) -> Self {
        match self {
            TimeWindow::Hour => TimeWindow::ThreeHours,
            TimeWindow::ThreeHours => TimeWindow::Day,
            TimeWindow::Day => TimeWindow::Hour,
        }
    }

    /// The first minute (since the epoch) of the window whose last column holds `now`. Columns
    /// start on multiples of their width, as CloudWatch's periods do, so a column's figure does
    /// not shift as time passes.
    pub fn first_minute(self, now: time::OffsetDateTime) -> i64 {
        let width = self.column_minutes();
        let minute = now.unix_timestamp().div_euclid(60);
        let last_column = minute - minute.rem_euclid(width);
        last_column - (Self::COLUMNS as i64 - 1) * width
    }

    /// The column `minute` falls in, if it is inside the window that starts at `first_minute`.
    pub fn column(self, first_minute: i64, minute: i64) -> Option<usize> {
        let column = (minute - first_minute).div_euclid(self.column_minutes());
        (0..Self::COLUMNS as i64)
            .contains(&column)
            .then_some(column as usize)
    }

    /// Per-minute counts from `first_minute` summed into the window's columns.
    pub fn fold(self, first_minute: i64, per_minute: &[u64]) -> Vec<u64> {
        let mut columns = vec![0; Self::COLUMNS];
        for (i, value) in per_minute.iter().enumerate() {
            if let Some(c) = self.column(first_minute, first_minute + i as i64) {
                columns[c] += value;
            }
        }
        columns
    }
}

/// One metric, one value per column of the window, oldest first (0 where there is no data).
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

    /// The window up to `now`, one value per column: GetMetricData's period is a column.
    pub async fn over(
        &self,
        now: time::OffsetDateTime,
        window: TimeWindow,
    ) -> Result<Vec<MetricSeries>, String> {
        let start_minute = window.first_minute(now);
        let end_minute = start_minute + window.minutes();
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
                            .period((window.column_minutes() * 60) as i32)
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
                .unwrap_or_else(|| crate::aws_env::describe_unanswered_call(&e, "CloudWatch"));
            format!("GetMetricData failed: {code} {message}")
        })?;
        Ok(series_of(&out, start_minute, window))
    }
}

/// One value per column of the window from `start_minute` for each metric of the answer (0
/// where it has none).
fn series_of(
    out: &aws_sdk_cloudwatch::operation::get_metric_data::GetMetricDataOutput,
    start_minute: i64,
    window: TimeWindow,
) -> Vec<MetricSeries> {
    METRICS
        .iter()
        .enumerate()
        .map(|(i, (name, _))| {
            let mut values = vec![0.0; TimeWindow::COLUMNS];
            let id = format!("m{i}");
            if let Some(result) = out
                .metric_data_results()
                .iter()
                .find(|r| r.id() == Some(id.as_str()))
            {
                for (at, value) in result.timestamps().iter().zip(result.values()) {
                    if let Some(c) = window.column(start_minute, at.secs().div_euclid(60)) {
                        values[c] += value;
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
    fn answers_land_in_their_column() {
        let start = 29_000_000;
        let out = GetMetricDataOutput::builder()
            .metric_data_results(
                MetricDataResult::builder()
                    .id("m0")
                    .timestamps(DateTime::from_secs((start + 2) * 60 + 5))
                    .values(7.0)
                    .timestamps(DateTime::from_secs((start + 60) * 60))
                    .values(1.0)
                    .build(),
            )
            .build();
        let series = series_of(&out, start, TimeWindow::Hour);
        assert_eq!(series[0].name, "ConnectCount");
        let mut expected = vec![0.0; 60];
        expected[2] = 7.0;
        assert_eq!(series[0].values, expected, "outside the window is left out");
        assert_eq!(series[1].values, vec![0.0; 60]);
        // 24 h: 24-minute columns, so minute 2 and minute 20 share the first.
        let series = series_of(&out, start, TimeWindow::Day);
        assert_eq!(series[0].values[0], 7.0);
        assert_eq!(series[0].values[2], 1.0, "minute 60 is in the third column");
    }

    #[test]
    fn windows_start_on_whole_columns_and_end_now() {
        let now = time::OffsetDateTime::from_unix_timestamp(29_000_017 * 60 + 5).expect("time");
        for window in [TimeWindow::Hour, TimeWindow::ThreeHours, TimeWindow::Day] {
            let first = window.first_minute(now);
            assert_eq!(first.rem_euclid(window.column_minutes()), 0);
            assert_eq!(
                window.column(first, 29_000_017),
                Some(TimeWindow::COLUMNS - 1),
                "{window:?}: now is in the last column"
            );
            assert_eq!(window.column(first, first - 1), None);
        }
        let first = TimeWindow::ThreeHours.first_minute(now);
        let folded = TimeWindow::ThreeHours.fold(first, &[1, 2, 3, 4]);
        assert_eq!(
            (folded[0], folded[1], folded.iter().sum::<u64>()),
            (6, 4, 10)
        );
    }
}
