//! The HTTP face of the API server: discovery, REST routing, watch streams.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::Response;
use gitops_core::Propagation;
use gitops_core::selector::LabelSelector;
use gitops_core::{json, value::Value};

use crate::api::{ApiError, Event, FieldSelector, State, Target, WriteOptions};
use crate::faults::FaultAction;
use crate::registry::Resource;
use crate::strict::FieldValidation;

/// Shared server state.
pub type Shared = Arc<Mutex<State>>;

fn json_response(code: u16, v: &Value) -> Response {
    json_response_warning(code, v, &[])
}

/// A JSON response with one `Warning` header per text.
fn json_response_warning(code: u16, v: &Value, warnings: &[String]) -> Response {
    response(code, "application/json", serde_json::to_vec(v).unwrap_or_default(), warnings)
}

fn response(code: u16, content_type: &str, body: Vec<u8>, warnings: &[String]) -> Response {
    let mut builder = Response::builder()
        .status(StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header(header::CONTENT_TYPE, content_type);
    for w in warnings {
        builder = builder.header(header::WARNING, crate::strict::warning_header(w));
    }
    builder.body(Body::from(body)).expect("a valid response")
}

fn error_response(e: &ApiError) -> Response {
    json_response(e.code, &e.status())
}

fn not_found_page() -> Response {
    Response::builder()
        .status(404)
        .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .body(Body::from("404 page not found\n"))
        .expect("a valid response")
}

fn decode_component(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                    }
                    None => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn query(uri: &Uri) -> HashMap<String, String> {
    uri.query()
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode_component(k), decode_component(v))
        })
        .collect()
}

fn resource_list(state: &State, group: &str, version: &str) -> Value {
    let mut resources = Vec::new();
    for r in state.registry.resources().iter().filter(|r| r.group == group && r.version == version) {
        let mut main = json!({"name": r.plural, "singularName": r.singular, "namespaced": r.namespaced, "kind": r.kind, "verbs": r.verbs});
        if !r.short_names.is_empty() {
            main["shortNames"] = json!(r.short_names);
        }
        if !r.categories.is_empty() {
            main["categories"] = json!(r.categories);
        }
        resources.push(main);
        for (sub, verbs) in &r.subresources {
            let kind = match sub.as_str() {
                "scale" => "Scale".to_string(),
                "eviction" => "Eviction".to_string(),
                "binding" => "Binding".to_string(),
                "token" => "TokenRequest".to_string(),
                "attach" => "PodAttachOptions".to_string(),
                "exec" => "PodExecOptions".to_string(),
                "portforward" => "PodPortForwardOptions".to_string(),
                "proxy" => format!("{}ProxyOptions", r.kind),
                _ => r.kind.clone(),
            };
            resources.push(json!({"name": format!("{}/{sub}", r.plural), "singularName": "", "namespaced": r.namespaced, "kind": kind, "verbs": verbs}));
        }
    }
    let gv = if group.is_empty() { version.to_string() } else { format!("{group}/{version}") };
    json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources})
}

fn group_json(name: &str, versions: &[String]) -> Value {
    let vs: Vec<Value> =
        versions.iter().map(|v| json!({"groupVersion": format!("{name}/{v}"), "version": v})).collect();
    json!({"name": name, "versions": vs, "preferredVersion": vs[0]})
}

