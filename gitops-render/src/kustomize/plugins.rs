//! Built-in plugin configurations in `generators:` and `transformers:` (`apiVersion:
//! builtin`), as Kustomize v5.5 runs them: each entry is an inline configuration, a file of
//! them, or a kustomization directory whose output they are; generators run after the
//! kustomization's own generators, transformers after its own transformers, in list order,
//! over this kustomization's resources. Each configuration becomes the kustomization field
//! that Kustomize's own built-in plugin implements (a `PatchTransformer` is a `patches`
//! entry, an `ImageTagTransformer` an `images` entry, ...), except labels and annotations,
//! whose field specs are the configuration's own. Exec, container and Go plugins are refused.

use gitops_core::tree::EntryKind;
use gitops_core::yaml::{self, ParseOptions};
use gitops_core::{
    json,
    value::{Map, Value},
};

use super::transform::{add_affix, apply_pairs};
use super::{Build, Expect, Res, TransformerConfig, kerr};
use crate::error::Error;
use crate::kustomization::{FieldSpec, GeneratorArgs, GeneratorOptions, Kustomization};

/// One configuration and where it came from (for errors).
pub(super) struct PluginConfig {
    pub field: String,
    pub value: Value,
    /// The file it was read from (the kustomization for an inline one).
    pub source: String,
}

