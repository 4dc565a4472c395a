//! `[[route]]` tables: which alerts go to which sinks.

use detect::{Alert, Rule, Severity};
use serde::Deserialize;

use crate::ConfigError;

/// One `[[route]]`: alerts of these rules at or above this severity go to these sinks.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    /// The rules it takes; empty takes every rule.
    #[serde(default)]
    pub rules: Vec<Rule>,
    /// The least severity it takes [default: every severity].
    pub min_severity: Option<Severity>,
    /// The sinks, by name.
    pub sinks: Vec<String>,
}

impl Route {
    fn takes(&self, alert: &Alert) -> bool {
        (self.rules.is_empty() || self.rules.contains(&alert.rule))
            && self
                .min_severity
                .is_none_or(|least| alert.severity >= least)
    }
}

/// Picks the sinks for each alert. With no routes, every alert goes to every sink.
#[derive(Clone, Debug)]
pub struct Router {
    routes: Vec<Route>,
    all_sinks: Vec<String>,
}

impl Router {
    /// A router over the configured sinks, which every route's sink must name.
    pub fn new(routes: Vec<Route>, sinks: &[String]) -> Result<Router, ConfigError> {
        for (index, route) in routes.iter().enumerate() {
            if route.sinks.is_empty() {
                return Err(ConfigError(format!(
                    "[[route]] number {} names no sinks",
                    index + 1
                )));
            }
            for sink in &route.sinks {
                if !sinks.contains(sink) {
                    return Err(ConfigError(format!(
                        "[[route]] number {} names sink {sink:?}, which no [[sink]] defines (sinks: {})",
                        index + 1,
                        if sinks.is_empty() { "none".to_owned() } else { sinks.join(", ") }
                    )));
                }
            }
        }
        Ok(Router {
            routes,
            all_sinks: sinks.to_vec(),
        })
    }

    /// The sinks `alert` goes to, each once, in configuration order.
    pub fn sinks_for(&self, alert: &Alert) -> Vec<String> {
        if self.routes.is_empty() {
            return self.all_sinks.clone();
        }
        let mut chosen: Vec<String> = Vec::new();
        for route in self.routes.iter().filter(|route| route.takes(alert)) {
            for sink in &route.sinks {
                if !chosen.contains(sink) {
                    chosen.push(sink.clone());
                }
            }
        }
        chosen
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample_notification;
    use trail::EventTime;

    fn routes(toml_text: &str) -> Vec<Route> {
        #[derive(Deserialize)]
        struct File {
            route: Vec<Route>,
        }
        toml::from_str::<File>(toml_text).unwrap().route
    }

    #[test]
    fn routes_pick_sinks_by_rule_and_severity() {
        let sinks = ["pager".to_owned(), "slack".to_owned(), "siem".to_owned()];
        let router = Router::new(
            routes(
                "[[route]]\nrules = [\"canary-use\"]\nsinks = [\"pager\", \"slack\"]\n\
                 [[route]]\nmin_severity = \"high\"\nsinks = [\"slack\"]\n\
                 [[route]]\nsinks = [\"siem\"]\n",
            ),
            &sinks,
        )
        .unwrap();
        let mut alert = sample_notification(EventTime(0)).alert;
        assert_eq!(router.sinks_for(&alert), ["pager", "slack", "siem"]);
        alert.rule = Rule::AccessDeniedBurst;
        alert.severity = Severity::Medium;
        assert_eq!(router.sinks_for(&alert), ["siem"]);
        alert.severity = Severity::High;
        assert_eq!(router.sinks_for(&alert), ["slack", "siem"]);

        let everything = Router::new(Vec::new(), &sinks).unwrap();
        assert_eq!(everything.sinks_for(&alert), sinks);
    }

    #[test]
    fn routes_must_name_configured_sinks() {
        let error = Router::new(
            routes("[[route]]\nsinks = [\"pagr\"]\n"),
            &["pager".to_owned()],
        )
        .unwrap_err()
        .to_string();
        assert!(
            error.contains("\"pagr\"") && error.contains("pager"),
            "{error}"
        );
        assert!(
            toml::from_str::<toml::Table>("[[route]]\nrule = [\"x\"]\nsinks = []")
                .map(|t| t["route"].clone().try_into::<Vec<Route>>().is_err())
                .unwrap()
        );
    }
}
