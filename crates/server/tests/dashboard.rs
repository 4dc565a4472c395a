//! The dashboard over a real socket: login and sessions, the security headers, CSRF, what
//! each scope sees and may do, escaping of attacker-controlled text, and alert handling.
//! The browser tests (tests/browser) drive the same pages in Chromium.

mod support;

use reqwest::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, COOKIE, LOCATION, SET_COOKIE};
use reqwest::{redirect, Client, Response, StatusCode};
use store::CanaryFilter;
use support::TestServer;

/// A browser without cookies of its own: the session cookie is carried by hand, so each
/// test sees exactly what is sent.
struct Browser<'a> {
    server: &'a TestServer,
    client: Client,
    cookie: Option<String>,
}

impl<'a> Browser<'a> {
    fn new(server: &'a TestServer) -> Browser<'a> {
        Browser {
            server,
            client: Client::builder()
                .redirect(redirect::Policy::none())
                .build()
                .unwrap(),
            cookie: None,
        }
    }

    async fn login(server: &'a TestServer, token: &str) -> Browser<'a> {
        let mut browser = Browser::new(server);
        let response = browser.post("/login", &[("token", token)]).await;
        assert_eq!(
            response.status(),
            StatusCode::SEE_OTHER,
            "login with {token}"
        );
        let cookie = response.headers()[SET_COOKIE].to_str().unwrap().to_owned();
        browser.cookie = Some(cookie.split(';').next().unwrap().to_owned());
        browser
    }

    async fn get(&self, path: &str) -> Response {
        let mut request = self.client.get(self.server.url(path));
        if let Some(cookie) = &self.cookie {
            request = request.header(COOKIE, cookie);
        }
        request.send().await.unwrap()
    }

    async fn page(&self, path: &str) -> String {
        let response = self.get(path).await;
        assert_eq!(response.status(), StatusCode::OK, "GET {path}");
        response.text().await.unwrap()
    }

    async fn post(&self, path: &str, fields: &[(&str, &str)]) -> Response {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        let mut request = self
            .client
            .post(self.server.url(path))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        if let Some(cookie) = &self.cookie {
            request = request.header(COOKIE, cookie);
        }
        request.send().await.unwrap()
    }

    /// Posts a form the server must refuse for what it says: the answer is 400 and the form's
    /// page again, with the refusal notice `notice` above it. Returns the page.
    async fn refused(&self, path: &str, fields: &[(&str, &str)], notice: &str) -> String {
        let response = self.post(path, fields).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "POST {path}");
        let page = response.text().await.unwrap();
        assert!(page.contains(&format!("id=\"{notice}\"")), "{page}");
        page
    }

    /// The CSRF token the pages carry for this session.
    async fn csrf(&self) -> String {
        let page = self.page("/canaries").await;
        let start = page
            .find("name=\"csrf\" value=\"")
            .expect("a form with the CSRF token")
            + "name=\"csrf\" value=\"".len();
        page[start..start + page[start..].find('"').unwrap()].to_owned()
    }
}

async fn start() -> TestServer {
    TestServer::start(Vec::new(), 5).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_logs_in_with_a_strict_cookie_and_every_page_renders() {
    let server = start().await;
    let anonymous = Browser::new(&server);
    let response = anonymous.get("/alerts?state=open").await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        response.headers()[LOCATION],
        "/login?next=%2Falerts%3Fstate%3Dopen"
    );

    for (token, expected) in [
        ("wrong", "unknown token"),
        ("revoked", "revoked"),
        ("expired", "expired"),
    ] {
        let response = anonymous
            .post("/login", &[("token", &server.tokens[token])])
            .await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{token}");
        assert!(response.headers().get(SET_COOKIE).is_none());
        assert!(response.text().await.unwrap().contains(expected), "{token}");
    }

    let response = anonymous
        .post(
            "/login",
            &[("token", &server.tokens["admin"]), ("next", "/alerts")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()[LOCATION], "/alerts");
    let cookie = response.headers()[SET_COOKIE].to_str().unwrap();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(attribute), "{cookie} lacks {attribute}");
    }
    assert!(
        !cookie.contains("Secure"),
        "plain HTTP cannot send a Secure cookie"
    );
    assert!(
        !cookie.contains(&server.tokens["admin"]),
        "the cookie is a session id, never the token"
    );

