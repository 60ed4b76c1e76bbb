//! Image commands: `images`, `image …`, `import`, `load`, `save`, `tag`, `rmi`, `history`, `inspect`.

use std::fs;
use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use chrono::Utc;
use clap::{Args, Subcommand};
use serde_json::{json, Value};

use super::output::{created_since, ellipsis, print_inspected, print_list, ListFlags};
use super::Reported;
use baleia_engine::archive::import::ImportOptions;
use baleia_engine::format::units::human_size;
use baleia_engine::reference::Reference;
use baleia_engine::Engine;

/// `image` subcommands.
#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// List images.
    #[command(name = "ls", visible_alias = "list")]
    Ls(ImagesArgs),
    /// Display detailed information on one or more images.
    Inspect(ImageInspectArgs),
    /// Remove one or more images.
    #[command(name = "rm", visible_alias = "remove")]
    Rm(RmiArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE.
    Tag(TagArgs),
    /// Show the history of an image.
    History(HistoryArgs),
    /// Import the contents from a tarball to create a filesystem image.
    Import(ImportArgs),
    /// Load an image from a tar archive or STDIN.
    Load(LoadArgs),
    /// Save one or more images to a tar archive (streamed to STDOUT by default).
    Save(SaveArgs),
    /// Download an image from a registry.
    Pull(super::registry::PullArgs),
    /// Upload an image to a registry.
    Push(super::registry::PushArgs),
}

/// Run an `image` subcommand.
pub fn image(engine: impl Fn() -> baleia_engine::Result<Engine>, c: ImageCommand) -> Result<()> {
    let e = engine()?;
    match c {
        ImageCommand::Ls(a) => images(&e, &a),
        ImageCommand::Inspect(a) => inspect_images(&e, &a.names, a.format.as_deref()),
        ImageCommand::Rm(a) => rmi(&e, &a),
        ImageCommand::Tag(a) => tag(&e, &a),
        ImageCommand::History(a) => history(&e, &a),
        ImageCommand::Import(a) => import(&e, &a),
        ImageCommand::Load(a) => load(&e, &a),
        ImageCommand::Save(a) => save(&e, &a),
        ImageCommand::Pull(a) => super::registry::pull(&e, &a),
        ImageCommand::Push(a) => super::registry::push(&e, &a),
    }
}

/// Flags of `images` / `image ls`.
#[derive(Debug, Args)]
pub struct ImagesArgs {
    /// Show all images (default hides intermediate images).
    #[arg(short, long)]
    pub all: bool,
    /// Show digests.
    #[arg(long)]
    pub digests: bool,
    #[command(flatten)]
    pub list: ListFlags,
    /// Only images of this repository (and tag).
    #[arg(value_name = "REPOSITORY[:TAG]")]
    pub filter: Option<String>,
}

const IMAGE_HEADERS: &[(&str, &str)] = &[
    ("ID", "IMAGE ID"),
    ("Repository", "REPOSITORY"),
    ("Tag", "TAG"),
    ("Digest", "DIGEST"),
    ("CreatedSince", "CREATED"),
    ("CreatedAt", "CREATED AT"),
    ("Size", "SIZE"),
    ("Containers", "CONTAINERS"),
];

/// `images`.
pub fn images(e: &Engine, a: &ImagesArgs) -> Result<()> {
    let rows = e.list_images(a.filter.as_deref())?;
    let now = Utc::now();
    let values: Vec<Value> = rows
        .iter()
        .map(|r| {
            json!({
                "ID": if a.list.no_trunc { r.id.to_string() } else { r.id.short() },
                "Repository": r.repository,
                "Tag": r.tag,
                "Digest": r.digest,
                "CreatedSince": created_since(r.created, now),
                "CreatedAt": r.created.map(|c| c.format("%Y-%m-%d %H:%M:%S +0000 UTC").to_string()).unwrap_or_default(),
                "Size": human_size(r.size),
                "Containers": "N/A",
            })
        })
        .collect();
    print_images(&values, a)
}

/// `images`' table (or `-q`, `--format`) for rows with `IMAGE_HEADERS`' fields.
pub fn print_images(values: &[Value], a: &ImagesArgs) -> Result<()> {
    if a.list.quiet {
        return print_list(Some("{{.ID}}"), "", IMAGE_HEADERS, values);
    }
    let default = if a.digests {
        "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
    } else {
        "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
    };
    print_list(a.list.format.as_deref(), default, IMAGE_HEADERS, values)
}

/// Flags of `image inspect`.
#[derive(Debug, Args)]
pub struct ImageInspectArgs {
    /// Format output using a custom template.
    #[arg(short, long)]
    pub format: Option<String>,
    /// Images to inspect.
    #[arg(required = true, value_name = "IMAGE")]
    pub names: Vec<String>,
}

