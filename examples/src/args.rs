//! A small command-line reader shared by the example binaries: `--flag value`,
//! `--flag=value`, `-f value`, `-fvalue` and bare words, with clear errors for unknown flags
//! and missing values.

/// One parsed argument.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Arg {
    /// A flag (`--name` or `-n`), with its inline value if written `--name=value`.
    Flag(String, Option<String>),
    /// A bare word.
    Word(String),
}

/// Reads command-line arguments one at a time.
pub struct Args {
    items: std::collections::VecDeque<String>,
    /// Short flags that take a value, for the `-ovalue` form.
    short_with_value: &'static [char],
}

impl Args {
    /// The process's arguments (after the program name).
    pub fn from_env(short_with_value: &'static [char]) -> Self {
        Self::new(std::env::args().skip(1), short_with_value)
    }

    /// Over given arguments.
    pub fn new(args: impl IntoIterator<Item = String>, short_with_value: &'static [char]) -> Self {
        Self { items: args.into_iter().collect(), short_with_value }
    }

    /// The next argument.
    pub fn next_arg(&mut self) -> Option<Arg> {
        let a = self.items.pop_front()?;
        if a == "-" || !a.starts_with('-') {
            return Some(Arg::Word(a));
        }
        if let Some(long) = a.strip_prefix("--") {
            return Some(match long.split_once('=') {
                Some((k, v)) => Arg::Flag(format!("--{k}"), Some(v.to_string())),
                None => Arg::Flag(a.clone(), None),
            });
        }
        let mut chars = a[1..].chars();
        let c = chars.next().unwrap_or('-');
        let rest: String = chars.collect();
        if !rest.is_empty() && self.short_with_value.contains(&c) {
            let rest = rest.strip_prefix('=').unwrap_or(&rest).to_string();
            return Some(Arg::Flag(format!("-{c}"), Some(rest)));
        }
        Some(Arg::Flag(a, None))
    }

    /// The value of `flag`: its inline value, else the next argument.
    pub fn value(&mut self, flag: &str, inline: Option<String>) -> Result<String, String> {
        match inline {
            Some(v) => Ok(v),
            None => self.items.pop_front().ok_or_else(|| format!("flag needs an argument: {flag}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let mut a =
            Args::new(["--cert=c.pem", "-oyaml", "-n", "ns", "x", "--raw", "-o"].map(String::from), &['o', 'n']);
        assert_eq!(a.next_arg(), Some(Arg::Flag("--cert".into(), Some("c.pem".into()))));
        assert_eq!(a.next_arg(), Some(Arg::Flag("-o".into(), Some("yaml".into()))));
        let Some(Arg::Flag(f, v)) = a.next_arg() else { panic!() };
        assert_eq!(a.value(&f, v).unwrap(), "ns");
        assert_eq!(a.next_arg(), Some(Arg::Word("x".into())));
        assert_eq!(a.next_arg(), Some(Arg::Flag("--raw".into(), None)));
        let Some(Arg::Flag(f, v)) = a.next_arg() else { panic!() };
        assert_eq!(a.value(&f, v).unwrap_err(), "flag needs an argument: -o");
        assert_eq!(a.next_arg(), None);
    }
}
