//! Container commands: run, create, start, stop, kill, restart, rm, ps, logs, wait, rename,
//! attach, container prune, and the `container …` forms.

use std::io::Write;

use anyhow::{bail, Context, Result};
use chrono::{DateTime, Utc};
use clap::{Args, Subcommand};
use serde_json::{json, Value};

use super::attach::{self, Ended};
use super::output::{created_since, ellipsis, print_list, ListFlags};
use super::Reported;
use baleia_engine::container::create::CreateOptions;
use baleia_engine::container::{Container, HostConfig};
use baleia_engine::format::units::{human_size, parse_ram};
use baleia_engine::image::parse_time;
use baleia_engine::{Engine, Error};

/// Flags shared by `run` and `create`.
#[derive(Debug, Args)]
pub struct CreateFlags {
    /// Keep STDIN open even if not attached.
    #[arg(short, long)]
    pub interactive: bool,
    /// Allocate a pseudo-TTY.
    #[arg(short, long)]
    pub tty: bool,
    /// Assign a name to the container.
    #[arg(long)]
    pub name: Option<String>,
    /// Set environment variables.
    #[arg(short, long = "env", value_name = "LIST")]
    pub env: Vec<String>,
    /// Read in a file of environment variables.
    #[arg(long = "env-file", value_name = "FILE")]
    pub env_file: Vec<String>,
    /// Working directory inside the container.
    #[arg(short, long)]
    pub workdir: Option<String>,
    /// Container host name.
    #[arg(short = 'h', long)]
    pub hostname: Option<String>,
    /// Username or UID (format: <name|uid>[:<group|gid>]).
    #[arg(short, long)]
    pub user: Option<String>,
    /// Overwrite the default ENTRYPOINT of the image.
    #[arg(long)]
    pub entrypoint: Option<String>,
    /// Run an init inside the container that forwards signals and reaps processes.
    #[arg(long)]
    pub init: bool,
    /// Memory limit.
    #[arg(short, long)]
    pub memory: Option<String>,
    /// Swap limit equal to memory plus swap: -1 to enable unlimited swap.
    #[arg(long = "memory-swap")]
    pub memory_swap: Option<String>,
    /// CPU shares (relative weight).
    #[arg(short = 'c', long = "cpu-shares")]
    pub cpu_shares: Option<i64>,
    /// Number of CPUs.
    #[arg(long)]
    pub cpus: Option<f64>,
    /// Tune container pids limit (set -1 for unlimited).
    #[arg(long = "pids-limit")]
    pub pids_limit: Option<i64>,
    /// Connect a container to a network (bridge, host, none, or a user-defined network).
    #[arg(long, visible_alias = "net", default_value = "bridge")]
    pub network: String,
    /// Add network-scoped alias for the container.
    #[arg(
        long = "network-alias",
        visible_alias = "net-alias",
        value_name = "LIST"
    )]
    pub network_alias: Vec<String>,
    /// Publish a container's port(s) to the host.
    #[arg(short, long, value_name = "LIST")]
    pub publish: Vec<String>,
    /// Publish all exposed ports to random ports.
    #[arg(short = 'P', long = "publish-all")]
    pub publish_all: bool,
    /// Expose a port or a range of ports.
    #[arg(long, value_name = "LIST")]
    pub expose: Vec<String>,
    /// Add link to another container.
    #[arg(long, value_name = "LIST")]
    pub link: Vec<String>,
    /// Set custom DNS servers.
    #[arg(long, value_name = "LIST")]
    pub dns: Vec<String>,
    /// Bind mount a volume.
    #[arg(short, long = "volume", value_name = "LIST")]
    pub volume: Vec<String>,
    /// Mount the container's root filesystem as read only.
    #[arg(long = "read-only")]
    pub read_only: bool,
    /// Give extended privileges to this container.
    #[arg(long)]
    pub privileged: bool,
    /// Automatically remove the container when it exits.
    #[arg(long)]
    pub rm: bool,
    /// Pull image before running ("always", "missing", "never").
    #[arg(long, default_value = "missing", value_parser = ["always", "missing", "never"])]
    pub pull: String,
    /// The image.
    #[arg(value_name = "IMAGE")]
    pub image: String,
    /// Command and arguments.
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "COMMAND"
    )]
    pub command: Vec<String>,
}

