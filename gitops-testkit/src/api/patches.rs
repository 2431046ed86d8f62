//! Writes that change part of an object: the patch types (JSON, merge, strategic merge) and
//! server-side apply, with their conflicts and error shapes.

use super::*;

impl State {
    pub(super) fn merge_into_old(&self, res: &Resource, old: &Value, body: Value, subresource: &str) -> Value {
        if subresource == "ephemeralcontainers" && res.group.is_empty() && res.kind == "Pod" {
            let mut new = crate::pods::with_ephemeral_containers(old, &body);
            meta_mut(&mut new).remove("resourceVersion");
            return new;
        }
        let mut new = if subresource == "status" {
            let mut n = old.clone();
            if let Some(s) = body.get("status") {
                n["status"] = s.clone();
            }
            n
        } else {
            let mut n = body;
            let has_status = res.subresources.iter().any(|(s, _)| s == "status");
            if has_status {
                match old.get("status") {
                    Some(s) => n["status"] = s.clone(),
                    None => {
                        if let Some(m) = n.as_object_mut() {
                            m.remove("status");
                        }
                    }
                }
            }
            n
        };
        let meta = meta_mut(&mut new);
        for f in [
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "generation",
            "namespace",
            "name",
        ] {
            match old.pointer(&format!("/metadata/{f}")) {
                Some(v) => {
                    meta.insert(f.into(), v.clone());
                }
                None => {
                    meta.remove(f);
                }
            }
        }
        meta.remove("resourceVersion");
        match old.pointer("/metadata/managedFields") {
            Some(mf) => {
                meta.insert("managedFields".into(), mf.clone());
            }
            None => {
                meta.remove("managedFields");
            }
        }
        // Registry-allocated fields survive updates that leave them out.
        if res.kind == "Service" && res.group.is_empty() {
            for f in ["clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"] {
                if new.pointer(&format!("/spec/{f}")).is_none()
                    && let (Some(v), Some(spec)) = (
                        old.pointer(&format!("/spec/{f}")).cloned(),
                        new.get_mut("spec").and_then(Value::as_object_mut),
                    )
                {
                    spec.insert(f.into(), v);
                }
            }
        }
        if res.kind == "Namespace" && res.group.is_empty() {
            if new.get("spec").is_none_or(|s| s.get("finalizers").is_none())
                && let Some(f) = old.pointer("/spec/finalizers").cloned()
            {
                new["spec"]["finalizers"] = f;
            }
            if subresource != "status"
                && let Some(s) = old.get("status").cloned()
            {
                new["status"] = s;
            }
        }
        new
    }

