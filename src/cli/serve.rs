//! `runner serve`: the run `recommend` would answer from, behind HTTP ([`crate::service`]).

use super::{ask, RunChoice};
use crate::pipeline::serve::Served;
use crate::pipeline::stages::Executor;
use crate::service::{self, Options};
use clap::Args;

#[derive(Args, Debug)]
pub struct ServeArgs {
    #[command(flatten)]
    pub run: RunChoice,
    /// Address to listen on (port 0: any free port; the chosen one is printed).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub addr: String,
    /// Requests answered at once; more get 503 with Retry-After.
    #[arg(long, default_value_t = 256)]
    pub max_in_flight: usize,
    /// Largest request body in bytes; larger get 413.
    #[arg(long, default_value_t = 1 << 20)]
    pub max_body: usize,
    /// Do not reload when the config file or the served cache entries change (SIGHUP still
    /// reloads).
    #[arg(long)]
    pub no_watch: bool,
}

/// Chooses the run and loads it from the cache: Err(exit code) after printing why.
fn load(choice: &RunChoice) -> Result<Served, i32> {
    let (plan, ri) = ask::choose(choice)?;
    Executor::new(&plan, false, false).serve(0, ri).map_err(|e| {
        eprintln!("error: {e:#}");
        1
    })
}

pub(super) fn serve(args: ServeArgs) -> i32 {
    let first = match load(&args.run) {
        Ok(s) => s,
        Err(code) => return code,
    };
    eprintln!("serving {}", first.label);
    let choice = args.run.clone();
    let loader: service::Loader =
        Box::new(move || load(&choice).map_err(|code| anyhow::anyhow!("loading the run failed (exit code {code}; the reason is above)")));
    let opts =
        Options { addr: args.addr, max_in_flight: args.max_in_flight, max_body: args.max_body, config: (!args.no_watch).then(|| args.run.config.clone()) };
    match service::serve(first, loader, opts) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: {e:#}");
            1
        }
    }
}