impl Build<'_> {
    /// The configurations of a `generators:` or `transformers:` list.
    pub(super) fn plugin_configs(
        &mut self,
        dir: &str,
        file: &str,
        list: &str,
        entries: &[String],
    ) -> Result<Vec<PluginConfig>, Error> {
        // Kustomize runs the inline configurations first, then those of files and
        // directories, each group in the listed order.
        let (mut out, mut from_files) = (Vec::new(), Vec::new());
        for (i, entry) in entries.iter().enumerate() {
            let field = format!("{list}[{i}]");
            let source = file.to_string();
            let inline = entry.contains('\n') || entry.trim_start().starts_with("apiVersion:");
            // Each configuration with the file it came from.
            let docs: Vec<(Value, String)> = if inline {
                yaml::parse_values(entry, &format!("{file} {field}"), &ParseOptions::default())?
                    .into_iter()
                    .map(|(_, _, v)| (v, source.clone()))
                    .collect()
            } else {
                let p = self.entry_path(dir, file, &field, entry)?;
                match self.tree.kind(&p)? {
                    Some(EntryKind::Dir) if entry.starts_with('/') => {
                        return Err(super::absolute_root(file, &field, entry));
                    }
                    Some(EntryKind::Dir) => {
                        // A kustomization whose output is the configurations.
                        let mut sub = Vec::new();
                        let mut config = TransformerConfig::default();
                        self.position.push(10_000 + i);
                        let r = self.run(&p, &mut sub, Expect::Kustomization, &mut config);
                        self.position.pop();
                        r?;
                        sub.into_iter()
                            .map(|r| {
                                let from = match &r.origin {
                                    Some(super::Origin::File(path)) => path.clone(),
                                    _ => p.clone(),
                                };
                                (r.obj.into_value(), from)
                            })
                            .collect()
                    }
                    _ => {
                        let (path, bytes) = self.read_file(dir, file, &field, entry)?;
                        let text = String::from_utf8(bytes)
                            .map_err(|_| kerr(file, &field, format!("{path}: not valid UTF-8")))?;
                        yaml::parse_values(&text, &path, &ParseOptions::default())?
                            .into_iter()
                            .map(|(_, _, v)| (v, path.clone()))
                            .collect()
                    }
                }
            };
            for (value, source) in docs {
                if !value.is_object() {
                    return Err(kerr(file, &field, "a plugin configuration must be a mapping"));
                }
                let api = value.get("apiVersion").and_then(Value::as_str).unwrap_or("");
                let kind = value.get("kind").and_then(Value::as_str).unwrap_or("");
                if api != "builtin" {
                    return Err(kerr(
                        file,
                        &field,
                        format!(
                            "plugins are not supported: {api}/{kind} is not a built-in (apiVersion: builtin); exec, container and Go plugins are refused"
                        ),
                    ));
                }
                let config = PluginConfig { field: field.clone(), value, source };
                if inline { out.push(config) } else { from_files.push(config) }
            }
        }
        out.extend(from_files);
        Ok(out)
    }

    /// Runs one built-in generator configuration.
    pub(super) fn run_builtin_generator(
        &mut self,
        dir: &str,
        file: &str,
        config: &PluginConfig,
        acc: &mut Vec<Res>,
    ) -> Result<(), Error> {
        let kind = config.value.get("kind").and_then(Value::as_str).unwrap_or("");
        match kind {
            "ConfigMapGenerator" | "SecretGenerator" => {
                // Go's decoder: fields the plugin does not know are ignored; `name` and
                // `namespace` beside `metadata` win over the configuration's own.
                let mut body: Map<String, Value> = body_of(&config.value)
                    .into_iter()
                    .filter(|(k, _)| GENERATOR_FIELDS.contains(&k.as_str()))
                    .collect();
                let meta = config.value.get("metadata").cloned().unwrap_or(Value::Null);
                for key in ["name", "namespace"] {
                    if let Some(v) = meta.get(key)
                        && !body.contains_key(key)
                    {
                        body.insert(key.into(), v.clone());
                    }
                }
                let args: GeneratorArgs = serde_path_to_error::deserialize(Value::Object(body))
                    .map_err(|e| kerr(file, format!("{}.{}", config.field, e.path()), e.inner().to_string()))?;
                let before = acc.len();
                // Named in errors and origins: the file the configuration came from.
                self.generate(
                    dir,
                    &config.source,
                    &config.field,
                    &args,
                    &GeneratorOptions::default(),
                    kind == "SecretGenerator",
                    acc,
                )?;
                // The origin names the configuration, as Kustomize's does.
                let plugin = meta.get("name").and_then(Value::as_str).map(String::from);
                for r in acc.iter_mut().skip(before) {
                    if let Some(super::Origin::Generator { name, .. }) = r.origin.as_mut() {
                        *name = plugin.clone();
                    }
                }
                Ok(())
            }
            "IAMPolicyGenerator" => {
                let v = &config.value;
                let get = |p: &str| v.pointer(p).and_then(Value::as_str).unwrap_or("").to_string();
                let cloud = get("/cloud");
                if cloud != "gke" {
                    return Err(kerr(file, &config.field, format!("cloud {cloud:?} is not supported (gke)")));
                }
                let (name, namespace) = (get("/kubernetesService/name"), get("/kubernetesService/namespace"));
                let (account, project) = (get("/serviceAccount/name"), get("/serviceAccount/projectId"));
                let mut metadata = json!({
                    "name": name,
                    "annotations": {"iam.gke.io/gcp-service-account": format!("{account}@{project}.iam.gserviceaccount.com")},
                });
                if !namespace.is_empty() {
                    metadata["namespace"] = json!(namespace);
                }
                let obj = gitops_core::Object::from_value(
                    json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": metadata}),
                )
                .map_err(|e| kerr(file, &config.field, e.to_string()))?;
                let mut r = Res::new(obj);
                r.origin = Some(super::Origin::Generator {
                    kustomization: config.source.clone(),
                    kind: "IAMPolicyGenerator",
                    name: v.pointer("/metadata/name").and_then(Value::as_str).map(String::from),
                });
                super::add_resource(acc, r, file)
            }
            other => Err(kerr(file, &config.field, format!("unable to load builtin {other}.builtin.[noGrp]"))),
        }
    }

    /// Runs one built-in transformer configuration over `acc`.
    pub(super) fn run_builtin_transformer(
        &mut self,
        dir: &str,
        file: &str,
        config: &PluginConfig,
        acc: &mut Vec<Res>,
        cfg: &TransformerConfig,
    ) -> Result<(), Error> {
        // Noted as configured by this configuration (its file, name and namespace), as
        // Kustomize notes a transformer of `transformers:`.
        self.configured_by = configured_by(&config.value);
        self.configured_in = Some(config.source.as_str().into());
        let result = self.builtin_transformer(dir, file, config, acc, cfg);
        self.configured_by = None;
        self.configured_in = None;
        self.replica_specs = None;
        self.image_specs = None;
        result
    }

    fn builtin_transformer(
        &mut self,
        dir: &str,
        file: &str,
        config: &PluginConfig,
        acc: &mut Vec<Res>,
        cfg: &TransformerConfig,
    ) -> Result<(), Error> {
        let v = &config.value;
        let kind = v.get("kind").and_then(Value::as_str).unwrap_or("");
        let body = body_of(v);
        let field = |name: &str| body.get(name).cloned().unwrap_or(Value::Null);
        let specs = || -> Result<Vec<FieldSpec>, Error> {
            match body.get("fieldSpecs") {
                Some(s) => serde_path_to_error::deserialize(s.clone()).map_err(|e| {
                    kerr(file, format!("{}.fieldSpecs.{}", config.field, e.path()), e.inner().to_string())
                }),
                None => Ok(Vec::new()),
            }
        };
        // Kustomize reads the configuration's scalars, then decodes the map into
        // map[string]string through sigs.k8s.io/yaml, which writes a number or boolean as its
        // text and a null as "" (a timestamp is already RFC 3339 text when read).
        let pairs = |name: &str| -> Vec<(String, String)> {
            let Some(m) = body.get(name).and_then(Value::as_object) else { return Vec::new() };
            m.iter()
                .map(|(k, v)| {
                    let text = match v {
                        Value::Null => String::new(),
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    (k.clone(), text)
                })
                .collect()
        };
        let synthetic = match kind {
            "PatchTransformer" => json!({"patches": [Value::Object(body.clone())]}),
            "PatchJson6902Transformer" => {
                let mut entry = body.clone();
                if let Some(op) = entry.remove("jsonOp") {
                    entry.insert("patch".into(), op);
                }
                json!({"patchesJson6902": [Value::Object(entry)]})
            }
            "PatchStrategicMergeTransformer" => {
                let mut entries: Vec<Value> = field("paths").as_array().cloned().unwrap_or_default();
                match field("patches") {
                    Value::String(s) if !s.trim().is_empty() => entries.push(Value::String(s)),
                    Value::Array(list) => entries.extend(list),
                    _ => {}
                }
                json!({"patchesStrategicMerge": entries})
            }
            "PrefixSuffixTransformer" | "PrefixTransformer" | "SuffixTransformer" => {
                // Kustomize reads plugin configurations leniently: unknown keys of a field
                // spec (a `name:` selector, say) are ignored.
                let Some(list) = body.get("fieldSpecs").and_then(Value::as_array) else {
                    return Err(kerr(file, &config.field, "fieldSpecs is not expected to be nil"));
                };
                let mut specs = Vec::new();
                for (i, item) in list.iter().enumerate() {
                    let mut m = item.as_object().cloned().unwrap_or_default();
                    m.retain(|k, _| matches!(k.as_str(), "group" | "version" | "kind" | "path" | "create"));
                    let spec: FieldSpec = serde_path_to_error::deserialize(Value::Object(m)).map_err(|e| {
                        kerr(file, format!("{}.fieldSpecs[{i}].{}", config.field, e.path()), e.inner().to_string())
                    })?;
                    specs.push(spec);
                }
                let text = |name: &str| body.get(name).and_then(Value::as_str).unwrap_or("").to_string();
                if kind != "SuffixTransformer" {
                    add_affix(acc, &text("prefix"), true, &specs);
                }
                if kind != "PrefixTransformer" {
                    add_affix(acc, &text("suffix"), false, &specs);
                }
                self.note_transformer(
                    acc,
                    file,
                    match kind {
                        "PrefixTransformer" => "PrefixTransformer",
                        "SuffixTransformer" => "SuffixTransformer",
                        _ => "PrefixSuffixTransformer",
                    },
                );
                return Ok(());
            }
            "ImageTagTransformer" => json!({"images": [field("imageTag")]}),
            "ReplicaCountTransformer" => json!({"replicas": [field("replica")]}),
            "ReplacementTransformer" => json!({"replacements": field("replacements")}),
            "NamespaceTransformer" => {
                let ns = v.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or("").to_string();
                let unset_only = match body.get("unsetOnly") {
                    None | Some(Value::Null) => false,
                    Some(Value::Bool(b)) => *b,
                    Some(other) => {
                        return Err(kerr(
                            file,
                            format!("{}.unsetOnly", config.field),
                            format!(
                                "NamespaceTransformer: cannot unmarshal {} into a boolean",
                                gitops_core::object::type_name(other)
                            ),
                        ));
                    }
                };
                let subjects = match body.get("setRoleBindingSubjects") {
                    None | Some(Value::Null) => Ok(None),
                    Some(Value::String(s)) => Ok(Some(s.as_str())),
                    Some(other) => Err(format!(
                        "NamespaceTransformer: cannot unmarshal {} into a string",
                        gitops_core::object::type_name(other)
                    )),
                }
                .and_then(super::namespace::SubjectMode::parse)
                .map_err(|e| kerr(file, format!("{}.setRoleBindingSubjects", config.field), e))?;
                let specs = specs()?;
                let t = super::namespace::NamespaceTransformer { namespace: &ns, specs: &specs, unset_only, subjects };
                t.run(acc, file, &config.field)?;
                self.note_transformer(acc, file, "NamespaceTransformer");
                return Ok(());
            }
            "LabelTransformer" => {
                apply_pairs(acc, &specs()?, &pairs("labels"));
                self.note_transformer(acc, file, "LabelTransformer");
                return Ok(());
            }
            "AnnotationsTransformer" => {
                apply_pairs(acc, &specs()?, &pairs("annotations"));
                self.note_transformer(acc, file, "AnnotationsTransformer");
                return Ok(());
            }
            "ValueAddTransformer" => {
                self.value_add(dir, file, config, acc)?;
                self.note_transformer(acc, file, "ValueAddTransformer");
                return Ok(());
            }
            // The hashes of generated objects are applied when they are generated.
            "HashTransformer" => return Ok(()),
            other => {
                return Err(kerr(file, &config.field, format!("unable to load builtin {other}.builtin.[noGrp]")));
            }
        };
        // Go's JSON rules, as Kustomize decodes a plugin's configuration (`newtag` is `newTag`).
        let again = synthetic.clone();
        let k: Kustomization = crate::go_json::decode(synthetic, || again)
            .map_err(|(path, msg)| kerr(file, format!("{} ({kind}).{path}", config.field), msg))?;
        // A ReplicaCountTransformer sets the fields its own specs name, and only those.
        if kind == "ReplicaCountTransformer" {
            self.replica_specs = Some(specs()?);
        }
        // So does an ImageTagTransformer, after its walk over every container.
        if kind == "ImageTagTransformer" {
            self.image_specs = Some(specs()?);
        }
        self.transform(dir, file, &k, acc, cfg)
    }
}

/// A configuration's `name` and `namespace` lines, as `transformerAnnotations` shows them.
fn configured_by(v: &Value) -> Option<std::sync::Arc<str>> {
    let mut by = String::new();
    for key in ["name", "namespace"] {
        if let Some(text) = v.pointer(&format!("/metadata/{key}")).and_then(Value::as_str) {
            by.push_str(&format!(
                "    {key}: {}\n",
                gitops_core::yaml::to_yaml(&Value::String(text.into())).trim_end()
            ));
        }
    }
    (!by.is_empty()).then(|| by.into())
}

/// The fields of a ConfigMapGenerator or SecretGenerator configuration.
const GENERATOR_FIELDS: [&str; 9] =
    ["name", "namespace", "behavior", "literals", "files", "envs", "env", "type", "options"];

/// A configuration without its `apiVersion`, `kind` and `metadata`.
pub(super) fn body_of(v: &Value) -> Map<String, Value> {
    let mut m = v.as_object().cloned().unwrap_or_default();
    for k in ["apiVersion", "kind", "metadata"] {
        m.remove(k);
    }
    m
}
