//! The AWS sources of `tripkey serve`: a trail bucket polled with `ListObjectsV2`, and SQS
//! queues of S3 notifications or EventBridge events. Both hand batches to the pipeline and
//! acknowledge them (checkpoint, message deletion) only once committed. Also the remote
//! inputs of `tripkey scan`: a bucket read in place, and a CloudWatch Logs group. Also the one AWS
//! notification sink, an SNS topic: it lives here, with the other SDK clients, so that
//! `notify` stays free of the AWS SDK.
//!
//! The SDK stays out of the detection core: this crate depends on `pipeline`, never the other
//! way round.

#![warn(missing_docs)]

mod object;
pub mod s3;
pub mod scan_logs;
pub mod scan_s3;
pub mod sns;
pub mod sqs;

pub use s3::{S3Lister, S3Source, S3SourceConfig};
pub use scan_logs::LogGroupScan;
pub use scan_s3::S3Scan;
pub use sns::{sns_client, SnsSink};
pub use sqs::{classify, Notification, ObjectRef, SqsSource, SqsSourceConfig};

/// S3 and SQS clients for the given connection. Path-style addressing, which S3 through a
/// custom endpoint (moto, LocalStack, MinIO) needs, is used whenever an endpoint is set.
pub async fn clients(
    options: &tripkey_aws::AwsOptions,
) -> (aws_sdk_s3::Client, aws_sdk_sqs::Client) {
    let shared = tripkey_aws::sdk_config(options).await;
    (
        s3_client_of(&shared, options),
        aws_sdk_sqs::Client::new(&shared),
    )
}

/// An S3 client for the given connection, path-style whenever an endpoint is set.
pub async fn s3_client(options: &tripkey_aws::AwsOptions) -> aws_sdk_s3::Client {
    s3_client_of(&tripkey_aws::sdk_config(options).await, options)
}

fn s3_client_of(
    shared: &aws_config::SdkConfig,
    options: &tripkey_aws::AwsOptions,
) -> aws_sdk_s3::Client {
    let s3 = aws_sdk_s3::config::Builder::from(shared)
        .force_path_style(options.endpoint_url.is_some())
        .build();
    aws_sdk_s3::Client::from_conf(s3)
}

/// The remote input `tripkey scan` reads for `input` (`s3://…` or `logs://…`), or `None` when
/// `input` names no remote input and is a local path. An address of a known scheme that is
/// malformed is an error that says how to write it. A new kind of remote input is one arm here.
pub fn scan_input(
    input: &str,
    options: &tripkey_aws::AwsOptions,
    parallel_gets: usize,
) -> Option<Result<Box<dyn scan::Remote>, String>> {
    let remote: Result<Box<dyn scan::Remote>, String> = if input.starts_with("s3://") {
        S3Scan::parse(input, options.clone(), parallel_gets).map(|bucket| Box::new(bucket) as _)
    } else if input.starts_with("logs://") {
        LogGroupScan::parse(input, options.clone()).map(|group| Box::new(group) as _)
    } else {
        return None;
    };
    Some(remote)
}

/// The runtime a remote scan input fetches on: the scan's own threads are not async. When it
/// cannot start, the input is reported as a failed piece named `name`, and the scan goes on.
fn scan_runtime(name: &str, feed: &mut scan::Feed) -> Option<tokio::runtime::Runtime> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build();
    match runtime {
        Ok(runtime) => Some(runtime),
        Err(error) => {
            feed.send(scan::Piece::Failed {
                name: name.to_owned(),
                message: format!("cannot start the AWS client: {error}"),
            });
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_inputs_are_told_apart_by_their_scheme() {
        let options = tripkey_aws::AwsOptions::default();
        assert!(scan_input("/var/log/trail", &options, 4).is_none());
        assert!(scan_input("./s3://not-a-bucket", &options, 4).is_none());
        let bucket = scan_input("s3://trail/AWSLogs/", &options, 4)
            .unwrap()
            .unwrap();
        assert_eq!(bucket.name(), "s3://trail/AWSLogs/");
        let group = scan_input("logs://trail-group", &options, 4)
            .unwrap()
            .unwrap();
        assert_eq!(group.name(), "logs://trail-group");
        let error = scan_input("s3://", &options, 4).unwrap().err().unwrap();
        assert!(error.contains("names no bucket"), "{error}");
    }
}
