//! Fields that are one YAML node in Kustomize.
//!
//! Kustomize's label and annotation setter makes one YAML node per pair and resource, and puts
//! that same node at every field it creates (a key that was not there). A later write in place
//! to any of those fields (a label or annotation setter, a strategic merge patch, a
//! replacement) changes the node, and so all of them; a JSON 6902 patch works on the
//! resource's JSON form and parts them. kubectl shows it: a base's `labels` with
//! `includeSelectors`, then an overlay's `labels` of the same key without them, leaves the
//! overlay's value in the selectors too.
//!
//! A resource records, per node, only which of the setter run's field specs created it: the
//! specs' paths and the pairs are shared by every resource of the run, so a 500-application
//! build pays a few bytes a resource.

use std::sync::Arc;

use gitops_core::value::Value;

use crate::fields::{spec_path, walk};

/// What a label or annotation setter ran with, as far as it made shared nodes: the paths of
/// the field specs that created one, and the pairs that made one.
#[derive(Debug)]
pub(super) struct SetterRun {
    pub(super) paths: Vec<Box<str>>,
    pub(super) pairs: Vec<(Box<str>, Box<str>)>,
}

/// One shared node of a resource: the key `run.pairs[pair]` at the paths of the specs in
/// `specs` (bit `i` for `run.paths[i]`), and the value it had when they were last made equal
/// (`None`: the pair's own value).
#[derive(Clone, Debug)]
pub(super) struct Alias {
    pub(super) run: Arc<SetterRun>,
    pub(super) value: Option<Box<Value>>,
    pub(super) specs: u32,
    pub(super) pair: u16,
}

/// How many specs of one setter run an [`Alias`] can name.
pub(super) const MAX_SPECS: usize = 32;

/// The set bits of `mask`, lowest first.
fn bits(mut mask: u32) -> impl Iterator<Item = usize> {
    std::iter::from_fn(move || {
        let i = mask.trailing_zeros();
        (i < u32::BITS).then(|| {
            mask &= mask - 1;
            i as usize
        })
    })
}

impl Alias {
    fn key(&self) -> &str {
        &self.run.pairs[self.pair as usize].0
    }

    fn is_current(&self, now: &Value) -> bool {
        match &self.value {
            Some(v) => **v == *now,
            None => now.as_str() == Some(&*self.run.pairs[self.pair as usize].1),
        }
    }

    /// After writes Kustomize makes in place: a field of the node that changed gives its value
    /// to all of them (the last changed, in the specs' order, when several did); a spec whose
    /// field is gone leaves the node. Whether the node is still at more than one field.
    pub(super) fn sync(&mut self, v: &mut Value) -> bool {
        let mut changed: Option<Value> = None;
        let mut fields = 0;
        for i in bits(self.specs) {
            let path = spec_path(&self.run.paths[i]);
            let (mut here, mut gone) = (0, false);
            walk(v, &path, false, &mut |slot| match slot.as_object().and_then(|m| m.get(self.key())) {
                None => gone = true,
                Some(now) => {
                    here += 1;
                    if !self.is_current(now) {
                        changed = Some(now.clone());
                    }
                }
            });
            if gone || here == 0 {
                self.specs &= !(1u32 << i);
            } else {
                fields += here;
            }
        }
        if let Some(new) = changed {
            for i in bits(self.specs) {
                let path = spec_path(&self.run.paths[i]);
                walk(v, &path, false, &mut |slot| {
                    if let Some(field) = slot.as_object_mut().and_then(|m| m.get_mut(self.key())) {
                        *field = new.clone();
                    }
                });
            }
            self.value = Some(Box::new(new));
        }
        fields > 1
    }
}

/// Syncs every node of a resource's value (see [`Alias::sync`]) and forgets those left at
/// one field.
pub(super) fn sync_all(aliases: &mut Vec<Alias>, v: &mut Value) {
    aliases.retain_mut(|a| a.sync(v));
}