/// Handles one request.
pub async fn handle(shared: Shared, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let path = uri.path().trim_end_matches('/').to_string();
    let segs: Vec<String> = path.split('/').filter(|s| !s.is_empty()).map(decode_component).collect();
    let q = query(&uri);
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    // Discovery.
    {
        let state = shared.lock().expect("state lock");
        if let Some(token) = &state.bearer_token {
            let given =
                headers.get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
            if given != Some(token.as_str()) {
                return json_response(
                    401,
                    &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                            "message": "Unauthorized", "reason": "Unauthorized", "code": 401}),
                );
            }
        }
        match segs.as_slice() {
            ["version"] => {
                return json_response(
                    200,
                    &json!({"major": "1", "minor": "36", "emulationMajor": "1", "emulationMinor": "36", "minCompatibilityMajor": "1", "minCompatibilityMinor": "35", "gitVersion": "v1.36.2", "gitCommit": "gitops-testkit", "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z", "goVersion": "none", "compiler": "rustc", "platform": "linux/amd64"}),
                );
            }
            // kubectl asks for OpenAPI v3 to learn that the server validates fields itself.
            ["openapi", "v3"] => {
                let mut paths = gitops_core::value::Map::new();
                paths.insert("api/v1".into(), json!({"serverRelativeURL": "/openapi/v3/api/v1"}));
                for (g, vs) in state.registry.groups().iter().filter(|(g, _)| !g.is_empty()) {
                    for v in vs {
                        paths.insert(
                            format!("apis/{g}/{v}"),
                            json!({"serverRelativeURL": format!("/openapi/v3/apis/{g}/{v}")}),
                        );
                    }
                }
                return json_response(200, &json!({"paths": paths}));
            }
            // Permissive schemas: the server validates on its own; kubectl only needs to find
            // each kind's schema by its group-version-kind.
            ["openapi", "v3", rest @ ..] => {
                let (group, version) = match rest {
                    ["api", v] => ("", *v),
                    ["apis", g, v] => (*g, *v),
                    _ => return not_found_page(),
                };
                let mut schemas = gitops_core::value::Map::new();
                let mut paths = gitops_core::value::Map::new();
                for r in state.registry.resources().iter().filter(|r| r.group == group && r.version == version) {
                    // The fieldValidation parameter tells kubectl the server validates fields.
                    let gvk = json!({"group": group, "version": version, "kind": r.kind});
                    let op = json!({"x-kubernetes-group-version-kind": gvk, "parameters": [{"name": "fieldValidation", "in": "query", "schema": {"type": "string"}}]});
                    let prefix =
                        if group.is_empty() { format!("/api/{version}") } else { format!("/apis/{group}/{version}") };
                    let collection = if r.namespaced {
                        format!("{prefix}/namespaces/{{namespace}}/{}", r.plural)
                    } else {
                        format!("{prefix}/{}", r.plural)
                    };
                    paths.insert(collection.clone(), json!({"post": op}));
                    paths.insert(format!("{collection}/{{name}}"), json!({"put": op, "patch": op}));
                    schemas.insert(
                        format!("{}.{}.{}", if group.is_empty() { "core" } else { group }, version, r.kind),
                        json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true,
                               "x-kubernetes-group-version-kind": [{"group": group, "version": version, "kind": r.kind}]}),
                    );
                }
                return json_response(
                    200,
                    &json!({"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": "v1.36.2"}, "paths": paths, "components": {"schemas": schemas}}),
                );
            }
            ["healthz"] | ["readyz"] | ["livez"] => {
                return Response::builder().status(200).body(Body::from("ok")).expect("response");
            }
            ["api"] => {
                return json_response(
                    200,
                    &json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1:6443"}]}),
                );
            }
            ["api", "v1"] => return json_response(200, &resource_list(&state, "", "v1")),
            ["apis"] => {
                let groups: Vec<Value> = state
                    .registry
                    .groups()
                    .iter()
                    .filter(|(g, _)| !g.is_empty())
                    .map(|(g, vs)| group_json(g, vs))
                    .collect();
                return json_response(200, &json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}));
            }
            ["apis", g] => {
                return match state.registry.groups().iter().find(|(name, _)| name == g) {
                    Some((name, vs)) => {
                        let mut v = group_json(name, vs);
                        v["kind"] = json!("APIGroup");
                        v["apiVersion"] = json!("v1");
                        json_response(200, &v)
                    }
                    None => not_found_page(),
                };
            }
            ["apis", g, v] => {
                return if state.registry.serves(g, v) {
                    json_response(200, &resource_list(&state, g, v))
                } else {
                    not_found_page()
                };
            }
            _ => {}
        }
    }
    let (group, version, rest): (&str, &str, &[&str]) = match segs.as_slice() {
        ["api", "v1", rest @ ..] => ("", "v1", rest),
        ["apis", g, v, rest @ ..] => (g, v, rest),
        _ => return not_found_page(),
    };
    let resolved = {
        let state = shared.lock().expect("state lock");
        if !state.registry.serves(group, version) {
            return not_found_page();
        }
        resolve(&state, group, version, rest)
    };
    let Some((res, target)) = resolved else {
        // A cluster-scoped resource under a namespace has no route at all.
        if let ["namespaces", _, plural, ..] = rest {
            let state = shared.lock().expect("state lock");
            if state.registry.by_plural(group, version, plural).is_some_and(|r| !r.namespaced) {
                return not_found_page();
            }
        }
        return error_response(&ApiError {
            code: 404,
            reason: "NotFound".into(),
            message: "the server could not find the requested resource".into(),
            details: Some(json!({})),
        });
    };
    let agent = headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or("unknown");
    let default_manager = agent.split('/').next().unwrap_or("unknown").to_string();
    let content_type =
        headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("application/json").to_string();
    let dry_run = q.get("dryRun").is_some_and(|v| v == "All");
    let manager = q.get("fieldManager").cloned();
    let labels = match LabelSelector::parse(q.get("labelSelector").map(String::as_str).unwrap_or("")) {
        Ok(l) => l,
        Err(e) => return error_response(&ApiError::bad_request(e)),
    };
    let fields =
        match FieldSelector::parse(q.get("fieldSelector").map(String::as_str).unwrap_or(""), &res.group, &res.kind) {
            Ok(f) => f,
            Err(e) => return error_response(&e),
        };
    let verb_allowed = |verb: &str| {
        if target.subresource.is_empty() {
            res.verbs.iter().any(|v| v == verb)
        } else {
            res.subresources.iter().any(|(s, vs)| *s == target.subresource && vs.iter().any(|v| v == verb))
        }
    };
    let verb = match (&method, target.name.is_empty()) {
        (&Method::GET, true) => "list",
        (&Method::GET, false) => "get",
        (&Method::POST, true) => "create",
        (&Method::POST, false) if !target.subresource.is_empty() => "create",
        (&Method::PUT, false) => "update",
        (&Method::PATCH, false) => "patch",
        (&Method::DELETE, false) => "delete",
        (&Method::DELETE, true) => "deletecollection",
        _ => "",
    };
    if verb.is_empty() || !verb_allowed(verb) {
        return error_response(&ApiError::method_not_allowed());
    }
    let is_watch =
        method == Method::GET && target.name.is_empty() && q.get("watch").is_some_and(|w| w == "1" || w == "true");
    if verb == "list"
        && let Err(e) = validate_list_options(&q, is_watch)
    {
        return error_response(&e);
    }
    let fault = {
        let mut st = shared.lock().expect("state lock");
        let dry_run = q.get("dryRun").is_some_and(|d| d == "All");
        st.requests.record(if is_watch { "watch" } else { verb }, dry_run, &res.plural);
        st.faults.take(if is_watch { "watch" } else { verb }, &res.plural, &target.name)
    };
    match fault {
        Some(FaultAction::Status(code)) => {
            let reason = match code {
                409 => "Conflict",
                500 => "InternalError",
                503 => "ServiceUnavailable",
                504 => "Timeout",
                _ => "InternalError",
            };
            return error_response(&ApiError {
                code,
                reason: reason.into(),
                message: format!("injected fault: {code}"),
                details: Some(json!({})),
            });
        }
        Some(FaultAction::TooManyRequests { retry_after }) => {
            let body = ApiError {
                code: 429,
                reason: "TooManyRequests".into(),
                message: "injected fault: too many requests, please try again later".into(),
                details: Some(json!({"retryAfterSeconds": retry_after})),
            }
            .status();
            return Response::builder()
                .status(429)
                .header(header::CONTENT_TYPE, "application/json")
                .header(header::RETRY_AFTER, retry_after.to_string())
                .body(Body::from(serde_json::to_vec(&body).unwrap_or_default()))
                .expect("response");
        }
        Some(FaultAction::Delay(d)) => tokio::time::sleep(d).await,
        Some(FaultAction::DropWatchAfter(d)) if is_watch => {
            let mut q2 = q.clone();
            q2.insert("timeoutSeconds".into(), d.as_secs().max(1).to_string());
            return watch(shared, res, target.namespace, labels, fields, &q2).await;
        }
        _ => {}
    }
    if is_watch {
        return watch(shared, res, target.namespace, labels, fields, &q).await;
    }
    let parse_body = |body: &Bytes| -> Result<Value, ApiError> {
        if crate::protobuf::is_protobuf(&content_type) {
            return crate::protobuf::decode(body).map_err(ApiError::bad_request);
        }
        serde_json::from_slice(body).or_else(|e| {
            if content_type.contains("yaml") {
                gitops_core::yaml::parse_value(&String::from_utf8_lossy(body), "body", 0, 1).map(|v| v.unwrap_or(Value::Null)).map_err(|e| ApiError::bad_request(e.to_string()))
            } else {
                let text = String::from_utf8_lossy(body);
                let head: String = text.chars().take(30).collect();
                Err(ApiError::bad_request(format!("the object provided is unrecognized (must be of type {}): couldn't get version/kind; json parse error: {} ({head} ...)", res.kind, if e.is_eof() { "unexpected end of JSON input".to_string() } else { e.to_string() })))
            }
        })
    };
    // `fieldValidation` of writes of the object itself (or its status).
    let validation = match verb {
        "create" | "update" | "patch" if matches!(target.subresource.as_str(), "" | "status") => {
            let options = match verb {
                "create" => "CreateOptions",
                "update" => "UpdateOptions",
                _ => "PatchOptions",
            };
            match FieldValidation::from_query(q.get("fieldValidation").map(String::as_str), options) {
                Ok(v) => v,
                Err(e) => return error_response(&e),
            }
        }
        _ => FieldValidation::Ignore,
    };
    let mut state = shared.lock().expect("state lock");
    state.take_warnings();
    if target.subresource == "scale" {
        let opts = WriteOptions { manager: manager.unwrap_or(default_manager), dry_run, ..Default::default() };
        let result = scale(&mut state, &res, &target, verb, &content_type, &body, &opts);
        drop(state);
        return match result {
            Ok(v) => json_response(200, &v),
            Err(e) => error_response(&e),
        };
    }
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("");
    let result = match verb {
        "get" => state.get(&res, &target).map(|v| (200, v)),
        "list" => {
            let limit = q.get("limit").and_then(|l| l.parse().ok()).unwrap_or(0);
            state
                .list(
                    &res,
                    &target.namespace,
                    &labels,
                    &fields,
                    limit,
                    q.get("continue").map(String::as_str).unwrap_or(""),
                )
                .map(|v| (200, v))
        }
        "create" if target.subresource == "binding" && res.group.is_empty() && res.kind == "Pod" => {
            parse_body(&body).and_then(|b| state.bind_pod(&res, &target, &b)).map(|v| (201, v))
        }
        // Other subresources that take a POST (eviction, token, exec, ...) are not served.
        "create" if !target.subresource.is_empty() => Err(ApiError::method_not_allowed()),
        "create" => state.decode_body(&res, &body, &content_type, validation).and_then(|b| {
            let opts = WriteOptions { manager: manager.unwrap_or(default_manager), dry_run, force: false, validation };
            state.create(&res, &target, b, &opts).map(|v| (201, v))
        }),
        "update" => state.decode_body(&res, &body, &content_type, validation).and_then(|b| {
            let opts = WriteOptions { manager: manager.unwrap_or(default_manager), dry_run, force: false, validation };
            state.update(&res, &target, b, &opts).map(|v| (200, v))
        }),
        "patch" => {
            let is_apply = content_type.starts_with("application/apply-patch");
            let existed = state.get_object(&res, &target.namespace, &target.name).is_some();
            let opts = WriteOptions {
                manager: if is_apply { manager.unwrap_or_default() } else { manager.unwrap_or(default_manager) },
                dry_run,
                force: q.get("force").is_some_and(|f| f == "true"),
                validation,
            };
            state
                .patch(&res, &target, &content_type, &body, &opts)
                .map(|v| (if is_apply && !existed { 201 } else { 200 }, v))
        }
        "delete" => {
            let options: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            let policy = q
                .get("propagationPolicy")
                .map(String::as_str)
                .or_else(|| options.get("propagationPolicy").and_then(Value::as_str));
            // The deprecated `orphanDependents` (query or body) counts when no policy is given.
            let orphan = q
                .get("orphanDependents")
                .map(|v| v == "true")
                .or_else(|| options.get("orphanDependents").and_then(Value::as_bool));
            let propagation = match (policy, orphan) {
                (Some("Orphan"), _) | (None, Some(true)) => Some(Propagation::Orphan),
                (Some("Foreground"), _) => Some(Propagation::Foreground),
                (Some("Background"), _) | (None, Some(false)) => Some(Propagation::Background),
                _ => None,
            };
            let dry = dry_run
                || options.get("dryRun").and_then(Value::as_array).is_some_and(|d| d.iter().any(|x| x == "All"));
            state.delete(&res, &target, propagation, dry).map(|v| (200, v))
        }
        "deletecollection" => {
            state.delete_collection(&res, &target.namespace, &labels, &fields, dry_run).map(|v| (200, v))
        }
        _ => unreachable!("verbs are checked above"),
    };
    // `kubectl get` asks for a Table: custom resources with printer columns get one, made from
    // the object or the list's items.
    let result = match (result, verb) {
        (Ok((code, v)), "get" | "list") if crate::table::wants_table(accept) => match state.printer_columns(&res) {
            Some(columns) => {
                let objects = if verb == "get" { vec![v] } else { v["items"].as_array().cloned().unwrap_or_default() };
                Ok((code, crate::table::table(&objects, &columns, &state.resource_version().to_string())))
            }
            None => Ok((code, v)),
        },
        (other, _) => other,
    };
    let warnings = state.take_warnings();
    drop(state);
    // Go clients of built-in kinds ask for protocol buffers first; what has no message (or a
    // field the message lacks) is answered in JSON, which they accept too.
    let protobuf = !res.custom && crate::protobuf::accepts_protobuf_first(accept);
    let (code, v, warnings) = match result {
        Ok((code, v)) => (code, v, warnings),
        Err(e) => (e.code, e.status(), Vec::new()),
    };
    match protobuf.then(|| crate::protobuf::encode(&v).ok()).flatten() {
        Some(bytes) => response(code, crate::protobuf::CONTENT_TYPE, bytes, &warnings),
        None => json_response_warning(code, &v, &warnings),
    }
}

