//! The `baleia` command line: docker's subcommands, flags, columns and wording, on the engine library.

mod attach;
mod commit;
mod containers;
mod daemon;
mod exec;
mod images;
mod networks;
mod output;
mod registry;
mod remote;
mod stats;
mod system;
mod top;

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
    /// Daemon to talk to (unix:///path, tcp://HOST:PORT or HOST:PORT); without it (and
    /// without DOCKER_HOST) baleia runs daemonless on this host.
    #[arg(
        short = 'H',
        long = "host",
        env = "DOCKER_HOST",
        value_name = "ADDRESS",
        hide_env_values = true
    )]
    pub host: Option<String>,
    /// Print version information and quit.
    #[arg(short = 'v', long = "version")]
    pub version: bool,
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Every subcommand.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create and run a new container from an image.
    Run(containers::RunArgs),
    /// Create a new container.
    Create(containers::CreateArgs),
    /// Start one or more stopped containers.
    Start(containers::StartArgs),
    /// Stop one or more running containers.
    Stop(containers::StopArgs),
    /// Restart one or more containers.
    Restart(containers::StopArgs),
    /// Kill one or more running containers.
    Kill(containers::KillArgs),
    /// Remove one or more containers.
    Rm(containers::RmArgs),
    /// List containers.
    Ps(containers::PsArgs),
    /// Fetch the logs of a container.
    Logs(containers::LogsArgs),
    /// Block until one or more containers stop, then print their exit codes.
    Wait(containers::WaitArgs),
    /// Rename a container.
    Rename(containers::RenameArgs),
    /// Attach local standard input, output, and error streams to a running container.
    Attach(containers::AttachArgs),
    /// Execute a command in a running container.
    Exec(exec::ExecArgs),
    /// Display the running processes of a container.
    Top(top::TopArgs),
    /// Display a live stream of container(s) resource usage statistics.
    Stats(stats::StatsArgs),
    /// Create a new image from a container's changes.
    Commit(commit::CommitArgs),
    /// Manage containers.
    #[command(subcommand)]
    Container(containers::ContainerCommand),
    /// List images.
    Images(images::ImagesArgs),
    /// Manage images.
    #[command(subcommand)]
    Image(images::ImageCommand),
    /// Download an image from a registry.
    Pull(registry::PullArgs),
    /// Upload an image to a registry.
    Push(registry::PushArgs),
    /// Authenticate to a registry.
    Login(registry::LoginArgs),
    /// Log out from a registry.
    Logout(registry::LogoutArgs),
    /// Search Docker Hub (or a registry's catalog) for images.
    Search(registry::SearchArgs),
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
    /// Manage networks.
    #[command(subcommand)]
    Network(networks::NetworkCommand),
    /// List port mappings or a specific mapping for the container.
    Port(networks::PortArgs),
    /// Manage baleia.
    #[command(subcommand)]
    System(system::SystemCommand),
    /// Serve the Docker Engine API (for the docker CLI) on a unix socket or loopback TCP.
    Daemon(daemon::DaemonArgs),
    /// A container's monitor (started by `start`; not for people).
    #[command(name = "__monitor", hide = true)]
    Monitor {
        /// The container.
        id: String,
        /// Wait for the starting client to attach before PID 1 starts.
        #[arg(long)]
        attach: bool,
    },
    /// An exec started by the daemon (its helper process; not for people).
    #[command(name = "__exec", hide = true)]
    ExecHelper {
        /// The container.
        id: String,
    },
}

impl Cli {
    /// Whether the command only prints (listings, inspect, logs): no socket of its own to keep.
    pub fn prints_only(&self) -> bool {
        use images::ImageCommand as I;
        matches!(
            self.command,
            Some(
                Command::Ps(_)
                    | Command::Images(_)
                    | Command::Inspect(_)
                    | Command::Logs(_)
                    | Command::History(_)
                    | Command::Top(_)
                    | Command::Info(_)
                    | Command::Version(_)
                    | Command::Search(_)
                    | Command::Port(_)
                    | Command::Network(_)
                    | Command::Image(I::Ls(_) | I::Inspect(_) | I::History(_))
                    | Command::Container(containers::ContainerCommand::Ls(_))
            )
        ) && self.host.is_none()
    }
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
    // `daemon`, a container's monitor, an exec helper and `system teardown` are this host's: a
    // DOCKER_HOST in their environment must not turn them into clients.
    let local_only = matches!(
        command,
        Command::Daemon(_)
            | Command::Monitor { .. }
            | Command::ExecHelper { .. }
            | Command::System(system::SystemCommand::Teardown)
    );
    if let Some(host) = cli.host.as_deref().filter(|h| !h.is_empty() && !local_only) {
        return remote::run(host, command);
    }
    let engine = || Engine::open(&cli.root);
    match command {
        Command::Run(a) => containers::run(&engine()?, &a),
        Command::Create(a) => containers::create(&engine()?, &a),
        Command::Start(a) => containers::start(&engine()?, &a),
        Command::Stop(a) => containers::stop(&engine()?, &a),
        Command::Restart(a) => containers::restart(&engine()?, &a),
        Command::Kill(a) => containers::kill(&engine()?, &a),
        Command::Rm(a) => containers::rm(&engine()?, &a),
        Command::Ps(a) => containers::ps(&engine()?, &a),
        Command::Logs(a) => containers::logs(&engine()?, &a),
        Command::Wait(a) => containers::wait(&engine()?, &a),
        Command::Rename(a) => containers::rename(&engine()?, &a),
        Command::Attach(a) => containers::attach_cmd(&engine()?, &a),
        Command::Exec(a) => exec::exec(&engine()?, &a),
        Command::Top(a) => top::top(&engine()?, &a),
        Command::Stats(a) => stats::stats(&engine()?, &a),
        Command::Commit(a) => commit::commit(&engine()?, &a),
        Command::Container(c) => containers::container(&engine()?, c),
        Command::Monitor { id, attach } => Ok(baleia_engine::container::monitor_main(
            &engine()?,
            &id,
            attach,
        )?),
        Command::ExecHelper { id } => {
            match baleia_engine::daemon::exec_helper_main(&engine()?, &id)? {
                0 => Ok(()),
                code => Err(Reported(code).into()),
            }
        }
        Command::Images(a) => images::images(&engine()?, &a),
        Command::Image(c) => images::image(engine, c),
        Command::Pull(a) => registry::pull(&engine()?, &a),
        Command::Push(a) => registry::push(&engine()?, &a),
        Command::Login(a) => registry::login(&engine()?, &a),
        Command::Logout(a) => registry::logout(&engine()?, &a),
        Command::Search(a) => registry::search(&engine()?, &a),
        Command::Import(a) => images::import(&engine()?, &a),
        Command::Load(a) => images::load(&engine()?, &a),
        Command::Save(a) => images::save(&engine()?, &a),
        Command::Tag(a) => images::tag(&engine()?, &a),
        Command::Rmi(a) => images::rmi(&engine()?, &a),
        Command::History(a) => images::history(&engine()?, &a),
        Command::Inspect(a) => images::inspect(&engine()?, &a),
        Command::Info(a) => system::info(&engine()?, &a),
        Command::Version(a) => system::version(&cli.root, &a),
        Command::Network(c) => networks::network(&engine()?, c),
        Command::Port(a) => networks::port(&engine()?, &a),
        Command::System(system::SystemCommand::Info(a)) => system::info(&engine()?, &a),
        Command::System(system::SystemCommand::Teardown) => Ok(engine()?.teardown()?),
        Command::Daemon(a) => daemon::daemon(engine()?, &a),
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
