//! `kustomize edit set image` on a kustomization file's text, keeping the rest of the file,
//! its order and its comments.

/// An error editing a kustomization.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("set image {spec:?}: {reason}")]
pub struct SetImageError {
    /// The argument given.
    pub spec: String,
    /// What is wrong.
    pub reason: String,
}

/// A parsed `kustomize edit set image` argument (the override gitops-core applies).
pub type ImageArg = gitops_core::object::ImageOverride;

/// Parses a `kustomize edit set image` argument: `name=newName:tag`, `name=newName@digest`,
/// `name:tag`, `name@digest`, `name=newName`.
pub fn parse_image_arg(spec: &str) -> Result<ImageArg, SetImageError> {
    ImageArg::parse(spec).map_err(|reason| SetImageError { spec: spec.into(), reason })
}

/// Sets an image in a kustomization's YAML text as `kustomize edit set image SPEC` does:
/// the entry of that name in `images` is replaced (or added, keeping the list sorted by
/// name), everything else in the file is kept as it was.
///
/// ```
/// let text = "# prod overlay\nresources:\n- ../../base\nimages:\n- name: app\n  newTag: v1.0.0 # pinned\n";
/// let out = gitops_render::set_image(text, "app=registry/app:v1.2.3").unwrap();
/// assert_eq!(out, "# prod overlay\nresources:\n- ../../base\nimages:\n- name: app\n  newName: registry/app\n  newTag: v1.2.3\n");
/// ```
pub fn set_image(text: &str, spec: &str) -> Result<String, SetImageError> {
    let ImageArg { name, new_name, new_tag: tag, digest } = parse_image_arg(spec)?;
    let mut entry = vec![format!("- name: {name}")];
    if let Some(n) = &new_name {
        entry.push(format!("  newName: {n}"));
    }
    if let Some(t) = &tag {
        entry.push(format!("  newTag: {}", quote_if_needed(t)));
    }
    if let Some(d) = &digest {
        entry.push(format!("  digest: {d}"));
    }
    let lines: Vec<&str> = text.lines().collect();
    let images_at = lines.iter().position(|l| l.trim_end() == "images:" || l.starts_with("images:"));
    let mut out: Vec<String> = Vec::new();
    match images_at {
        None => {
            out.extend(lines.iter().map(|l| l.to_string()));
            out.push("images:".into());
            out.extend(entry);
        }
        Some(at) if lines[at].trim_end() != "images:" => {
            return Err(SetImageError {
                spec: spec.into(),
                reason: "the images list is written inline; set-image edits block lists only".into(),
            });
        }
        Some(at) => {
            out.extend(lines[..=at].iter().map(|l| l.to_string()));
            // The block list runs while lines are items, their indented fields, or comments.
            let mut end = at + 1;
            while end < lines.len() {
                let l = lines[end];
                if l.starts_with("- ") || l.starts_with("  ") || l.trim().is_empty() || l.starts_with('#') || l == "-" {
                    end += 1;
                } else {
                    break;
                }
            }
            while end > at + 1 && lines[end - 1].trim().is_empty() {
                end -= 1;
            }
            // Split the block into items.
            let mut items: Vec<Vec<&str>> = Vec::new();
            for l in &lines[at + 1..end] {
                if l.starts_with("- ") || *l == "-" || items.is_empty() {
                    items.push(vec![l]);
                } else {
                    items.last_mut().expect("one item").push(l);
                }
            }
            let item_name = |item: &Vec<&str>| -> Option<String> {
                item.iter().find_map(|l| {
                    let t = l.trim_start_matches('-').trim();
                    t.strip_prefix("name:")
                        .map(|n| n.split('#').next().unwrap_or("").trim().trim_matches(['"', '\'']).to_string())
                })
            };
            let mut replaced = false;
            let mut new_items: Vec<Vec<String>> = Vec::new();
            for item in &items {
                if item_name(item).as_deref() == Some(name.as_str()) {
                    new_items.push(entry.clone());
                    replaced = true;
                } else {
                    new_items.push(item.iter().map(|l| l.to_string()).collect());
                }
            }
            if !replaced {
                let pos = items.iter().position(|i| item_name(i).is_some_and(|n| n > name)).unwrap_or(items.len());
                new_items.insert(pos, entry.clone());
            }
            for i in new_items {
                out.extend(i);
            }
            out.extend(lines[end..].iter().map(|l| l.to_string()));
        }
    }
    let mut s = out.join("\n");
    s.push('\n');
    Ok(s)
}

fn quote_if_needed(tag: &str) -> String {
    let plain_number = tag.parse::<f64>().is_ok();
    let special =
        matches!(tag.to_ascii_lowercase().as_str(), "true" | "false" | "yes" | "no" | "on" | "off" | "null" | "~");
    if plain_number || special { format!("\"{tag}\"") } else { tag.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adds_replaces_and_keeps_comments() {
        let text = "resources:\n- ../../base # the base\nimages:\n- name: a\n  newTag: \"1\"\n- name: c\n  newTag: \"3\"\nnamespace: prod\n";
        let out = set_image(text, "b=reg/b:2.0").unwrap();
        assert_eq!(
            out,
            "resources:\n- ../../base # the base\nimages:\n- name: a\n  newTag: \"1\"\n- name: b\n  newName: reg/b\n  newTag: \"2.0\"\n- name: c\n  newTag: \"3\"\nnamespace: prod\n"
        );
        let out = set_image(&out, "c@sha256:abc").unwrap();
        assert!(out.contains("- name: c\n  digest: sha256:abc\nnamespace: prod\n"), "{out}");
        let fresh = set_image("resources: [a.yaml]\n", "app:v2").unwrap();
        assert_eq!(fresh, "resources: [a.yaml]\nimages:\n- name: app\n  newTag: v2\n");
    }

    #[test]
    fn bad_arguments() {
        assert!(set_image("", "=x").is_err());
        assert!(set_image("", "a=").is_err());
        assert!(set_image("", "a b").is_err());
        assert!(set_image("images: [{name: a}]\n", "a:1").is_err());
    }
}
