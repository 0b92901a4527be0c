//! `runner data list | fetch`: the published datasets and the data folder.

use super::{exit_on_interrupt, DataCommand, DataDirArg};
use std::path::PathBuf;

/// The data folder: `--data-dir`, else the `--config`'s (as a run resolves it), else
/// RUNNER_DATA_DIR, else ./data. A config that does not load is an error (exit 2).
fn data_dir(arg: &DataDirArg) -> Result<PathBuf, i32> {
    if let Some(c) = &arg.config {
        return crate::config::load(c, &[]).map(|e| e.data_dir).map_err(|e| {
            eprintln!("error: {e}");
            2
        });
    }
    Ok(arg.data_dir.clone().or_else(|| std::env::var_os("RUNNER_DATA_DIR").map(PathBuf::from)).unwrap_or_else(|| PathBuf::from("data")))
}

/// The narrowest name column of `runner data list`.
const CATALOGUE_WIDTH: usize = 16;

/// `runner data list | fetch`: exit 0 when every name is there, 1 when a fetch failed, 2 for
/// an unknown name.
pub(super) fn data(cmd: DataCommand) -> i32 {
    use crate::data::{fetch, fetch_amazon};
    match cmd {
        DataCommand::List(dir) => {
            let root = match data_dir(&dir) {
                Ok(r) => r,
                Err(code) => return code,
            };
            let here = |name: &str| if root.join(name).exists() { "present" } else { "-" };
            let amazon: Vec<(String, &str)> = fetch_amazon::CATEGORIES.iter().map(|c| (fetch_amazon::fetch_name(c.name), c.ratings)).collect();
            let w = CATALOGUE_WIDTH.max(amazon.iter().map(|(n, _)| n.len()).max().unwrap_or(0));
            for p in fetch::CATALOGUE {
                crate::say!("{:<w$} {:>7}  {:<8} {}", p.name, p.size, here(p.name), p.about);
            }
            // The release publishes no download sizes; the ratings say how large each is.
            for (name, ratings) in &amazon {
                let category = name.trim_start_matches("amazon-");
                crate::say!("{name:<w$} {:>7}  {:<8} Amazon Reviews 2023, {category}: {ratings} ratings, item metadata", "-", here(name));
            }
            crate::say!("data folder: {}", root.display());
            0
        }
        DataCommand::Fetch(args) => {
            if let Some(e) = args.names.iter().find_map(|n| fetch::check(n).err()) {
                eprintln!("error: {e}");
                return 2;
            }
            let root = match data_dir(&args.dir) {
                Ok(r) => r,
                Err(code) => return code,
            };
            exit_on_interrupt(|_| "the partial download is kept under .fetch/; run the same command again to resume".into());
            let mut code = 0;
            for name in &args.names {
                let dest = root.join(name);
                let bar = fetch::Bar::new(!args.quiet);
                let mirror = args.mirror.clone().unwrap_or_else(|| fetch::default_mirror(name));
                match fetch::fetch(name, &dest, &mirror, &bar) {
                    Ok(fetch::Fetched::Present(p)) => crate::say!("{name}: already in {}", p.display()),
                    Ok(fetch::Fetched::Unpacked(p)) => crate::say!("{name}: downloaded, verified and unpacked into {}", p.display()),
                    Ok(fetch::Fetched::Downloaded(p)) => crate::say!("{name}: downloaded and verified into {}", p.display()),
                    Err(e) => {
                        eprintln!("error: {name}: {e:#}");
                        code = 1;
                    }
                }
            }
            code
        }
    }
}
