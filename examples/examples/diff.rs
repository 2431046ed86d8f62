//! `diff --desired FILE --live FILE [--field-manager NAME]`: the offline drift check.
//!
//! Prints the masked unified diff and the changed paths; exits 0 for no drift, 1 for drift,
//! 2 for an error, as `kubectl diff` does.

use std::process::ExitCode;

use gitops_core::diff::{self, DiffOptions};
use gitops_core::yaml::{self, ParseOptions};
use gitops_core::{Object, Schema};

const USAGE: &str = "usage: diff --desired FILE --live FILE [--field-manager NAME]

Compares a desired manifest (YAML) with the live object (JSON or YAML, as the API server
returns it, managedFields included). Exit status: 0 no drift, 1 drift, 2 error.

options:
  --desired FILE        the manifest from Git
  --live FILE           the object from the cluster
  --field-manager NAME  the applier's field manager (default gitops)
  -h, --help            this help";

fn load(path: &str) -> Result<Object, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    let mut objects = yaml::parse_objects(&text, path, &ParseOptions::default()).map_err(|e| e.to_string())?;
    match objects.len() {
        1 => Ok(objects.remove(0)),
        n => Err(format!("{path}: expected one object, found {n}")),
    }
}

fn main() -> ExitCode {
    let mut desired = None;
    let mut live = None;
    let mut manager = "gitops".to_string();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = |flag: &str| args.next().ok_or_else(|| format!("{flag} takes a value"));
        let r = match a.as_str() {
            "-h" | "--help" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            "--desired" => value("--desired").map(|v| desired = Some(v)),
            "--live" => value("--live").map(|v| live = Some(v)),
            "--field-manager" => value("--field-manager").map(|v| manager = v),
            other => Err(format!("unknown argument {other}")),
        };
        if let Err(e) = r {
            eprintln!("error: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    }
    let (Some(desired), Some(live)) = (desired, live) else {
        eprintln!("error: --desired and --live are required\n\n{USAGE}");
        return ExitCode::from(2);
    };
    let (desired, live) = match (load(&desired), load(&live)) {
        (Ok(d), Ok(l)) => (d, l),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let mut schema = Schema::builtin().clone();
    if desired.kind() == "CustomResourceDefinition" {
        schema.add_crd(&desired).ok();
    }
    let options = DiffOptions { field_manager: manager, ..DiffOptions::default() };
    let d = diff::diff(&desired, &live, &options, &schema);
    if d.is_empty() {
        return ExitCode::SUCCESS;
    }
    print!("{}", d.unified());
    for c in &d.changes {
        println!("# {:?} {}", c.op, c.path);
    }
    ExitCode::from(1)
}
