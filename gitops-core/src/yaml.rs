//! Multi-document YAML in and out: the one place YAML is read and written.
//!
//! [`parse_objects`] reads a stream into [`Object`]s with errors that name the source,
//! the document and the line and column; [`to_yaml_stream`] writes objects back in a stable,
//! kubectl-like layout (keys sorted, sequences not indented under their key, `---` between
//! documents).

use crate::value::Value;
pub use crate::yaml_load::{Dialect, go_int, is_yaml_float, reads_as_string, resolve_plain, resolves_to_non_string};

use crate::error::{Error, Location, Result};
use crate::object::{Object, type_name, validate};

/// Limits and switches of the YAML reader.
#[derive(Clone, Debug)]
pub struct ParseOptions {
    /// The largest document accepted, in bytes. Kubernetes stores at most 1.5 MiB per
    /// object; the default leaves room for comments and generous formatting.
    pub max_document_bytes: usize,
    /// Whether `kind: List` documents (and other `*List` kinds with `items`) are replaced
    /// by their items, as kubectl does.
    pub flatten_lists: bool,
    /// Whether an object must have an `apiVersion`. Kustomize reads resources without one
    /// (a kind only its own transformers touch); the API server never accepts them.
    pub require_api_version: bool,
    /// Whether label values written as other scalars (`tier: 1`) are read as strings, as the
    /// API server needs them. Kustomize keeps them as written (its annotations it always
    /// reads as strings).
    pub stringify_labels: bool,
    /// Whether a top-level object's annotation values written as other plain scalars keep
    /// the text they were written as (`0x10` stays `"0x10"`, `null` is `"null"`, nothing is
    /// `""`), as Kustomize writes them back. Otherwise a number or boolean becomes the text
    /// of its value (`"16"`) and a null is refused, as a JSON decoder would read them.
    pub annotations_as_written: bool,
    /// With `annotations_as_written`, whether an annotation value written as a plain null
    /// (`null`, `Null`, `NULL`, `~`, nothing) stays a null instead of becoming that text: in a
    /// strategic merge patch a null deletes the annotation, as Kustomize's merge reads it.
    pub annotation_nulls: bool,
    /// With `annotations_as_written`, whether a top-level object's label values written as
    /// plain scalars keep their text too (nulls included).
    pub labels_as_written: bool,
    /// Whether a mapping key that YAML reads as something other than a string (`9110`,
    /// `true`, `~`, `2024-01-01`) is an error, as it is to Kustomize (Go's JSON encoding of
    /// the object fails on it). Otherwise it becomes the text of its value (`"9110"`).
    pub string_keys_only: bool,
    /// Whether a folded block scalar (`>`) reads as what it becomes once go-yaml has written
    /// it in that style and read it back, which Kustomize does to every resource it builds
    /// (see `folded_round_trip` in the emitter: `"one\n  two\n"` gains an empty line).
    pub folded_as_kustomize_writes: bool,
}

impl Default for ParseOptions {
    fn default() -> Self {
        Self {
            max_document_bytes: 8 << 20,
            flatten_lists: true,
            require_api_version: true,
            stringify_labels: true,
            annotations_as_written: false,
            annotation_nulls: false,
            labels_as_written: false,
            string_keys_only: false,
            folded_as_kustomize_writes: false,
        }
    }
}

/// One document of a stream, with where it starts.
#[derive(Clone, Debug)]
pub struct Document<'a> {
    /// Index in the stream, from 0, counting empty documents too.
    pub index: usize,
    /// The line (from 1) on which the document's text starts.
    pub first_line: usize,
    /// The document's text.
    pub text: &'a str,
}

