//! `[executor]`: where stages run. `local` (the default) runs them in this process; `slurm`
//! submits each uncached stage as a cluster job (`pipeline::slurm`). Nothing here changes a
//! stage's key, so local and Slurm runs share one cache.

use crate::ensure_param;
use crate::params::{ParamError, Validate};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum ExecutorKind {
    #[default]
    Local,
    Slurm,
}

/// A wall-time limit for every stage, or one per stage kind (`data`, `split`, `corpus`,
/// `train`, `index`, `eval`, and `default` for the kinds not named).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum TimeLimit {
    All(String),
    PerStage(BTreeMap<String, String>),
}

/// The stage kinds a per-stage setting may name.
pub const STAGE_KINDS: &[&str] = &["data", "split", "corpus", "train", "index", "eval", "default"];

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct ExecutorSection {
    pub kind: ExecutorKind,
    /// `sbatch --partition`.
    pub partition: Option<String>,
    /// `sbatch --account`.
    pub account: Option<String>,
    /// `sbatch --time`, in Slurm's formats (`30`, `10:00`, `2:00:00`, `1-12`, `1-12:00:00`).
    pub time: Option<TimeLimit>,
    /// `sbatch --cpus-per-task` (the stage's threads come from the model's `threads`).
    pub cpus_per_task: Option<u32>,
    /// `sbatch --mem`, e.g. `4G`.
    pub mem: Option<String>,
    /// At most this many tasks of one job array run at once (`--array=...%max_jobs`).
    pub max_jobs: Option<u32>,
    /// Further `sbatch` arguments, each one word, e.g. `["--qos=short", "--constraint=avx2"]`.
    pub sbatch_args: Vec<String>,
}

impl ExecutorSection {
    /// The time limit for a stage kind, if any.
    pub fn time_for(&self, stage: &str) -> Option<&str> {
        match &self.time {
            None => None,
            Some(TimeLimit::All(t)) => Some(t),
            Some(TimeLimit::PerStage(m)) => m.get(stage).or_else(|| m.get("default")).map(String::as_str),
        }
    }
}

/// Whether `t` is one of the time formats `sbatch --time` accepts.
pub fn is_slurm_time(t: &str) -> bool {
    let digits = |s: &str| !s.is_empty() && s.len() <= 6 && s.chars().all(|c| c.is_ascii_digit());
    let (days, rest) = match t.split_once('-') {
        Some((d, r)) => (Some(d), r),
        None => (None, t),
    };
    if days.is_some_and(|d| !digits(d)) {
        return false;
    }
    let parts: Vec<&str> = rest.split(':').collect();
    match (days.is_some(), parts.len()) {
        (_, n) if n > 3 => false,
        // minutes | minutes:seconds | hours:minutes:seconds
        (false, _) => parts.iter().all(|p| digits(p)),
        // days-hours | days-hours:minutes | days-hours:minutes:seconds
        (true, _) => parts.iter().all(|p| digits(p)),
    }
}

impl Validate for ExecutorSection {
    fn validate(&self) -> Result<(), ParamError> {
        match &self.time {
            Some(TimeLimit::All(t)) => ensure_param!(is_slurm_time(t), "time", "`{t}` is not a Slurm time limit (e.g. `30`, `2:00:00`, `1-12:00:00`)"),
            Some(TimeLimit::PerStage(m)) => {
                for (k, t) in m {
                    if !STAGE_KINDS.contains(&k.as_str()) {
                        let hint = crate::params::nearest(k, STAGE_KINDS.iter().copied()).map(|n| format!(" (did you mean `{n}`?)")).unwrap_or_default();
                        return Err(ParamError::new(format!("time.{k}"), format!("`{k}` is not a stage kind{hint}; use one of {}", STAGE_KINDS.join(", "))));
                    }
                    ensure_param!(is_slurm_time(t), format!("time.{k}"), "`{t}` is not a Slurm time limit (e.g. `30`, `2:00:00`, `1-12:00:00`)");
                }
            }
            None => {}
        }
        if let Some(m) = &self.mem {
            let num = m.trim_end_matches(['K', 'M', 'G', 'T', 'k', 'm', 'g', 't']);
            ensure_param!(
                !num.is_empty() && num.chars().all(|c| c.is_ascii_digit()) && num.len() + 1 >= m.len(),
                "mem",
                "`{m}` is not a memory size (e.g. `4000M`, `4G`)"
            );
        }
        ensure_param!(self.cpus_per_task != Some(0), "cpus_per_task", "must be at least 1");
        ensure_param!(self.max_jobs != Some(0), "max_jobs", "must be at least 1");
        for (i, a) in self.sbatch_args.iter().enumerate() {
            ensure_param!(
                a.starts_with('-') && !a.contains(char::is_whitespace),
                format!("sbatch_args.{i}"),
                "`{a}` is not one sbatch option (write `--qos=short`, one option per string)"
            );
        }
        for (k, v) in [("partition", &self.partition), ("account", &self.account)] {
            if let Some(v) = v {
                ensure_param!(!v.is_empty() && !v.contains(char::is_whitespace), k, "`{v}` is not a Slurm {k} name");
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slurm_time_formats() {
        for ok in ["30", "30:00", "2:00:00", "1-12", "1-12:30", "1-12:30:00", "0"] {
            assert!(is_slurm_time(ok), "{ok}");
        }
        for bad in ["", "1h", "2:00:00:00", "-1", "1-", "a-1", "1:xx", "1 2"] {
            assert!(!is_slurm_time(bad), "{bad}");
        }
    }

    #[test]
    fn per_stage_times_and_bad_values() {
        let v = serde_json::json!({"kind": "slurm", "time": {"train": "2:00:00", "default": "10"}, "mem": "4G"});
        let e: ExecutorSection = crate::params::parse(&v).unwrap();
        assert_eq!(e.time_for("train"), Some("2:00:00"));
        assert_eq!(e.time_for("eval"), Some("10"));
        let bad = |v: serde_json::Value| crate::params::parse::<ExecutorSection>(&v).unwrap_err();
        let e = bad(serde_json::json!({"time": {"trian": "10"}}));
        assert!(e.path == "time.trian" && e.message.contains("did you mean `train`"), "{e}");
        assert_eq!(bad(serde_json::json!({"mem": "lots"})).path, "mem");
        assert_eq!(bad(serde_json::json!({"sbatch_args": ["--qos short"]})).path, "sbatch_args.0");
        assert_eq!(bad(serde_json::json!({"max_jobs": 0})).path, "max_jobs");
        assert!(bad(serde_json::json!({"kind": "pbs"})).message.contains("unknown variant"));
    }
}
