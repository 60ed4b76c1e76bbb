//! `info` and `version`.

use std::path::Path;

use anyhow::Result;
use clap::{Args, Subcommand};
use serde_json::{json, Value};

use super::output::render_object;
use baleia_engine::format::units::bytes_size;
use baleia_engine::Engine;

use baleia_engine::daemon::API_VERSION;

/// `system` subcommands.
#[derive(Debug, Subcommand)]
pub enum SystemCommand {
    /// Display system-wide information.
    Info(InfoArgs),
    /// Give the host back: stop every container, remove this root's bridges and iptables rules
    /// (images, containers and networks are kept and set up again when next used).
    Teardown,
}

/// Flags of `info`.
#[derive(Debug, Args)]
pub struct InfoArgs {
    /// Format output using a custom template.
    #[arg(short, long)]
    pub format: Option<String>,
}

/// Flags of `version`.
#[derive(Debug, Args)]
pub struct VersionArgs {
    /// Format output using a custom template.
    #[arg(short, long)]
    pub format: Option<String>,
}

/// `baleia -v`: one line, as `docker -v` prints it.
pub fn short_version() -> String {
    format!(
        "Baleia version {}, build {}",
        env!("CARGO_PKG_VERSION"),
        env!("BALEIA_GIT_COMMIT")
    )
}

fn os_arch() -> String {
    format!("linux/{}", baleia_engine::archive::import::go_arch())
}

/// `info`.
pub fn info(e: &Engine, a: &InfoArgs) -> Result<()> {
    let v = e.info()?;
    let server = format!("{} (baleia, daemonless)", env!("CARGO_PKG_VERSION"));
    print_info(&v, &server, Some(&e.config.bridge), a)
}

/// `info`'s text (or `--format`) for `/info`'s facts `v`.
pub fn print_info(
    v: &Value,
    server_version: &str,
    bridge: Option<&str>,
    a: &InfoArgs,
) -> Result<()> {
    let facts = v;
    let count = |k: &str| v.get(k).and_then(Value::as_u64).unwrap_or(0);
    let (running, paused, stopped) = (
        count("ContainersRunning"),
        count("ContainersPaused"),
        count("ContainersStopped"),
    );
    let containers = count("Containers");
    let images = count("Images");
    let root = v["DockerRootDir"].as_str().unwrap_or_default();
    let get = |k: &str| facts.get(k).cloned().unwrap_or(Value::Null);
    let text = |k: &str| match facts.get(k) {
        Some(Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
        None => String::new(),
    };
    if let Some(f) = &a.format {
        print!("{}", render_object(f, v)?);
        return Ok(());
    }
    let mem = get("MemTotal").as_u64().map(bytes_size).unwrap_or_default();
    let mut out = String::new();
    out += &format!(
        "Client:\n Version:    {}\n Context:    default\n Debug Mode: false\n\n",
        env!("CARGO_PKG_VERSION")
    );
    out += "Server:\n";
    out += &format!(
        " Containers: {containers}\n  Running: {running}\n  Paused: {paused}\n  Stopped: {stopped}\n"
    );
    out += &format!(" Images: {images}\n");
    out += &format!(" Server Version: {server_version}\n");
    out += &format!(" Storage Driver: {}\n  Root Dir: {root}/overlay2\n  Backing Filesystem: {}\n  Supports d_type: true\n", text("Driver"), text("BackingFilesystem"));
    out += &format!(" Logging Driver: {}\n", text("LoggingDriver"));
    out += &format!(
        " Cgroup Driver: {}\n Cgroup Version: {}\n",
        text("CgroupDriver"),
        text("CgroupVersion")
    );
    out += " Plugins:\n  Volume: local\n  Network: bridge host null\n  Log: json-file\n";
    if let Some(b) = bridge {
        out += &format!(" Default Bridge: {b}\n");
    }
    out += &format!(
        " Kernel Version: {}\n Operating System: {}\n OSType: linux\n",
        text("KernelVersion"),
        text("OperatingSystem")
    );
    out += &format!(
        " Architecture: {}\n CPUs: {}\n Total Memory: {mem}\n",
        text("Architecture"),
        text("NCPU")
    );
    out += &format!(
        " Name: {}\n ID: {}\n Baleia Root Dir: {root}\n Debug Mode: false\n",
        text("Name"),
        v["ID"].as_str().unwrap_or("")
    );
    if get("SwapLimit") == Value::Bool(false) {
        out += "WARNING: No swap limit support\n";
    }
    print!("{out}");
    Ok(())
}

/// `version`: the client part always; the engine part needs the store (and so root).
pub fn version(root: &Path, a: &VersionArgs) -> Result<()> {
    let engine = Engine::open(root);
    let server = engine.as_ref().ok().map(|e| {
        json!({
            "Platform": {"Name": "Baleia Engine (in-process, daemonless)"},
            "Version": env!("CARGO_PKG_VERSION"), "ApiVersion": API_VERSION, "GoVersion": env!("BALEIA_RUSTC_VERSION"),
            "GitCommit": env!("BALEIA_GIT_COMMIT"), "Os": "linux", "Arch": baleia_engine::archive::import::go_arch(),
            "KernelVersion": nix::sys::utsname::uname().map(|u| u.release().to_string_lossy().into_owned()).unwrap_or_default(),
            "RootDir": e.paths.root(),
        })
    });
    print_version(server.as_ref(), a)?;
    engine?;
    Ok(())
}

/// `version`'s text (or `--format`): this client, and the server's `/version` facts if known.
pub fn print_version(server: Option<&Value>, a: &VersionArgs) -> Result<()> {
    let client = json!({
        "Version": env!("CARGO_PKG_VERSION"), "ApiVersion": API_VERSION, "RustVersion": env!("BALEIA_RUSTC_VERSION"),
        "GitCommit": env!("BALEIA_GIT_COMMIT"), "Os": "linux", "Arch": baleia_engine::archive::import::go_arch(), "Context": "default",
    });
    if let Some(f) = &a.format {
        let server = server.map(|s| {
            let mut s = s.clone();
            s["APIVersion"] = s["ApiVersion"].clone();
            s
        });
        print!(
            "{}",
            render_object(f, &json!({ "Client": client, "Server": server }))?
        );
        return Ok(());
    }
    let mut out = format!(
        "Client:\n Version:           {}\n API version:       {API_VERSION}\n Rust version:      {}\n Git commit:        {}\n OS/Arch:           {}\n Context:           default\n",
        env!("CARGO_PKG_VERSION"),
        env!("BALEIA_RUSTC_VERSION"),
        env!("BALEIA_GIT_COMMIT"),
        os_arch()
    );
    if let Some(s) = server {
        let t = |k: &str| s[k].as_str().unwrap_or_default().to_string();
        out += &format!(
            "\nServer: {}\n Engine:\n  Version:          {}\n  API version:      {}\n  Rust version:     {}\n  Git commit:       {}\n  OS/Arch:          {}/{}\n  Kernel Version:   {}\n",
            s["Platform"]["Name"].as_str().unwrap_or("Baleia Engine"),
            t("Version"),
            t("ApiVersion"),
            t("GoVersion"),
            t("GitCommit"),
            t("Os"),
            t("Arch"),
            t("KernelVersion"),
        );
        if let Some(r) = s["RootDir"].as_str() {
            out += &format!("  Root Dir:         {r}\n");
        }
    }
    print!("{out}");
    Ok(())
}
