//! `pull`, `push`, `login`, `logout`, `search`, and the pull `run`/`create` do for a missing image:
//! Docker's lines, or on a terminal its live display with one line per layer.

use std::io::{IsTerminal, Read, Write};

use anyhow::{bail, Result};
use clap::Args;
use serde_json::{json, Value};

use super::output::{ellipsis, print_list};
use baleia_engine::format::progress_bar;
use baleia_engine::reference::Reference;
use baleia_engine::registry::Progress;
use baleia_engine::Engine;

/// Flags of `pull`.
#[derive(Debug, Args)]
pub struct PullArgs {
    /// Download all tagged images in the repository.
    #[arg(short, long = "all-tags")]
    pub all_tags: bool,
    /// Suppress verbose output.
    #[arg(short, long)]
    pub quiet: bool,
    /// `NAME[:TAG|@DIGEST]`.
    pub name: String,
}

/// Flags of `push`.
#[derive(Debug, Args)]
pub struct PushArgs {
    /// Push all tags of an image to the repository.
    #[arg(short, long = "all-tags")]
    pub all_tags: bool,
    /// Suppress verbose output.
    #[arg(short, long)]
    pub quiet: bool,
    /// `NAME[:TAG]`.
    pub name: String,
}

/// Flags of `login`.
#[derive(Debug, Args)]
pub struct LoginArgs {
    /// Username.
    #[arg(short, long)]
    pub username: Option<String>,
    /// Password.
    #[arg(short, long)]
    pub password: Option<String>,
    /// Take the password from stdin.
    #[arg(long = "password-stdin")]
    pub password_stdin: bool,
    /// The registry (Docker Hub if none).
    pub server: Option<String>,
}

/// Flags of `logout`.
#[derive(Debug, Args)]
pub struct LogoutArgs {
    /// The registry (Docker Hub if none).
    pub server: Option<String>,
}

/// Flags of `search`.
#[derive(Debug, Args)]
pub struct SearchArgs {
    /// Max number of search results.
    #[arg(long, default_value_t = 25)]
    pub limit: usize,
    /// Don't truncate output.
    #[arg(long)]
    pub no_trunc: bool,
    /// Pretty-print search using a Go template.
    #[arg(long)]
    pub format: Option<String>,
    /// Filter output based on conditions provided (`is-official=true`, `stars=3`).
    #[arg(short, long)]
    pub filter: Vec<String>,
    /// The term.
    pub term: String,
}

/// Draws pull and push progress: plain lines, or a live display with one line per layer.
pub struct Display<W: Write> {
    out: W,
    live: bool,
    quiet: bool,
    /// Layer IDs in the order their lines were drawn.
    layers: Vec<String>,
}

impl<W: Write> Display<W> {
    /// A display on `out`, live when `live` (a terminal).
    pub fn new(out: W, live: bool, quiet: bool) -> Self {
        Display {
            out,
            live,
            quiet,
            layers: Vec::new(),
        }
    }

    /// Show one event.
    pub fn show(&mut self, p: Progress) {
        if self.quiet {
            return;
        }
        let _ = match &p {
            Progress::Layer {
                id,
                status,
                current,
                total,
            } => self.layer(id, status, p.is_bar(), *current, *total),
            other => {
                self.layers.clear();
                writeln!(self.out, "{other}")
            }
        };
        let _ = self.out.flush();
    }

    fn layer(
        &mut self,
        id: &str,
        status: &str,
        with_bar: bool,
        current: u64,
        total: u64,
    ) -> std::io::Result<()> {
        if !self.live {
            // Without a terminal Docker leaves out the lines that only move a bar.
            if with_bar {
                return Ok(());
            }
            return writeln!(self.out, "{id}: {status}");
        }
        let text = if with_bar && total > 0 {
            format!("{id}: {status} {}", progress_bar(current, total))
        } else {
            format!("{id}: {status}")
        };
        match self.layers.iter().position(|l| l == id) {
            None => {
                self.layers.push(id.to_string());
                writeln!(self.out, "{text}")
            }
            Some(i) => {
                let up = self.layers.len() - i;
                write!(self.out, "\x1b[{up}A\r\x1b[2K{text}\r\x1b[{up}B")
            }
        }
    }
}

/// `pull`.
pub fn pull(e: &Engine, a: &PullArgs) -> Result<()> {
    let r = Reference::parse(&a.name)?;
    if a.all_tags && (r.tag.is_some() || r.digest.is_some()) {
        bail!("tag can't be used with --all-tags/-a");
    }
    if r.tag.is_none() && r.digest.is_none() && !a.all_tags && !a.quiet {
        println!("Using default tag: latest");
    }
    let stdout = std::io::stdout();
    let live = stdout.is_terminal();
    let mut d = Display::new(stdout.lock(), live, a.quiet);
    let pulled = e.pull(&a.name, a.all_tags, &mut |p| d.show(p))?;
    drop(d);
    if a.all_tags {
        println!("{}", r.full_name());
    } else {
        pulled.iter().for_each(|p| println!("{p}"));
    }
    Ok(())
}

/// Pull `name` for `run`/`create` (`missing`: it is not here, say so first), on stderr as Docker.
pub fn pull_for_run(e: &Engine, name: &str, missing: bool) -> Result<()> {
    if missing {
        let shown = Reference::parse_tagged(name)
            .ok()
            .and_then(|r| r.familiar_tagged().or_else(|| Some(r.to_string())))
            .unwrap_or_else(|| name.to_string());
        eprintln!("Unable to find image '{shown}' locally");
    }
    let stderr = std::io::stderr();
    let live = stderr.is_terminal();
    let mut d = Display::new(stderr.lock(), live, false);
    e.pull(name, false, &mut |p| d.show(p))?;
    Ok(())
}

