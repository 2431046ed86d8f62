//! Reads YAML into SOPS trees, keeping comments where SOPS (through go-yaml v3) keeps them:
//! comments above or beside an item come before it; comments after the last item of a
//! block, indented at least as deep as that block, stay at its end.

use std::collections::{HashMap, VecDeque};

use yaml_rust2::Event;
use yaml_rust2::parser::{Parser, Tag};
use yaml_rust2::scanner::TScalarStyle;

use super::scalar::resolve_plain;
use super::tree::{Branch, Item, Scalar, Value};

#[derive(Debug, Clone)]
struct Comment {
    line: usize,
    col: usize,
    text: String,
}

/// Finds every comment, skipping `#` inside quoted scalars and block scalars. Lines are
/// 1-based, columns 0-based (as yaml-rust2's markers).
fn scan_comments(text: &str) -> Vec<Comment> {
    let mut out = Vec::new();
    let mut block_parent: Option<usize> = None;
    let mut quote: Option<char> = None;
    for (n, line) in text.split('\n').enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        let indent = line.len() - line.trim_start_matches(' ').len();
        if let Some(parent) = block_parent {
            if line.trim().is_empty() || indent > parent {
                continue;
            }
            block_parent = None;
        }
        let chars: Vec<(usize, char)> = line.char_indices().collect();
        let mut prev: Option<char> = None;
        let mut prev_nonspace: Option<char> = None;
        let mut content_end = line.len();
        let mut k = 0;
        while k < chars.len() {
            let (byte, c) = chars[k];
            match quote {
                Some('"') => {
                    if c == '\\' {
                        k += 2;
                        prev = Some('x');
                        continue;
                    }
                    if c == '"' {
                        quote = None;
                    }
                }
                Some(_) => {
                    if c == '\'' {
                        if chars.get(k + 1).map(|x| x.1) == Some('\'') {
                            k += 2;
                            continue;
                        }
                        quote = None;
                    }
                }
                None => {
                    if c == '#' && prev.is_none_or(|p| p == ' ' || p == '\t') {
                        out.push(Comment {
                            line: n + 1,
                            col: line[..byte].chars().count(),
                            text: line[byte + 1..].to_string(),
                        });
                        content_end = byte;
                        break;
                    }
                    if (c == '"' || c == '\'')
                        && prev_nonspace.is_none_or(|p| matches!(p, ':' | '-' | '[' | '{' | ',' | '?'))
                    {
                        quote = Some(c);
                    }
                }
            }
            prev = Some(c);
            if c != ' ' && c != '\t' {
                prev_nonspace = Some(c);
            }
            k += 1;
        }
        if quote.is_none() {
            let content = line[..content_end].trim_end();
            let ind = content.rfind(['|', '>']);
            if let Some(ind) = ind {
                let hints = &content[ind + 1..];
                let before = content[..ind].trim_end();
                if hints.chars().all(|c| matches!(c, '-' | '+' | '0'..='9'))
                    && (before.is_empty() || before.ends_with(':') || before.ends_with('-'))
                {
                    // The block's content must be indented deeper than its owner: the key,
                    // or the dash of a list item.
                    let mut col = indent;
                    let mut rest = &content[indent..];
                    while let Some(r) = rest.strip_prefix("- ") {
                        if r.trim_start().starts_with(['|', '>']) {
                            break;
                        }
                        let skipped = r.len() - r.trim_start().len();
                        col += 2 + skipped;
                        rest = r.trim_start();
                    }
                    block_parent = Some(col);
                }
            }
        }
    }
    out
}

enum Frame {
    Map { items: Branch, key: Option<String>, indent: Option<usize>, anchor: usize },
    Seq { items: Vec<Value>, indent: Option<usize>, anchor: usize },
}

struct Builder {
    comments: VecDeque<Comment>,
    stack: Vec<Frame>,
    anchors: HashMap<usize, Value>,
    documents: Vec<Branch>,
}

fn is_str_tag(tag: &Option<Tag>) -> Option<bool> {
    tag.as_ref().map(|t| t.suffix == "str" || t.suffix == "binary")
}

impl Builder {
    /// Comments before line `line` (and on it, when `same_line`), for the innermost frame.
    fn take_before(&mut self, line: usize, same_line: bool) -> Vec<String> {
        let mut out = Vec::new();
        while let Some(c) = self.comments.front() {
            if c.line < line || (same_line && c.line == line) {
                out.push(self.comments.pop_front().expect("front").text);
            } else {
                break;
            }
        }
        out
    }

    fn push_comments(&mut self, comments: Vec<String>) {
        match self.stack.last_mut() {
            Some(Frame::Map { items, .. }) => items.extend(comments.into_iter().map(Item::Comment)),
            Some(Frame::Seq { items, .. }) => items.extend(comments.into_iter().map(Value::Comment)),
            None => {}
        }
    }

