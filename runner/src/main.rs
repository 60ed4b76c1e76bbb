//! `baleia-lab`: list, run, check and lint the labs.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};

use baleia_lab::lab::{self, Lab};
use baleia_lab::play::{play, Mode, Outcome};
use baleia_lab::record;
use baleia_lab::session::{Session, SessionOptions};
use baleia_lab::settings;
use baleia_lab::setup::{self, Home};
use baleia_lab::ui::{self, paint, Lang};

/// Hands-on container labs: the notes' commands in real terminals, the kernel behind them, and
/// checks that each exercise worked.
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
    /// Language of the narration (default: from LANG).
    #[arg(long, global = true, value_enum)]
    lang: Option<Lang>,
    /// A docker-compatible CLI to drive instead of the built-in engine (a real Docker, podman).
    #[arg(long, global = true, value_name = "PATH")]
    docker: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// List the labs (✓ for those passed).
    List,
    /// Run a lab automatically, narrated.
    Run {
        /// The lab (its id).
        lab: String,
        /// Wait for Enter between steps.
        #[arg(long)]
        step: bool,
    },
    /// Guided: do the lab's exercises yourself in its terminals; the runner checks them.
    Walk {
        /// The lab (its id).
        lab: String,
    },
    /// Run labs headless and report; the exit status says whether all passed.
    Check {
        /// Labs to check.
        #[arg(value_name = "LAB")]
        ids: Vec<String>,
        /// Every lab.
        #[arg(long)]
        all: bool,
        /// A JSON report on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Run a lab and keep its transcript (JSON) and terminals (asciicast) for the book.
    Record {
        /// The lab (its id).
        lab: String,
        /// Where to write `LAB.json` and `LAB.TERMINAL.cast`.
        #[arg(long, default_value = "book/recordings", value_name = "DIR")]
        out: PathBuf,
    },
    /// Write the mdBook course (Portuguese and English) from the labs and their recordings.
    Book {
        /// The book's sources: recordings/, concepts/, images/.
        #[arg(long, default_value = "book", value_name = "DIR")]
        book: PathBuf,
        /// Where to write pt/, en/ and html/index.html (default: the book folder).
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Only say whether every lab has a recording of its current version.
        #[arg(long)]
        check: bool,
    },
    /// Build the lab images and load them into the backend.
    Images {
        /// Images (default: every lab image).
        names: Vec<String>,
    },
    /// Check the lab files against the authoring rules.
    Lint {
        /// Labs to lint (default: all).
        #[arg(value_name = "LAB")]
        ids: Vec<String>,
    },
}

fn main() {
    let cli = Cli::parse();
    baleia_lab::interrupt::install();
    match run(cli) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("baleia-lab: {e:#}");
            std::process::exit(2);
        }
    }
}

