//! The overview: live canaries, recent alerts by rule, canaries expiring soon, sink health,
//! source lag and the response figures of the last 30 days.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Json;
use registry::Scope;
use store::{AlertFilter, CanaryCount, CanaryFilter, CanaryStatus, EventTime};

use super::alerts::AlertRow;
use super::canaries::CanaryRow;
use super::page::{Nav, Page};
use super::DashboardState;
use crate::api::error::ApiError;

const DAY_MS: i64 = 24 * 3_600 * 1_000;
/// Canaries whose credentials run out within this are listed.
const EXPIRING_WITHIN_MS: i64 = 7 * DAY_MS;
/// The window of the response figures.
const RESPONSE_DAYS: u32 = 30;

struct RuleCount {
    rule: String,
    href: String,
    day: u64,
    week: u64,
}

struct SinkRow {
    name: String,
    healthy: bool,
    pending: u64,
    detail: String,
}

struct SourceRow {
    name: String,
    lag: String,
    records: u64,
    last_batch: String,
    error: String,
}

/// One response figure, ready to print.
struct Figure {
    name: &'static str,
    median: String,
    p90: String,
    count: u64,
}

#[derive(Template, WebTemplate)]
#[template(path = "overview.html")]
struct OverviewPage {
    nav: Nav,
    live_canaries: u64,
    canary_counts: Vec<CanaryCount>,
    rules: Vec<RuleCount>,
    alerts_day: u64,
    alerts_week: u64,
    open_alerts: Vec<AlertRow>,
    expiring: Vec<CanaryRow>,
    sinks: Vec<SinkRow>,
    sources: Vec<SourceRow>,
    figures: Vec<Figure>,
    fidelity: String,
    resolved: u64,
    false_positives: u64,
}

/// A duration for people: `850 ms`, `12 s`, `4.5 min`, `3.2 h`, `2.0 d`.
pub fn human_duration(ms: i64) -> String {
    let ms = ms.max(0);
    match ms {
        0..1_000 => format!("{ms} ms"),
        1_000..60_000 => format!("{:.1} s", ms as f64 / 1_000.0),
        60_000..3_600_000 => format!("{:.1} min", ms as f64 / 60_000.0),
        3_600_000..86_400_000 => format!("{:.1} h", ms as f64 / 3_600_000.0),
        _ => format!("{:.1} d", ms as f64 / 86_400_000.0),
    }
}

/// `GET /`: the overview, for tokens that may read everything; an issuing token is sent to
/// its canaries.
pub async fn page(State(state): State<DashboardState>, page: Page) -> Response {
    if page.caller().read(Scope::Viewer).is_err() {
        return Redirect::to("/canaries").into_response();
    }
    match gather(&state, &page).await {
        Ok(overview) => overview.into_response(),
        Err(error) => page.fail(&error),
    }
}

async fn gather(state: &DashboardState, page: &Page) -> Result<OverviewPage, ApiError> {
    let store = &state.app.store;
    let now = store::now();
    let canary_counts = store.canary_counts().await?;
    let day = store.alert_counts_since(now.offset(-DAY_MS)).await?;
    let week = store.alert_counts_since(now.offset(-7 * DAY_MS)).await?;
    let rules: Vec<RuleCount> = week
        .iter()
        .map(|(rule, week)| RuleCount {
            href: format!(
                "/alerts?{}",
                form_urlencoded::Serializer::new(String::new())
                    .append_pair("rule", rule)
                    .finish()
            ),
            day: day
                .iter()
                .find(|(name, _)| name == rule)
                .map_or(0, |(_, count)| *count),
            rule: rule.clone(),
            week: *week,
        })
        .collect();
    let open = store
        .alerts_page(
            &AlertFilter {
                state: Some("open".to_owned()),
                ..AlertFilter::default()
            },
            None,
            10,
        )
        .await?;
    let open_alerts = open
        .iter()
        .map(crate::api::alerts::alert_view)
        .collect::<Result<Vec<_>, _>>()?
        .iter()
        .map(AlertRow::of)
        .collect();
    let expiring = store
        .list_page(
            &CanaryFilter {
                status: Some(CanaryStatus::Active),
                expiring_before: Some(now.offset(EXPIRING_WITHIN_MS)),
                ..CanaryFilter::default()
            },
            None,
            20,
        )
        .await?
        .iter()
        .map(CanaryRow::of)
        .collect();
    let Json(sinks) = crate::api::sinks::list(State(state.app.api.clone()), page.caller()).await?;
    let sinks = sinks
        .sinks
        .into_iter()
        .map(|sink| SinkRow {
            healthy: sink.state == "ok",
            detail: match sink.state {
                "ok" => format!("{} delivered", sink.delivered),
                _ => format!("{}: {}", sink.state, sink.last_error.unwrap_or_default()),
            },
            name: sink.name,
            pending: sink.pending,
        })
        .collect();
    let sources = state
        .app
        .metrics
        .sources()
        .into_iter()
        .map(|(name, stats)| SourceRow {
            name,
            lag: stats.newest_event.map_or_else(
                || "no records yet".to_owned(),
                |newest| human_duration(now.0 - newest.0),
            ),
            records: stats.records,
            last_batch: stats
                .last_batch_at
                .map_or_else(|| "never".to_owned(), |at: EventTime| at.to_string()),
            error: stats.last_error.unwrap_or_default(),
        })
        .collect();
    let response = registry::response::response_figures(store, now, RESPONSE_DAYS).await?;
    let figure = |name, spread: &registry::response::Durations| Figure {
        name,
        median: spread
            .median_ms
            .map_or_else(|| "–".to_owned(), human_duration),
        p90: spread.p90_ms.map_or_else(|| "–".to_owned(), human_duration),
        count: spread.count,
    };
    Ok(OverviewPage {
        nav: Nav {
            refresh: 15,
            ..page.nav("overview")
        },
        live_canaries: canary_counts.iter().map(|count| count.count).sum(),
        canary_counts,
        alerts_day: rules.iter().map(|rule| rule.day).sum(),
        alerts_week: rules.iter().map(|rule| rule.week).sum(),
        rules,
        open_alerts,
        expiring,
        sinks,
        sources,
        figures: vec![
            figure("Time to detect", &response.time_to_detect),
            figure("Time to acknowledge", &response.time_to_acknowledge),
            figure("Time to resolve", &response.time_to_resolve),
        ],
        fidelity: response
            .fidelity
            .map_or_else(|| "–".to_owned(), |share| format!("{:.0}%", share * 100.0)),
        resolved: response.resolved,
        false_positives: response.false_positives,
    })
}

#[cfg(test)]
mod tests {
    use super::human_duration;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(human_duration(850), "850 ms");
        assert_eq!(human_duration(12_300), "12.3 s");
        assert_eq!(human_duration(270_000), "4.5 min");
        assert_eq!(human_duration(3 * 3_600_000), "3.0 h");
        assert_eq!(human_duration(2 * 86_400_000), "2.0 d");
        assert_eq!(human_duration(-5), "0 ms");
    }
}
