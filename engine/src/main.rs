//! `baleia`: the docker-compatible command line of the baleia engine.

mod cli;

use clap::error::ErrorKind;
use clap::Parser;

fn main() {
    let prog = std::env::args_os()
        .next()
        .and_then(|a| {
            std::path::Path::new(&a)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| "baleia".into());
    let parsed = cli::Cli::try_parse();
    let cli = match parsed {
        Ok(c) => c,
        Err(e) => std::process::exit(usage_error(e, &prog)),
    };
    if cli.prints_only() {
        // `baleia ps | head`: end quietly when the reader goes, as other tools do. Commands that
        // keep sockets (the daemon, monitors, attached clients) handle EPIPE themselves instead.
        // SAFETY: setting a signal's disposition before any thread starts.
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    }
    if let Err(e) = cli::run(cli) {
        if let Some(r) = e.downcast_ref::<cli::Reported>() {
            std::process::exit(r.0);
        }
        eprintln!("Error: {e:#}");
        std::process::exit(1);
    }
}

/// Report a command-line mistake as docker does (`unknown flag: --x`, exit 125); help and
/// version requests print normally.
fn usage_error(e: clap::Error, prog: &str) -> i32 {
    match e.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = e.print();
            0
        }
        ErrorKind::UnknownArgument => {
            let arg = e
                .get(clap::error::ContextKind::InvalidArg)
                .map(|v| v.to_string())
                .unwrap_or_default();
            let flag = arg.split('=').next().unwrap_or(&arg).to_string();
            let words: Vec<String> = std::env::args()
                .skip(1)
                .filter(|a| !a.starts_with('-'))
                .take(2)
                .collect();
            let groups = ["image", "container", "network", "system"];
            let n = if words.first().is_some_and(|w| groups.contains(&w.as_str())) {
                2
            } else {
                1
            };
            let sub = words.iter().take(n).cloned().collect::<Vec<_>>().join(" ");
            eprintln!("unknown flag: {flag}\nSee '{prog} {sub} --help'.");
            125
        }
        _ => {
            let _ = e.print();
            125
        }
    }
}