fn resolve(state: &State, group: &str, version: &str, rest: &[&str]) -> Option<(Resource, Target)> {
    let find = |plural: &str| state.registry.by_plural(group, version, plural).cloned();
    let t =
        |ns: &str, name: &str, sub: &str| Target { namespace: ns.into(), name: name.into(), subresource: sub.into() };
    let namespaced = |r: &Resource| r.namespaced;
    match rest {
        ["namespaces", ns, plural, tail @ ..]
            if group.is_empty() && !matches!(*plural, "status" | "finalize")
                || !group.is_empty() && rest[0] == "namespaces" && rest.len() >= 3 =>
        {
            let r = find(plural).filter(namespaced)?;
            match tail {
                [] => Some((r, t(ns, "", ""))),
                [name] => Some((r, t(ns, name, ""))),
                [name, sub] => r.subresources.iter().any(|(s, _)| s == sub).then(|| (r.clone(), t(ns, name, sub))),
                _ => None,
            }
        }
        [plural] => {
            let r = find(plural)?;
            Some((r, t("", "", "")))
        }
        [plural, name] => {
            let r = find(plural).filter(|r| !r.namespaced)?;
            Some((r, t("", name, "")))
        }
        [plural, name, sub] => {
            let r = find(plural).filter(|r| !r.namespaced)?;
            r.subresources.iter().any(|(s, _)| s == sub).then(|| (r.clone(), t("", name, sub)))
        }
        _ => None,
    }
}

