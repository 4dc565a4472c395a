//! The JSON lines sink: one document a line, for a SIEM agent tailing a file or for stdout.

use std::path::PathBuf;

use tokio::io::AsyncWriteExt;

use crate::{render, Delivery, Notification, Sink, SinkError};

/// Appends each notification as one line of JSON to a file, or writes it to stdout.
pub struct JsonLinesSink {
    name: String,
    path: PathBuf,
}

impl JsonLinesSink {
    /// A sink writing to `path`; `-` is standard output.
    pub fn new(name: String, path: PathBuf) -> JsonLinesSink {
        JsonLinesSink { name, path }
    }
}

impl Sink for JsonLinesSink {
    fn name(&self) -> &str {
        &self.name
    }

    fn deliver<'a>(&'a self, notification: &'a Notification) -> Delivery<'a> {
        Box::pin(async move {
            let line = render::json_line(notification);
            let failed = |e: std::io::Error| {
                SinkError::Retryable(format!("cannot write to {}: {e}", self.path.display()))
            };
            if self.path.as_os_str() == "-" {
                let mut out = tokio::io::stdout();
                out.write_all(&line).await.map_err(failed)?;
                return out.flush().await.map_err(failed);
            }
            // Opened per line, so a log rotator can move the file away between alerts.
            let mut options = tokio::fs::OpenOptions::new();
            options.create(true).append(true);
            #[cfg(unix)]
            options.mode(0o640);
            let mut file = options.open(&self.path).await.map_err(failed)?;
            // One write of the whole line, so concurrent writers never interleave within it.
            file.write_all(&line).await.map_err(failed)?;
            file.sync_data().await.map_err(failed)
        })
    }
}
