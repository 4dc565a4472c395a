//! The command line through a running `serve`: with `--server URL --token TOKEN`, the
//! canary, alert and audit commands call `/api/v1` instead of opening the local database, and
//! print the same output (the JSON is the API's).

use std::io::Write;

use anyhow::Context;
use client::{segment, ApiClient};
use serde_json::{json, Value};
use store::{CanaryEvent, CanaryKey, CanaryRecord, Secret};

use crate::admin::{AlertCommand, TokenCommand};
use crate::canary::{self, CanaryCommand};
use crate::output::{self, DataFormat, Format};
use notify::escape::for_terminal;

/// Where the API is: set both to act through a running `serve`.
#[derive(clap::Args, Clone, Debug)]
pub struct RemoteArgs {
    /// Act through the API of this `tripkey serve` (e.g. http://127.0.0.1:8470) instead of the
    /// local database.
    #[arg(long, value_name = "URL", env = "TRIPKEY_SERVER", global = true)]
    server: Option<String>,
    /// The API token to send with --server.
    #[arg(
        long,
        value_name = "TOKEN",
        env = "TRIPKEY_TOKEN",
        global = true,
        hide_env_values = true
    )]
    token: Option<String>,
}

impl RemoteArgs {
    /// The API client, when `--server` is given.
    pub fn client(&self) -> anyhow::Result<Option<ApiClient>> {
        let Some(server) = &self.server else {
            return Ok(None);
        };
        let token = self.token.as_deref().context(
            "--server needs a token: pass --token TOKEN or set TRIPKEY_TOKEN (from `tripkey \
             token create` or the admin token serve printed on its first start)",
        )?;
        Ok(Some(ApiClient::new(server, token)?))
    }
}

fn record(value: &Value) -> anyhow::Result<CanaryRecord> {
    serde_json::from_value(value.clone())
        .context("the server's canary record is not one this tripkey reads")
}

fn issued(answer: &Value) -> anyhow::Result<(CanaryRecord, registry::Issued)> {
    let canary = record(&answer["canary"])?;
    let credentials = &answer["credentials"];
    let text = |field: &str| credentials[field].as_str().map(str::to_owned);
    let issued = registry::Issued {
        access_key_id: text("access_key_id").context("the answer holds no access key")?,
        secret_access_key: Secret::new(
            text("secret_access_key").context("the answer holds no secret")?,
        ),
        session_token: text("session_token").map(Secret::new),
        principal_arn: canary.principal_arn.clone(),
        expires_at: canary.expires_at,
    };
    Ok((canary, issued))
}

/// Prints the credentials of an issue, rotate or renew answer, in the region the server
/// names; returns the canary.
fn print_issued(
    out: &mut dyn Write,
    answer: &Value,
    format: canary::CredentialFormat,
    profile_name: Option<&str>,
) -> anyhow::Result<CanaryRecord> {
    let (record, credentials) = issued(answer)?;
    let region = answer["credentials"]["region"]
        .as_str()
        .unwrap_or(canary::DEFAULT_REGION);
    canary::print_credentials(out, &record, &credentials, format, profile_name, region)?;
    Ok(record)
}