/// Splits a stream on `---` and `...` marker lines. Markers are only recognised at the
/// start of a line, which is also the only place YAML allows them.
pub fn split_documents(stream: &str) -> Vec<Document<'_>> {
    let mut docs = Vec::new();
    let mut start = 0usize;
    let mut start_line = 1usize;
    let mut offset = 0usize;
    let mut line_no = 1usize;
    let mut index = 0usize;
    let bytes = stream.as_bytes();
    while offset < bytes.len() || (offset == bytes.len() && offset == 0) {
        // A byte scan: most lines are short, and `find` costs more to set up than to read one.
        let end = bytes[offset..].iter().position(|&b| b == b'\n').map_or(stream.len(), |i| offset + i);
        let line = stream[offset..end].trim_end_matches('\r');
        let is_start = line == "---" || line.starts_with("--- ") || line.starts_with("---\t");
        let is_end = line == "..." || line.starts_with("... ");
        if is_start || is_end {
            if offset > start || index > 0 || is_end {
                docs.push(Document { index, first_line: start_line, text: &stream[start..offset] });
                index += 1;
            }
            if is_start && line.len() > 3 {
                // Content after `--- ` (a tag, a block scalar header) belongs to the document.
                start = offset + 4;
                start_line = line_no;
            } else {
                start = (end + 1).min(stream.len());
                start_line = line_no + 1;
            }
        }
        if end >= stream.len() {
            break;
        }
        offset = end + 1;
        line_no += 1;
    }
    if start < stream.len() || docs.is_empty() {
        docs.push(Document { index, first_line: start_line, text: &stream[start..] });
    }
    docs
}

fn is_blank(text: &str) -> bool {
    text.lines().all(|l| {
        let t = l.trim();
        t.is_empty() || t.starts_with('#')
    })
}

/// Parses one YAML (or JSON) text into a JSON value. Anchors, aliases and `<<` merge keys are
/// expanded (alias bombs fail fast, in bounded memory), duplicate keys are an error, and plain
/// scalars resolve as Kustomize's YAML library resolves them: `0755` is octal, `1e3` is
/// 1000, `yes` stays a string, an unquoted date becomes an RFC 3339 string. `None` for an
/// empty document.
pub fn parse_value(text: &str, source_name: &str, document: usize, first_line: usize) -> Result<Option<Value>> {
    parse_value_with(text, source_name, document, first_line, false, Dialect::V3, None).map(|(v, _, _)| v)
}

/// A file as `sigs.k8s.io/yaml` reads it before Go's JSON decoding (Kustomize's
/// kustomization and `configurations` files): go-yaml v2's YAML 1.1 scalars, so `yes`, `on`
/// and `n` are booleans and a date stays the text it was written as; a repeated key replaces
/// the earlier value.
///
/// ```
/// let v = gitops_core::yaml::parse_value_go_yaml_v2("a: yes\nb: 2024-01-01\nc: 1_000\n", "k.yaml").unwrap().unwrap();
/// assert_eq!(v, gitops_core::json!({"a": true, "b": "2024-01-01", "c": 1000}));
/// ```
pub fn parse_value_go_yaml_v2(text: &str, source_name: &str) -> Result<Option<Value>> {
    parse_value_with(text, source_name, 0, 1, true, Dialect::V2, None).map(|(v, _, _)| v)
}

/// A parsed value (`None` for an empty document) with the keys that repeated an earlier key
/// of their mapping: `(line, key)`.
pub type WithDuplicates = (Option<Value>, Vec<(usize, String)>);

/// [`parse_value`], where a key repeated in a mapping replaces the earlier value instead of
/// being an error (as Go's decoders read it), also returning every key that repeated an
/// earlier one of its mapping, with the (1-based) line of the repetition, in document order: what Go's YAML
/// decoder reports as `line N: key "k" already set in map` when it decodes strictly.
///
/// ```
/// let (v, dups) = gitops_core::yaml::parse_value_reporting_duplicates("a: 1\nb: {c: 1, c: 2}\na: 3\n", "x").unwrap();
/// assert_eq!(v.unwrap(), gitops_core::json!({"a": 3, "b": {"c": 2}}));
/// assert_eq!(dups, [(2, "c".to_string()), (3, "a".to_string())]);
/// ```
pub fn parse_value_reporting_duplicates(text: &str, source_name: &str) -> Result<WithDuplicates> {
    parse_value_with(text, source_name, 0, 1, true, Dialect::V3, None).map(|(v, d, _)| (v, d))
}

/// A parsed value, the keys that repeated an earlier one, and the bare nulls.
type Parsed = (Option<Value>, Vec<(usize, String)>, Vec<String>);