fn run(cli: Cli) -> Result<i32> {
    let lang = cli.lang.unwrap_or_else(Lang::from_env);
    match &cli.command {
        Command::List => list(&cli, lang),
        Command::Lint { ids } => lint(&cli, ids),
        Command::Run { lab, step } => {
            let lab = find(&cli, lab)?;
            Ok(exit_code(&run_lab(
                &cli,
                lang,
                lab,
                Mode::Run { pause: *step },
            )?))
        }
        Command::Walk { lab } => {
            let lab = find(&cli, lab)?;
            Ok(exit_code(&run_lab(&cli, lang, lab, Mode::Walk)?))
        }
        Command::Record { lab, .. } => {
            let lab = find(&cli, lab)?;
            Ok(exit_code(&run_lab(&cli, lang, lab, Mode::Record)?))
        }
        Command::Book { book, out, check } => {
            let labs = lab::load_dir(&cli.labs)?;
            if *check {
                let wrong = baleia_lab::book::problems(&labs, &book.join("recordings"));
                for w in &wrong {
                    println!("{w}");
                }
                if wrong.is_empty() {
                    println!("{} labs, every recording matches its lab", labs.len());
                }
                return Ok(i32::from(!wrong.is_empty()));
            }
            baleia_lab::book::generate(&labs, book, out.as_deref().unwrap_or(book))?;
            Ok(0)
        }
        Command::Images { names } => {
            let home = Home::from_env();
            let backend = setup::backend(&home, cli.docker.as_deref())?;
            let names: Vec<String> = if names.is_empty() {
                lab::LAB_IMAGES.iter().map(|s| s.to_string()).collect()
            } else {
                names.clone()
            };
            setup::ensure_images(&backend, &cli.labs, &names)?;
            println!("{}", names.join(" "));
            Ok(0)
        }
        Command::Check { ids, all, json } => {
            let chosen: Vec<Lab> = if *all {
                lab::load_dir(&cli.labs)?
            } else if ids.is_empty() {
                bail!("name the labs to check, or --all");
            } else {
                ids.iter().map(|l| find(&cli, l)).collect::<Result<_>>()?
            };
            let mut outcomes = Vec::new();
            let mut skipped = 0;
            for l in chosen {
                if cli.docker.is_some() && !l.hub.is_empty() {
                    skipped += 1;
                    if !json {
                        println!(
                            "- {} skipped: it pulls from a stand-in Docker Hub only the built-in engine can use",
                            l.id
                        );
                    }
                    continue;
                }
                let o = match run_lab(&cli, lang, l.clone(), Mode::Check) {
                    Ok(o) => o,
                    Err(e) if baleia_lab::interrupt::requested() => return Err(e),
                    Err(e) => {
                        // One lab that cannot start does not stop the others.
                        eprintln!("baleia-lab: {}: {e:#}", l.id);
                        Outcome::not_started(&l, &format!("{e:#}"))
                    }
                };
                if !json {
                    let mark = if o.passed { "✓" } else { "✗" };
                    println!("{mark} {} ({:.1} s)", o.lab, o.seconds);
                }
                outcomes.push(o);
            }
            let failed = outcomes.iter().filter(|o| !o.passed).count();
            if *json {
                println!("{}", serde_json::to_string_pretty(&outcomes)?);
            } else {
                let skipped = if skipped > 0 {
                    format!(", {skipped} skipped")
                } else {
                    String::new()
                };
                println!(
                    "{} passed, {failed} failed{skipped}",
                    outcomes.len() - failed
                );
            }
            Ok(i32::from(failed > 0))
        }
    }
}

/// Why `lab` cannot run on `backend`, if it cannot: a stand-in Docker Hub is the built-in engine's.
fn needs_builtin(lab: &Lab, backend: &baleia_lab::backend::Backend) -> Option<String> {
    (!lab.hub.is_empty() && !backend.is_builtin()).then(|| {
        format!(
            "lab {} pulls from a stand-in for Docker Hub on 127.0.0.1, which the runner gives only \
             to the built-in engine (a Docker daemon reads registry-mirrors from its own daemon.json \
             when it starts); run it without --docker",
            lab.id
        )
    })
}

fn exit_code(o: &Outcome) -> i32 {
    i32::from(!o.passed)
}

fn find(cli: &Cli, id: &str) -> Result<Lab> {
    let path = cli.labs.join(format!("{id}.yaml"));
    if !path.is_file() {
        bail!("no lab {id:?} in {}", cli.labs.display());
    }
    Ok(lab::load(&path)?)
}