/// Runs a `tripkey canary` command through the API.
pub async fn canary(client: ApiClient, command: CanaryCommand) -> anyhow::Result<u8> {
    let stdout = std::io::stdout();
    let out = &mut stdout.lock();
    match command {
        CanaryCommand::List {
            status,
            kind,
            account,
            labels,
            output,
        } => {
            let mut query = Vec::new();
            if let Some(status) = status {
                query.push(("status".to_owned(), status.to_string()));
            }
            if let Some(kind) = kind {
                query.push(("kind".to_owned(), store::CanaryKind::from(kind).to_string()));
            }
            if let Some(account) = account {
                query.push(("account".to_owned(), account));
            }
            for (key, value) in labels {
                query.push(("label".to_owned(), format!("{key}:{value}")));
            }
            let items = client
                .get_all("/api/v1/canaries", &query, "canaries")
                .await?;
            match output.get() {
                DataFormat::Json => output::write_json(out, &json!({ "canaries": items }))?,
                DataFormat::Table if items.is_empty() => writeln!(out, "No canaries match.")?,
                DataFormat::Table => {
                    let records = items
                        .iter()
                        .map(record)
                        .collect::<anyhow::Result<Vec<_>>>()?;
                    canary::print_table(out, &records)?;
                }
            }
            Ok(0)
        }
        CanaryCommand::Show { canary, output } => {
            let answer = client
                .get(&format!("/api/v1/canaries/{}", segment(&canary)), &[])
                .await?;
            match output.get() {
                DataFormat::Json => output::write_json(out, &answer)?,
                DataFormat::Table => {
                    let detail = registry::CanaryDetail {
                        canary: record(&answer["canary"])?,
                        keys: serde_json::from_value::<Vec<CanaryKey>>(answer["keys"].clone())?,
                        history: serde_json::from_value::<Vec<CanaryEvent>>(
                            answer["history"].clone(),
                        )?,
                    };
                    canary::print_detail(out, &detail)?;
                }
            }
            Ok(0)
        }
        CanaryCommand::Create {
            kind,
            labels,
            memo,
            name,
            format,
            profile_name,
            ..
        } => {
            let labels: store::Labels = labels.into_iter().collect();
            let body = json!({
                "kind": store::CanaryKind::from(kind).as_str(),
                "labels": labels,
                "memo": memo,
                "name": name,
            });
            let answer = client.post("/api/v1/canaries", &body).await?;
            let record = print_issued(out, &answer, format, profile_name.as_deref())?;
            eprintln!(
                "issued {} canary {} ({}) through {}",
                record.kind,
                for_terminal(&record.name),
                record.id,
                if record.issuer.is_offline() {
                    "the server's offline issuer: it authenticates nowhere"
                } else {
                    "the server"
                }
            );
            Ok(0)
        }
        CanaryCommand::Rotate {
            canary,
            format,
            profile_name,
            ..
        } => {
            let shown = client
                .get(&format!("/api/v1/canaries/{}", segment(&canary)), &[])
                .await?;
            let current = record(&shown["canary"])?;
            let verb = if current.kind == store::CanaryKind::IamUser {
                "rotate"
            } else {
                "renew"
            };
            let answer = client
                .post(
                    &format!("/api/v1/canaries/{}/{verb}", segment(current.id.as_str())),
                    &json!({}),
                )
                .await?;
            let record = print_issued(out, &answer, format, profile_name.as_deref())?;
            eprintln!("{verb}ed {} through the server", for_terminal(&record.name));
            Ok(0)
        }
        CanaryCommand::Revoke {
            canary,
            reason,
            output,
            ..
        } => {
            let answer = client
                .post(
                    &format!("/api/v1/canaries/{}/revoke", segment(&canary)),
                    &json!({ "reason": reason }),
                )
                .await?;
            match output.get() {
                DataFormat::Json => output::write_json(out, &answer)?,
                DataFormat::Table => {
                    let canary = record(&answer["canary"])?;
                    let already = answer["already_revoked"].as_bool().unwrap_or(false);
                    writeln!(
                        out,
                        "{} {} ({})",
                        if already {
                            "already revoked:"
                        } else {
                            "revoked"
                        },
                        for_terminal(&canary.name),
                        canary.id
                    )?;
                }
            }
            Ok(0)
        }
        CanaryCommand::Maintain { .. }
        | CanaryCommand::Poll { .. }
        | CanaryCommand::Check { .. }
        | CanaryCommand::Capacity { .. } => anyhow::bail!(
            "this command is not available through --server: run it where serve's database is \
             (serve runs maintenance and the last-used safety net on its own)"
        ),
    }
}

fn alert_line(out: &mut dyn Write, alert: &Value) -> std::io::Result<()> {
    let text = |field: &str| alert[field].as_str().unwrap_or("-").to_owned();
    writeln!(
        out,
        "{:<24}  {:<8}  {:<32}  {:<12}  {}{}",
        text("detected_at"),
        text("severity"),
        text("rule"),
        alert["handling"]["state"].as_str().unwrap_or("-"),
        for_terminal(&text("summary")),
        crate::admin::suppressed_marker(alert["suppressed_by"].as_str())
    )
}