impl CreateFlags {
    /// Create the container, pulling its image first as `--pull` says (missing: when not here).
    fn create(&self, e: &Engine, opts: &CreateOptions) -> Result<Container> {
        if self.pull == "always" {
            super::registry::pull_for_run(e, &opts.image, false)?;
        }
        match e.create_container(opts) {
            Err(Error::NoSuchImage(_)) if self.pull == "missing" => {
                super::registry::pull_for_run(e, &opts.image, true)?;
                Ok(e.create_container(opts)?)
            }
            r => Ok(r?),
        }
    }

    /// The engine's create options for these flags (`attach`: not `-d`).
    pub fn options(&self, attach: bool) -> Result<CreateOptions> {
        let mut port_bindings = Default::default();
        for p in &self.publish {
            baleia_engine::network::ports::parse_publish(p, &mut port_bindings)
                .map_err(anyhow::Error::msg)?;
        }
        let env = environment(&self.env, &self.env_file)?;
        let ram = |s: &Option<String>| -> Result<i64> {
            Ok(match s.as_deref() {
                None => 0,
                Some("-1") => -1,
                Some(v) => {
                    parse_ram(v).map_err(|e| anyhow::anyhow!("invalid argument {v:?}: {e}"))?
                }
            })
        };
        let host = HostConfig {
            binds: self.volume.clone(),
            network_mode: self.network.clone(),
            port_bindings,
            publish_all_ports: self.publish_all,
            links: self.link.clone(),
            dns: self.dns.clone(),
            auto_remove: self.rm,
            privileged: self.privileged,
            readonly_rootfs: self.read_only,
            init: self.init.then_some(true),
            memory: ram(&self.memory)?,
            memory_swap: ram(&self.memory_swap)?,
            cpu_shares: self.cpu_shares.unwrap_or(0),
            nano_cpus: self.cpus.map(|c| (c * 1e9) as i64).unwrap_or(0),
            pids_limit: self.pids_limit,
        };
        Ok(CreateOptions {
            image: self.image.clone(),
            name: self.name.clone(),
            cmd: self.command.clone(),
            entrypoint: self.entrypoint.clone(),
            env,
            workdir: self.workdir.clone(),
            hostname: self.hostname.clone(),
            user: self.user.clone(),
            tty: self.tty,
            interactive: self.interactive,
            attach,
            host,
            network_aliases: self.network_alias.clone(),
            expose: self.expose.clone(),
            labels: Default::default(),
        })
    }
}

/// `--env-file` entries, then `-e` entries, as `KEY=value` (Docker's order: `-e` wins).
pub fn environment(env: &[String], env_files: &[String]) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for file in env_files {
        let text = std::fs::read_to_string(file).with_context(|| format!("open {file}"))?;
        out.extend(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .filter_map(expand_env),
        );
    }
    out.extend(env.iter().map(String::as_str).filter_map(expand_env));
    Ok(out)
}

/// `KEY=value` as given; a bare `KEY` takes the value from our environment (or is dropped).
fn expand_env(e: &str) -> Option<String> {
    if e.contains('=') {
        Some(e.to_string())
    } else {
        std::env::var(e).ok().map(|v| format!("{e}={v}"))
    }
}

/// Flags of `run` (`-h` is the host name, as in Docker: help is `--help` only).
#[derive(Debug, Args)]
#[command(disable_help_flag = true)]
pub struct RunArgs {
    /// Print help.
    #[arg(long, action = clap::ArgAction::Help)]
    pub help: Option<bool>,
    /// Run container in background and print container ID.
    #[arg(short, long)]
    pub detach: bool,
    #[command(flatten)]
    pub create: CreateFlags,
}