    let admin = Browser::login(&server, &server.tokens["admin"]).await;
    for (path, marker) in [
        ("/", "Live canaries"),
        ("/canaries", "Issue a canary"),
        ("/canaries/new", "Where it will be planted"),
        ("/alerts", "No alerts match"),
        ("/suppressions", "New suppression"),
        ("/settings", "API tokens"),
    ] {
        assert!(admin.page(path).await.contains(marker), "{path}");
    }

    let audit = server.store.audit_log(None, 50).await.unwrap();
    let logins: Vec<_> = audit
        .iter()
        .filter(|entry| entry.action == "dashboard.login")
        .map(|entry| entry.outcome.as_str())
        .collect();
    assert_eq!(logins.iter().filter(|o| **o == "denied").count(), 3);
    assert!(logins.contains(&"allowed"));

    let logout = admin
        .post("/logout", &[("csrf", &admin.csrf().await)])
        .await;
    assert_eq!(logout.status(), StatusCode::SEE_OTHER);
    assert_eq!(admin.get("/").await.status(), StatusCode::SEE_OTHER);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answer_carries_the_security_headers() {
    let server = start().await;
    let admin = Browser::login(&server, &server.tokens["admin"]).await;
    for path in [
        "/login",
        "/",
        "/canaries",
        "/assets/app.css",
        "/assets/app.js",
        "/api/v1/canaries",
        "/healthz",
        "/no-such-page",
    ] {
        let response = admin.get(path).await;
        let headers = response.headers();
        let policy = headers[CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(policy.contains("default-src 'none'"), "{path}: {policy}");
        assert!(policy.contains("frame-ancestors 'none'"), "{path}");
        assert!(policy.contains("script-src 'self'"), "{path}");
        assert!(!policy.contains("unsafe-inline"), "{path}");
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(headers["referrer-policy"], "no-referrer", "{path}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_page_is_an_html_page_and_an_unknown_api_route_is_json() {
    let server = start().await;
    let admin = Browser::login(&server, &server.tokens["admin"]).await;
    let page = admin.get("/no-such-page").await;
    assert_eq!(page.status(), StatusCode::NOT_FOUND);
    assert!(page.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert!(page
        .text()
        .await
        .unwrap()
        .contains("there is no page at /no-such-page"));
    let route = admin.get("/api/v1/no-such-route").await;
    assert_eq!(route.status(), StatusCode::NOT_FOUND);
    let body: serde_json::Value = route.json().await.unwrap();
    assert_eq!(body["error"]["code"], "not_found", "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_form_without_the_session_csrf_token_changes_nothing() {
    let server = start().await;
    let admin = Browser::login(&server, &server.tokens["admin"]).await;
    let form = |csrf: &'static str| {
        vec![
            ("csrf", csrf),
            ("owner", "alice"),
            ("host", "alice-mbp"),
            ("location", "~/.aws/credentials"),
            ("labels", "team=payments"),
            ("profile", "billing-admin"),
        ]
    };
    let refused = admin.post("/canaries", &form("forged")).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert!(server
        .store
        .list(&CanaryFilter::default())
        .await
        .unwrap()
        .is_empty());
    let audited = server.store.audit_log(None, 100).await.unwrap();
    assert!(
        audited.iter().any(|entry| entry.action == "dashboard.form"
            && entry.object.as_deref() == Some("/canaries")
            && entry.actor == "admin"
            && serde_json::to_value(entry.outcome).unwrap() == "denied"),
        "the forged form is in the audit log: {audited:?}"
    );

    let csrf = admin.csrf().await;
    let mut fields = form("");
    fields[0].1 = &csrf;
    let revealed = admin.post("/canaries", &fields).await;
    assert_eq!(revealed.status(), StatusCode::OK);
    assert_eq!(revealed.headers()[CACHE_CONTROL], "no-store");
    let page = revealed.text().await.unwrap();
    let canaries = server.store.list(&CanaryFilter::default()).await.unwrap();
    assert_eq!(canaries.len(), 1);
    let canary = &canaries[0];
    assert_eq!(canary.labels["owner"], "alice");
    assert_eq!(canary.labels["team"], "payments");
    assert_eq!(canary.issued_by.as_deref(), Some("admin"));
    assert!(page.contains("[billing-admin]\naws_access_key_id = "));
    assert!(page.contains(&canary.access_key_id));
    assert!(page.contains("export AWS_ACCESS_KEY_ID="));
    assert!(page.contains("Shown once"));

    let list = admin.page("/canaries?label=owner%3Dalice").await;
    assert!(list.contains(&canary.name) && list.contains("owner=alice"));
    let none = admin.page("/canaries?label=owner%3Dbob").await;
    assert!(!none.contains(&canary.name));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_sees_no_controls_and_is_refused_the_actions() {
    let server = start().await;
    let admin = Browser::login(&server, &server.tokens["admin"]).await;
    let csrf = admin.csrf().await;
    let response = admin
        .post("/canaries", &[("csrf", csrf.as_str()), ("owner", "bob")])
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let canary = server.store.list(&CanaryFilter::default()).await.unwrap()[0].clone();
    let detail_path = format!("/canaries/{}", canary.id);
    assert!(admin.page(&detail_path).await.contains("id=\"revoke\""));

    let viewer = Browser::login(&server, &server.tokens["viewer"]).await;
    let list = viewer.page("/canaries").await;
    assert!(list.contains(&canary.name));
    assert!(!list.contains("Issue a canary"));
    let detail = viewer.page(&detail_path).await;
    assert!(!detail.contains("id=\"revoke\"") && !detail.contains("id=\"rotate\""));
    let settings = viewer.page("/settings").await;
    assert!(!settings.contains("create-token") && !settings.contains("API tokens"));

    for action in ["revoke", "rotate"] {
        let confirm = viewer.get(&format!("{detail_path}/{action}")).await;
        assert_eq!(confirm.status(), StatusCode::FORBIDDEN, "{action}");
        assert!(confirm.text().await.unwrap().contains("admin token"));
    }

    let csrf = viewer.csrf().await;
    let revoke = viewer
        .post(&format!("{detail_path}/revoke"), &[("csrf", csrf.as_str())])
        .await;
    assert_eq!(revoke.status(), StatusCode::FORBIDDEN);
    let create = viewer
        .post("/canaries", &[("csrf", csrf.as_str()), ("owner", "eve")])
        .await;
    assert_eq!(create.status(), StatusCode::FORBIDDEN);
    let token = viewer
        .post(
            "/settings/tokens",
            &[
                ("csrf", csrf.as_str()),
                ("name", "sneaky"),
                ("scope", "admin"),
            ],
        )
        .await;
    assert_eq!(token.status(), StatusCode::FORBIDDEN);
    let still = server.store.list(&CanaryFilter::default()).await.unwrap();
    assert_eq!(still.len(), 1);
    assert_eq!(still[0].status, store::CanaryStatus::Active);

    let revoked = admin
        .post(
            &format!("{detail_path}/revoke"),
            &[
                ("csrf", admin.csrf().await.as_str()),
                ("reason", "test over"),
            ],
        )
        .await;
    assert_eq!(revoked.status(), StatusCode::SEE_OTHER);
    let after = server.store.list(&CanaryFilter::default()).await.unwrap();
    assert_eq!(after[0].status, store::CanaryStatus::Revoked);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attacker_text_in_an_alert_is_shown_as_text_with_its_playbook() {
    let server = start().await;
    let hostile_agent = "<img src=x onerror=alert(1)>";
    let hostile_arn = "arn:aws:iam::111122223333:user/\"><script>alert(2)</script>";
    server
        .add_alert(
            "canary-use:hostile",
            "svc-billing",
            hostile_agent,
            hostile_arn,
        )
        .await;
    let viewer = Browser::login(&server, &server.tokens["viewer"]).await;
    for path in ["/alerts", "/alerts/canary-use%3Ahostile", "/"] {
        let page = viewer.page(path).await;
        assert!(!page.contains("<img src=x"), "{path}");
        assert!(!page.contains("<script>alert"), "{path}");
        assert!(
            page.contains("&#34;&#62;&#60;script&#62;alert(2)"),
            "{path}"
        );
    }
    let detail = viewer.page("/alerts/canary-use%3Ahostile").await;
    assert!(detail.contains("&#60;img src=x onerror=alert(1)&#62;"));
    assert!(detail.contains("id=\"playbook\""));
    assert!(
        !detail.contains("id=\"acknowledge\""),
        "a viewer gets no handling controls"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_withdrawn_alert_shows_why_in_the_api_and_on_its_page() {
    let server = start().await;
    server
        .add_alert(
            "canary-use:late",
            "svc-billing",
            "aws-cli/2",
            "arn:aws:iam::1:user/x",
        )
        .await;
    let reason = "a call from <54.1.2.3> that arrived late shows it was the first address";
    server
        .store
        .commit_batch(&store::BatchCommit {
            source: "test",
            checkpoint: None,
            alerts: &[store::AlertRow {
                dedup_key: "canary-use:late".to_owned(),
                rule: "canary-use".to_owned(),
                severity: "critical".to_owned(),
                status: "withdrawn".to_owned(),
                withdrawn_because: Some(reason.to_owned()),
                replaces: Vec::new(),
                summary: String::new(),
                event_time: store::now(),
                limit_key: "svc-billing".to_owned(),
                body: String::new(),
                sinks: Vec::new(),
                canary: None,
                suppressed_by: None,
            }],
            at: store::now(),
        })
        .await
        .unwrap();
    let answer: serde_json::Value = reqwest::Client::new()
        .get(server.url("/api/v1/alerts/canary-use%3Alate"))
        .bearer_auth(&server.tokens["viewer"])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["status"], "withdrawn", "{answer}");
    assert_eq!(answer["withdrawn_because"], reason);
    let viewer = Browser::login(&server, &server.tokens["viewer"]).await;
    let detail = viewer.page("/alerts/canary-use%3Alate").await;
    assert!(detail.contains("id=\"withdrawn\""), "{detail}");
    assert!(detail.contains("a call from &#60;54.1.2.3&#62; that arrived late"));
    let list = viewer.page("/alerts").await;
    assert!(list.contains("class=\"withdrawn-row\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledging_and_resolving_on_the_page_moves_the_response_figures() {
    let server = start().await;
    server
        .add_alert(
            "canary-use:one",
            "svc-a",
            "aws-cli/2.15",
            "arn:aws:iam::1:user/a",
        )
        .await;
    let admin = Browser::login(&server, &server.tokens["admin"]).await;
    let before = admin.page("/").await;
    assert!(before.contains("<strong id=\"fidelity\">–</strong>"));

    let csrf = admin.csrf().await;
    let acknowledged = admin
        .post(
            "/alerts/canary-use%3Aone/acknowledge",
            &[("csrf", csrf.as_str()), ("note", "on it")],
        )
        .await;
    assert_eq!(acknowledged.status(), StatusCode::SEE_OTHER);
    let detail = admin.page("/alerts/canary-use%3Aone").await;
    assert!(detail.contains("acknowledged by <strong>admin</strong>"));
    assert!(detail.contains("on it"));

    let resolved = admin
        .post(
            "/alerts/canary-use%3Aone/resolve",
            &[
                ("csrf", csrf.as_str()),
                ("note", "red team"),
                ("false_positive", "yes"),
            ],
        )
        .await;
    assert_eq!(resolved.status(), StatusCode::SEE_OTHER);
    let stored = server.store.alert("canary-use:one").await.unwrap().unwrap();
    assert_eq!(stored.state, "resolved");
    assert!(stored.false_positive);
    let after = admin.page("/").await;
    assert!(
        after.contains("<strong id=\"fidelity\">0%</strong>"),
        "{after}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_the_token_ends_its_sessions() {
    let server = start().await;
    let viewer = Browser::login(&server, &server.tokens["viewer"]).await;
    assert_eq!(viewer.get("/").await.status(), StatusCode::OK);
    server
        .store
        .revoke_api_token("viewer", store::now())
        .await
        .unwrap();
    let response = viewer.get("/").await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(response.headers()[LOCATION]
        .to_str()
        .unwrap()
        .starts_with("/login"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_suppression_shows_the_form_again_as_it_was_sent() {
    let server = start().await;
    let admin = Browser::login(&server, &server.tokens["admin"]).await;
    let csrf = admin.csrf().await;
    let sent = [
        ("csrf", csrf.as_str()),
        ("rule", "canary-use"),
        ("principal", "arn:aws:iam::111122223333:user/\"><b>x</b>"),
        ("for", "7d"),
        ("reason", "red team <i>approved</i>"),
    ];
    let page = admin
        .refused("/suppressions", &sent, "suppression-refused")
        .await;
    assert!(page.contains("--include-canaries"), "{page}");
    assert!(
        page.contains(
            "value=\"arn:aws:iam::111122223333:user/&#34;&#62;&#60;b&#62;x&#60;/b&#62;\""
        ) && page.contains("value=\"red team &#60;i&#62;approved&#60;/i&#62;\"")
            && page.contains("value=\"7d\""),
        "the fields are kept, escaped: {page}"
    );
    assert!(server
        .store
        .suppressions(store::now(), true)
        .await
        .unwrap()
        .is_empty());

    let mut consented = sent.to_vec();
    consented.push(("include_canaries", "yes"));
    let made = admin.post("/suppressions", &consented).await;
    assert_eq!(made.status(), StatusCode::SEE_OTHER);
    let listed = server
        .store
        .suppressions(store::now(), false)
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert!(listed[0].covers_canaries);
    assert_eq!(listed[0].reason, "red team <i>approved</i>");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_canary_shows_the_form_again_as_it_was_sent() {
    let server = start().await;
    let admin = Browser::login(&server, &server.tokens["admin"]).await;
    let csrf = admin.csrf().await;
    let sent = [
        ("csrf", csrf.as_str()),
        ("kind", "federation"),
        ("owner", "alice\"><b>x</b>"),
        ("labels", "team=payments\nnot a label"),
        ("memo", "planted <i>by</i> the red team"),
        ("profile", "billing-admin"),
    ];
    let page = admin.refused("/canaries", &sent, "canary-refused").await;
    assert!(page.contains("is not key=value"), "{page}");
    assert!(
        page.contains("value=\"alice&#34;&#62;&#60;b&#62;x&#60;/b&#62;\"")
            && page.contains("value=\"planted &#60;i&#62;by&#60;/i&#62; the red team\"")
            && page.contains(">team=payments\nnot a label</textarea>")
            && page.contains("value=\"billing-admin\"")
            && page.contains("<option value=\"federation\" selected>"),
        "the fields are kept, escaped: {page}"
    );
    assert!(server
        .store
        .list(&CanaryFilter::default())
        .await
        .unwrap()
        .is_empty());

    // Refused by the API's own checks, not the form's: the same page, the same fields.
    let mut unknown_kind = sent.to_vec();
    unknown_kind[1].1 = "root-user";
    unknown_kind[3].1 = "team=payments";
    let page = admin
        .refused("/canaries", &unknown_kind, "canary-refused")
        .await;
    assert!(page.contains("value=\"billing-admin\""), "{page}");

    let mut fixed = sent.to_vec();
    fixed[1].1 = "iam-user";
    fixed[3].1 = "team=payments";
    let revealed = admin.post("/canaries", &fixed).await;
    assert_eq!(revealed.status(), StatusCode::OK);
    let canaries = server.store.list(&CanaryFilter::default()).await.unwrap();
    assert_eq!(canaries.len(), 1);
    assert_eq!(canaries[0].labels["team"], "payments");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_token_shows_the_form_again_as_it_was_sent() {
    let server = start().await;
    let admin = Browser::login(&server, &server.tokens["admin"]).await;
    let csrf = admin.csrf().await;
    let tokens_before = server.store.api_tokens().await.unwrap().len();
    let sent = [
        ("csrf", csrf.as_str()),
        ("name", "mdm-laptops"),
        ("expires_at", "2027-06-30T00:00:00Z"),
        ("scope", "issuer"),
        ("pinned_labels", "owner=it-mdm\n<b>not a label</b>"),
    ];
    let page = admin
        .refused("/settings/tokens", &sent, "token-refused")
        .await;
    assert!(page.contains("is not key=value"), "{page}");
    assert!(
        page.contains("id=\"token-name\" name=\"name\" value=\"mdm-laptops\"")
            && page.contains("value=\"2027-06-30T00:00:00Z\"")
            && page.contains("value=\"issuer\" checked>")
            && !page.contains("value=\"admin\" checked>")
            && page.contains(">owner=it-mdm\n&#60;b&#62;not a label&#60;/b&#62;</textarea>"),
        "the fields are kept, escaped: {page}"
    );

    // Refused by the API's own checks, not the form's: the same page, the same fields.
    let mut bad_expiry = sent.to_vec();
    bad_expiry[2].1 = "next tuesday";
    bad_expiry[4].1 = "owner=it-mdm";
    let page = admin
        .refused("/settings/tokens", &bad_expiry, "token-refused")
        .await;
    assert!(page.contains("value=\"next tuesday\""), "{page}");
    assert_eq!(
        server.store.api_tokens().await.unwrap().len(),
        tokens_before,
        "nothing was made"
    );

    let mut fixed = bad_expiry.clone();
    fixed[2].1 = "2027-06-30T00:00:00Z";
    let made = admin.post("/settings/tokens", &fixed).await;
    assert_eq!(made.status(), StatusCode::OK);
    let tokens = server.store.api_tokens().await.unwrap();
    assert_eq!(tokens.len(), tokens_before + 1);
    assert!(tokens.iter().any(|token| token.name == "mdm-laptops"));
}