/// `push`.
pub fn push(e: &Engine, a: &PushArgs) -> Result<()> {
    let r = Reference::parse(&a.name)?;
    if r.tag.is_none() && !a.all_tags && !a.quiet {
        println!("Using default tag: latest");
    }
    let stdout = std::io::stdout();
    let live = stdout.is_terminal();
    let mut d = Display::new(stdout.lock(), live, a.quiet);
    e.push(&a.name, a.all_tags, &mut |p| d.show(p))?;
    drop(d);
    if a.quiet {
        println!("{}", Reference::parse_tagged(&a.name)?);
    }
    Ok(())
}

/// `login`.
pub fn login(e: &Engine, a: &LoginArgs) -> Result<()> {
    let user = match &a.username {
        Some(u) => u.clone(),
        None => prompt("Username: ")?,
    };
    let password = if a.password_stdin {
        if a.password.is_some() {
            bail!("--password and --password-stdin are mutually exclusive");
        }
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s)?;
        s.trim_end_matches(['\n', '\r']).to_string()
    } else if let Some(p) = &a.password {
        eprintln!("WARNING! Using --password via the CLI is insecure. Use --password-stdin.");
        p.clone()
    } else {
        secret("Password: ")?
    };
    if user.is_empty() || password.is_empty() {
        bail!("Username and password are required");
    }
    e.login(a.server.as_deref(), &user, &password)?;
    println!("Login Succeeded");
    Ok(())
}

/// `logout`.
pub fn logout(e: &Engine, a: &LogoutArgs) -> Result<()> {
    let shown = a
        .server
        .clone()
        .unwrap_or_else(|| "https://index.docker.io/v1/".into());
    if e.logout(a.server.as_deref())? {
        println!("Removing login credentials for {shown}");
    } else {
        println!("Not logged in to {shown}");
    }
    Ok(())
}

const SEARCH_HEADERS: &[(&str, &str)] = &[
    ("Name", "NAME"),
    ("Description", "DESCRIPTION"),
    ("StarCount", "STARS"),
    ("IsOfficial", "OFFICIAL"),
];

/// `search`.
pub fn search(e: &Engine, a: &SearchArgs) -> Result<()> {
    let mut min_stars = 0;
    let mut official = None;
    for f in &a.filter {
        match f.split_once('=') {
            Some(("stars", n)) => min_stars = n.parse()?,
            Some(("is-official", v)) => official = Some(v == "true"),
            _ => bail!("invalid filter '{f}'"),
        }
    }
    let rows: Vec<Value> = e
        .search(&a.term, a.limit)?
        .into_iter()
        .filter(|r| r.star_count >= min_stars && official.is_none_or(|o| o == r.is_official))
        .map(|r| {
            let description = if a.no_trunc {
                r.description.clone()
            } else {
                ellipsis(&r.description, 45)
            };
            json!({
                "Name": r.name,
                "Description": description,
                "StarCount": r.star_count.to_string(),
                "IsOfficial": if r.is_official { "[OK]" } else { "" },
            })
        })
        .collect();
    print_list(
        a.format.as_deref(),
        "table {{.Name}}\t{{.Description}}\t{{.StarCount}}\t{{.IsOfficial}}",
        SEARCH_HEADERS,
        &rows,
    )
}

fn prompt(what: &str) -> Result<String> {
    eprint!("{what}");
    std::io::stderr().flush()?;
    let mut s = String::new();
    std::io::stdin().read_line(&mut s)?;
    Ok(s.trim().to_string())
}

/// Read a line without echo when stdin is a terminal.
fn secret(what: &str) -> Result<String> {
    use nix::sys::termios::{self, LocalFlags, SetArg};
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return prompt(what);
    }
    let old = termios::tcgetattr(&stdin)?;
    let mut quiet = old.clone();
    quiet.local_flags.remove(LocalFlags::ECHO);
    termios::tcsetattr(&stdin, SetArg::TCSANOW, &quiet)?;
    let line = prompt(what);
    let _ = termios::tcsetattr(&stdin, SetArg::TCSANOW, &old);
    eprintln!();
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_lines_leave_out_the_bars_and_a_terminal_redraws_in_place() {
        let mut plain = Display::new(Vec::new(), false, false);
        plain.show(Progress::Start {
            id: Some("latest".into()),
            status: "Pulling from library/busybox".into(),
        });
        for (status, cur) in [
            ("Pulling fs layer", 0),
            ("Downloading", 5),
            ("Pull complete", 10),
        ] {
            plain.show(Progress::Layer {
                id: "9ad63333ebc9".into(),
                status: status.into(),
                current: cur,
                total: 10,
            });
        }
        let text = String::from_utf8(plain.out).unwrap();
        assert_eq!(
            text,
            "latest: Pulling from library/busybox\n9ad63333ebc9: Pulling fs layer\n9ad63333ebc9: Pull complete\n"
        );

        let mut live = Display::new(Vec::new(), true, false);
        for id in ["aaaaaaaaaaaa", "bbbbbbbbbbbb"] {
            live.show(Progress::Layer {
                id: id.into(),
                status: "Pulling fs layer".into(),
                current: 0,
                total: 0,
            });
        }
        live.show(Progress::Layer {
            id: "aaaaaaaaaaaa".into(),
            status: "Downloading".into(),
            current: 1_500_000,
            total: 3_000_000,
        });
        let text = String::from_utf8(live.out).unwrap();
        assert!(text.ends_with("\x1b[2A\r\x1b[2Kaaaaaaaaaaaa: Downloading [========================>                         ]    1.5MB/3MB\r\x1b[2B"), "{text:?}");
    }
}