/// `run`.
pub fn run(e: &Engine, a: &RunArgs) -> Result<()> {
    let opts = a.create.options(!a.detach)?;
    let c = a.create.create(e, &opts)?;
    if a.detach {
        start_or_report(e, &c.id, None)?;
        println!("{}", c.id);
        return Ok(());
    }
    let hello = attach::hello(a.create.interactive, a.create.tty);
    let (c, stream) = start_or_report(e, &c.id, Some(&hello))?;
    finish_attached(e, &c, stream, a.create.interactive, a.create.tty)
}

fn start_or_report(
    e: &Engine,
    id: &str,
    hello: Option<&baleia_engine::container::protocol::Hello>,
) -> Result<(Container, Option<std::os::unix::net::UnixStream>)> {
    match e.start_container(id, hello) {
        Err(Error::StartFailed { code, message }) => {
            eprintln!(
                "baleia: Error: failed to start container {}: {message}",
                &id[..12]
            );
            Err(Reported(code).into())
        }
        r => Ok(r?),
    }
}

/// Pump an attachment to its end and exit with the container's code (or 0 on detach).
fn finish_attached(
    e: &Engine,
    c: &Container,
    stream: Option<std::os::unix::net::UnixStream>,
    stdin: bool,
    tty: bool,
) -> Result<()> {
    let Some(stream) = stream else { return Ok(()) };
    match attach::run(stream, stdin, tty, c.state.pid)? {
        Ended::Detached => Ok(()),
        Ended::Exited(code) => {
            let code = if code >= 0 {
                code
            } else {
                e.wait_container(&c.id).unwrap_or(125)
            };
            if code != 0 {
                return Err(Reported(code).into());
            }
            Ok(())
        }
    }
}

/// Flags of `create`.
#[derive(Debug, Args)]
#[command(disable_help_flag = true)]
pub struct CreateArgs {
    /// Print help.
    #[arg(long, action = clap::ArgAction::Help)]
    pub help: Option<bool>,
    #[command(flatten)]
    pub create: CreateFlags,
}

/// `create`: prints the new ID.
pub fn create(e: &Engine, a: &CreateArgs) -> Result<()> {
    let c = a.create.create(e, &a.create.options(true)?)?;
    println!("{}", c.id);
    Ok(())
}

/// Flags of `start`.
#[derive(Debug, Args)]
pub struct StartArgs {
    /// Attach STDOUT/STDERR and forward signals.
    #[arg(short, long)]
    pub attach: bool,
    /// Attach container's STDIN.
    #[arg(short, long)]
    pub interactive: bool,
    /// Containers.
    #[arg(required = true, value_name = "CONTAINER")]
    pub names: Vec<String>,
}

/// `start`.
pub fn start(e: &Engine, a: &StartArgs) -> Result<()> {
    if a.attach || a.interactive {
        if a.names.len() > 1 {
            bail!("you cannot start and attach multiple containers at once");
        }
        let c = e.resolve_container(&a.names[0])?;
        let hello = attach::hello(a.interactive, c.config.tty);
        let (c, stream) = start_or_report(e, &c.id, Some(&hello))?;
        return finish_attached(e, &c, stream, a.interactive, c.config.tty);
    }
    each(&a.names, |n| {
        start_or_report(e, n, None)?;
        println!("{n}");
        Ok(())
    })
}

/// Run `f` for each name; report errors Docker's way and fail at the end if any did.
fn each(names: &[String], mut f: impl FnMut(&str) -> Result<()>) -> Result<()> {
    let mut failed = None;
    for n in names {
        if let Err(err) = f(n) {
            match err.downcast_ref::<Reported>() {
                Some(r) => failed = Some(r.0),
                None => {
                    eprintln!("Error: {err:#}");
                    failed = Some(1);
                }
            }
        }
    }
    match failed {
        Some(code) => Err(Reported(code).into()),
        None => Ok(()),
    }
}

/// Flags of `stop` and `restart`.
#[derive(Debug, Args)]
pub struct StopArgs {
    /// Seconds to wait before killing the container.
    #[arg(short, long)]
    pub time: Option<u64>,
    /// Signal to send to the container.
    #[arg(short, long)]
    pub signal: Option<String>,
    /// Containers.
    #[arg(required = true, value_name = "CONTAINER")]
    pub names: Vec<String>,
}