fn parse_value_with(
    text: &str,
    source_name: &str,
    document: usize,
    first_line: usize,
    last_key_wins: bool,
    dialect: Dialect,
    options: Option<&ParseOptions>,
) -> Result<Parsed> {
    if is_blank(text) {
        return Ok((None, Vec::new(), Vec::new()));
    }
    let err = |line: usize, column: usize, message: String| Error::Yaml {
        source_name: source_name.into(),
        document,
        location: Some(Location { line: line + first_line - 1, column }),
        message,
    };
    let new_builder = || {
        let mut builder = crate::yaml_load::Builder::new(text.len());
        builder.last_key_wins = last_key_wins;
        builder.dialect = dialect;
        if let Some(o) = options {
            builder.annotations_as_written = o.annotations_as_written;
            builder.annotation_nulls = o.annotation_nulls;
            builder.labels_as_written = o.labels_as_written;
            builder.string_keys_only = o.string_keys_only;
            builder.folded_as_kustomize_writes = o.folded_as_kustomize_writes;
        }
        builder
    };
    // The common block subset is read line by line; anything else (and any error) is read
    // again with yaml-rust2, which reports it.
    let mut builder = new_builder();
    let fast = crate::yaml_fast::feed(text, &mut |event, line| {
        builder.line = line + first_line - 1;
        builder.on_event(event)
    });
    if fast.is_err() {
        builder = new_builder();
        read_with_yaml_rust2(text, first_line, &mut builder)
            .map_err(|(line, column, message)| err(line, column, message))?;
    }
    let (value, duplicates, bare_nulls) = builder.finish();
    Ok((
        match value {
            Some(Value::Null) | None => None,
            Some(v) => Some(v),
        },
        duplicates,
        bare_nulls,
    ))
}

/// Whether the fast line-by-line reader read `text` (`Ok(true)`) or left it to yaml-rust2
/// (`Ok(false)`), and `Err` with both event lists if it read it differently from yaml-rust2.
/// For differential tests and fuzzing; not a stable interface.
#[doc(hidden)]
pub fn compare_fast_reader(text: &str) -> std::result::Result<bool, String> {
    crate::yaml_fast::compare_with_yaml_rust2(text)
}

/// Feeds yaml-rust2's events to the builder; an error comes with its line and column.
fn read_with_yaml_rust2(
    text: &str,
    first_line: usize,
    builder: &mut crate::yaml_load::Builder,
) -> std::result::Result<(), (usize, usize, String)> {
    let mut parser = yaml_rust2::parser::Parser::new_from_str(text);
    // Which open collections are flow ones (`[`, `{`), innermost last; the byte offset of
    // each line, worked out at the first collection.
    let mut flow: Vec<bool> = Vec::new();
    let mut line_starts: Vec<usize> = Vec::new();
    loop {
        let (event, mark) =
            parser.next_token().map_err(|e| (e.marker().line(), e.marker().col() + 1, e.info().to_string()))?;
        if matches!(event, yaml_rust2::Event::StreamEnd) {
            return Ok(());
        }
        builder.line = mark.line() + first_line - 1;
        match event {
            yaml_rust2::Event::SequenceStart(..) | yaml_rust2::Event::MappingStart(..) => {
                if line_starts.is_empty() {
                    line_starts = std::iter::once(0).chain(text.match_indices('\n').map(|(i, _)| i + 1)).collect();
                }
                // The event's mark is at the collection's first character: `[` or `{` for a
                // flow one (a block sequence's is its `-`, a block mapping's its first key).
                let at = line_starts
                    .get(mark.line().saturating_sub(1))
                    .and_then(|&start| text[start..].chars().take_while(|c| *c != '\n').nth(mark.col()));
                flow.push(flow.last() == Some(&true) || matches!(at, Some('[' | '{')));
            }
            yaml_rust2::Event::SequenceEnd | yaml_rust2::Event::MappingEnd => {
                flow.pop();
            }
            _ => {}
        }
        builder.in_flow = flow.last() == Some(&true);
        let event = match event {
            // yaml-rust2 ends a block scalar whose last line ends the text with a line break
            // the text does not have; go-yaml (and the YAML spec) keep only breaks that are
            // there, so `|` over a file's unterminated last line ends without one.
            yaml_rust2::Event::Scalar(mut value, style, anchor, tag)
                if matches!(
                    style,
                    yaml_rust2::scanner::TScalarStyle::Literal | yaml_rust2::scanner::TScalarStyle::Folded
                ) && value.ends_with('\n')
                    && block_runs_off_the_end(text, mark.line(), mark.col()) =>
            {
                value.pop();
                yaml_rust2::Event::Scalar(value, style, anchor, tag)
            }
            other => other,
        };
        builder.on_event(event).map_err(|m| (mark.line(), mark.col() + 1, m))?;
    }
}