/// Runs a `tripkey alert` command through the API.
pub async fn alert(client: ApiClient, command: AlertCommand) -> anyhow::Result<u8> {
    let stdout = std::io::stdout();
    let out = &mut stdout.lock();
    match command {
        AlertCommand::List {
            limit,
            only,
            format,
            json,
        } => {
            let format = if json { Format::Jsonl } else { format };
            let mut query = only.to_filter().query_pairs();
            query.push(("limit".to_owned(), limit.clamp(1, 500).to_string()));
            let page = client.get("/api/v1/alerts", &query).await?;
            let alerts = page["alerts"].as_array().cloned().unwrap_or_default();
            match format {
                Format::Json => output::write_json(out, &json!({ "alerts": alerts }))?,
                Format::Jsonl => {
                    for alert in &alerts {
                        writeln!(out, "{alert}")?;
                    }
                }
                Format::Csv => {
                    let alerts = alerts
                        .into_iter()
                        .map(serde_json::from_value::<detect::Alert>)
                        .collect::<Result<Vec<_>, _>>()
                        .context("the server answered alerts this version cannot read")?;
                    output::write_alerts(out, &alerts, Format::Csv)?;
                }
                Format::Table if alerts.is_empty() => writeln!(out, "No alerts yet.")?,
                Format::Table => {
                    writeln!(
                        out,
                        "{:<24}  {:<8}  {:<32}  {:<12}  SUMMARY",
                        "DETECTED", "SEVERITY", "RULE", "STATE"
                    )?;
                    for alert in &alerts {
                        alert_line(out, alert)?;
                    }
                }
            }
            Ok(0)
        }
        AlertCommand::Show { dedup_key, output } => {
            let alert = client
                .get(&format!("/api/v1/alerts/{}", segment(&dedup_key)), &[])
                .await?;
            match output.get() {
                DataFormat::Json => output::write_json(out, &alert)?,
                DataFormat::Table => {
                    alert_line(out, &alert)?;
                    writeln!(
                        out,
                        "\nrecord  {}",
                        for_terminal(&alert["record"].to_string())
                    )?;
                }
            }
            Ok(0)
        }
        AlertCommand::Acknowledge { dedup_key, note } => {
            let body = json!({ "note": note });
            set_state(&client, out, &dedup_key, "acknowledge", body).await
        }
        AlertCommand::Resolve {
            dedup_key,
            note,
            false_positive,
        } => {
            let body = json!({ "note": note, "false_positive": false_positive });
            set_state(&client, out, &dedup_key, "resolve", body).await
        }
        AlertCommand::Suppress { terms, output } => {
            let ask = serde_json::to_value(terms.ask())?;
            let made = client.post("/api/v1/suppressions", &ask).await?;
            let made: store::SuppressionRecord = serde_json::from_value(made)
                .context("the server answered a suppression this version cannot read")?;
            crate::admin::print_made(out, &made, output.get())?;
            Ok(0)
        }
        AlertCommand::Suppressions { all, output } => {
            let answer = client
                .get(
                    "/api/v1/suppressions",
                    &[("all".to_owned(), all.to_string())],
                )
                .await?;
            match output.get() {
                DataFormat::Json => output::write_json(out, &answer)?,
                DataFormat::Table => {
                    let listed: Vec<store::SuppressionRecord> =
                        serde_json::from_value(answer["suppressions"].clone())
                            .context("the server answered suppressions this version cannot read")?;
                    crate::admin::print_suppressions(out, &listed)?;
                }
            }
            Ok(0)
        }
        AlertCommand::Unsuppress { id } => {
            let removed = client
                .delete(&format!("/api/v1/suppressions/{}", segment(&id)))
                .await?;
            writeln!(
                out,
                "{} removed",
                for_terminal(removed["id"].as_str().unwrap_or(&id))
            )?;
            Ok(0)
        }
        AlertCommand::Test { .. } => anyhow::bail!(
            "alert test runs a sink of the local configuration; through the server, POST \
             /api/v1/sinks/NAME/test"
        ),
    }
}