/// `stop`.
pub fn stop(e: &Engine, a: &StopArgs) -> Result<()> {
    each(&a.names, |n| {
        e.stop_container(n, a.time, a.signal.as_deref())?;
        println!("{n}");
        Ok(())
    })
}

/// `restart`.
pub fn restart(e: &Engine, a: &StopArgs) -> Result<()> {
    each(&a.names, |n| {
        e.stop_container(n, a.time, a.signal.as_deref())?;
        start_or_report(e, n, None)?;
        println!("{n}");
        Ok(())
    })
}

/// Flags of `kill`.
#[derive(Debug, Args)]
pub struct KillArgs {
    /// Signal to send to the container.
    #[arg(short, long, default_value = "KILL")]
    pub signal: String,
    /// Containers.
    #[arg(required = true, value_name = "CONTAINER")]
    pub names: Vec<String>,
}

/// `kill`.
pub fn kill(e: &Engine, a: &KillArgs) -> Result<()> {
    each(&a.names, |n| {
        e.kill_container(n, &a.signal)?;
        println!("{n}");
        Ok(())
    })
}

/// Flags of `rm`.
#[derive(Debug, Args)]
pub struct RmArgs {
    /// Force the removal of a running container (uses SIGKILL).
    #[arg(short, long)]
    pub force: bool,
    /// Remove anonymous volumes (none exist; accepted for compatibility).
    #[arg(short, long)]
    pub volumes: bool,
    /// Containers.
    #[arg(required = true, value_name = "CONTAINER")]
    pub names: Vec<String>,
}

/// `rm`.
pub fn rm(e: &Engine, a: &RmArgs) -> Result<()> {
    each(&a.names, |n| {
        e.remove_container(n, a.force)?;
        println!("{n}");
        Ok(())
    })
}

/// Flags of `wait`.
#[derive(Debug, Args)]
pub struct WaitArgs {
    /// Containers.
    #[arg(required = true, value_name = "CONTAINER")]
    pub names: Vec<String>,
}

/// `wait`: prints each exit code.
pub fn wait(e: &Engine, a: &WaitArgs) -> Result<()> {
    each(&a.names, |n| {
        println!("{}", e.wait_container(n)?);
        Ok(())
    })
}

/// Arguments of `rename`.
#[derive(Debug, Args)]
pub struct RenameArgs {
    /// The container.
    pub container: String,
    /// Its new name.
    pub new_name: String,
}

/// `rename`.
pub fn rename(e: &Engine, a: &RenameArgs) -> Result<()> {
    Ok(e.rename_container(&a.container, &a.new_name)?)
}

/// Flags of `attach`.
#[derive(Debug, Args)]
pub struct AttachArgs {
    /// Do not attach STDIN.
    #[arg(long = "no-stdin")]
    pub no_stdin: bool,
    /// The container.
    pub name: String,
}

/// `attach`.
pub fn attach_cmd(e: &Engine, a: &AttachArgs) -> Result<()> {
    let c = e.resolve_container(&a.name)?;
    if !c.state.running {
        bail!("You cannot attach to a stopped container, start it first");
    }
    let stdin = !a.no_stdin && c.config.open_stdin;
    let stream = e.attach(&c, &attach::hello(stdin, c.config.tty))?;
    finish_attached(e, &c, Some(stream), stdin, c.config.tty)
}

/// Flags of `logs`.
#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Follow log output.
    #[arg(short, long)]
    pub follow: bool,
    /// Number of lines to show from the end of the logs ("all" for every line).
    #[arg(short = 'n', long, default_value = "all")]
    pub tail: String,
    /// Show timestamps.
    #[arg(short, long)]
    pub timestamps: bool,
    /// The container.
    pub name: String,
}