    /// PATCH: JSON merge, JSON patch, strategic merge, or server-side apply.
    pub fn patch(
        &mut self,
        res: &Resource,
        target: &Target,
        content_type: &str,
        body: &[u8],
        opts: &WriteOptions,
    ) -> Result<Value, ApiError> {
        let ct = content_type.split(';').next().unwrap_or("").trim();
        let sub = (!target.subresource.is_empty()).then_some(target.subresource.as_str());
        if ct == "application/apply-patch+yaml" || ct == "application/apply-patch+cbor" {
            if opts.manager.is_empty() {
                return Err(ApiError::new(
                    422,
                    "Invalid",
                    "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch",
                    Some(
                        json!({"group": "meta.k8s.io", "kind": "PatchOptions", "causes": [{"reason": "FieldValueRequired", "message": "Required value: is required for apply patch", "field": "fieldManager"}]}),
                    ),
                ));
            }
            let text = String::from_utf8_lossy(body);
            let (config, duplicates) = yaml::parse_value_reporting_duplicates(&text, "apply patch")
                .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))?;
            let config = config.ok_or_else(|| ApiError::bad_request("the apply patch is empty"))?;
            // The configuration becomes a typed value first: fields the kind does not declare
            // fail the request whatever the field validation.
            let unknown = self.apply_unknown_fields(res, &config);
            if !unknown.is_empty() {
                let text = |f: &str| config.get(f).and_then(Value::as_str).unwrap_or("").to_string();
                let api = Some(text("apiVersion")).filter(|a| !a.is_empty()).unwrap_or_else(|| res.api_version());
                let kind = Some(text("kind")).filter(|k| !k.is_empty()).unwrap_or_else(|| res.kind.clone());
                return Err(crate::strict::typed_patch_error(
                    meta_str(&config, "namespace"),
                    meta_str(&config, "name"),
                    &api,
                    &kind,
                    &unknown,
                ));
            }
            if !duplicates.is_empty() {
                let texts = duplicates.iter().map(|(line, key)| crate::strict::yaml_duplicate(*line, key));
                match opts.validation {
                    FieldValidation::Strict => {
                        return Err(ApiError::bad_request(format!(
                            "error strict decoding YAML: error converting YAML to JSON: yaml: unmarshal errors:\n  {}",
                            texts.collect::<Vec<_>>().join("\n  ")
                        )));
                    }
                    FieldValidation::Warn => self.warnings.extend(texts),
                    FieldValidation::Ignore => {}
                }
            }
            return self.apply(res, target, config, opts, sub);
        }
        let patch_value: Value = match serde_json::from_slice::<Value>(body) {
            Ok(v) => v,
            Err(json_error) => yaml::parse_value(&String::from_utf8_lossy(body), "patch", 0, 1)
                .map(|v| v.unwrap_or(Value::Null))
                .map_err(|e| {
                    // Go's decoder says a truncated document ended early.
                    if json_error.is_eof() {
                        ApiError::bad_request("unexpected end of JSON input")
                    } else {
                        ApiError::bad_request(format!("error decoding patch: {e}"))
                    }
                })?,
        };
        if !matches!(
            ct,
            "application/merge-patch+json" | "application/json-patch+json" | "application/strategic-merge-patch+json"
        ) {
            return Err(ApiError::new(415, "UnsupportedMediaType", "415: Unsupported Media Type", Some(json!({}))));
        }
        let old = self
            .get_object(res, &target.namespace, &target.name)
            .cloned()
            .ok_or_else(|| ApiError::not_found_in(res, &target.name))?;
        let mut doc = self.render(res, &old);
        let findings = if opts.validation == FieldValidation::Ignore {
            Findings::default()
        } else {
            crate::strict::patch_findings(body, ct == "application/json-patch+json")
        };
        if ct == "application/json-patch+json" && !patch_value.is_array() {
            let go_type = match &patch_value {
                Value::Object(_) => "object",
                Value::String(_) => "string",
                Value::Number(_) => "number",
                Value::Bool(_) => "bool",
                _ => "null",
            };
            return Err(ApiError::bad_request(format!(
                "error decoding patch: json: cannot unmarshal {go_type} into Go value of type []handlers.jsonPatchOp"
            )));
        }
        match ct {
            "application/merge-patch+json" => patch::merge_patch(&mut doc, &patch_value),
            // The real server says no more than this about a failing operation.
            "application/json-patch+json" => patch::json_patch_go(&mut doc, &patch_value).map_err(|e| {
                tracing::debug!(error = %e, "JSON patch failed");
                ApiError::new(
                    422,
                    "Invalid",
                    "the server rejected our request due to an error in our request",
                    Some(json!({})),
                )
            })?,
            _ => {
                if res.custom {
                    return Err(ApiError::new(
                        415,
                        "UnsupportedMediaType",
                        "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml",
                        None,
                    ));
                }
                let node =
                    self.schema.node(&res.group, &res.version, &res.kind).unwrap_or_else(|| self.schema.untyped());
                patch::server::strategic_merge(&mut doc, &patch_value, node).map_err(|e| match e.code {
                    400 => ApiError::bad_request(e.message),
                    422 => ApiError::new(422, "", &e.message, None),
                    _ => ApiError::new(500, "", &e.message, None),
                })?;
                // A patch that replaced the whole object lost its name: the object is no
                // longer the one the URL names.
                if meta_str(&doc, "name").is_empty() {
                    return Err(ApiError::bad_request(format!(
                        "the name of the object ({} based on URL) was undeterminable: name must be provided",
                        target.name
                    )));
                }
            }
        }
        let smp = ct == "application/strategic-merge-patch+json";
        self.check_patched(res, &mut doc, findings, opts.validation, |d| {
            if smp { crate::strict::go_format(&patch_value) } else { serde_json::to_string(d).unwrap_or_default() }
        })?;
        self.validate_body(res, &doc, target)?;
        let rv = meta_str(&patch_value, "resourceVersion");
        if !rv.is_empty() && rv != meta_str(&old, "resourceVersion") {
            return Err(ApiError::conflict_in(res, &target.name));
        }
        self.decode(res, &mut doc);
        let new = self.merge_into_old(res, &old, doc, &target.subresource);
        self.finish_write(res, Some(&old), new, opts, sub, None)
    }

    pub(super) fn apply(
        &mut self,
        res: &Resource,
        target: &Target,
        mut config: Value,
        opts: &WriteOptions,
        sub: Option<&str>,
    ) -> Result<Value, ApiError> {
        let kind = config.get("kind").and_then(Value::as_str).unwrap_or("").to_string();
        let api = config.get("apiVersion").and_then(Value::as_str).unwrap_or("").to_string();
        if kind != res.kind || api != res.api_version() {
            return Err(ApiError::bad_request(format!(
                "invalid object type: {}, Kind={kind}",
                if api.contains('/') { api.clone() } else { format!("/{api}") }
            )));
        }
        let ns = meta_str(&config, "namespace");
        if res.namespaced && !ns.is_empty() && ns != target.namespace {
            return Err(ApiError::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
        let existing = self.get_object(res, &target.namespace, &target.name).cloned();
        let name_in_body = meta_str(&config, "name").to_string();
        let schema = self.schema.clone();
        let node = schema.node(&res.group, &res.version, &res.kind).unwrap_or_else(|| schema.untyped());
        let time = now();
        match existing {
            Some(old) => {
                let live = self.render(res, &old);
                if name_in_body.is_empty() {
                    meta_mut(&mut config).insert("name".into(), json!(target.name));
                }
                let entries = managed::read(&old);
                let result = managed::apply(
                    &live,
                    &config,
                    node,
                    &opts.manager,
                    &res.api_version(),
                    opts.force,
                    entries,
                    &time,
                    sub,
                );
                let (mut merged, entries) = match result {
                    Ok(r) => r,
                    Err(conflicts) => return Err(conflict_error(&conflicts)),
                };
                if name_in_body != target.name {
                    return Err(ApiError::bad_request(format!(
                        "the name of the object ({name_in_body}) does not match the name on the URL ({})",
                        target.name
                    )));
                }
                self.decode(res, &mut merged);
                let new = self.merge_into_old(res, &old, merged.clone(), &target.subresource);
                let new = if sub.is_none() { with_status(new, &old) } else { new };
                self.finish_write(res, Some(&old), new, opts, sub, Some(entries))
            }
            None => {
                if name_in_body != target.name {
                    return Err(ApiError::bad_request(format!(
                        "the name of the object ({name_in_body}) does not match the name on the URL ({})",
                        target.name
                    )));
                }
                if sub.is_some() {
                    return Err(ApiError::not_found_in(res, &target.name));
                }
                self.check_namespace(res, &target.namespace, true)?;
                let empty =
                    json!({"apiVersion": res.api_version(), "kind": res.kind, "metadata": {"name": target.name}});
                let (mut merged, entries) = managed::apply(
                    &empty,
                    &config,
                    node,
                    &opts.manager,
                    &res.api_version(),
                    opts.force,
                    Vec::new(),
                    &time,
                    None,
                )
                .map_err(|c| conflict_error(&c))?;
                self.decode(res, &mut merged);
                let new = self.prepare_new(res, target, merged);
                self.finish_write(res, None, new, opts, None, Some(entries))
            }
        }
    }
}
