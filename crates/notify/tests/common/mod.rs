//! A local HTTP receiver for the sink tests, and `[[sink]]` tables from TOML.

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use notify::SinkSpec;

#[derive(Clone, Debug)]
pub struct Received {
    pub headers: HeaderMap,
    pub body: Bytes,
}

#[derive(Clone)]
pub struct Receiver {
    pub received: Arc<Mutex<Vec<Received>>>,
    pub status: Arc<Mutex<StatusCode>>,
}

async fn take(State(receiver): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    receiver
        .received
        .lock()
        .unwrap()
        .push(Received { headers, body });
    *receiver.status.lock().unwrap()
}

/// An HTTP server on a free loopback port recording every POST; returns its base URL.
pub async fn receiver() -> (String, Receiver) {
    let receiver = Receiver {
        received: Arc::default(),
        status: Arc::new(Mutex::new(StatusCode::OK)),
    };
    let app = axum::Router::new()
        .route("/{*path}", post(take))
        .with_state(receiver.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{address}"), receiver)
}

pub fn spec(toml_text: &str) -> SinkSpec {
    #[derive(serde::Deserialize)]
    struct File {
        sink: Vec<SinkSpec>,
    }
    toml::from_str::<File>(toml_text).unwrap().sink.remove(0)
}
