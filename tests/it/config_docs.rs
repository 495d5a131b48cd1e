//! docs/CONFIGURATION.md documents every setting with its environment variable and default.

use docflow::config::{env_name, Config};
use std::collections::BTreeMap;

#[test]
fn configuration_doc_matches_defaults() {
    let doc = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/docs/CONFIGURATION.md"
    ))
    .unwrap();
    // Rows: | `key` | `ENV` | `default` | meaning |
    let mut rows: BTreeMap<String, (String, String)> = BTreeMap::new();
    for line in doc.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<String> = line
            .trim_matches('|')
            .split(" | ")
            .map(|c| c.trim().trim_matches('`').to_string())
            .collect();
        assert!(cells.len() >= 4, "row with 4 cells: {line}");
        rows.insert(cells[0].clone(), (cells[1].clone(), cells[2].clone()));
    }
    let defaults = toml::Value::try_from(Config::default()).unwrap();
    let defaults = defaults.as_table().unwrap();
    assert!(defaults.len() >= 20);
    for (key, value) in defaults {
        let (env, default) = rows
            .get(key)
            .unwrap_or_else(|| panic!("docs/CONFIGURATION.md has no row for `{key}`"));
        let expected_env = if key == "database_url" {
            "DATABASE_URL".to_string()
        } else {
            env_name(key)
        };
        assert_eq!(env, &expected_env, "environment variable of {key}");
        assert_eq!(default, &value.to_string(), "documented default of {key}");
    }
    for key in rows.keys() {
        assert!(
            defaults.contains_key(key),
            "docs/CONFIGURATION.md documents unknown setting `{key}`"
        );
    }
}
