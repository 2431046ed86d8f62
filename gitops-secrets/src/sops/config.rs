//! `.sops.yaml`: creation rules that choose keys and options by file path, as `sops`
//! reads them.

use gitops_core::value::Value as Json;
use regex::Regex;

use super::{EncryptOptions, Error, ErrorKind, Recipient};

/// One creation rule.
#[derive(Clone, Debug, Default)]
pub struct CreationRule {
    /// Which files it applies to (`path_regex`, searched in the path relative to the
    /// configuration's directory); `None` matches every file.
    pub path_regex: Option<String>,
    /// The options it gives.
    pub options: EncryptOptions,
}

/// A `.sops.yaml` file.
#[derive(Clone, Debug, Default)]
pub struct Config {
    /// The rules, in order; the first that matches wins.
    pub creation_rules: Vec<CreationRule>,
}

fn list_of(v: Option<&Json>) -> Vec<String> {
    match v {
        Some(Json::String(s)) => s.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect(),
        Some(Json::Array(a)) => {
            a.iter().filter_map(Json::as_str).map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect()
        }
        _ => Vec::new(),
    }
}

fn group_of(v: &Json) -> Vec<Recipient> {
    let mut g: Vec<Recipient> = list_of(v.get("age")).into_iter().map(Recipient::Age).collect();
    g.extend(list_of(v.get("pgp")).into_iter().map(|fp| Recipient::Pgp(fp.replace(' ', ""))));
    g
}

fn opt_str(v: &Json, k: &str) -> Option<String> {
    v.get(k).and_then(Json::as_str).filter(|s| !s.is_empty()).map(String::from)
}

impl Config {
    /// Parses `.sops.yaml` text.
    pub fn parse(text: &str, file: &str) -> Result<Config, Error> {
        let bad = |m: String| Error { kind: ErrorKind::Config, file: file.into(), message: m };
        let docs = super::yaml_read::parse(text).map_err(|e| bad(format!("not valid YAML: {e}")))?;
        let root = docs.first().map(super::metadata::branch_to_json).unwrap_or(Json::Null);
        let mut rules = Vec::new();
        let items = match root.get("creation_rules") {
            None | Some(Json::Null) => &[][..],
            Some(Json::Array(a)) => a.as_slice(),
            Some(_) => return Err(bad("creation_rules is not a list".into())),
        };
        for (i, r) in items.iter().enumerate() {
            let mut groups = Vec::new();
            if let Some(Json::Array(kg)) = r.get("key_groups") {
                for g in kg {
                    groups.push(group_of(g));
                }
            } else {
                let g = group_of(r);
                if !g.is_empty() {
                    groups.push(g);
                }
            }
            let path_regex = opt_str(r, "path_regex");
            if let Some(p) = &path_regex {
                Regex::new(p).map_err(|e| bad(format!("creation_rules[{i}].path_regex: {e}")))?;
            }
            let threshold = match r.get("shamir_threshold") {
                Some(Json::Number(n)) => n.as_u64().unwrap_or(0) as usize,
                Some(Json::String(s)) => {
                    s.parse().map_err(|_| bad(format!("creation_rules[{i}].shamir_threshold is not a number")))?
                }
                _ => 0,
            };
            rules.push(CreationRule {
                path_regex,
                options: EncryptOptions {
                    groups,
                    shamir_threshold: threshold,
                    rules: super::RuleOptions::from_json(r).map_err(|m| bad(format!("creation_rules[{i}]: {m}")))?,
                },
            });
        }
        Ok(Config { creation_rules: rules })
    }

    /// The rule for `path` (relative to the configuration's directory, or as given).
    pub fn rule_for(&self, path: &str) -> Option<&CreationRule> {
        self.creation_rules.iter().find(|r| match &r.path_regex {
            None => true,
            Some(re) => Regex::new(re).is_ok_and(|re| re.is_match(path)),
        })
    }

    /// Finds `.sops.yaml` from `dir` upwards, as `sops` does.
    pub fn find(dir: &std::path::Path) -> Option<std::path::PathBuf> {
        let mut d = Some(dir);
        while let Some(p) = d {
            let c = p.join(".sops.yaml");
            if c.is_file() {
                return Some(c);
            }
            d = p.parent();
        }
        None
    }
}
