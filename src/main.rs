//! The `kawal` command line. Start-up and errors use anyhow; the library
//! stages below have their own typed errors.

use std::io;

use anyhow::Result;
use clap::{Parser, Subcommand};

mod cmd;

#[derive(Parser)]
#[command(
    name = "kawal",
    version,
    about = "Streaming detector of account takeovers for institutional social media accounts"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Replay events (NDJSON in event-time order, kawal's own or a vendor's
    /// log with --format) and write alerts as NDJSON.
    Replay(cmd::replay::Args),
    /// Generate realistic activity with labelled takeovers.
    Simulate(cmd::simulate::Args),
    /// Score alerts against a simulation's truth.
    Evaluate(cmd::evaluate::Args),
    /// Read alerts as an analyst does: one block per incident, in time
    /// order, escalations folded in (from a file, standard input or the
    /// alerts topic).
    Alerts(cmd::alerts::Args),
    /// Join the consumer group and detect takeovers in the configured
    /// topics, delivering alerts at least once (stop with Ctrl-C/SIGTERM).
    Run(cmd::run::Args),
    /// Load an events file (kawal's own, or a vendor's log with --format)
    /// into a topic, keyed by account.
    Produce(cmd::produce::Args),
    /// Simulate activity, run it through an embedded Kafka and the full
    /// pipeline, print alerts as they fire, and evaluate them.
    Demo(cmd::demo::Args),
    /// Print a completion script for a shell (bash, zsh, fish, elvish,
    /// powershell): `kawal completions bash > /etc/bash_completion.d/kawal`.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff): `kawal man > kawal.1 && man ./kawal.1`.
    Man,
}

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // Output piped into `head` and the like: the reader is done.
            if let Some(io) = e.downcast_ref::<io::Error>()
                && io.kind() == io::ErrorKind::BrokenPipe
            {
                return std::process::ExitCode::SUCCESS;
            }
            eprintln!("kawal: {e:#}");
            // An interrupted run is the user's choice, not bad input.
            if let Some(kawal::demo::DemoError::Interrupted) = e.downcast_ref() {
                return std::process::ExitCode::from(130);
            }
            std::process::ExitCode::from(2)
        }
    }
}

fn run() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Completions { shell } => {
            use clap::CommandFactory;
            clap_complete::generate(shell, &mut Cli::command(), "kawal", &mut io::stdout());
        }
        Command::Man => {
            use clap::CommandFactory;
            clap_mangen::Man::new(Cli::command()).render(&mut io::stdout())?;
        }
        Command::Replay(args) => cmd::replay::main(args)?,
        Command::Simulate(args) => cmd::simulate::main(args)?,
        Command::Evaluate(args) => cmd::evaluate::main(args)?,
        Command::Alerts(args) => cmd::alerts::main(args)?,
        Command::Run(args) => cmd::run::main(args)?,
        Command::Produce(args) => cmd::produce::main(args)?,
        Command::Demo(args) => cmd::demo::main(args)?,
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn every_command_and_option_has_help() {
        let cli = Cli::command();
        cli.clone().debug_assert();
        let mut missing = Vec::new();
        for cmd in cli.get_subcommands() {
            if cmd.get_about().is_none() {
                missing.push(format!("kawal {}", cmd.get_name()));
            }
            for arg in cmd.get_arguments() {
                let id = arg.get_id().as_str();
                if id != "help" && id != "version" && arg.get_help().is_none() {
                    missing.push(format!("kawal {} {id}", cmd.get_name()));
                }
            }
        }
        assert!(missing.is_empty(), "no help: {missing:?}");
    }
}