    /// Called when a node starts at (line, col) in the current frame.
    fn node_start(&mut self, line: usize, col: usize, is_collection: bool) {
        let (in_seq, expecting_key) = match self.stack.last_mut() {
            Some(Frame::Map { key, indent, .. }) => {
                if key.is_none() && indent.is_none() {
                    *indent = Some(col);
                }
                (false, key.is_none())
            }
            Some(Frame::Seq { indent, .. }) => {
                if indent.is_none() {
                    *indent = Some(col.saturating_sub(2));
                }
                (true, false)
            }
            None => return,
        };
        if expecting_key {
            let c = self.take_before(line, true);
            self.push_comments(c);
        } else if in_seq {
            // Comments on the item's own line belong inside a collection item.
            let c = self.take_before(line, !is_collection);
            self.push_comments(c);
        }
    }

    fn add(&mut self, v: Value) -> Result<(), String> {
        match self.stack.last_mut() {
            Some(Frame::Map { items, key, .. }) => match key.take() {
                None => match v {
                    Value::Scalar(Scalar::Str(s)) => *key = Some(s),
                    _ => return Err("Tree contains a non-string key; only string keys are supported".into()),
                },
                Some(k) => items.push(Item::Pair(k, v)),
            },
            Some(Frame::Seq { items, .. }) => items.push(v),
            None => match v {
                Value::Map(b) => self.documents.push(b),
                Value::Scalar(Scalar::Null) => self.documents.push(Branch::new()),
                Value::Seq(_) => return Err("YAML documents that are sequences are not supported".into()),
                _ => return Err("YAML documents that are values are not supported".into()),
            },
        }
        Ok(())
    }

    /// Comments before `line` at or right of `indent` stay at the end of the block.
    fn trailing(&mut self, line: usize, indent: Option<usize>, all: bool) -> Vec<String> {
        let mut out = Vec::new();
        while let Some(c) = self.comments.front() {
            if c.line < line && (all || indent.is_some_and(|i| c.col >= i)) {
                out.push(self.comments.pop_front().expect("front").text);
            } else {
                break;
            }
        }
        out
    }
}

fn scalar(value: String, style: TScalarStyle, tag: &Option<Tag>) -> Value {
    let quoted = !matches!(style, TScalarStyle::Plain);
    let v = match is_str_tag(tag) {
        Some(true) => Scalar::Str(value),
        _ if quoted => Scalar::Str(value),
        _ => resolve_plain(&value),
    };
    Value::Scalar(v)
}

/// Parses a YAML stream into one branch per document.
pub fn parse(text: &str) -> Result<Vec<Branch>, String> {
    let mut b = Builder {
        comments: scan_comments(text).into(),
        stack: Vec::new(),
        anchors: HashMap::new(),
        documents: Vec::new(),
    };
    let mut parser = Parser::new_from_str(text);
    loop {
        let (event, mark) = parser.next_token().map_err(|e| format!("line {}: {}", e.marker().line(), e.info()))?;
        let (line, col) = (mark.line(), mark.col());
        match event {
            Event::StreamStart | Event::Nothing => {}
            Event::StreamEnd => break,
            Event::DocumentStart => {
                b.stack.clear();
            }
            Event::DocumentEnd => {}
            Event::Scalar(value, style, anchor, tag) => {
                b.node_start(line, col, false);
                let v = scalar(value, style, &tag);
                if anchor > 0 {
                    b.anchors.insert(anchor, v.clone());
                }
                b.add(v)?;
            }
            Event::Alias(id) => {
                b.node_start(line, col, false);
                let v = b.anchors.get(&id).cloned().ok_or("unknown alias")?;
                b.add(v)?;
            }
            Event::MappingStart(anchor, _) => {
                b.node_start(line, col, true);
                if b.stack.is_empty() {
                    let c = b.take_before(line, false);
                    b.stack.push(Frame::Map {
                        items: c.into_iter().map(Item::Comment).collect(),
                        key: None,
                        indent: None,
                        anchor,
                    });
                } else {
                    b.stack.push(Frame::Map { items: Branch::new(), key: None, indent: None, anchor });
                }
            }
            Event::SequenceStart(anchor, _) => {
                b.node_start(line, col, true);
                b.stack.push(Frame::Seq { items: Vec::new(), indent: None, anchor });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                let frame = b.stack.pop().ok_or("unbalanced YAML events")?;
                let root = b.stack.is_empty();
                let (v, anchor) = match frame {
                    Frame::Map { mut items, indent, anchor, .. } => {
                        let tail = b.trailing(line, indent, root);
                        items.extend(tail.into_iter().map(Item::Comment));
                        (Value::Map(items), anchor)
                    }
                    Frame::Seq { mut items, indent, anchor } => {
                        let tail = b.trailing(line, indent, false);
                        items.extend(tail.into_iter().map(Value::Comment));
                        (Value::Seq(items), anchor)
                    }
                };
                if anchor > 0 {
                    b.anchors.insert(anchor, v.clone());
                }
                b.add(v)?;
            }
        }
    }
    Ok(b.documents)
}