/// The list and watch options' combination rules of the real server (resourceVersionMatch and
/// sendInitialEvents), with its messages.
fn validate_list_options(q: &HashMap<String, String>, watch: bool) -> Result<(), ApiError> {
    let rv = q.get("resourceVersion").map(String::as_str).unwrap_or("");
    let matching = q.get("resourceVersionMatch").map(String::as_str).unwrap_or("");
    let cont = q.get("continue").is_some_and(|c| !c.is_empty());
    let initial = q.contains_key("sendInitialEvents");
    let forbidden =
        |field: &str, text: &str| ("FieldValueForbidden".to_string(), field.to_string(), format!("Forbidden: {text}"));
    let unsupported = |value: &str, allowed: &str| {
        (
            "FieldValueNotSupported".to_string(),
            "resourceVersionMatch".to_string(),
            format!("Unsupported value: \"{value}\": supported values: {allowed}"),
        )
    };
    let mut causes = Vec::new();
    if watch {
        if initial && matching != "NotOlderThan" {
            causes.push(forbidden(
                "resourceVersionMatch",
                "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan",
            ));
        }
        if !matching.is_empty() {
            if !initial {
                causes.push(forbidden(
                    "resourceVersionMatch",
                    "resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided",
                ));
            }
            if matching != "NotOlderThan" {
                causes.push(unsupported(matching, "\"NotOlderThan\""));
            }
            if cont {
                causes.push(forbidden(
                    "resourceVersionMatch",
                    "resourceVersionMatch is forbidden when continue is provided",
                ));
            }
        }
    } else {
        if !matching.is_empty() {
            if rv.is_empty() {
                causes.push(forbidden(
                    "resourceVersionMatch",
                    "resourceVersionMatch is forbidden unless resourceVersion is provided",
                ));
            }
            if cont {
                causes.push(forbidden(
                    "resourceVersionMatch",
                    "resourceVersionMatch is forbidden when continue is provided",
                ));
            }
            if matching != "Exact" && matching != "NotOlderThan" {
                causes.push(unsupported(matching, "\"Exact\", \"NotOlderThan\", \"\""));
            }
            if matching == "Exact" && rv == "0" {
                causes.push(forbidden(
                    "resourceVersionMatch",
                    "resourceVersionMatch \"exact\" is forbidden for resourceVersion \"0\"",
                ));
            }
        }
        if initial {
            causes.push(forbidden("sendInitialEvents", "sendInitialEvents is forbidden for list"));
        }
    }
    if causes.is_empty() { Ok(()) } else { Err(ApiError::invalid("ListOptions", "meta.k8s.io", "", causes)) }
}

