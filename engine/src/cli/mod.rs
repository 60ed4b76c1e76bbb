//! The `baleia` command line: docker's subcommands, flags, columns and wording, on the engine library.

mod images;
mod output;
mod system;

use std::path::PathBuf;

use anyhow::Result;
use clap::{Parser, Subcommand};

use baleia_engine::{paths::DEFAULT_ROOT, Engine};

/// A small container engine that speaks docker's command line.
#[derive(Debug, Parser)]
#[command(
    name = "baleia",
    version,
    disable_version_flag = true,
    about,
    max_term_width = 100
)]
pub struct Cli {
    /// State root (images, layers, containers).
    #[arg(long, global = true, env = "BALEIA_ROOT", default_value = DEFAULT_ROOT, value_name = "DIR")]
    pub root: PathBuf,
    /// Print version information and quit.
    #[arg(short = 'v', long = "version")]
    pub version: bool,
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Every subcommand.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// List images.
    #[command(visible_alias = "image-ls")]
    Images(images::ImagesArgs),
    /// Manage images.
    #[command(subcommand)]
    Image(images::ImageCommand),
    /// Import the contents from a tarball to create a filesystem image.
    Import(images::ImportArgs),
    /// Load an image from a tar archive or STDIN.
    Load(images::LoadArgs),
    /// Save one or more images to a tar archive (streamed to STDOUT by default).
    Save(images::SaveArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE.
    Tag(images::TagArgs),
    /// Remove one or more images.
    Rmi(images::RmiArgs),
    /// Show the history of an image.
    History(images::HistoryArgs),
    /// Return low-level information on baleia objects.
    Inspect(images::InspectArgs),
    /// Display system-wide information.
    Info(system::InfoArgs),
    /// Show the baleia version information.
    Version(system::VersionArgs),
    /// Manage baleia.
    #[command(subcommand)]
    System(system::SystemCommand),
}

/// Run a parsed command line.
pub fn run(cli: Cli) -> Result<()> {
    if cli.version {
        println!("{}", system::short_version());
        return Ok(());
    }
    let Some(command) = cli.command else {
        use clap::CommandFactory;
        Cli::command().print_help()?;
        return Ok(());
    };
    let engine = || Engine::open(&cli.root);
    match command {
        Command::Images(a) => images::images(&engine()?, &a),
        Command::Image(c) => images::image(engine, c),
        Command::Import(a) => images::import(&engine()?, &a),
        Command::Load(a) => images::load(&engine()?, &a),
        Command::Save(a) => images::save(&engine()?, &a),
        Command::Tag(a) => images::tag(&engine()?, &a),
        Command::Rmi(a) => images::rmi(&engine()?, &a),
        Command::History(a) => images::history(&engine()?, &a),
        Command::Inspect(a) => images::inspect(&engine()?, &a),
        Command::Info(a) => system::info(&engine()?, &a),
        Command::Version(a) => system::version(&cli.root, &a),
        Command::System(system::SystemCommand::Info(a)) => system::info(&engine()?, &a),
    }
}

/// An error already reported to the user; only the exit status remains to be set.
#[derive(Debug)]
pub struct Reported(pub i32);

impl std::fmt::Display for Reported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "exit status {}", self.0)
    }
}

impl std::error::Error for Reported {}
