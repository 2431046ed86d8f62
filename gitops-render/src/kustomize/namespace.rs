//! Kustomize's namespace transformer: the `namespace:` field of a kustomization and the
//! `NamespaceTransformer` built-in plugin, as Kustomize's namespace filter works.
//!
//! For each resource: `metadata.namespace` is set (created) unless the kind is cluster-scoped;
//! the subjects of a RoleBinding or ClusterRoleBinding get the namespace as
//! `setRoleBindingSubjects` says; then every other field spec that selects the resource is set,
//! created where the spec says so. With `unsetOnly`, only empty or missing fields are set. A
//! spec that reaches a list or a map is an error, as it is for Kustomize.

use super::*;

/// `setRoleBindingSubjects`: which subjects of a (Cluster)RoleBinding get the namespace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SubjectMode {
    /// `defaultOnly` (the default): subjects named `default`.
    DefaultOnly,
    /// `allServiceAccounts`: subjects of kind ServiceAccount.
    AllServiceAccounts,
    /// `none`.
    None,
}

impl SubjectMode {
    /// The mode a configuration names; unset or empty is `defaultOnly`.
    pub(crate) fn parse(text: Option<&str>) -> Result<Self, String> {
        match text.unwrap_or("") {
            "" | "defaultOnly" => Ok(Self::DefaultOnly),
            "allServiceAccounts" => Ok(Self::AllServiceAccounts),
            "none" => Ok(Self::None),
            other => Err(format!(
                "invalid value \"{other}\" for setRoleBindingSubjects: must be one of \"defaultOnly\", \"none\" or \"allServiceAccounts\""
            )),
        }
    }
}

/// One namespace transformer's configuration.
pub(crate) struct NamespaceTransformer<'a> {
    pub namespace: &'a str,
    /// The field specs besides `metadata/namespace`, which is always set.
    pub specs: &'a [FieldSpec],
    pub unset_only: bool,
    pub subjects: SubjectMode,
}

impl NamespaceTransformer<'_> {
    /// Runs over every resource, then fails if two resources are left with one id
    /// ("namespace transformation produces ID conflict"). `file` and `field` name the
    /// configuration in an error.
    pub(crate) fn run(&self, acc: &mut [Res], file: &str, field: &str) -> Result<(), Error> {
        if self.namespace.is_empty() {
            return Ok(());
        }
        for r in acc.iter_mut() {
            r.store_previous_id();
            self.run_one(r).map_err(|e| kerr(file, field, e))?;
        }
        check_namespace_conflicts(acc, file, field)
    }

    pub(super) fn run_one(&self, r: &mut Res) -> Result<(), String> {
        let api = r.obj.api_version().to_string();
        let (group, version) = gitops_core::object::split_api_version(&api);
        let (group, version, kind) = (group.to_string(), version.to_string(), r.obj.kind().to_string());
        // The id an error names is the object's before it changes, written out only for one.
        let (namespace, name) = (r.obj.namespace().to_string(), r.obj.name().to_string());
        let id = || super::id_text(&api, &kind, &namespace, &name);
        let v = r.obj.as_value_mut();
        if !tables::is_cluster_scoped(&api, &kind) {
            self.set_at(v, "metadata/namespace", true, &id)?;
        }
        let binding = matches!(kind.as_str(), "RoleBinding" | "ClusterRoleBinding");
        if binding {
            self.set_subjects(v);
        }
        for spec in self.specs {
            // `metadata/namespace` was set above; `metadata/name` is only a Namespace's
            // (apiVersion v1); a binding's subjects were set by the mode.
            if spec.path == "metadata/namespace"
                || (spec.path == "metadata/name" && api != "v1")
                || (binding
                    && spec.path == "subjects/namespace"
                    && matches!(spec.kind.as_deref(), Some("RoleBinding" | "ClusterRoleBinding")))
            {
                continue;
            }
            if spec.matches(&group, &version, &kind) {
                self.set_at(v, &spec.path, spec.create, &id)?;
            }
        }
        Ok(())
    }

    /// Sets the namespace at `path` (missing fields created with `create`).
    fn set_at(&self, v: &mut Value, path: &str, create: bool, id: &dyn Fn() -> String) -> Result<(), String> {
        let mut wrong = None;
        fields::walk_to_end(v, &fields::spec_path(path), create, &mut |slot| {
            if let Err(kind) = self.set(slot) {
                wrong.get_or_insert(kind);
            }
        });
        match wrong {
            Some(kind) => Err(format!(
                "namespace field specs must target scalar nodes: considering field '{path}' of object {}: wrong node kind: expected ScalarNode but got {kind}",
                id()
            )),
            None => Ok(()),
        }
    }

    /// Sets one scalar (with `unsetOnly`, only an empty one); a list or map is refused with
    /// its node kind.
    fn set(&self, slot: &mut Value) -> Result<(), &'static str> {
        let empty = match slot {
            Value::Null => true,
            Value::String(s) => s.is_empty(),
            Value::Bool(_) | Value::Number(_) => false,
            Value::Array(_) | Value::Object(_) => return Err(crate::fields::node_kind(slot)),
        };
        if empty || !self.unset_only {
            *slot = Value::String(self.namespace.to_string());
        }
        Ok(())
    }

    fn set_subjects(&self, v: &mut Value) {
        let Some(Value::Array(subjects)) = v.get_mut("subjects") else { return };
        for s in subjects.iter_mut().filter_map(Value::as_object_mut) {
            let (key, want) = match self.subjects {
                SubjectMode::None => return,
                SubjectMode::DefaultOnly => ("name", "default"),
                SubjectMode::AllServiceAccounts => ("kind", "ServiceAccount"),
            };
            if s.get(key).and_then(Value::as_str) != Some(want) {
                continue;
            }
            let slot = s.entry("namespace").or_insert(Value::Null);
            // A subject's namespace that is a list or map is left, as Kustomize's setter
            // leaves a non-scalar it is handed here.
            let _ = self.set(slot);
        }
    }
}
