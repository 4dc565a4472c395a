//! Reading a canaries file: TOML (`[[canary]]` tables) or JSON (a list, or `{"canary": [...]}`).

use std::path::Path;

use anyhow::{bail, Context};
use detect::{Canary, CanaryRegistry};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CanaryFile {
    #[serde(default)]
    canary: Vec<Canary>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum JsonCanaries {
    List(Vec<Canary>),
    Table(CanaryFile),
}

/// Parses canaries from text; `json` picks the format.
pub fn parse(text: &str, json: bool) -> anyhow::Result<Vec<Canary>> {
    if json {
        Ok(match serde_json::from_str::<JsonCanaries>(text)? {
            JsonCanaries::List(list) => list,
            JsonCanaries::Table(file) => file.canary,
        })
    } else {
        Ok(toml::from_str::<CanaryFile>(text)?.canary)
    }
}

/// True when a canaries file is JSON: by extension, else by its first characters (TOML's
/// `[[canary]]` also starts with a bracket).
fn is_json(path: &Path, text: &str) -> bool {
    match path.extension().and_then(|ext| ext.to_str()) {
        Some("json") => true,
        Some("toml") => false,
        _ => {
            let text = text.trim_start();
            text.starts_with('{')
                || (text.starts_with('[') && !text[1..].trim_start().starts_with('['))
        }
    }
}

/// Loads and indexes a canaries file, TOML or JSON (see [`is_json`]).
pub fn load(path: &Path) -> anyhow::Result<CanaryRegistry> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the canaries file {}", path.display()))?;
    let json = is_json(path, &text);
    let canaries = parse(&text, json).with_context(|| {
        format!(
            "{} is not a valid canaries file: expected {} (see README.md, \"Scan CloudTrail logs\")",
            path.display(),
            if json {
                "a JSON list of canaries"
            } else {
                "TOML [[canary]] tables with name, access_key_id, principal_arn, user_name, labels, memo"
            }
        )
    })?;
    if canaries.is_empty() {
        bail!("{} lists no canaries", path.display());
    }
    CanaryRegistry::new(canaries).with_context(|| format!("in {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_and_json_forms_agree() {
        let toml = r#"
            [[canary]]
            name = "billing-export"
            access_key_id = "AKIAQWERTYUIOPASDFGH"
            memo = "laptop"
            [canary.labels]
            owner = "platform"
        "#;
        let json = r#"[{"name":"billing-export","access_key_id":"AKIAQWERTYUIOPASDFGH","memo":"laptop","labels":{"owner":"platform"}}]"#;
        let from_toml = parse(toml, false).unwrap();
        assert_eq!(from_toml, parse(json, true).unwrap());
        assert_eq!(
            from_toml,
            parse(&format!("{{\"canary\":{json}}}"), true).unwrap()
        );
        assert_eq!(from_toml[0].labels["owner"], "platform");
    }

    #[test]
    fn format_is_told_by_extension_then_content() {
        assert!(!is_json(Path::new("c.toml"), "[{"));
        assert!(is_json(Path::new("c.json"), "[[canary]]"));
        assert!(!is_json(Path::new("canaries"), " [[canary]]"));
        assert!(is_json(Path::new("canaries"), "[ {\"name\": \"a\"}]"));
        assert!(is_json(Path::new("canaries"), "{\"canary\": []}"));
    }

    #[test]
    fn unknown_fields_are_refused() {
        assert!(parse("[[canary]]\nname = \"a\"\naccess_key = \"x\"\n", false).is_err());
    }
}