/// `logs`.
pub fn logs(e: &Engine, a: &LogsArgs) -> Result<()> {
    let c = e.resolve_container(&a.name)?;
    let tail = if a.tail == "all" {
        None
    } else {
        Some(
            a.tail
                .parse::<usize>()
                .context("--tail takes a number or \"all\"")?,
        )
    };
    let (mut out, mut err) = (std::io::stdout(), std::io::stderr());
    e.read_logs(&c, tail, a.follow, &mut |r| {
        let line = if a.timestamps {
            format!("{} {}", r.time, r.log)
        } else {
            r.log.clone()
        };
        let _ = if r.stream == "stderr" {
            err.write_all(line.as_bytes())
        } else {
            out.write_all(line.as_bytes()).and_then(|_| out.flush())
        };
    })?;
    Ok(())
}

/// Flags of `ps`.
#[derive(Debug, Args)]
pub struct PsArgs {
    /// Show all containers (default shows just running).
    #[arg(short, long)]
    pub all: bool,
    /// Show the latest created container (includes all states).
    #[arg(short, long)]
    pub latest: bool,
    /// Show n last created containers (includes all states).
    #[arg(short = 'n', long = "last")]
    pub last: Option<usize>,
    /// Filter output based on conditions provided (status=, name=, id=, ancestor=).
    #[arg(short, long = "filter")]
    pub filter: Vec<String>,
    /// Display total file sizes.
    #[arg(short, long)]
    pub size: bool,
    #[command(flatten)]
    pub list: ListFlags,
}

const PS_HEADERS: &[(&str, &str)] = &[
    ("ID", "CONTAINER ID"),
    ("Image", "IMAGE"),
    ("Command", "COMMAND"),
    ("CreatedAt", "CREATED AT"),
    ("RunningFor", "CREATED"),
    ("Ports", "PORTS"),
    ("State", "STATE"),
    ("Status", "STATUS"),
    ("Size", "SIZE"),
    ("Names", "NAMES"),
    ("Labels", "LABELS"),
    ("Mounts", "MOUNTS"),
    ("Networks", "NETWORKS"),
];

/// `ps`.
pub fn ps(e: &Engine, a: &PsArgs) -> Result<()> {
    let mut all = e.containers()?;
    all.reverse();
    let mut rows: Vec<&Container> = all
        .iter()
        .filter(|c| a.all || a.latest || a.last.is_some() || c.state.running)
        .collect();
    for f in &a.filter {
        let (k, v) = f
            .split_once('=')
            .with_context(|| format!("bad format of filter (expected name=value): {f}"))?;
        rows.retain(|c| match k {
            "status" => c.state.status == v,
            "name" => c.bare_name().contains(v),
            "id" => c.id.starts_with(v),
            "ancestor" => {
                c.config.image == v || c.image.trim_start_matches("sha256:").starts_with(v)
            }
            "exited" => {
                !c.state.running && c.state.status == "exited" && c.state.exit_code.to_string() == v
            }
            _ => true,
        });
    }
    if a.latest {
        rows.truncate(1);
    }
    if let Some(n) = a.last {
        rows.truncate(n);
    }
    let now = Utc::now();
    let values: Vec<Value> = rows
        .iter()
        .map(|c| ps_row(e, c, now, a.list.no_trunc, a.size))
        .collect();
    print_ps(&values, a)
}

/// `ps`'s table (or `-q`, `--format`) for rows with [`PS_HEADERS`]' fields.
pub fn print_ps(values: &[Value], a: &PsArgs) -> Result<()> {
    if a.list.quiet {
        return print_list(Some("{{.ID}}"), "", PS_HEADERS, values);
    }
    let default = if a.size {
        "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}\t{{.Size}}"
    } else {
        "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}"
    };
    print_list(a.list.format.as_deref(), default, PS_HEADERS, values)
}

fn ps_row(e: &Engine, c: &Container, now: DateTime<Utc>, no_trunc: bool, size: bool) -> Value {
    let command = c.command_line();
    let command = if no_trunc {
        command
    } else {
        ellipsis(&command, 20)
    };
    let created = parse_time(&c.created);
    json!({
        "ID": if no_trunc { c.id.clone() } else { c.short_id().to_string() },
        "Image": c.config.image,
        "Command": format!("\"{command}\""),
        "CreatedAt": created.map(|t| t.format("%Y-%m-%d %H:%M:%S +0000 UTC").to_string()).unwrap_or_default(),
        "RunningFor": created_since(created, now),
        "Ports": baleia_engine::network::ports::ps_column(&c.network_settings.ports),
        "State": c.state.status,
        "Status": c.status_line(now),
        "Size": if size { human_size(baleia_engine::container::lifecycle::du(&e.paths.overlay_layer(&c.id).join("diff"))) } else { String::new() },
        "Names": c.bare_name(),
        "Labels": c.config.labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(","),
        "Mounts": "",
        "Networks": c.network_settings.networks.keys().cloned().collect::<Vec<_>>().join(","),
    })
}

