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

/// Loads and indexes a canaries file. The format follows the extension (`.json` is JSON,
/// anything else TOML), falling back to sniffing the first character.
pub fn load(path: &Path) -> anyhow::Result<CanaryRegistry> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the canaries file {}", path.display()))?;
    let json = path.extension().is_some_and(|ext| ext == "json")
        || text.trim_start().starts_with(['[', '{']);
    let canaries = parse(&text, json).with_context(|| {
        format!(
            "{} is not a valid canaries file: expected {} (see README.md, \"Canaries file\")",
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
    fn unknown_fields_are_refused() {
        assert!(parse("[[canary]]\nname = \"a\"\naccess_key = \"x\"\n", false).is_err());
    }
}