/// Records the shared nodes one setter run made: `made` holds (resource, pair, specs), with
/// bit `i` of the specs for `specs[i]` (see [`crate::fields::set_pairs`]). Each resource gets
/// only the compact record; the paths and pairs are kept once for the run.
pub(super) fn record(
    acc: &mut [super::Res],
    specs: &[crate::kustomization::FieldSpec],
    pairs: &[(String, String)],
    made: &[(usize, usize, u128)],
) {
    if made.is_empty() {
        return;
    }
    // The specs and pairs that made a node, numbered anew in their order.
    let used_specs = made.iter().fold(0u128, |all, m| all | m.2);
    let spec_at: Vec<usize> = (0..128).filter(|i| used_specs & (1u128 << i) != 0).take(MAX_SPECS).collect();
    let mut pair_at: Vec<usize> = made.iter().map(|m| m.1).collect();
    pair_at.sort_unstable();
    pair_at.dedup();
    pair_at.truncate(usize::from(u16::MAX));
    let run = Arc::new(SetterRun {
        paths: spec_at.iter().map(|&i| Box::from(specs[i].path.as_str())).collect(),
        pairs: pair_at.iter().map(|&n| (Box::from(pairs[n].0.as_str()), Box::from(pairs[n].1.as_str()))).collect(),
    });
    for &(i, pair, mask) in made {
        let Ok(pair) = pair_at.binary_search(&pair) else { continue };
        let specs =
            spec_at.iter().enumerate().filter(|(_, s)| mask & (1u128 << **s) != 0).fold(0u32, |m, (b, _)| m | 1 << b);
        let mut a = Alias { run: run.clone(), value: None, specs, pair: pair as u16 };
        // Kept only when the node is at more than one field: two specs are two fields; one
        // spec (through a list) is counted.
        let r = &mut acc[i];
        if specs.count_ones() > 1 || a.sync(r.obj.as_value_mut()) {
            r.aliases.reserve_exact(1);
            r.aliases.push(a);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alias(paths: &[&str], specs: u32) -> Alias {
        let run =
            SetterRun { paths: paths.iter().map(|&p| p.into()).collect(), pairs: vec![("app".into(), "a".into())] };
        Alias { run: Arc::new(run), pair: 0, specs, value: None }
    }

    #[test]
    fn a_changed_field_gives_its_value_to_the_others() {
        let mut v = gitops_core::json!({
            "metadata": {"labels": {"app": "b"}},
            "spec": {"selector": {"app": "a"}, "other": {"app": "a"}}
        });
        // The second spec is not part of the node: it keeps its value.
        let mut a = alias(&["metadata/labels", "spec/other", "spec/selector"], 0b101);
        assert!(a.sync(&mut v));
        assert_eq!(v["spec"]["selector"]["app"], "b");
        assert_eq!(v["spec"]["other"]["app"], "a");
        // Now equal at "b": a later change of the selector goes back to the labels.
        v["spec"]["selector"]["app"] = "c".into();
        assert!(a.sync(&mut v));
        assert_eq!(v["metadata"]["labels"]["app"], "c");
    }

    #[test]
    fn a_field_gone_leaves_the_node() {
        let mut v = gitops_core::json!({"metadata": {"labels": {"app": "a"}}, "spec": {"selector": {}}});
        let mut aliases = vec![alias(&["metadata/labels", "spec/selector"], 0b11)];
        sync_all(&mut aliases, &mut v);
        assert!(aliases.is_empty());
    }

    #[test]
    fn fields_through_a_list_are_each_part_of_the_node() {
        let mut v = gitops_core::json!({
            "metadata": {"labels": {"app": "a"}},
            "spec": {"claims": [{"labels": {"app": "a"}}, {"labels": {"app": "z"}}]}
        });
        let mut a = alias(&["metadata/labels", "spec/claims[]/labels"], 0b11);
        assert!(a.sync(&mut v));
        assert_eq!(v["metadata"]["labels"]["app"], "z");
        assert_eq!(v["spec"]["claims"][0]["labels"]["app"], "z");
    }
}