/// `container` subcommands.
#[derive(Debug, Subcommand)]
pub enum ContainerCommand {
    /// List containers.
    #[command(name = "ls", visible_aliases = ["list", "ps"])]
    Ls(PsArgs),
    /// Create and run a new container from an image.
    Run(RunArgs),
    /// Create a new container.
    Create(CreateArgs),
    /// Start one or more stopped containers.
    Start(StartArgs),
    /// Stop one or more running containers.
    Stop(StopArgs),
    /// Restart one or more containers.
    Restart(StopArgs),
    /// Kill one or more running containers.
    Kill(KillArgs),
    /// Remove one or more containers.
    Rm(RmArgs),
    /// Fetch the logs of a container.
    Logs(LogsArgs),
    /// Block until one or more containers stop, then print their exit codes.
    Wait(WaitArgs),
    /// Rename a container.
    Rename(RenameArgs),
    /// Attach local standard input, output, and error streams to a running container.
    Attach(AttachArgs),
    /// Remove all stopped containers.
    Prune(PruneArgs),
    /// Display detailed information on one or more containers.
    Inspect(super::images::InspectArgs),
    /// Execute a command in a running container.
    Exec(super::exec::ExecArgs),
    /// Display the running processes of a container.
    Top(super::top::TopArgs),
    /// Display a live stream of container(s) resource usage statistics.
    Stats(super::stats::StatsArgs),
    /// Create a new image from a container's changes.
    Commit(super::commit::CommitArgs),
}

/// Flags of `container prune`.
#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Do not prompt for confirmation.
    #[arg(short, long)]
    pub force: bool,
}

/// `container prune`.
pub fn prune(e: &Engine, a: &PruneArgs) -> Result<()> {
    if !a.force && !super::output::confirm("WARNING! This will remove all stopped containers.")? {
        return Ok(());
    }
    let (ids, bytes) = e.prune_containers()?;
    if !ids.is_empty() {
        println!("Deleted Containers:");
        ids.iter().for_each(|id| println!("{id}"));
        println!();
    }
    println!("Total reclaimed space: {}", human_size(bytes));
    Ok(())
}

/// Run a `container` subcommand.
pub fn container(e: &Engine, c: ContainerCommand) -> Result<()> {
    match c {
        ContainerCommand::Ls(a) => ps(e, &a),
        ContainerCommand::Run(a) => run(e, &a),
        ContainerCommand::Create(a) => create(e, &a),
        ContainerCommand::Start(a) => start(e, &a),
        ContainerCommand::Stop(a) => stop(e, &a),
        ContainerCommand::Restart(a) => restart(e, &a),
        ContainerCommand::Kill(a) => kill(e, &a),
        ContainerCommand::Rm(a) => rm(e, &a),
        ContainerCommand::Logs(a) => logs(e, &a),
        ContainerCommand::Wait(a) => wait(e, &a),
        ContainerCommand::Rename(a) => rename(e, &a),
        ContainerCommand::Attach(a) => attach_cmd(e, &a),
        ContainerCommand::Prune(a) => prune(e, &a),
        ContainerCommand::Inspect(mut a) => {
            // `container inspect` looks at containers only (an image of that name is no answer).
            a.kind = Some("container".into());
            super::images::inspect(e, &a)
        }
        ContainerCommand::Exec(a) => super::exec::exec(e, &a),
        ContainerCommand::Top(a) => super::top::top(e, &a),
        ContainerCommand::Stats(a) => super::stats::stats(e, &a),
        ContainerCommand::Commit(a) => super::commit::commit(e, &a),
    }
}
