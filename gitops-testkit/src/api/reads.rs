//! Reads: get, list with label and field selectors (the fields each kind allows) and
//! continue tokens.

use super::*;

impl State {
    /// GET of one object.
    pub fn get(&self, res: &Resource, target: &Target) -> Result<Value, ApiError> {
        self.get_object(res, &target.namespace, &target.name)
            .map(|v| self.render(res, v))
            .ok_or_else(|| ApiError::not_found_in(res, &target.name))
    }

    /// The objects a list or watch selects.
    pub fn select(
        &self,
        res: &Resource,
        namespace: &str,
        labels: &LabelSelector,
        fields: &FieldSelector,
    ) -> Vec<Value> {
        self.select_where(res, namespace, |v| {
            labels.matches(v.pointer("/metadata/labels").and_then(Value::as_object)) && fields.matches(v)
        })
    }

    /// The stored objects of a resource (in a namespace, or all of them) that `keep` takes,
    /// rendered: only those are rendered.
    pub(crate) fn select_where(&self, res: &Resource, namespace: &str, keep: impl Fn(&Value) -> bool) -> Vec<Value> {
        self.stored_in(res, namespace, keep).map(|v| self.render(res, v)).collect()
    }

    /// The stored objects of a resource (in a namespace, or all of them) that `keep` takes,
    /// as stored (without `apiVersion` and `kind`), in key order.
    pub(crate) fn stored_in<'s>(
        &'s self,
        res: &'s Resource,
        namespace: &'s str,
        keep: impl Fn(&Value) -> bool + 's,
    ) -> impl Iterator<Item = &'s Value> + 's {
        // Keys sort by (group, plural, namespace, name): one range, not a scan of everything.
        let start = (res.group.clone(), res.plural.clone(), namespace.to_string(), String::new());
        self.objects
            .range(start..)
            .take_while(move |((g, p, ns, _), _)| {
                *g == res.group && *p == res.plural && (namespace.is_empty() || ns == namespace)
            })
            .map(|(_, v)| v)
            .filter(move |v| keep(v))
    }

    /// GET of a collection.
    pub fn list(
        &self,
        res: &Resource,
        namespace: &str,
        labels: &LabelSelector,
        fields: &FieldSelector,
        limit: usize,
        continue_from: &str,
    ) -> Result<Value, ApiError> {
        let mut items = self.select(res, namespace, labels, fields);
        if !continue_from.is_empty() {
            let after =
                decode_continue(continue_from).ok_or_else(|| ApiError::bad_request("continue key is not valid"))?;
            items.retain(|v| (meta_str(v, "namespace"), meta_str(v, "name")) > (after.0.as_str(), after.1.as_str()));
        }
        let mut meta = json!({"resourceVersion": self.rv.to_string()});
        if limit > 0 && items.len() > limit {
            let remaining = items.len() - limit;
            items.truncate(limit);
            let last = items.last().expect("limit > 0");
            meta["continue"] = json!(encode_continue(meta_str(last, "namespace"), meta_str(last, "name")));
            // The real server counts the rest only when nothing filters the list.
            if labels.is_empty() && fields.is_empty() {
                meta["remainingItemCount"] = json!(remaining);
            }
        }
        let items = list_items(res, items);
        // Custom resources' lists always say `continue`.
        if res.custom && meta.get("continue").is_none() {
            meta["continue"] = json!("");
        }
        Ok(
            json!({"kind": format!("{}List", res.kind), "apiVersion": res.api_version(), "metadata": meta, "items": items}),
        )
    }
}

/// A field selector: `metadata.name` and `metadata.namespace` for every kind, plus the fields
/// each built-in kind registers with the real server (Secret `type`, Pod `spec.nodeName`, Event
/// `involvedObject.*`, ...).
#[derive(Clone, Debug, Default)]
pub struct FieldSelector {
    reqs: Vec<(String, bool, String)>,
}

/// The fields a kind can be selected by besides `metadata.name`/`metadata.namespace`, for the
/// kinds that register field label conversions (they answer unknown fields with "field label
/// not supported"); `None` for the others (answered with the list of the two metadata fields).
pub(super) fn selectable_fields(group: &str, kind: &str) -> Option<&'static [&'static str]> {
    Some(match (group, kind) {
        ("", "Pod") => &[
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "spec.hostNetwork",
            "status.phase",
            "status.podIP",
            "status.podIPs",
            "status.nominatedNodeName",
        ],
        ("", "Secret") => &["type"],
        ("", "Event") => &[
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
        ],
        ("", "Service") => &["spec.clusterIP", "spec.type"],
        ("", "Namespace") => &["status.phase"],
        ("", "Node") => &["spec.unschedulable"],
        ("", "ReplicationController") | ("apps", "ReplicaSet") => &["status.replicas"],
        ("batch", "Job") => &["status.successful"],
        ("certificates.k8s.io", "CertificateSigningRequest") => &["spec.signerName"],
        _ => return None,
    })
}

impl FieldSelector {
    /// Parses a field selector for a kind; a field the kind does not offer is the real
    /// server's error.
    pub fn parse(s: &str, group: &str, kind: &str) -> Result<Self, ApiError> {
        let mut reqs = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (field, eq, value) = if let Some((f, v)) = part.split_once("!=") {
                (f, false, v)
            } else if let Some((f, v)) = part.split_once("==").or_else(|| part.split_once('=')) {
                (f, true, v)
            } else {
                return Err(ApiError::bad_request(format!("invalid selector: '{part}'; can't understand '{part}'")));
            };
            let field = field.trim();
            if field != "metadata.name" && field != "metadata.namespace" {
                match selectable_fields(group, kind) {
                    Some(known) if known.contains(&field) => {}
                    Some(_) => return Err(ApiError::bad_request(format!("field label not supported: {field}"))),
                    None => {
                        return Err(ApiError::bad_request(format!(
                            "\"{field}\" is not a known field selector: only \"metadata.name\", \"metadata.namespace\""
                        )));
                    }
                }
            }
            reqs.push((field.to_string(), eq, value.trim().to_string()));
        }
        Ok(Self { reqs })
    }

    /// Whether the selector selects everything.
    pub fn is_empty(&self) -> bool {
        self.reqs.is_empty()
    }

    /// Whether an object matches. A missing field reads as the empty string, booleans and
    /// numbers as their text (as the real server's field sets hold them).
    pub fn matches(&self, v: &Value) -> bool {
        self.reqs.iter().all(|(f, eq, val)| {
            let pointer = format!("/{}", f.replace('.', "/"));
            let actual = match v.pointer(&pointer) {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Bool(b)) => b.to_string(),
                Some(Value::Number(n)) => n.to_string(),
                Some(Value::Array(items)) if f == "status.podIPs" => {
                    // Any of the pod's IPs matches.
                    return items.iter().any(|i| i.get("ip").and_then(Value::as_str) == Some(val.as_str())) == *eq;
                }
                // Booleans the server defaults to false read as such.
                None if f == "spec.hostNetwork" || f == "spec.unschedulable" => "false".into(),
                _ => String::new(),
            };
            (actual == *val) == *eq
        })
    }
}

pub(super) fn encode_continue(ns: &str, name: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{ns}/{name}"))
}

pub(super) fn decode_continue(token: &str) -> Option<(String, String)> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token).ok()?;
    let s = String::from_utf8(bytes).ok()?;
    let (ns, name) = s.split_once('/')?;
    Some((ns.to_string(), name.to_string()))
}
