//! What an API token may do: its scopes, and for issuing tokens the labels it must and may
//! set. The HTTP API asks these questions; keeping them here lets every face of tripkey give
//! the same answers.

use std::fmt;
use std::str::FromStr;

use store::{ApiToken, CanaryRecord, Labels};

use crate::service::ServiceError;

/// What a token is for.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Everything.
    Admin,
    /// Read everything except secrets.
    Viewer,
    /// Issue and renew canaries, and record their placements, for its own canaries only; for
    /// MDM scripts, CI jobs and `tripkey plant`.
    Issuer,
    /// `POST /ingest` only.
    Ingest,
}

impl Scope {
    /// Every scope.
    pub const ALL: [Scope; 4] = [Scope::Admin, Scope::Viewer, Scope::Issuer, Scope::Ingest];

    /// The scope's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Admin => "admin",
            Scope::Viewer => "viewer",
            Scope::Issuer => "issuer",
            Scope::Ingest => "ingest",
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Scope {
    type Err = String;

    fn from_str(text: &str) -> Result<Scope, String> {
        Scope::ALL
            .into_iter()
            .find(|scope| scope.as_str() == text)
            .ok_or_else(|| {
                format!("unknown scope {text:?}: expected one of admin, viewer, issuer, ingest")
            })
    }
}

/// Who is calling, as far as permissions go: a live token's name, scopes and label rules.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    /// The token's name, recorded with what it does.
    pub name: String,
    /// Its scopes; unknown ones are dropped.
    pub scopes: Vec<Scope>,
    /// Labels forced onto every canary it issues.
    pub pinned_labels: Labels,
    /// Labels it may set, key to glob pattern.
    pub allowed_labels: Labels,
}

impl From<&ApiToken> for Principal {
    fn from(token: &ApiToken) -> Principal {
        Principal {
            name: token.name.clone(),
            scopes: token
                .scopes
                .iter()
                .filter_map(|scope| scope.parse().ok())
                .collect(),
            pinned_labels: token.pinned_labels.clone(),
            allowed_labels: token.allowed_labels.clone(),
        }
    }
}

impl Principal {
    /// Its scopes, space-separated, as the audit log records them.
    pub fn scope_list(&self) -> String {
        self.scopes
            .iter()
            .map(|scope| scope.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Whether it holds `scope`; `admin` holds every scope.
    pub fn has(&self, scope: Scope) -> bool {
        self.scopes.contains(&Scope::Admin) || self.scopes.contains(&scope)
    }

    /// Whether it may read every canary and alert.
    pub fn reads_everything(&self) -> bool {
        self.has(Scope::Viewer)
    }

    /// Whether it may see `canary`: everything with `viewer`, its own canaries with `issuer`.
    pub fn may_see(&self, canary: &CanaryRecord) -> bool {
        self.reads_everything() || self.owns(canary)
    }

    /// Whether it issued `canary` and may still issue.
    pub fn owns(&self, canary: &CanaryRecord) -> bool {
        self.has(Scope::Issuer) && canary.issued_by.as_deref() == Some(self.name.as_str())
    }

    /// The labels a canary it issues gets: the asked-for labels, each allowed by the token
    /// (`admin` may set any), with the pinned labels forced on. A label the token may not set,
    /// or a pinned label asked with another value, is refused, naming it.
    pub fn labels_for_issue(&self, asked: Labels) -> Result<Labels, ServiceError> {
        let admin = self.scopes.contains(&Scope::Admin);
        let mut labels = Labels::new();
        for (key, value) in asked {
            if let Some(pinned) = self.pinned_labels.get(&key) {
                if *pinned != value {
                    return Err(ServiceError::InvalidRequest {
                        field: format!("labels.{key}"),
                        message: format!(
                            "this token pins {key} to {pinned:?}; leave the label out or give \
                             that value"
                        ),
                    });
                }
            } else if !admin
                && !self
                    .allowed_labels
                    .get(&key)
                    .is_some_and(|pattern| detect::config::wildcard_match(pattern, &value))
            {
                return Err(ServiceError::LabelNotAllowed {
                    key,
                    allowed: self.allowed_labels.clone(),
                });
            }
            labels.insert(key, value);
        }
        labels.extend(self.pinned_labels.clone());
        Ok(labels)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(scopes: &[Scope], pinned: &[(&str, &str)], allowed: &[(&str, &str)]) -> Principal {
        let map = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        Principal {
            name: "mdm".to_owned(),
            scopes: scopes.to_vec(),
            pinned_labels: map(pinned),
            allowed_labels: map(allowed),
        }
    }

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn an_issuer_token_forces_its_pinned_labels_and_sets_only_allowed_ones() {
        let mdm = principal(&[Scope::Issuer], &[("team", "platform")], &[("host", "*")]);
        let given = mdm
            .labels_for_issue(labels(&[("host", "laptop-42")]))
            .unwrap();
        assert_eq!(
            given,
            labels(&[("host", "laptop-42"), ("team", "platform")])
        );
        assert!(matches!(
            mdm.labels_for_issue(labels(&[("owner", "alice")])),
            Err(ServiceError::LabelNotAllowed { .. })
        ));
        assert!(matches!(
            mdm.labels_for_issue(labels(&[("team", "finance")])),
            Err(ServiceError::InvalidRequest { .. })
        ));
        assert!(mdm
            .labels_for_issue(labels(&[("team", "platform")]))
            .is_ok());
        let admin = principal(&[Scope::Admin], &[], &[]);
        assert!(admin
            .labels_for_issue(labels(&[("owner", "alice")]))
            .is_ok());
    }

    #[test]
    fn admin_holds_every_scope_and_issuers_see_only_their_own() {
        let admin = principal(&[Scope::Admin], &[], &[]);
        assert!(Scope::ALL.iter().all(|&scope| admin.has(scope)));
        let issuer = principal(&[Scope::Issuer], &[], &[]);
        assert!(!issuer.reads_everything() && !issuer.has(Scope::Viewer));
        assert_eq!("viewer".parse::<Scope>(), Ok(Scope::Viewer));
        assert!("root".parse::<Scope>().is_err());
    }
}