/// Whether an object is in a watch's selection.
fn selected(labels: &LabelSelector, fields: &FieldSelector, object: &Value) -> bool {
    labels.matches(object.pointer("/metadata/labels").and_then(Value::as_object)) && fields.matches(object)
}

fn event_json(kind: &str, object: &Value) -> Bytes {
    let mut line = serde_json::to_vec(&json!({"type": kind, "object": object})).unwrap_or_default();
    line.push(b'\n');
    Bytes::from(line)
}

async fn watch(
    shared: Shared,
    res: Resource,
    namespace: String,
    labels: LabelSelector,
    fields: FieldSelector,
    q: &HashMap<String, String>,
) -> Response {
    let timeout = q.get("timeoutSeconds").and_then(|t| t.parse::<u64>().ok()).unwrap_or(1800);
    let bookmarks = q.get("allowWatchBookmarks").is_some_and(|b| b == "true");
    let send_initial = q.get("sendInitialEvents").is_some_and(|b| b == "true");
    let rv_param = q.get("resourceVersion").cloned().unwrap_or_default();
    let (initial, mut rx, start_rv) = {
        let state = shared.lock().expect("state lock");
        let rx = state.tx.subscribe();
        let matches = |e: &std::sync::Arc<Event>| {
            e.group == res.group && e.plural == res.plural && (namespace.is_empty() || e.namespace == namespace)
        };
        let mut initial: Vec<Bytes> = Vec::new();
        let start_rv;
        if rv_param.is_empty() || rv_param == "0" || send_initial {
            for v in state.select(&res, &namespace, &labels, &fields) {
                initial.push(event_json("ADDED", &v));
            }
            start_rv = state.resource_version();
            // Without a resourceVersion, a client that accepts bookmarks is told where the
            // initial events end too.
            if send_initial || (rv_param.is_empty() && bookmarks) {
                let bm = json!({"kind": res.kind, "apiVersion": res.api_version(), "metadata": {"resourceVersion": start_rv.to_string(), "annotations": {"k8s.io/initial-events-end": "true"}}});
                initial.push(event_json("BOOKMARK", &bm));
            }
        } else {
            let Ok(rv) = rv_param.parse::<u64>() else {
                return error_response(&ApiError::bad_request(format!("invalid resource version: {rv_param}")));
            };
            if rv < state.oldest_resumable() {
                let status = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": format!("too old resource version: {rv} ({})", state.oldest_resumable()), "reason": "Expired", "code": 410});
                let body = event_json("ERROR", &status);
                return Response::builder()
                    .status(200)
                    .header(header::CONTENT_TYPE, "application/json")
                    .body(Body::from(body))
                    .expect("response");
            }
            for e in state.events_since(rv).into_iter().filter(matches) {
                if let Some((kind, object)) = e.as_seen(|o| selected(&labels, &fields, o)) {
                    initial.push(event_json(kind, object));
                }
            }
            start_rv = state.resource_version();
        }
        (initial, rx, start_rv)
    };
    let (tx, out_rx) = tokio::sync::mpsc::channel::<Result<Bytes, Infallible>>(256);
    let res2 = res.clone();
    tokio::spawn(async move {
        for b in initial {
            if tx.send(Ok(b)).await.is_err() {
                return;
            }
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(timeout);
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        tick.tick().await;
        let mut last_rv = start_rv;
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => return,
                _ = tick.tick(), if bookmarks => {
                    let bm = json!({"kind": res2.kind, "apiVersion": res2.api_version(), "metadata": {"resourceVersion": last_rv.to_string()}});
                    if tx.send(Ok(event_json("BOOKMARK", &bm))).await.is_err() { return; }
                }
                ev = rx.recv() => match ev {
                    Ok(e) => {
                        if e.rv <= start_rv { continue; }
                        last_rv = e.rv;
                        if e.group != res2.group || e.plural != res2.plural || (!namespace.is_empty() && e.namespace != namespace) { continue; }
                        let Some((kind, object)) = e.as_seen(|o| selected(&labels, &fields, o)) else { continue };
                        let line = if kind == e.kind && std::ptr::eq(object, &e.object) { e.line(event_json) } else { event_json(kind, object) };
                        if tx.send(Ok(line)).await.is_err() { return; }
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                        let status = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": "the watch fell behind", "reason": "Expired", "code": 410});
                        let _ = tx.send(Ok(event_json("ERROR", &status))).await;
                        return;
                    }
                    Err(_) => return,
                }
            }
        }
    });
    let stream = tokio_stream_from(out_rx);
    Response::builder()
        .status(200)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::TRANSFER_ENCODING, "chunked")
        .body(Body::from_stream(stream))
        .expect("response")
}

