//! `commit`: create a new image from a container's changes.

use anyhow::Result;
use clap::{ArgAction, Args};

use baleia_engine::container::commit::CommitOptions;
use baleia_engine::reference::Reference;
use baleia_engine::Engine;

/// Flags of `commit`.
#[derive(Debug, Args)]
pub struct CommitArgs {
    /// Author (e.g., "John Hannibal Smith <hannibal@a-team.com>").
    #[arg(short, long)]
    pub author: Option<String>,
    /// Apply Dockerfile instruction to the created image.
    #[arg(short, long = "change", value_name = "INSTRUCTION")]
    pub changes: Vec<String>,
    /// Commit message.
    #[arg(short, long)]
    pub message: Option<String>,
    /// Pause container during commit.
    #[arg(
        short,
        long,
        action = ArgAction::Set,
        num_args = 0..=1,
        require_equals = true,
        default_value_t = true,
        default_missing_value = "true"
    )]
    pub pause: bool,
    /// The container.
    #[arg(value_name = "CONTAINER")]
    pub container: String,
    /// Name for the new image.
    #[arg(value_name = "REPOSITORY[:TAG]")]
    pub reference: Option<String>,
}

/// `commit`: prints the new image's ID.
pub fn commit(e: &Engine, a: &CommitArgs) -> Result<()> {
    let reference = a
        .reference
        .as_deref()
        .map(Reference::parse_tagged)
        .transpose()?;
    let opts = CommitOptions {
        reference,
        author: a.author.clone(),
        message: a.message.clone(),
        changes: a.changes.clone(),
        pause: a.pause,
    };
    println!("{}", e.commit_container(&a.container, &opts)?);
    Ok(())
}
