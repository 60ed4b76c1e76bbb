//! `baleia-lab`: list, run, check and lint the labs.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};

use baleia_lab::lab::{self, Lab};
use baleia_lab::session::{Session, SessionOptions};
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
    /// Run labs headless and report; the exit status says whether all passed.
    Check {
        /// Labs to check.
        labs: Vec<String>,
        /// Every lab.
        #[arg(long)]
        all: bool,
    },
    /// Check the lab files against the authoring rules.
    Lint {
        /// Labs to lint (default: all).
        labs: Vec<String>,
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
        Command::Lint { labs } => lint(&cli, labs),
        Command::Run { lab, step } => {
            let lab = find(&cli, lab)?;
            run_lab(&cli, lang, lab, Mode::Run { pause: *step })
        }
        Command::Check { labs, all } => {
            let chosen: Vec<Lab> = if *all {
                lab::load_dir(&cli.labs)?
            } else if labs.is_empty() {
                bail!("name the labs to check, or --all");
            } else {
                labs.iter().map(|l| find(&cli, l)).collect::<Result<_>>()?
            };
            let mut failed = 0;
            for l in chosen {
                if run_lab(&cli, lang, l, Mode::Check)? != 0 {
                    failed += 1;
                }
            }
            Ok(i32::from(failed > 0))
        }
    }
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

/// How a lab is run.
#[derive(Debug, Clone, Copy)]
enum Mode {
    /// Narrated, for a learner watching.
    Run { pause: bool },
    /// Headless: only failures and a summary.
    Check,
}

fn run_lab(cli: &Cli, lang: Lang, lab: Lab, mode: Mode) -> Result<i32> {
    let home = Home::from_env();
    let backend = setup::backend(&home, cli.docker.as_deref())?;
    setup::ensure_images(&backend, &cli.labs, &lab.images)?;
    let color = ui::color();
    let narrate = matches!(mode, Mode::Run { .. });
    let id = lab.id.clone();
    let path = lab.path.clone();
    let lines = lab.step_lines.clone();
    let total = lab.steps.len();
    if narrate {
        println!(
            "{}",
            paint(
                color,
                "1",
                &format!("{} — {}", lab.id, lang.pick(&lab.title))
            )
        );
        if let Some(i) = &lab.intro {
            println!("{}\n", lang.pick(i));
        }
    }
    let session = Session::start(
        lab,
        backend,
        &SessionOptions {
            state_dir: home.run.clone(),
            size: (24, 100),
        },
    )
    .context("starting the lab")?;
    let mut session = session;
    let mut prompts: std::collections::BTreeMap<String, String> = Default::default();
    let outcome = (|| -> Result<()> {
        for i in 0..total {
            let step = session.lab.steps[i].clone();
            if narrate {
                println!("{}", paint(color, "2", &format!("── {}/{total}", i + 1)));
                if let Some(s) = &step.say {
                    println!("{}", lang.pick(s));
                }
            }
            let r = session.run_step(i)?;
            if narrate && (r.command.is_some() || !step.keys.is_empty()) {
                // The output ends with the next prompt: it is shown before the next command.
                let (body, next_prompt) = match r.output.rfind('\n') {
                    Some(n) => (&r.output[..=n], &r.output[n + 1..]),
                    None => ("", r.output.as_str()),
                };
                let prompt = prompts
                    .get(&r.terminal)
                    .cloned()
                    .unwrap_or_else(|| format!("{}$ ", r.terminal));
                print!("{}{body}", paint(color, "1", &prompt));
                if body.is_empty() {
                    let keys: Vec<String> = step.keys.iter().map(|k| format!("{k:?}")).collect();
                    println!("{}", paint(color, "2", &format!("[{}]", keys.join(" "))));
                }
                prompts.insert(r.terminal.clone(), next_prompt.to_string());
            }
            if let Mode::Run { pause: true } = mode {
                print!(
                    "{}",
                    lang.say("[Enter: próximo passo] ", "[Enter: next step] ")
                );
                let _ = std::io::stdout().flush();
                let mut s = String::new();
                let _ = std::io::stdin().read_line(&mut s);
            }
        }
        Ok(())
    })();
    let leftovers = session.finish();
    for l in &leftovers {
        eprintln!("baleia-lab: cleanup: {l}");
    }
    match outcome {
        Ok(()) => {
            mark_passed(&home, &id);
            let ok = paint(color, "32", "✓");
            println!("{ok} {id} {}", lang.say("passou", "passed"));
            Ok(0)
        }
        Err(e) => {
            let step = e.to_string().split_once("step ").and_then(|(_, r)| {
                r.split(|c: char| !c.is_ascii_digit())
                    .next()?
                    .parse::<usize>()
                    .ok()
            });
            let line = step
                .and_then(|s| lines.get(s - 1))
                .map(|l| format!(":{l}"))
                .unwrap_or_default();
            let bad = paint(color, "31", "✗");
            println!("{bad} {}{line}: {e:#}", path.display());
            Ok(1)
        }
    }
}
