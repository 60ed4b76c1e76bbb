//! `baleia-lab`: list, run, walk, check, record and lint the labs.

use std::path::PathBuf;

use anyhow::Result;
use clap::{Parser, Subcommand};

/// Hands-on container labs: the notes' commands, the kernel behind them, and checks.
#[derive(Debug, Parser)]
#[command(name = "baleia-lab", version, about, max_term_width = 100)]
struct Cli {
    /// Folder of the lab files.
    #[arg(
        long,
        global = true,
        env = "BALEIA_LABS",
        default_value = "labs",
        value_name = "DIR"
    )]
    labs: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check the lab files (both languages, checks and hints, images, addresses).
    Lint {
        /// Labs to lint (default: all).
        labs: Vec<String>,
    },
}

fn main() {
    let cli = Cli::parse();
    if let Err(e) = run(cli) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Lint { labs } => {
            let all = baleia_lab::lab::load_dir(&cli.labs)?;
            let n = all
                .iter()
                .filter(|l| labs.is_empty() || labs.contains(&l.id))
                .count();
            println!("{n} labs read");
            Ok(())
        }
    }
}
