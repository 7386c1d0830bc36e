//! The `rocketmq-cli` binary: parses the command line, starts the chosen runtime, runs the
//! command and exits with the documented code (see `rocketmq_rs_cli::error`).

use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use rocketmq_rs_cli::{error, run, Cli, CliError, RuntimeChoice};
use rocketmq_rs_remoting::rt::{AsyncStdRuntime, Runtime, SmolRuntime, TokioRuntime};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.runtime {
        RuntimeChoice::Tokio => match tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
        {
            Ok(tokio) => tokio.block_on(async {
                let rt: Arc<dyn Runtime> =
                    Arc::new(TokioRuntime::from_handle(tokio::runtime::Handle::current()));
                run(cli, rt).await
            }),
            Err(e) => Err(CliError::Failed(format!("cannot start tokio: {e}"))),
        },
        RuntimeChoice::AsyncStd => {
            async_std::task::block_on(run(cli, Arc::new(AsyncStdRuntime::new())))
        }
        RuntimeChoice::Smol => smol::block_on(run(cli, Arc::new(SmolRuntime::new()))),
    };
    match result {
        Ok(()) => ExitCode::from(error::EXIT_OK as u8),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code() as u8)
        }
    }
}