fn tokio_stream_from(
    mut rx: tokio::sync::mpsc::Receiver<Result<Bytes, Infallible>>,
) -> impl futures::Stream<Item = Result<Bytes, Infallible>> {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

/// The `autoscaling/v1` Scale view of a scalable object.
fn scale_of(obj: &Value, paths: &crate::api::ScalePaths) -> Value {
    let meta = obj.get("metadata").cloned().unwrap_or_default();
    let mut m = gitops_core::value::Map::new();
    for f in ["name", "namespace", "uid", "resourceVersion", "creationTimestamp"] {
        if let Some(v) = meta.get(f) {
            m.insert(f.into(), v.clone());
        }
    }
    let at = |path: &[String]| path.iter().try_fold(obj, |v, k| v.get(k.as_str()));
    let selector = match &paths.selector {
        // A custom resource's selector: the string at labelSelectorPath.
        Some(path) => at(path).and_then(Value::as_str).unwrap_or_default().to_string(),
        None if paths.custom => String::new(),
        None => obj
            .pointer("/spec/selector/matchLabels")
            .and_then(Value::as_object)
            .map(|l| l.iter().map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or(""))).collect::<Vec<_>>().join(","))
            .unwrap_or_default(),
    };
    let mut status = json!({"replicas": at(&paths.status).and_then(Value::as_i64).unwrap_or(0)});
    if !selector.is_empty() {
        status["selector"] = json!(selector);
    }
    let default_replicas = if paths.custom { 0 } else { 1 };
    json!({"kind": "Scale", "apiVersion": "autoscaling/v1", "metadata": m,
           "spec": {"replicas": at(&paths.spec).and_then(Value::as_i64).unwrap_or(default_replicas)}, "status": status})
}

