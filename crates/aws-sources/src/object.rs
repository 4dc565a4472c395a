//! Reading one trail object, its bytes held in the memory budget before its body is read.

use aws_sdk_s3::Client;
use pipeline::{Held, MemoryBudget, SourceError};
use tripkey_aws::AwsError;

/// Reads `s3://bucket/key` for a batch that holds `held`. Its size (from the response's
/// Content-Length) is added to `held` before the body is read, waiting while the budget is
/// spent. `None` when the object is gone (deleted between listing or notification and
/// reading, as a lifecycle rule does).
pub(crate) async fn read_object(
    client: &Client,
    bucket: &str,
    key: &str,
    budget: &MemoryBudget,
    held: &mut Held,
) -> Result<Option<Vec<u8>>, SourceError> {
    let object = match client.get_object().bucket(bucket).key(key).send().await {
        Ok(object) => object,
        Err(error) => {
            let error = AwsError::from_sdk("s3:GetObject", error);
            return if error.is_not_found() {
                Ok(None)
            } else {
                Err(SourceError(error.to_string()))
            };
        }
    };
    let size = object
        .content_length()
        .and_then(|length| u64::try_from(length).ok())
        .unwrap_or(0);
    budget.hold_also(held, size).await;
    let bytes = object
        .body
        .collect()
        .await
        .map_err(|e| {
            SourceError(format!(
                "reading s3://{bucket}/{key}: {}",
                tripkey_aws::describe_chain(&e)
            ))
        })?
        .into_bytes()
        .to_vec();
    Ok(Some(bytes))
}
