//! What every binary's command line shares: the version with the Git commit, shell
//! completions and man pages.

use std::process::ExitCode;

use clap::CommandFactory;

/// The version every binary prints: the package version and the commit it was built from.
pub const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (commit ", env!("GITOPS_COMMIT"), ")");

/// `NAME completion bash|zsh|fish|elvish|powershell` prints shell completions and `NAME man`
/// the man page (roff), before the normal parse; `None` for every other command line.
pub fn meta<C: CommandFactory>(name: &str) -> Option<ExitCode> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    meta_of::<C>(name, &args, &mut std::io::stdout())
}

/// [`meta`] over given arguments and output.
pub fn meta_of<C: CommandFactory>(name: &str, args: &[String], out: &mut dyn std::io::Write) -> Option<ExitCode> {
    match args.first().map(String::as_str) {
        Some("completion") => {
            let shell = args.get(1).and_then(|s| s.parse::<clap_complete::Shell>().ok());
            let Some(shell) = shell else {
                eprintln!("error: {name} completion takes a shell: bash, zsh, fish, elvish or powershell");
                return Some(ExitCode::from(2));
            };
            clap_complete::generate(shell, &mut C::command(), name, out);
            Some(ExitCode::SUCCESS)
        }
        Some("man") if args.len() == 1 => match clap_mangen::Man::new(C::command()).render(out) {
            Ok(()) => Some(ExitCode::SUCCESS),
            Err(e) => {
                eprintln!("error: {e}");
                Some(ExitCode::from(1))
            }
        },
        _ => None,
    }
}