/// Whether the block scalar whose content starts on line `line` (1-based) at column `indent`
/// runs to the end of `text`, whose last line has no line break after it and reaches the
/// content's column (yaml-rust2 adds a break for such a line, content or spaces): every line
/// from its first is blank or indented at least as far as its content.
fn block_runs_off_the_end(text: &str, line: usize, indent: usize) -> bool {
    if text.ends_with(['\n', '\r']) || line == 0 {
        return false;
    }
    let lines: Vec<&str> = crate::split_ascii(text, b'\n').collect();
    let Some(last) = lines.last() else { return false };
    if last.len() < indent.max(1) || line > lines.len() {
        return false;
    }
    lines[line - 1..].iter().all(|l| {
        let content = l.trim_start_matches(' ');
        content.trim_end_matches('\r').is_empty() || l.len() - content.len() >= indent
    })
}

/// Parses a YAML stream into JSON values, one per non-empty document, without checking
/// that they are Kubernetes objects. Each value comes with its document index and first line.
pub fn parse_values(stream: &str, source_name: &str, options: &ParseOptions) -> Result<Vec<(usize, usize, Value)>> {
    Ok(parse_documents(stream, source_name, options)?.into_iter().map(|(i, l, v, _)| (i, l, v)).collect())
}

/// A document's index, first line, value and bare nulls.
type ParsedDocument = (usize, usize, Value, Vec<String>);

/// [`parse_values`], each value with its bare nulls.
fn parse_documents(stream: &str, source_name: &str, options: &ParseOptions) -> Result<Vec<ParsedDocument>> {
    let mut out = Vec::new();
    for doc in split_documents(stream) {
        if doc.text.len() > options.max_document_bytes {
            return Err(Error::Yaml {
                source_name: source_name.into(),
                document: doc.index,
                location: Some(Location { line: doc.first_line, column: 1 }),
                message: format!(
                    "the document is {} bytes, over the limit of {} bytes",
                    doc.text.len(),
                    options.max_document_bytes
                ),
            });
        }
        let (value, _, bare_nulls) =
            parse_value_with(doc.text, source_name, doc.index, doc.first_line, false, Dialect::V3, Some(options))?;
        if let Some(value) = value {
            out.push((doc.index, doc.first_line, value, bare_nulls));
        }
    }
    Ok(out)
}

/// Parses a multi-document YAML stream into objects.
///
/// `source_name` (a file path or any label) is named in every error, with the document
/// index and the line and column. Empty documents are skipped; `List` kinds are flattened
/// into their items when `options.flatten_lists` is set.
///
/// ```
/// use gitops_core::yaml::{parse_objects, ParseOptions};
/// let text = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n---\napiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: Secret, metadata: {name: b}}\n";
/// let objects = parse_objects(text, "example.yaml", &ParseOptions::default()).unwrap();
/// assert_eq!(objects.len(), 2);
/// assert_eq!(objects[1].kind(), "Secret");
/// let err = parse_objects("kind: X\n", "bad.yaml", &ParseOptions::default()).unwrap_err();
/// assert!(err.to_string().contains("bad.yaml: document 0"));
/// ```
pub fn parse_objects(stream: &str, source_name: &str, options: &ParseOptions) -> Result<Vec<Object>> {
    Ok(parse_objects_with_bare_nulls(stream, source_name, options)?.into_iter().map(|(o, _)| o).collect())
}