/// GET, PUT and PATCH (apply included) of the `scale` subresource: reads and writes the
/// parent's replicas (a custom resource's at its CRD's `specReplicasPath`), answering with a
/// Scale; writes are recorded in managedFields under the `scale` subresource.
fn scale(
    state: &mut State,
    res: &crate::registry::Resource,
    target: &Target,
    verb: &str,
    content_type: &str,
    body: &[u8],
    opts: &WriteOptions,
) -> Result<Value, ApiError> {
    let main = Target { subresource: String::new(), ..target.clone() };
    let current = state.get(res, &main)?;
    let paths = state.scale_paths(res);
    let parse = |what: &str| -> Result<Value, ApiError> {
        if content_type.contains("yaml") {
            gitops_core::yaml::parse_value(&String::from_utf8_lossy(body), "body", 0, 1)
                .map(|v| v.unwrap_or(Value::Null))
                .map_err(|e| ApiError::bad_request(format!("{what}: {e}")))
        } else {
            serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("{what}: {e}")))
        }
    };
    let replicas = match verb {
        "get" => return Ok(scale_of(&current, &paths)),
        "update" => {
            let v = parse("Scale")?;
            let rv = v.pointer("/metadata/resourceVersion").and_then(Value::as_str).unwrap_or("");
            if !rv.is_empty() && Some(rv) != current.pointer("/metadata/resourceVersion").and_then(Value::as_str) {
                return Err(ApiError::conflict_in(res, &target.name));
            }
            v.pointer("/spec/replicas").and_then(Value::as_i64)
        }
        "patch" => {
            let v = parse("Scale patch")?;
            if content_type.starts_with("application/json-patch") {
                v.as_array().and_then(|ops| {
                    ops.iter().rev().find(|op| op["path"] == "/spec/replicas").and_then(|op| op["value"].as_i64())
                })
            } else {
                v.pointer("/spec/replicas").and_then(Value::as_i64)
            }
        }
        _ => return Err(ApiError::bad_request(format!("{verb} is not supported on scale"))),
    };
    let replicas = replicas.ok_or_else(|| ApiError::bad_request("Scale: spec.replicas must be an integer"))?;
    let apply = content_type.starts_with("application/apply-patch");
    let updated = state.write_scale(res, &main, &current, &paths, replicas, apply, opts)?;
    Ok(scale_of(&updated, &paths))
}
