//! A client of tripkey's HTTP API (`/api/v1`), so that the command line can act through a
//! running `serve` (`--server URL --token TOKEN`) instead of the local database, with the
//! same output. Answers are the API's JSON, which is the CLI's JSON.

#![warn(missing_docs)]

use std::time::Duration;

use serde_json::Value;

/// What can go wrong calling the API.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server answered with an error of the API.
    #[error("the server refused ({code}, HTTP {status}): {message}")]
    Api {
        /// The HTTP status.
        status: u16,
        /// The API's stable error code.
        code: String,
        /// What the server said.
        message: String,
    },
    /// The server could not be reached, or answered with something that is not the API.
    #[error("cannot talk to the tripkey server at {server}: {detail}")]
    Transport {
        /// The server's base URL.
        server: String,
        /// What failed.
        detail: String,
    },
}

/// A connection to one server, with one token.
#[derive(Clone)]
pub struct ApiClient {
    base: String,
    token: String,
    http: reqwest::Client,
}

impl ApiClient {
    /// A client of the server at `base` (e.g. `http://127.0.0.1:8470`), sending `token`.
    pub fn new(base: &str, token: &str) -> Result<ApiClient, ClientError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|error| ClientError::Transport {
                server: base.to_owned(),
                detail: error.to_string(),
            })?;
        Ok(ApiClient {
            base: base.trim_end_matches('/').to_owned(),
            token: token.to_owned(),
            http,
        })
    }

    fn transport(&self, error: impl std::fmt::Display) -> ClientError {
        ClientError::Transport {
            server: self.base.clone(),
            detail: error.to_string(),
        }
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Result<Value, ClientError> {
        let answer = request
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(|error| self.transport(error.without_url()))?;
        let status = answer.status();
        let text = answer
            .text()
            .await
            .map_err(|error| self.transport(error.without_url()))?;
        let body: Value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).map_err(|_| {
                self.transport(format!(
                    "HTTP {} with a body that is not the API's JSON; is this a tripkey serve?",
                    status.as_u16()
                ))
            })?
        };
        if status.is_success() {
            return Ok(body);
        }
        let error = &body["error"];
        Err(ClientError::Api {
            status: status.as_u16(),
            code: error["code"].as_str().unwrap_or("unknown").to_owned(),
            message: error["message"].as_str().unwrap_or("no message").to_owned(),
        })
    }

    /// `GET path?query`.
    pub async fn get(&self, path: &str, query: &[(String, String)]) -> Result<Value, ClientError> {
        let mut url = format!("{}{path}", self.base);
        if !query.is_empty() {
            let encoded = form_urlencoded::Serializer::new(String::new())
                .extend_pairs(query)
                .finish();
            url = format!("{url}?{encoded}");
        }
        self.send(self.http.get(url)).await
    }

    /// Every item of a paged list: follows `next_cursor` to the end and joins the `field`
    /// arrays.
    pub async fn get_all(
        &self,
        path: &str,
        query: &[(String, String)],
        field: &str,
    ) -> Result<Vec<Value>, ClientError> {
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut page_query = query.to_vec();
            if let Some(cursor) = &cursor {
                page_query.push(("cursor".to_owned(), cursor.clone()));
            }
            let page = self.get(path, &page_query).await?;
            if let Some(found) = page[field].as_array() {
                items.extend(found.iter().cloned());
            }
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => return Ok(items),
            }
        }
    }

    /// `POST path` with a JSON body.
    pub async fn post(&self, path: &str, body: &Value) -> Result<Value, ClientError> {
        self.send(self.http.post(format!("{}{path}", self.base)).json(body))
            .await
    }

    /// `DELETE path`.
    pub async fn delete(&self, path: &str) -> Result<Value, ClientError> {
        self.send(self.http.delete(format!("{}{path}", self.base)))
            .await
    }
}

/// A path segment with `/`, `?` and `#` and the like escaped, for ids and dedup keys.
pub fn segment(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}