/// [`parse_objects`], each object with its bare nulls: the JSON pointers of the mapping
/// values written with nothing after their key (`strategy:`), which Kustomize's strategic
/// merge drops while it keeps an explicit `null` (see
/// [`patch::strategic_merge_kyaml`](crate::patch::strategic_merge_kyaml)).
///
/// ```
/// use gitops_core::yaml::{parse_objects_with_bare_nulls, ParseOptions};
/// let text = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  labels:\n  annotations: null\n";
/// let parsed = parse_objects_with_bare_nulls(text, "cm.yaml", &ParseOptions::default()).unwrap();
/// assert_eq!(parsed[0].1, ["/metadata/labels"]);
/// ```
pub fn parse_objects_with_bare_nulls(
    stream: &str,
    source_name: &str,
    options: &ParseOptions,
) -> Result<Vec<(Object, Vec<String>)>> {
    let mut out = Vec::new();
    for (index, first_line, value, bare_nulls) in parse_documents(stream, source_name, options)? {
        let invalid = |message: String| Error::InvalidObject {
            source_name: source_name.into(),
            document: index,
            location: Some(Location { line: first_line, column: 1 }),
            message,
        };
        if options.flatten_lists && is_list(&value) {
            let Value::Object(mut map) = value else { unreachable!("is_list checks for a mapping") };
            let items = match map.remove("items") {
                Some(Value::Array(items)) => items,
                Some(Value::Null) | None => Vec::new(),
                Some(other) => {
                    return Err(invalid(format!("field \"items\" must be a list, found {}", type_name(&other))));
                }
            };
            for (i, mut item) in items.into_iter().enumerate() {
                stringify_metadata_scalars(&mut item, options.stringify_labels);
                validate(&item, options.require_api_version, !options.stringify_labels)
                    .map_err(|m| invalid(format!("items[{i}]: {m}")))?;
                // Kustomize reads a list's items through their JSON form, where a null written
                // with no value becomes an explicit one.
                out.push((Object::from_value_unchecked(item), Vec::new()));
            }
            continue;
        }
        let mut value = value;
        stringify_metadata_scalars(&mut value, options.stringify_labels);
        validate(&value, options.require_api_version, !options.stringify_labels).map_err(invalid)?;
        out.push((Object::from_value_unchecked(value), bare_nulls));
    }
    Ok(out)
}

/// Turns a top-level object's annotation values that are numbers, booleans or null into the
/// text of their JSON form (`true`, `493`, `null`), as Kustomize writes annotations back after
/// it has patched an object's JSON form.
///
/// ```
/// let mut v = gitops_core::json!({"metadata": {"annotations": {"a": 1, "b": null, "c": "x"}}});
/// gitops_core::yaml::annotations_as_json_text(&mut v);
/// assert_eq!(v, gitops_core::json!({"metadata": {"annotations": {"a": "1", "b": "null", "c": "x"}}}));
/// ```
pub fn annotations_as_json_text(value: &mut Value) {
    let Some(Value::Object(notes)) = value.get_mut("metadata").and_then(|m| m.get_mut("annotations")) else {
        return;
    };
    for v in notes.values_mut() {
        if matches!(v, Value::Null | Value::Bool(_) | Value::Number(_)) {
            *v = Value::String(v.to_string());
        }
    }
}

/// Annotation values (and with `labels`, label values) written as other scalars
/// (`happy: true`, `port: 8080`) read as the strings they spell.
pub fn stringify_metadata_scalars(value: &mut Value, labels: bool) {
    let Some(Value::Object(meta)) = value.get_mut("metadata") else { return };
    let fields: &[&str] = if labels { &["labels", "annotations"] } else { &["annotations"] };
    for &f in fields {
        if let Some(Value::Object(m)) = meta.get_mut(f) {
            for v in m.values_mut() {
                let text = match v {
                    Value::Bool(b) => b.to_string(),
                    Value::Number(n) => n.to_string(),
                    _ => continue,
                };
                *v = Value::String(text);
            }
        }
    }
}

fn is_list(value: &Value) -> bool {
    let Some(map) = value.as_object() else { return false };
    let kind = map.get("kind").and_then(Value::as_str).unwrap_or("");
    kind == "List" || (kind.ends_with("List") && map.get("items").is_some_and(Value::is_array))
}

/// Writes a JSON value as one YAML document (no `---`), laid out as kubectl and Kustomize
/// write it: keys sorted, two-space indent, sequences not indented under their key, strings
/// quoted only where a YAML reader would take them for something else.
pub fn to_yaml(value: &Value) -> String {
    crate::yaml_emit::emit(value)
}

/// Writes a JSON value as one YAML document the way go-yaml v2 does (kubeseal's `-o yaml`):
/// as [`to_yaml`], but long values are folded at spaces once a line passes `width` columns
/// (go-yaml v2 uses 80).
pub fn to_yaml_folded(value: &Value, width: usize) -> String {
    crate::yaml_emit::emit_wrapped(value, width)
}

/// Writes objects as a YAML stream, `---` between documents, keys sorted.
pub fn to_yaml_stream<'a>(objects: impl IntoIterator<Item = &'a Object>) -> String {
    to_yaml_stream_folded(objects, 0)
}

/// [`to_yaml_stream`], long values folded at spaces past `width` columns as
/// [`to_yaml_folded`] does (`kubectl kustomize` prints with go-yaml's width of 80).
pub fn to_yaml_stream_folded<'a>(objects: impl IntoIterator<Item = &'a Object>, width: usize) -> String {
    let mut out = String::new();
    for (i, object) in objects.into_iter().enumerate() {
        if i > 0 {
            out.push_str("---\n");
        }
        crate::yaml_emit::emit_wrapped_into(object.as_value(), width, &mut out);
    }
    out
}

