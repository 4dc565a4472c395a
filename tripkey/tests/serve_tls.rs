//! `tripkey serve` over TLS (`[serve] tls_cert` and `tls_key`): the API answers HTTPS with
//! the configured certificate, and only HTTPS; the dashboard's session cookie is `Secure`.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_answers_https_with_the_configured_certificate() {
    let folder = tempfile::tempdir().unwrap();
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let cert_pem = certified.cert.pem();
    std::fs::write(folder.path().join("cert.pem"), &cert_pem).unwrap();
    std::fs::write(
        folder.path().join("key.pem"),
        certified.signing_key.serialize_pem(),
    )
    .unwrap();
    let config = folder.path().join("tripkey.toml");
    std::fs::write(
        &config,
        "[canary]\noffline_account = \"111122223333\"\n[store]\npath = \"tripkey.db\"\n\
         [serve]\ntls_cert = \"cert.pem\"\ntls_key = \"key.pem\"\n",
    )
    .unwrap();
    let admin = "tk_tls_admin_token_0123456789abcdefghijkl";
    let mut child = Command::new(env!("CARGO_BIN_EXE_tripkey"))
        .args(["serve", "--config", config.to_str().unwrap()])
        .args(["--listen", "127.0.0.1:0"])
        .env("TRIPKEY_ADMIN_TOKEN", admin)
        .env_remove("TRIPKEY_CONFIG")
        .env_remove("TRIPKEY_DB")
        .env_remove("TRIPKEY_DATABASE")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let deadline = Instant::now() + Duration::from_secs(60);
    let address = loop {
        assert!(Instant::now() < deadline, "serve did not start");
        let line = lines.next().expect("serve is running").unwrap();
        if let Some(rest) = line.split("listening on https://").nth(1) {
            break rest.split_whitespace().next().unwrap().to_owned();
        }
    };
    let port = address.rsplit(':').next().unwrap();

    let trusting = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(cert_pem.as_bytes()).unwrap())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let answer = trusting
        .get(format!("https://localhost:{port}/api/v1/canaries"))
        .bearer_auth(admin)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let health = trusting
        .get(format!("https://localhost:{port}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let login = trusting
        .post(format!("https://localhost:{port}/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={admin}"))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 303);
    let cookie = login.headers()["set-cookie"].to_str().unwrap();
    assert!(
        cookie.contains("; Secure") && cookie.contains("HttpOnly"),
        "over TLS the session cookie never travels in the clear: {cookie}"
    );

    let plain = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{port}/healthz"))
        .send()
        .await;
    assert!(
        plain.is_err() || !plain.unwrap().status().is_success(),
        "plain HTTP is not served"
    );
    let untrusting = reqwest::Client::new()
        .get(format!("https://localhost:{port}/healthz"))
        .send()
        .await;
    assert!(
        untrusting.is_err(),
        "a client that does not trust the certificate is refused"
    );

    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(child.wait().unwrap().success(), "a clean stop on SIGTERM");
}
