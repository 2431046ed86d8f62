//! The tree SOPS works on: ordered maps and lists whose items may be comments, and typed
//! scalars, as `sops.TreeBranch` holds them.

/// A scalar value, typed as SOPS types it (`type:` in `ENC[...]`).
#[derive(Clone, Debug, PartialEq)]
pub enum Scalar {
    /// `null` (never encrypted, adds nothing to the MAC).
    Null,
    /// A string.
    Str(String),
    /// An integer (Go `int`).
    Int(i64),
    /// A float (Go `float64`).
    Float(f64),
    /// A boolean.
    Bool(bool),
    /// Raw bytes (`type:bytes`), e.g. a binary file's content that is not UTF-8.
    Bytes(Vec<u8>),
    /// A timestamp, kept as its RFC 3339 text (`type:time`).
    Time(String),
}

/// A node of the tree.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// A scalar.
    Scalar(Scalar),
    /// A map, in file order.
    Map(Branch),
    /// A list, in file order.
    Seq(Vec<Value>),
    /// A comment inside a list (YAML), without its `#`.
    Comment(String),
}

/// An item of a map: a comment, or a key and its value.
#[derive(Clone, Debug, PartialEq)]
pub enum Item {
    /// A comment line, without its `#` (or `;`).
    Comment(String),
    /// A key and its value.
    Pair(String, Value),
}

/// A map: one document of a file, or a nested map.
pub type Branch = Vec<Item>;

impl Value {
    /// A string value.
    pub fn str(s: impl Into<String>) -> Self {
        Value::Scalar(Scalar::Str(s.into()))
    }

    /// The string, if this is a string scalar.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Scalar(Scalar::Str(s)) => Some(s),
            _ => None,
        }
    }
}

/// The value of `key` in `branch`.
pub fn get<'a>(branch: &'a Branch, key: &str) -> Option<&'a Value> {
    branch.iter().find_map(|i| match i {
        Item::Pair(k, v) if k == key => Some(v),
        _ => None,
    })
}

/// The bytes a scalar adds to the MAC (`sops.ToBytes`); `None` for null.
pub fn mac_bytes(s: &Scalar) -> Option<Vec<u8>> {
    Some(match s {
        Scalar::Null => return None,
        Scalar::Str(s) | Scalar::Time(s) => s.as_bytes().to_vec(),
        Scalar::Int(i) => i.to_string().into_bytes(),
        Scalar::Float(f) => super::goformat::format_f(*f).into_bytes(),
        Scalar::Bool(true) => b"True".to_vec(),
        Scalar::Bool(false) => b"False".to_vec(),
        Scalar::Bytes(b) => b.clone(),
    })
}

/// A scalar as the flat stores (dotenv, INI) write it (`stores.ValToString`).
pub fn to_text(s: &Scalar) -> String {
    match s {
        Scalar::Null => String::new(),
        Scalar::Str(s) | Scalar::Time(s) => s.clone(),
        Scalar::Int(i) => i.to_string(),
        Scalar::Float(f) => super::goformat::flat_float(*f),
        Scalar::Bool(b) => b.to_string(),
        Scalar::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
    }
}