/// [`to_yaml_stream_folded`] written to `out`: chunks are emitted on all CPUs and written in
/// order as they are done, so the text of a large stream is never held whole.
pub fn write_yaml_stream_folded(objects: &[Object], width: usize, out: &mut dyn std::io::Write) -> std::io::Result<()> {
    const CHUNK: usize = 64;
    let chunks: Vec<&[Object]> = objects.chunks(CHUNK).collect();
    // Chunk `index`'s text: each object after the stream's first has its separator.
    let emit = |index: usize, chunk: &[Object]| {
        let mut text = String::new();
        for (i, object) in chunk.iter().enumerate() {
            if index > 0 || i > 0 {
                text.push_str("---\n");
            }
            crate::yaml_emit::emit_wrapped_into(object.as_value(), width, &mut text);
        }
        text
    };
    let count = chunks.len();
    let workers = crate::cpus().min(count);
    if workers <= 1 {
        for (index, chunk) in chunks.into_iter().enumerate() {
            out.write_all(emit(index, chunk).as_bytes())?;
        }
        return Ok(());
    }
    let queue = std::sync::Mutex::new(chunks.into_iter().enumerate());
    let (send, receive) = std::sync::mpsc::channel::<(usize, String)>();
    std::thread::scope(|scope| {
        for _ in 0..workers {
            let (queue, send, emit) = (&queue, send.clone(), &emit);
            scope.spawn(move || {
                loop {
                    let next = queue.lock().map(|mut q| q.next()).unwrap_or(None);
                    let Some((index, chunk)) = next else { break };
                    if send.send((index, emit(index, chunk))).is_err() {
                        break;
                    }
                }
            });
        }
        drop(send);
        // Chunks arrive in any order; each is written once those before it are.
        let mut waiting = std::collections::BTreeMap::new();
        let mut next = 0;
        for (index, text) in receive.iter() {
            waiting.insert(index, text);
            while let Some(text) = waiting.remove(&next) {
                out.write_all(text.as_bytes())?;
                next += 1;
            }
        }
        if next == count { Ok(()) } else { Err(std::io::Error::other("a YAML writer thread stopped early")) }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json;

    fn opts() -> ParseOptions {
        ParseOptions::default()
    }

    #[test]
    fn binary_scalars_are_decoded_as_go_yaml_decodes_them() {
        // kubectl kustomize v5.5: `!!binary aGVsbG8=` is written back as `hello`.
        let value = |text: &str| parse_value(text, "t.yaml", 0, 1).map(|v| v.unwrap());
        assert_eq!(value("a: !!binary aGVsbG8=").unwrap()["a"], "hello");
        assert_eq!(value("a: !!binary |\n  aGVsbG8g\n  d29ybGQ=\n").unwrap()["a"], "hello world");
        assert_eq!(value("a: !!binary /w==").unwrap()["a"], "\u{fffd}");
        let err = value("a: !!binary \"not base64!\"").unwrap_err().to_string();
        assert!(err.contains("invalid base64"), "{err}");
    }

    #[test]
    fn a_block_on_an_unterminated_last_line_ends_without_a_line_break() {
        // As go-yaml (`kubectl kustomize`) reads them; yaml-rust2 alone adds the break.
        let value = |text: &str| parse_value(text, "t.yaml", 0, 1).unwrap().unwrap();
        assert_eq!(value("a: |\n  x\n  y")["a"], "x\ny");
        assert_eq!(value("a: |+\n  x\n  y")["a"], "x\ny");
        assert_eq!(value("a: >\n  x\n  y")["a"], "x y");
        assert_eq!(value("a: |\n  x\n  y\n")["a"], "x\ny\n");
        assert_eq!(value("a: |\n  x\n  ")["a"], "x\n");
        assert_eq!(value("a: |+\n  x\n  ")["a"], "x\n");
        assert_eq!(value("a: |\n  x\n ")["a"], "x\n");
        // The last line belongs to something else: the block keeps its break.
        assert_eq!(value("a: |\n  x\n# end")["a"], "x\n");
        let v = value("a: |\n  x\nb: |\n  y");
        assert_eq!((v["a"].as_str(), v["b"].as_str()), (Some("x\n"), Some("y")));
        let v = value("l:\n- |\n  x\n- |\n  y");
        assert_eq!(v["l"], crate::json!(["x\n", "y"]));
    }

    #[test]
    fn a_written_stream_is_the_stream() {
        // Enough objects for several chunks on several threads; the text is the same.
        let objects: Vec<Object> = (0..300)
            .map(|i| {
                let text = format!(
                    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{i}\ndata:\n  k: \"{}\"\n",
                    "x ".repeat(i % 50)
                );
                parse_objects(&text, "cm.yaml", &opts()).unwrap().remove(0)
            })
            .collect();
        let expected = to_yaml_stream_folded(&objects, 80);
        let mut written = Vec::new();
        write_yaml_stream_folded(&objects, 80, &mut written).unwrap();
        assert_eq!(String::from_utf8(written).unwrap(), expected);
        let mut empty = Vec::new();
        write_yaml_stream_folded(&[], 80, &mut empty).unwrap();
        assert!(empty.is_empty());
    }

    #[test]
    fn label_and_annotation_scalars_read_as_strings() {
        let text = "apiVersion: v1\nkind: Service\nmetadata:\n  name: demo\n  labels: {tier: 3}\n  annotations:\n    port: 8080\n    happy: true\n    ratio: 0.5\n";
        let o = &parse_objects(text, "s", &opts()).unwrap()[0];
        assert_eq!(o.get("/metadata/annotations"), Some(&json!({"port": "8080", "happy": "true", "ratio": "0.5"})));
        assert_eq!(o.get("/metadata/labels/tier"), Some(&json!("3")));
        let bad = "apiVersion: v1\nkind: Service\nmetadata:\n  name: demo\n  annotations: {a: [1]}\n";
        assert!(parse_objects(bad, "s", &opts()).unwrap_err().to_string().contains("metadata.annotations.a"));
    }

    #[test]
    fn splits_documents_and_skips_empty_ones() {
        let text = "---\napiVersion: v1\nkind: A\nmetadata: {name: a}\n---\n# only a comment\n---\n\n...\napiVersion: v1\nkind: B\nmetadata:\n  name: b\n";
        let objects = parse_objects(text, "s", &opts()).unwrap();
        assert_eq!(objects.iter().map(|o| o.kind()).collect::<Vec<_>>(), ["A", "B"]);
    }

    #[test]
    fn document_markers_inside_block_scalars_are_content_only_when_indented() {
        let text = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata:\n  x: |\n    ---\n    not a marker\n";
        let objects = parse_objects(text, "s", &opts()).unwrap();
        assert_eq!(objects.len(), 1);
        assert_eq!(objects[0].get("/data/x").unwrap(), "---\nnot a marker\n");
    }

    #[test]
    fn flattens_lists() {
        let text = "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: a}\n- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: b}\n";
        let objects = parse_objects(text, "s", &opts()).unwrap();
        assert_eq!(objects.len(), 2);
        let kept = parse_objects(text, "s", &ParseOptions { flatten_lists: false, ..opts() });
        assert!(kept.is_err(), "a List has no metadata.name");
        let bad = "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata: {}\n";
        let err = parse_objects(bad, "list.yaml", &opts()).unwrap_err().to_string();
        assert!(err.contains("items[0]") && err.contains("metadata.name"), "{err}");
    }

    #[test]
    fn errors_name_source_document_line_and_column() {
        let text = "apiVersion: v1\nkind: A\nmetadata: {name: a}\n---\napiVersion: v1\nkind: B\nmetadata:\n  name: [unclosed\n";
        let err = parse_objects(text, "deploy/app.yaml", &opts()).unwrap_err();
        match &err {
            Error::Yaml { source_name, document, location, .. } => {
                assert_eq!(source_name, "deploy/app.yaml");
                assert_eq!(*document, 1);
                let loc = location.unwrap();
                assert!(loc.line >= 8, "line {} should be in the second document", loc.line);
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(err.to_string().starts_with("deploy/app.yaml: document 1, line"), "{err}");
    }

    #[test]
    fn rejects_non_mappings_and_missing_fields() {
        for (text, needle) in [
            ("- a\n- b\n", "expected a mapping"),
            ("just a string\n", "expected a mapping"),
            ("kind: A\nmetadata: {name: a}\n", "\"apiVersion\""),
            ("apiVersion: v1\nmetadata: {name: a}\n", "\"kind\""),
            ("apiVersion: v1\nkind: A\nmetadata: {namespace: x}\n", "\"metadata.name\""),
        ] {
            let err = parse_objects(text, "f.yaml", &opts()).unwrap_err().to_string();
            assert!(err.contains(needle) && err.contains("f.yaml: document 0"), "{text:?}: {err}");
        }
    }

    #[test]
    fn rejects_duplicate_keys() {
        let text = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata:\n  k: 1\n  k: 2\n";
        let err = parse_objects(text, "dup.yaml", &opts()).unwrap_err().to_string();
        assert!(err.contains("duplicate"), "{err}");
    }

    #[test]
    fn rejects_oversized_documents() {
        let big = format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: a}}\ndata:\n  k: {}\n", "x".repeat(2000));
        let err = parse_objects(&big, "big.yaml", &ParseOptions { max_document_bytes: 1000, ..opts() }).unwrap_err();
        assert!(err.to_string().contains("over the limit of 1000 bytes"), "{err}");
        assert!(parse_objects(&big, "big.yaml", &opts()).is_ok());
    }

    #[test]
    fn billion_laughs_fails_fast() {
        let mut text =
            String::from("a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n");
        let names = ["a", "b", "c", "d", "e", "f", "g", "h", "i"];
        for w in names.windows(2) {
            let refs = vec![format!("*{}", w[0]); 9].join(",");
            text.push_str(&format!("{}: &{} [{}]\n", w[1], w[1], refs));
        }
        let start = std::time::Instant::now();
        let err = parse_objects(&text, "bomb.yaml", &opts()).unwrap_err();
        assert!(start.elapsed() < std::time::Duration::from_secs(5));
        assert!(err.to_string().contains("bomb.yaml"), "{err}");
    }

    #[test]
    fn deep_nesting_fails_cleanly() {
        let text = format!("{}1{}", "[".repeat(10_000), "]".repeat(10_000));
        assert!(parse_objects(&text, "deep.yaml", &opts()).is_err());
    }

    #[test]
    fn anchors_merge_keys_and_numbers() {
        let text = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\nbase: &b {x: 1, y: 2}\nderived:\n  <<: *b\n  y: 3\nf: 1e3\ng: 0.5\nh: 0x1F\n";
        let o = &parse_objects(text, "s", &opts()).unwrap()[0];
        assert_eq!(o.get("/derived"), Some(&json!({"x": 1, "y": 3})));
        assert_eq!(o.get("/f"), Some(&json!(1000)));
        assert_eq!(o.get("/g"), Some(&json!(0.5)));
        assert_eq!(o.get("/h"), Some(&json!(31)));
    }

    #[test]
    fn streams_fold_long_values_as_kubectl_kustomize_prints_them() {
        let long = "-Xms64m -Xmx128m -XX:PermSize=32m -XX:MaxPermSize=64m -XX:+UseG1GC -Djava.security.egd=file:/dev/urandom -Dmore=1";
        let obj = Object::from_value(
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"opts": long}}),
        )
        .unwrap();
        let folded = to_yaml_stream_folded([&obj], 80);
        // A space is replaced by a line break once the line is past 80 columns.
        assert!(folded.contains("file:/dev/urandom\n    -Dmore=1\n"), "{folded}");
        assert_eq!(parse_objects(&folded, "t", &opts()).unwrap()[0].as_value(), obj.as_value());
        assert_eq!(to_yaml_stream([&obj]).lines().count(), 6);
    }

    #[test]
    fn emits_a_stable_kubectl_like_stream() {
        let text = "kind: Deployment\napiVersion: apps/v1\nmetadata: {name: web, labels: {b: '2', a: '1'}}\nspec:\n  template:\n    spec:\n      containers: [{name: c, image: i, args: ['true', '0644']}]\n";
        let objects = parse_objects(text, "s", &opts()).unwrap();
        let out = to_yaml_stream(&objects);
        assert_eq!(
            out,
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  labels:\n    a: \"1\"\n    b: \"2\"\n  name: web\nspec:\n  template:\n    spec:\n      containers:\n      - args:\n        - \"true\"\n        - \"0644\"\n        image: i\n        name: c\n"
        );
        let again = parse_objects(&out, "s", &opts()).unwrap();
        assert_eq!(objects, again);
        let two = to_yaml_stream(objects.iter().chain(objects.iter()));
        assert_eq!(two.matches("---\n").count(), 1);
    }
}