/// Flags of `inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Format output using a custom template.
    #[arg(short, long)]
    pub format: Option<String>,
    /// Return JSON for the specified type (`container` or `image`).
    #[arg(long = "type")]
    pub kind: Option<String>,
    /// Display total file sizes (accepted for compatibility).
    #[arg(short, long)]
    pub size: bool,
    /// Names or IDs.
    #[arg(required = true, value_name = "NAME|ID")]
    pub names: Vec<String>,
}

/// `inspect`.
pub fn inspect(e: &Engine, a: &InspectArgs) -> Result<()> {
    if let Some(k) = a
        .kind
        .as_deref()
        .filter(|k| !matches!(*k, "image" | "container" | "network"))
    {
        bail!("\"{k}\" is not a valid value for --type");
    }
    let mut found = Vec::new();
    let mut failed = false;
    for n in &a.names {
        let v = match a.kind.as_deref() {
            Some("image") => e.inspect_image(n),
            Some("network") => e.network(n).map(|net| e.inspect_network(&net)),
            Some(_) => e.resolve_container(n).and_then(|c| e.inspect_container(&c)),
            None => match e.resolve_container(n) {
                Ok(c) => e.inspect_container(&c),
                Err(_) => e
                    .inspect_image(n)
                    .or_else(|err| match err {
                        baleia_engine::Error::NoSuchImage(_) => e
                            .network(n)
                            .map(|net| e.inspect_network(&net))
                            .map_err(|_| err),
                        other => Err(other),
                    })
                    .map_err(|err| match err {
                        baleia_engine::Error::NoSuchImage(_) => {
                            baleia_engine::Error::Runtime(format!("No such object: {n}"))
                        }
                        other => other,
                    }),
            },
        };
        match v {
            Ok(v) => found.push(v),
            Err(err) => {
                failed = true;
                eprintln!("Error: {err}");
            }
        }
    }
    print_inspected(&found, a.format.as_deref(), failed)
}

fn inspect_images(e: &Engine, names: &[String], format: Option<&str>) -> Result<()> {
    let mut found = Vec::new();
    let mut failed = false;
    for n in names {
        match e.inspect_image(n) {
            Ok(v) => found.push(v),
            Err(err) => {
                failed = true;
                eprintln!("Error: {err}");
            }
        }
    }
    print_inspected(&found, format, failed)
}

/// Flags of `rmi` / `image rm`.
#[derive(Debug, Args)]
pub struct RmiArgs {
    /// Force removal of the image.
    #[arg(short, long)]
    pub force: bool,
    /// Do not delete untagged parents (accepted for compatibility).
    #[arg(long)]
    pub no_prune: bool,
    /// Images to remove.
    #[arg(required = true, value_name = "IMAGE")]
    pub names: Vec<String>,
}

/// `rmi`.
pub fn rmi(e: &Engine, a: &RmiArgs) -> Result<()> {
    let mut failed = false;
    for n in &a.names {
        match e.remove_image(n, a.force) {
            Ok(events) => events.iter().for_each(|ev| println!("{ev}")),
            Err(err) => {
                failed = true;
                eprintln!("Error: {err}");
            }
        }
    }
    if failed {
        return Err(Reported(1).into());
    }
    Ok(())
}

/// Arguments of `tag`.
#[derive(Debug, Args)]
pub struct TagArgs {
    /// The image to tag.
    #[arg(value_name = "SOURCE_IMAGE[:TAG]")]
    pub source: String,
    /// The new name.
    #[arg(value_name = "TARGET_IMAGE[:TAG]")]
    pub target: String,
}

/// `tag`.
pub fn tag(e: &Engine, a: &TagArgs) -> Result<()> {
    e.tag(&a.source, &a.target)?;
    Ok(())
}

/// Flags of `history`.
#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Print sizes and dates in human readable format.
    #[arg(short = 'H', long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub human: bool,
    #[command(flatten)]
    pub list: ListFlags,
    /// The image.
    #[arg(value_name = "IMAGE")]
    pub name: String,
}

const HISTORY_HEADERS: &[(&str, &str)] = &[
    ("ID", "IMAGE"),
    ("CreatedSince", "CREATED"),
    ("CreatedAt", "CREATED AT"),
    ("CreatedBy", "CREATED BY"),
    ("Size", "SIZE"),
    ("Comment", "COMMENT"),
];

