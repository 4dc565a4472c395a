//! `tripkey scan logs://LOG_GROUP`: CloudTrail events from a CloudWatch Logs group, for
//! trails that deliver there as well as (or instead of) to S3.
//!
//! `FilterLogEvents` is read page by page, each page one piece of the scan. The window's
//! `--since`/`--until`, widened by its margin, bounds the events' timestamps, so a one-day
//! window reads one day of the group.

use aws_sdk_cloudwatchlogs::Client;
use scan::{Feed, Piece, Remote};
use trail::ScanWindow;
use tripkey_aws::{AwsError, AwsOptions};

/// Events per page: the most `FilterLogEvents` returns.
const PAGE_EVENTS: i32 = 10_000;

/// A log group to scan.
#[derive(Debug)]
pub struct LogGroupScan {
    name: String,
    group: String,
    options: AwsOptions,
}

impl LogGroupScan {
    /// Reads `logs://LOG_GROUP` (the group's name, or its ARN). The group is in the region of
    /// the connection.
    pub fn parse(uri: &str, options: AwsOptions) -> Result<LogGroupScan, String> {
        let group = uri
            .strip_prefix("logs://")
            .ok_or_else(|| format!("{uri:?} is not a logs://LOG_GROUP address"))?;
        if group.is_empty() {
            return Err(format!("{uri:?} names no log group: give logs://LOG_GROUP"));
        }
        Ok(LogGroupScan {
            name: uri.to_owned(),
            group: group.to_owned(),
            options,
        })
    }

    async fn run(&self, window: &ScanWindow, feed: &mut Feed) {
        let shared = tripkey_aws::sdk_config(&self.options).await;
        let client = Client::new(&shared);
        let request = client
            .filter_log_events()
            .limit(PAGE_EVENTS)
            .set_start_time(window.since.map(|since| since.millis() - window.margin))
            .set_end_time(window.until.map(|until| until.millis() + window.margin));
        let request = if self.group.starts_with("arn:") {
            request.log_group_identifier(&self.group)
        } else {
            request.log_group_name(&self.group)
        };
        let mut pages = request.into_paginator().send();
        let mut page_number = 0;
        while let Some(page) = pages.next().await {
            page_number += 1;
            let page = match page {
                Ok(page) => page,
                Err(error) => {
                    let error = AwsError::from_sdk("logs:FilterLogEvents", error);
                    feed.send(Piece::Failed {
                        name: self.name.clone(),
                        message: format!("cannot read page {page_number}: {error}"),
                    });
                    return;
                }
            };
            let events = page.events();
            if events.is_empty() {
                continue;
            }
            if !feed.send(Piece::Fetched {
                name: format!("{} (page {page_number})", self.name),
                bytes: filter_output(events),
            }) {
                return;
            }
        }
    }
}

/// The page in the shape `aws logs filter-log-events` prints, which the trail reader knows:
/// each event's message is one CloudTrail record's JSON.
fn filter_output(events: &[aws_sdk_cloudwatchlogs::types::FilteredLogEvent]) -> Vec<u8> {
    let events: Vec<serde_json::Value> = events
        .iter()
        .map(|event| serde_json::json!({ "message": event.message().unwrap_or_default() }))
        .collect();
    serde_json::to_vec(&serde_json::json!({ "events": events }))
        .expect("JSON values always serialize")
}

impl Remote for LogGroupScan {
    fn name(&self) -> &str {
        &self.name
    }

    fn fetch_into(&mut self, window: &ScanWindow, feed: &mut Feed) {
        if let Some(runtime) = crate::scan_runtime(&self.name, feed) {
            runtime.block_on(self.run(window, feed));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_a_group_name_or_arn() {
        let options = AwsOptions::default();
        let scan = LogGroupScan::parse("logs://aws-cloudtrail-logs-1", options.clone()).unwrap();
        assert_eq!(scan.group, "aws-cloudtrail-logs-1");
        let scan = LogGroupScan::parse("logs:///aws/cloudtrail/org", options.clone()).unwrap();
        assert_eq!(scan.group, "/aws/cloudtrail/org");
        assert!(LogGroupScan::parse("logs://", options.clone())
            .unwrap_err()
            .contains("names no log group"));
        assert!(LogGroupScan::parse("s3://bucket", options).is_err());
    }

    #[test]
    fn a_page_reads_back_as_its_records() {
        let event = |message: &str| {
            aws_sdk_cloudwatchlogs::types::FilteredLogEvent::builder()
                .message(message)
                .build()
        };
        let record = r#"{"eventTime":"2026-12-03T10:00:00Z","eventSource":"sts.amazonaws.com","eventName":"GetCallerIdentity","awsRegion":"us-east-1","eventID":"e1","userIdentity":{"type":"IAMUser","accountId":"111122223333"}}"#;
        let bytes = filter_output(&[event(record), event("not json")]);
        let mut ids = Vec::new();
        let problems = trail::parse_records(&bytes, |_, record| {
            ids.push(
                record
                    .fields
                    .event_id
                    .clone()
                    .unwrap_or_default()
                    .into_owned(),
            )
        });
        assert_eq!(ids, ["e1"]);
        assert_eq!(problems.len(), 1, "{problems:?}");
    }
}