fn passed(home: &Home) -> std::collections::BTreeSet<String> {
    std::fs::read(home.progress())
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

fn mark_passed(home: &Home, id: &str) {
    let mut all = passed(home);
    all.insert(id.to_string());
    let _ = std::fs::create_dir_all(&home.data);
    let _ = std::fs::write(
        home.progress(),
        serde_json::to_vec_pretty(&all).unwrap_or_default(),
    );
}

fn list(cli: &Cli, lang: Lang) -> Result<i32> {
    let home = Home::from_env();
    let done = passed(&home);
    let color = ui::color();
    for l in lab::load_dir(&cli.labs)? {
        let mark = if done.contains(&l.id) {
            paint(color, "32", "✓")
        } else {
            " ".into()
        };
        println!("{mark} {:<14} {}", l.id, lang.pick(&l.title));
    }
    Ok(0)
}

fn lint(cli: &Cli, only: &[String]) -> Result<i32> {
    let mut bad = 0;
    let mut n = 0;
    for l in lab::load_dir(&cli.labs)? {
        if !only.is_empty() && !only.contains(&l.id) {
            continue;
        }
        n += 1;
        for f in lab::lint(&l) {
            bad += 1;
            let line = f.line.map(|l| format!(":{l}")).unwrap_or_default();
            let place = f.place.map(|p| format!("{p}: ")).unwrap_or_default();
            println!("{}{line}: {place}{}", l.path.display(), f.message);
        }
    }
    if bad == 0 {
        println!("{n} labs, no findings");
    }
    Ok(i32::from(bad > 0))
}

fn run_lab(cli: &Cli, lang: Lang, lab: Lab, mode: Mode) -> Result<Outcome> {
    let home = Home::from_env();
    let mut backend = setup::backend(&home, cli.docker.as_deref())?;
    // Before any image is built or loaded into a backend that cannot run the lab.
    if let Some(why) = needs_builtin(&lab, &backend) {
        bail!("{why}");
    }
    setup::ensure_images(&backend, &cli.labs, &lab.images)?;
    let hub = if lab.hub.is_empty() {
        None
    } else {
        Some(setup::hub(&home, &cli.labs, &lab.id, &lab.hub)?)
    };
    // On the built-in engine the lab's commands get its own settings (local name servers, the hub).
    let lab_settings = if backend.is_builtin() {
        let s = settings::for_lab(
            &settings::engine_settings()?,
            hub.as_ref().map(|h| h.host()).as_deref(),
        );
        let path = settings::write(&home.run, &lab.id, &s)?;
        backend = backend.with_env("BALEIA_CONFIG", &path.to_string_lossy());
        Some(path)
    } else {
        None
    };
    let color = ui::color();
    let mut session = Session::start(
        lab,
        backend,
        &SessionOptions {
            state_dir: home.run.clone(),
            size: SIZE,
        },
    )
    .context("starting the lab")?;
    if let Some(h) = hub {
        session.keep_hub(h);
    }
    // Headless modes say what failed on stderr: stdout is for the report.
    let outcome = if matches!(mode, Mode::Check | Mode::Record) {
        play(&mut session, mode, lang, color, &mut std::io::stderr())
    } else {
        play(&mut session, mode, lang, color, &mut std::io::stdout())
    };
    if mode == Mode::Record {
        if let Some(dir) = &cli_record_dir(cli) {
            write_recording(&session, &outcome, dir)?;
        }
    }
    let leftovers = session.finish();
    if let Some(p) = lab_settings {
        let _ = std::fs::remove_file(p);
    }
    for l in &leftovers {
        eprintln!("baleia-lab: cleanup: {l}");
    }
    if outcome.passed {
        mark_passed(&home, &outcome.lab);
        if mode != Mode::Check {
            println!(
                "{} {} {}",
                paint(color, "32", "✓"),
                outcome.lab,
                lang.say("passou", "passed")
            );
        }
    }
    if baleia_lab::interrupt::requested() {
        bail!("interrupted; everything the lab made has been removed");
    }
    Ok(outcome)
}

/// Terminal size of the labs' shells (and of recordings).
const SIZE: (u16, u16) = (24, 160);

fn cli_record_dir(cli: &Cli) -> Option<PathBuf> {
    match &cli.command {
        Command::Record { out, .. } => Some(out.clone()),
        _ => None,
    }
}

fn write_recording(session: &Session, outcome: &Outcome, dir: &std::path::Path) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let id = &outcome.lab;
    // A new recording replaces the old one whole: no capture of a step that is gone stays.
    for e in std::fs::read_dir(dir)?.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let ours = name.strip_prefix(&format!("{id}.")).is_some_and(|rest| {
            [".json", ".cast", ".pcap"]
                .iter()
                .any(|x| rest.ends_with(x) || rest == &x[1..])
        });
        if ours {
            std::fs::remove_file(e.path()).with_context(|| format!("removing {name}"))?;
        }
    }
    outcome
        .transcript
        .write(&dir.join(format!("{id}.json")))
        .with_context(|| format!("writing {id}.json"))?;
    // The captures, as tshark and wireshark read them.
    if let Ok(entries) = std::fs::read_dir(session.captures_dir()) {
        for e in entries.flatten() {
            let to = dir.join(format!("{id}.{}", e.file_name().to_string_lossy()));
            std::fs::copy(e.path(), &to).with_context(|| format!("copying {}", to.display()))?;
        }
    }
    for (name, t) in session.terminals() {
        let path = dir.join(format!("{id}.{name}.cast"));
        record::write_cast(&path, &format!("{id} {name}"), SIZE, &t.chunks())
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}