/// `history`.
pub fn history(e: &Engine, a: &HistoryArgs) -> Result<()> {
    let rows = e.history(&a.name)?;
    let now = Utc::now();
    let values: Vec<Value> = rows
        .iter()
        .map(|r| {
            let id = match &r.id {
                Some(d) if a.list.no_trunc => d.to_string(),
                Some(d) => d.short(),
                None => "<missing>".into(),
            };
            let created_by = r.created_by.replace('\t', " ");
            let at = r
                .created
                .map(|c| c.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                .unwrap_or_default();
            json!({
                "ID": id,
                "CreatedSince": if a.human { created_since(r.created, now) } else { at.clone() },
                "CreatedAt": at,
                "CreatedBy": if a.list.no_trunc { created_by } else { ellipsis(&created_by, 45) },
                "Size": if a.human { human_size(r.size) } else { r.size.to_string() },
                "Comment": r.comment,
            })
        })
        .collect();
    if a.list.quiet {
        return print_list(Some("{{.ID}}"), "", HISTORY_HEADERS, &values);
    }
    let default = "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}";
    print_list(a.list.format.as_deref(), default, HISTORY_HEADERS, &values)
}

/// Flags of `import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Apply Dockerfile instruction to the created image.
    #[arg(short, long = "change", value_name = "INSTRUCTION")]
    pub changes: Vec<String>,
    /// Set commit message for imported image.
    #[arg(short, long)]
    pub message: Option<String>,
    /// Set platform if server is multi-platform capable (only the host's is accepted).
    #[arg(long)]
    pub platform: Option<String>,
    /// A tarball path, or `-` for STDIN.
    #[arg(value_name = "file|-")]
    pub file: String,
    /// Name for the new image.
    #[arg(value_name = "REPOSITORY[:TAG]")]
    pub reference: Option<String>,
}

/// `import`.
pub fn import(e: &Engine, a: &ImportArgs) -> Result<()> {
    let reference = a
        .reference
        .as_deref()
        .map(Reference::parse_tagged)
        .transpose()?;
    let opts = ImportOptions {
        source: a.file.clone(),
        reference,
        changes: a.changes.clone(),
        message: a.message.clone(),
    };
    let id = if a.file == "-" {
        e.import(io::stdin().lock(), &opts)?
    } else {
        let f = fs::File::open(&a.file).with_context(|| format!("open {}", a.file))?;
        e.import(io::BufReader::new(f), &opts)?
    };
    println!("{id}");
    Ok(())
}

/// Flags of `load`.
#[derive(Debug, Args)]
pub struct LoadArgs {
    /// Read from tar archive file, instead of STDIN.
    #[arg(short, long, value_name = "FILE")]
    pub input: Option<PathBuf>,
    /// Suppress the load output.
    #[arg(short, long)]
    pub quiet: bool,
}

/// `load`.
pub fn load(e: &Engine, a: &LoadArgs) -> Result<()> {
    let events = match &a.input {
        Some(p) => {
            let f = fs::File::open(p).with_context(|| format!("open {}", p.display()))?;
            e.load(f)?
        }
        None => {
            if io::stdin().is_terminal() {
                bail!("requested load from stdin, but stdin is empty");
            }
            e.load(io::stdin().lock())?
        }
    };
    if !a.quiet {
        events.iter().for_each(|ev| println!("{ev}"));
    }
    Ok(())
}

/// Flags of `save`.
#[derive(Debug, Args)]
pub struct SaveArgs {
    /// Write to a file, instead of STDOUT.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Images to save.
    #[arg(required = true, value_name = "IMAGE")]
    pub names: Vec<String>,
}

/// `save`.
pub fn save(e: &Engine, a: &SaveArgs) -> Result<()> {
    match &a.output {
        Some(p) => save_to_file(e, &a.names, p),
        None => {
            if io::stdout().is_terminal() {
                bail!("cowardly refusing to save to a terminal. Use the -o flag or redirect");
            }
            let out = io::stdout().lock();
            let mut w = io::BufWriter::with_capacity(1 << 20, out);
            e.save(&a.names, &mut w)?;
            w.flush()?;
            Ok(())
        }
    }
}

/// Write through a temporary file beside the target, so a failed save leaves no half archive.
fn save_to_file(e: &Engine, names: &[String], path: &Path) -> Result<()> {
    write_atomically(path, |w| Ok(e.save(names, w)?))
}

/// Write `path` through a temporary file beside it, renamed into place only when `write` succeeds.
pub fn write_atomically(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> Result<()>,
) -> Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .context("the -o path names no file")?
        .to_string_lossy();
    let tmp = dir.join(format!(".{name}.baleia-tmp-{}", std::process::id()));
    let result = (|| -> Result<()> {
        let f = fs::File::create(&tmp).with_context(|| format!("create {}", tmp.display()))?;
        let mut w = io::BufWriter::with_capacity(1 << 20, f);
        write(&mut w)?;
        w.into_inner().map_err(|e| e.into_error())?;
        fs::rename(&tmp, path).with_context(|| format!("rename to {}", path.display()))?;
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}