async fn set_state(
    client: &ApiClient,
    out: &mut dyn Write,
    dedup_key: &str,
    verb: &str,
    body: Value,
) -> anyhow::Result<u8> {
    let alert = client
        .post(
            &format!("/api/v1/alerts/{}/{verb}", segment(dedup_key)),
            &body,
        )
        .await?;
    writeln!(
        out,
        "{} {}",
        alert["handling"]["state"].as_str().unwrap_or(verb),
        for_terminal(dedup_key)
    )?;
    Ok(0)
}

/// Runs a `tripkey token` command through the API (admin tokens only).
pub async fn token(client: ApiClient, command: TokenCommand) -> anyhow::Result<u8> {
    let stdout = std::io::stdout();
    let out = &mut stdout.lock();
    match command {
        TokenCommand::Create {
            name,
            scopes,
            pinned_labels,
            allowed_labels,
            expires,
        } => {
            let pinned: store::Labels = pinned_labels.into_iter().collect();
            let allowed: store::Labels = allowed_labels.into_iter().collect();
            let expires_at = expires.map(|span| store::now().offset(span.millis()));
            let answer = client
                .post(
                    "/api/v1/tokens",
                    &json!({
                        "name": name, "scopes": scopes, "pinned_labels": pinned,
                        "allowed_labels": allowed, "expires_at": expires_at,
                    }),
                )
                .await?;
            writeln!(out, "{}", answer["token"].as_str().unwrap_or_default())?;
            eprintln!(
                "token {name:?} created through the server. It is shown once and only its SHA-256 \
                 is kept."
            );
            Ok(0)
        }
        TokenCommand::List { output } => {
            let answer = client.get("/api/v1/tokens", &[]).await?;
            match output.get() {
                DataFormat::Json => output::write_json(out, &answer)?,
                DataFormat::Table => {
                    writeln!(
                        out,
                        "{:<24} {:<16} {:<24} REVOKED",
                        "NAME", "SCOPES", "CREATED"
                    )?;
                    for token in answer["tokens"].as_array().cloned().unwrap_or_default() {
                        let scopes: Vec<&str> = token["scopes"]
                            .as_array()
                            .map(|scopes| scopes.iter().filter_map(Value::as_str).collect())
                            .unwrap_or_default();
                        writeln!(
                            out,
                            "{:<24} {:<16} {:<24} {}",
                            for_terminal(token["name"].as_str().unwrap_or("-")),
                            scopes.join(","),
                            token["created_at"].as_str().unwrap_or("-"),
                            token["revoked_at"].as_str().unwrap_or("-")
                        )?;
                    }
                }
            }
            Ok(0)
        }
        TokenCommand::Revoke { name } => {
            client
                .delete(&format!("/api/v1/tokens/{}", segment(&name)))
                .await?;
            writeln!(out, "revoked token {name:?}")?;
            Ok(0)
        }
    }
}

/// Runs `tripkey audit` through the API.
pub async fn audit(client: ApiClient, limit: u32, format: DataFormat) -> anyhow::Result<u8> {
    let page = client
        .get(
            "/api/v1/audit",
            &[("limit".to_owned(), limit.clamp(1, 500).to_string())],
        )
        .await?;
    let stdout = std::io::stdout();
    let out = &mut stdout.lock();
    match format {
        DataFormat::Json => output::write_json(out, &json!({ "entries": page["entries"] }))?,
        DataFormat::Table => {
            writeln!(
                out,
                "{:<24}  {:<16}  {:<18}  {:<8}  {:<15}  OBJECT",
                "AT", "WHO", "ACTION", "OUTCOME", "FROM"
            )?;
            for entry in page["entries"].as_array().cloned().unwrap_or_default() {
                let text = |field: &str| entry[field].as_str().unwrap_or("-").to_owned();
                writeln!(
                    out,
                    "{:<24}  {:<16}  {:<18}  {:<8}  {:<15}  {}",
                    text("at"),
                    for_terminal(&text("actor")),
                    text("action"),
                    text("outcome"),
                    text("address"),
                    for_terminal(&text("object"))
                )?;
            }
        }
    }
    Ok(0)
}
