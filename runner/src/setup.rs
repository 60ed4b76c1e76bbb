//! Where the runner keeps things and which `docker` it drives: the built-in engine (the learner's
//! own, as `docker` would be their Docker; a lab removes only what it made) or a docker-compatible
//! CLI given with `--docker`; and the lab images loaded into it.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::backend::{Backend, Kind};
use crate::hub::Hub;

/// The runner's folders.
#[derive(Debug, Clone)]
pub struct Home {
    /// Progress (`BALEIA_LAB_HOME`, default `/var/lib/baleia-lab`).
    pub data: PathBuf,
    /// What a running lab keeps: inventories, the `docker` shim (`BALEIA_LAB_RUN`, default
    /// `/run/baleia-lab`).
    pub run: PathBuf,
}

impl Home {
    /// From the environment, or the defaults.
    pub fn from_env() -> Home {
        let var = |k: &str, d: &str| {
            std::env::var_os(k)
                .map(PathBuf::from)
                .unwrap_or_else(|| d.into())
        };
        Home {
            data: var("BALEIA_LAB_HOME", "/var/lib/baleia-lab"),
            run: var("BALEIA_LAB_RUN", "/run/baleia-lab"),
        }
    }

    /// The file of passed labs.
    pub fn progress(&self) -> PathBuf {
        self.data.join("progress.json")
    }
}

/// The `baleia` binary: `BALEIA_BIN`, beside `baleia-lab`, or on PATH.
pub fn baleia_bin() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("BALEIA_BIN") {
        return Ok(p.into());
    }
    if let Some(p) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(|d| d.join("baleia")))
        .filter(|p| p.is_file())
    {
        return Ok(p);
    }
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join("baleia"))
        .find(|p| p.is_file())
        .context("the baleia binary is not beside baleia-lab nor on PATH (set BALEIA_BIN)")
}

/// The backend: `--docker PATH`, else the built-in engine on its usual root (`BALEIA_ROOT` if
/// set), as `docker` would be the learner's own Docker.
pub fn backend(home: &Home, docker: Option<&Path>) -> Result<Backend> {
    if let Some(d) = docker {
        if !d.is_file() {
            bail!("--docker {}: no such program", d.display());
        }
        return Ok(Backend::external(d));
    }
    let env = [
        "BALEIA_ROOT",
        "BALEIA_CONFIG",
        "BALEIA_INIT",
        "DOCKER_CONFIG",
    ]
    .iter()
    .filter_map(|k| std::env::var(k).ok().map(|v| (k.to_string(), v)))
    .collect();
    Ok(Backend::builtin(
        &baleia_bin()?,
        &home.run.join("bin"),
        env,
    )?)
}

/// Load the lab images `names` into `b` unless it has them, building them with
/// `labs/images/build.sh` (cached after the first build).
///
/// `BALEIA_LAB_BUILD` names the script when `labs` has none.
pub fn ensure_images(b: &Backend, labs: &Path, names: &[String]) -> Result<()> {
    let missing: Vec<String> = names
        .iter()
        .filter(|n| !matches!(b.inspect(Kind::Image, n), Ok(Some(_))))
        .cloned()
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let archives = build_archives(labs, &missing)?;
    for archive in archives {
        b.ok(&["load", "-q", "-i", &archive.to_string_lossy()])?;
    }
    Ok(())
}

/// The archives of the lab images `names`, built by `labs/images/build.sh` (or the script
/// `BALEIA_LAB_BUILD` names) when they are not in its cache.
pub fn build_archives(labs: &Path, names: &[String]) -> Result<Vec<PathBuf>> {
    // The labs' own recipes, or (for labs kept elsewhere, like the runner's test labs) the one
    // `BALEIA_LAB_BUILD` names.
    let script = Some(labs.join("images/build.sh"))
        .filter(|p| p.is_file())
        .or_else(|| std::env::var_os("BALEIA_LAB_BUILD").map(PathBuf::from))
        .with_context(|| {
            format!(
                "no {}/images/build.sh to build the lab images (set BALEIA_LAB_BUILD)",
                labs.display()
            )
        })?;
    // A spinner while the images build (minutes the first time), on a terminal only.
    let spinner = std::io::stderr().is_terminal().then(|| {
        let names: Vec<&str> = names.iter().map(|s| s.as_str()).collect();
        let p = indicatif::ProgressBar::new_spinner()
            .with_message(format!("building the lab images: {}", names.join(", ")));
        p.enable_steady_tick(std::time::Duration::from_millis(120));
        p
    });
    let out = std::process::Command::new("bash")
        .arg(&script)
        .args(names.iter().map(|s| s.as_str()))
        .output()
        .with_context(|| format!("running {}", script.display()))?;
    if let Some(p) = spinner {
        p.finish_and_clear();
    }
    if !out.status.success() {
        bail!(
            "{} failed: {}",
            script.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(PathBuf::from)
        .collect())
}

/// The lab's stand-in Docker Hub serving the lab images `names` (built if needed), for the
/// built-in engine.
pub fn hub(home: &Home, labs: &Path, lab: &str, names: &[String]) -> Result<Hub> {
    let archives = build_archives(labs, names)?;
    Ok(Hub::start(&home.data, &home.run, lab, &archives)?)
}
