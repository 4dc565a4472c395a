//! The configured sinks, built once for `serve` and for `tripkey alert test`: notify builds
//! the plain ones, and SNS comes from the AWS crate so that notify stays free of the SDK.

use std::sync::Arc;

use anyhow::Context;
use notify::{Sink, SinkConfig, SinkSpec};

use crate::config::Config;

/// One sink, by its `[[sink]]` table.
pub async fn build(
    spec: &SinkSpec,
    aws: &tripkey_aws::AwsOptions,
) -> anyhow::Result<Arc<dyn Sink>> {
    Ok(match &spec.config {
        SinkConfig::Sns { topic_arn } => Arc::new(tripkey_aws_sources::SnsSink::new(
            tripkey_aws_sources::sns_client(aws).await,
            spec.name.clone(),
            topic_arn.clone(),
        )),
        _ => Arc::from(
            notify::build_sink(spec)
                .with_context(|| format!("[[sink]] {:?} cannot be used", spec.name))?,
        ),
    })
}

/// Every `[[sink]]` of the configuration.
pub async fn build_all(
    config: &Config,
    aws: &tripkey_aws::AwsOptions,
) -> anyhow::Result<Vec<Arc<dyn Sink>>> {
    let mut sinks = Vec::with_capacity(config.sinks.len());
    for spec in &config.sinks {
        sinks.push(build(spec, aws).await?);
    }
    Ok(sinks)
}
