use serde_json::json;

/// The policy every canary carries, inline and as its session policy: deny everything.
///
/// An explicit deny beats any allow, so a canary stays powerless even if someone attaches a
/// broad policy to it later. `sts:GetCallerIdentity` still answers (it cannot be denied), and
/// every other call fails with AccessDenied, so each probe of a canary is logged.
pub const DENY_ALL_POLICY: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"*","Resource":"*"}]}"#;

/// What [`least_privilege_policy_json`] scopes tripkey's own permissions to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeastPrivilegeScope {
    /// The ARN partition: `aws`, `aws-cn` or `aws-us-gov`.
    pub partition: String,
    /// The account tripkey issues canaries in.
    pub account_id: String,
    /// The IAM path canary users are created under, e.g. `/service/`, or `/` for any path.
    /// A dedicated path keeps tripkey's user permissions away from the account's real users.
    pub user_path: String,
    /// The name of the deny-all permissions boundary policy (see `ensure_boundary_policy`).
    pub boundary_policy_name: String,
    /// The name of the decoy role that role-session canaries assume.
    pub decoy_role_name: String,
}

/// The IAM policy tripkey itself needs to issue, rotate, revoke and watch canaries.
///
/// User management is limited to users under `scope.user_path`. Users can only be created
/// (and their boundary only set) with the deny-all boundary, and their policies only changed
/// while that boundary is on them: otherwise whoever holds these permissions could remove a
/// user's boundary, give it an allow-all policy and mint a key. tripkey removes a boundary only
/// last, just before deleting the user. Statement IDs are neutral, as every name an attacker
/// may list is. Short-term canaries need `sts:GetFederationToken` (when tripkey runs
/// as the federation issuer) and `sts:AssumeRole` on the decoy role only. `tripkey setup aws`
/// needs more than this, once, from an administrator.
pub fn least_privilege_policy_json(scope: &LeastPrivilegeScope) -> String {
    let p = &scope.partition;
    let a = &scope.account_id;
    let path = normalise_path(&scope.user_path);
    let users = format!("arn:{p}:iam::{a}:user{path}*");
    let boundary = format!("arn:{p}:iam::{a}:policy/{}", scope.boundary_policy_name);
    let role = format!("arn:{p}:iam::{a}:role/{}", scope.decoy_role_name);
    let policy = json!({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "CreateUsersOnlyWithTheBoundary",
                "Effect": "Allow",
                "Action": ["iam:CreateUser", "iam:PutUserPermissionsBoundary"],
                "Resource": users,
                "Condition": {"StringEquals": {"iam:PermissionsBoundary": boundary}}
            },
            {
                "Sid": "ChangeUserPoliciesOnlyUnderTheBoundary",
                "Effect": "Allow",
                "Action": ["iam:PutUserPolicy", "iam:DeleteUserPolicy", "iam:DetachUserPolicy"],
                "Resource": users,
                "Condition": {"StringEquals": {"iam:PermissionsBoundary": boundary}}
            },
            {
                "Sid": "ManageUsers",
                "Effect": "Allow",
                "Action": [
                    "iam:GetUser",
                    "iam:TagUser",
                    "iam:ListUserPolicies",
                    "iam:ListAttachedUserPolicies",
                    "iam:DeleteLoginProfile",
                    "iam:DeleteUserPermissionsBoundary",
                    "iam:CreateAccessKey",
                    "iam:ListAccessKeys",
                    "iam:DeleteAccessKey",
                    "iam:DeleteUser"
                ],
                "Resource": users
            },
            {
                "Sid": "WatchKeys",
                "Effect": "Allow",
                "Action": [
                    "iam:GetAccessKeyLastUsed",
                    "iam:GenerateCredentialReport",
                    "iam:GetCredentialReport"
                ],
                "Resource": "*"
            },
            {
                "Sid": "IssueFederationTokens",
                "Effect": "Allow",
                "Action": "sts:GetFederationToken",
                "Resource": format!("arn:{p}:sts::{a}:federated-user/*")
            },
            {
                "Sid": "AssumeSessionRole",
                "Effect": "Allow",
                "Action": "sts:AssumeRole",
                "Resource": role
            }
        ]
    });
    serde_json::to_string_pretty(&policy).expect("a JSON value always serialises")
}

/// IAM paths start and end with `/`; accept `service` or `/service` as well.
fn normalise_path(path: &str) -> String {
    let trimmed = path.trim_matches('/');
    if trimmed.is_empty() {
        "/".to_owned()
    } else {
        format!("/{trimmed}/")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deny_all_is_the_documented_policy() {
        let v: serde_json::Value = serde_json::from_str(DENY_ALL_POLICY).unwrap();
        assert_eq!(
            v,
            json!({"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"*","Resource":"*"}]})
        );
    }

    #[test]
    fn least_privilege_is_scoped_to_the_path_boundary_and_role() {
        let json = least_privilege_policy_json(&LeastPrivilegeScope {
            partition: "aws".into(),
            account_id: "123456789012".into(),
            user_path: "service".into(),
            boundary_policy_name: "workload-boundary".into(),
            decoy_role_name: "ci-deploy".into(),
        });
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        let statements = v["Statement"].as_array().unwrap();
        let create = &statements[0];
        assert_eq!(
            create["Resource"],
            "arn:aws:iam::123456789012:user/service/*"
        );
        assert_eq!(
            create["Condition"]["StringEquals"]["iam:PermissionsBoundary"],
            "arn:aws:iam::123456789012:policy/workload-boundary"
        );
        let actions: Vec<&str> = statements
            .iter()
            .flat_map(|s| match &s["Action"] {
                serde_json::Value::Array(a) => a.iter().map(|x| x.as_str().unwrap()).collect(),
                other => vec![other.as_str().unwrap()],
            })
            .collect();
        for needed in [
            "iam:CreateUser",
            "iam:TagUser",
            "iam:PutUserPolicy",
            "iam:CreateAccessKey",
            "iam:DeleteAccessKey",
            "iam:ListAccessKeys",
            "iam:DeleteUser",
            "iam:GetAccessKeyLastUsed",
            "iam:GenerateCredentialReport",
            "iam:GetCredentialReport",
            "sts:GetFederationToken",
            "sts:AssumeRole",
        ] {
            assert!(actions.contains(&needed), "{needed} missing");
        }
        assert!(
            !actions.iter().any(|a| a.ends_with('*')),
            "no wildcard actions"
        );
        let policy_changes = statements
            .iter()
            .find(|s| {
                s["Action"]
                    .as_array()
                    .is_some_and(|a| a.contains(&json!("iam:PutUserPolicy")))
            })
            .unwrap();
        assert_eq!(
            policy_changes["Condition"]["StringEquals"]["iam:PermissionsBoundary"],
            "arn:aws:iam::123456789012:policy/workload-boundary",
            "a user's policies change only while the deny-all boundary is on it"
        );
        for statement in statements {
            let sid = statement["Sid"].as_str().unwrap().to_ascii_lowercase();
            assert!(
                !["canary", "decoy", "honey", "trap"]
                    .iter()
                    .any(|w| sid.contains(w)),
                "{sid} names what the account is watching for"
            );
        }
        assert_eq!(
            statements.last().unwrap()["Resource"],
            "arn:aws:iam::123456789012:role/ci-deploy"
        );
    }

    #[test]
    fn paths_are_normalised() {
        assert_eq!(normalise_path("/"), "/");
        assert_eq!(normalise_path(""), "/");
        assert_eq!(normalise_path("/a/b"), "/a/b/");
        assert_eq!(normalise_path("svc/"), "/svc/");
    }
}
