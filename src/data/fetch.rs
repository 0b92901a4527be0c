//! Published datasets downloaded for the user: `runner data fetch ml-100k` and
//! `kind = "movielens", fetch = true`.
//!
//! GroupLens publishes each archive with an `.md5` file beside it. A fetch downloads the
//! archive into `<data>/.fetch/<file>.part`, resuming a partial file with an HTTP `Range`
//! request, checks the published MD5, unpacks into `<data>/.fetch/<name>.unpack/` and renames
//! the unpacked folder to `<data>/<name>` in one step. So the dataset folder either does not
//! exist or is complete: a dropped connection leaves only the `.part` file (the next fetch
//! resumes it), a wrong checksum or a broken archive leaves nothing. One fetch of a name runs
//! at a time (a lock file under `.fetch/`); a second process waits and then finds it done.
//!
//! Nothing is downloaded unless asked: offline use stays the default.
//!
//! Amazon Reviews 2023 categories (`amazon-<Category>`) are fetched by
//! [`super::fetch_amazon`] through the same lock, download and resume.

use crate::interrupt;
use crate::params::nearest;
use anyhow::{anyhow, bail, Context, Result};
use md5::{Digest, Md5};
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where the archives are published; `--mirror` or `RUNNER_FETCH_MIRROR` replace it.
pub const GROUPLENS: &str = "https://files.grouplens.org/datasets/movielens/";

/// One published dataset.
#[derive(Debug)]
pub struct Published {
    /// The name users type, and the folder it unpacks to under the data folder.
    pub name: &'static str,
    /// The archive's file name at the mirror.
    pub file: &'static str,
    /// Approximate download size, for the listing.
    pub size: &'static str,
    /// Most bytes the archive may unpack to: about twice the published archive's contents,
    /// so a zip bomb from a bad mirror (whose MD5 comes from the same mirror, so it protects
    /// nothing) cannot fill the disk.
    pub max_unpacked: u64,
    pub about: &'static str,
}

pub static CATALOGUE: &[Published] = &[
    Published {
        name: "ml-100k",
        file: "ml-100k.zip",
        size: "5 MB",
        max_unpacked: 64 << 20,
        about: "MovieLens 100K: 943 users, 1,682 movies, 100,000 ratings, user and item features",
    },
    Published { name: "ml-1m", file: "ml-1m.zip", size: "6 MB", max_unpacked: 128 << 20, about: "MovieLens 1M: 6,040 users, 3,706 movies, 1,000,209 ratings" },
    Published {
        name: "ml-10m",
        file: "ml-10m.zip",
        size: "63 MB",
        max_unpacked: 1 << 30,
        about: "MovieLens 10M: 69,878 users, 10,677 movies, 10,000,054 ratings",
    },
    Published {
        name: "ml-20m",
        file: "ml-20m.zip",
        size: "190 MB",
        max_unpacked: 2 << 30,
        about: "MovieLens 20M: 138,493 users, 26,744 movies, 20,000,263 ratings",
    },
    Published {
        name: "ml-25m",
        file: "ml-25m.zip",
        size: "250 MB",
        max_unpacked: 3 << 30,
        about: "MovieLens 25M: 162,541 users, 59,047 movies, 25,000,095 ratings",
    },
    Published {
        name: "ml-32m",
        file: "ml-32m.zip",
        size: "240 MB",
        max_unpacked: 3 << 30,
        about: "MovieLens 32M: 200,948 users, 87,585 movies, 32,000,204 ratings",
    },
    Published {
        name: "ml-latest-small",
        file: "ml-latest-small.zip",
        size: "1 MB",
        max_unpacked: 32 << 20,
        about: "MovieLens latest, small: 610 users, 9,742 movies, 100,836 ratings (changes over time)",
    },
];

/// A MovieLens dataset of the catalogue (what `kind = "movielens", fetch = true` may name).
pub fn lookup(name: &str) -> Result<&'static Published> {
    CATALOGUE.iter().find(|p| p.name == name).ok_or_else(|| {
        let names: Vec<&str> = CATALOGUE.iter().map(|p| p.name).collect();
        let hint = nearest(name, names.iter().copied()).map(|n| format!(" (did you mean `{n}`?)")).unwrap_or_default();
        anyhow!("`{name}` is not a dataset the runner can fetch{hint}; it knows {}", names.join(", "))
    })
}

/// Whether `runner data fetch` knows `name`: a MovieLens dataset or `amazon-<Category>`.
pub fn check(name: &str) -> Result<()> {
    if let Some(category) = name.strip_prefix("amazon-") {
        return super::fetch_amazon::lookup_category(category).map(|_| ());
    }
    lookup(name).map(|_| ()).map_err(|e| {
        let all = CATALOGUE.iter().map(|p| p.name.to_string()).chain(super::fetch_amazon::names()).collect::<Vec<_>>();
        match nearest(name, all.iter().map(String::as_str)) {
            Some(n) if n.starts_with("amazon-") => anyhow!("`{name}` is not a dataset the runner can fetch (did you mean `{n}`?)"),
            _ => e,
        }
    })
}

/// The mirror to download `name` from: `RUNNER_FETCH_MIRROR`, else the publisher's site
/// (GroupLens; for `amazon-*`, the McAuley lab's data repository).
pub fn default_mirror(name: &str) -> String {
    let publisher = if name.starts_with("amazon-") { super::fetch_amazon::AMAZON_2023 } else { GROUPLENS };
    std::env::var("RUNNER_FETCH_MIRROR").ok().filter(|s| !s.trim().is_empty()).unwrap_or_else(|| publisher.to_string())
}

/// What a fetch reports as it goes.
pub trait Progress {
    /// A download starts at `start` bytes of `total` (when the server says).
    fn start(&self, what: &str, start: u64, total: Option<u64>);
    fn advance(&self, bytes: u64);
    fn finish(&self);
    fn say(&self, line: &str);
}

/// No output (tests, `--quiet`).
pub struct Silent;
impl Progress for Silent {
    fn start(&self, _: &str, _: u64, _: Option<u64>) {}
    fn advance(&self, _: u64) {}
    fn finish(&self) {}
    fn say(&self, _: &str) {}
}

/// The result of [`fetch`].
#[derive(Debug, PartialEq, Eq)]
pub enum Fetched {
    /// The folder was already there; nothing was downloaded.
    Present(PathBuf),
    /// Downloaded, verified and unpacked now.
    Unpacked(PathBuf),
    /// Downloaded and verified now, kept compressed (Amazon's `.jsonl.gz` files).
    Downloaded(PathBuf),
}

/// Fetches `name` into `dest` (normally `<data>/<name>`) from `mirror` unless `dest` exists.
pub fn fetch(name: &str, dest: &Path, mirror: &str, progress: &dyn Progress) -> Result<Fetched> {
    if let Some(category) = name.strip_prefix("amazon-") {
        return super::fetch_amazon::fetch(category, dest, mirror, progress);
    }
    let published = lookup(name)?;
    let Some((work, _lock)) = begin(name, dest, progress)? else {
        return Ok(Fetched::Present(dest.to_path_buf()));
    };
    let base = if mirror.ends_with('/') { mirror.to_string() } else { format!("{mirror}/") };
    let url = format!("{base}{}", published.file);
    let agent = agent();
    let expected = published_md5(&agent, &format!("{url}.md5"), published.file)?;
    let part = work.join(format!("{}.part", published.file));
    download(&agent, &url, &part, progress)?;
    let got = md5_of(&part)?;
    if got != expected {
        let _ = fs::remove_file(&part);
        bail!(
            "checksum mismatch for {url}: the published MD5 is {expected}, the download's is {got}; the download was removed, nothing was unpacked. Run the command again to download it afresh (a mirror or proxy may have altered the file)"
        );
    }
    progress.say(&format!("checksum ok ({got}); unpacking"));
    let unpacked = unpack(&part, &work.join(format!("{name}.unpack")), dest, published.max_unpacked).inspect_err(|_| {
        // The archive matched its checksum yet cannot be read: downloading it again will not help.
        let _ = fs::remove_file(&part);
    })?;
    let _ = fs::remove_file(&part);
    Ok(Fetched::Unpacked(unpacked))
}

/// Takes the fetch lock of `name` (waiting while another process holds it); `None` when
/// `dest` is there (before or after the wait), else the scratch folder `<parent>/.fetch`
/// and the lock, held until it is dropped.
pub(super) fn begin(name: &str, dest: &Path, progress: &dyn Progress) -> Result<Option<(PathBuf, File)>> {
    if dest.exists() {
        return Ok(None);
    }
    let parent = dest.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let work = parent.join(".fetch");
    fs::create_dir_all(&work).with_context(|| format!("cannot create `{}` (is the data folder writable?)", work.display()))?;
    let lock_path = work.join(format!("{name}.lock"));
    let lock = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&lock_path)
        .with_context(|| format!("cannot create `{}`", lock_path.display()))?;
    if matches!(lock.try_lock(), Err(fs::TryLockError::WouldBlock)) {
        progress.say(&format!("another process is fetching `{name}`; waiting for it"));
        lock.lock().with_context(|| format!("cannot lock `{}`", lock_path.display()))?;
    }
    // The other process may have finished it meanwhile.
    if dest.exists() {
        return Ok(None);
    }
    Ok(Some((work, lock)))
}

/// The HTTP client of every download: bounded waits to connect and for the headers.
pub(super) fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_connect(Some(Duration::from_secs(30)))
        .timeout_recv_response(Some(Duration::from_secs(60)))
        .http_status_as_error(false)
        .build()
        .into()
}

/// Fetches the data a config names when it is missing (`fetch = true`), printing progress.
pub fn ensure(name: &str, dest: &Path) -> Result<()> {
    if dest.exists() {
        return Ok(());
    }
    let mirror = default_mirror(name);
    eprintln!("fetching `{name}` into `{}` from {mirror} (fetch = true)", dest.display());
    fetch(name, dest, &mirror, &Bar::new(true)).map(|_| ())
}

/// Reads the published checksum file: `MD5 (file) = hex` (BSD, as GroupLens writes it),
/// `hex  file` (GNU md5sum) or a bare hex digest.
pub fn parse_md5(text: &str, file: &str) -> Option<String> {
    let is_hex = |s: &str| s.len() == 32 && s.chars().all(|c| c.is_ascii_hexdigit());
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if let Some(rest) = line.strip_prefix("MD5 (") {
            if let Some((f, h)) = rest.split_once(") = ") {
                if (f == file || f.ends_with(&format!("/{file}"))) && is_hex(h.trim()) {
                    return Some(h.trim().to_ascii_lowercase());
                }
            }
            continue;
        }
        let mut words = line.split_whitespace();
        let h = words.next().unwrap_or("");
        let f = words.next().map(|f| f.trim_start_matches('*'));
        if is_hex(h) && f.is_none_or(|f| f == file || f.ends_with(&format!("/{file}"))) {
            return Some(h.to_ascii_lowercase());
        }
    }
    None
}

/// Seconds without a byte after which a download or checksum read gives up
/// (`RUNNER_FETCH_IDLE_SECS`, default 60): a server that sends its headers and then nothing
/// must not hang the runner forever.
fn idle_limit() -> Duration {
    let secs = std::env::var("RUNNER_FETCH_IDLE_SECS").ok().and_then(|s| s.parse::<f64>().ok()).filter(|s| *s > 0.0).unwrap_or(60.0);
    Duration::from_secs_f64(secs)
}

/// Why [`read_chunks`] stopped early.
enum Stop {
    /// No byte arrived for this long.
    Idle(Duration),
    Io(std::io::Error),
    Sink(anyhow::Error),
}

/// Reads `reader` to its end on a helper thread and hands each chunk to `sink`, giving up
/// when no byte arrives for `idle`. ureq bounds the connection and the response headers but
/// not the pause between two reads of a body; a thread blocked on a silent socket is left
/// behind (the process is about to report the error and exit).
fn read_chunks(reader: impl Read + Send + 'static, idle: Duration, mut sink: impl FnMut(&[u8]) -> Result<()>) -> Result<(), Stop> {
    let (tx, rx) = std::sync::mpsc::sync_channel::<std::io::Result<Vec<u8>>>(4);
    std::thread::spawn(move || {
        let mut reader = reader;
        let mut buf = vec![0u8; 1 << 16];
        loop {
            match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    if tx.send(Ok(buf[..n].to_vec())).is_err() {
                        break;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    let _ = tx.send(Err(e));
                    break;
                }
            }
        }
    });
    loop {
        match rx.recv_timeout(idle) {
            Ok(Ok(chunk)) => sink(&chunk).map_err(Stop::Sink)?,
            Ok(Err(e)) => return Err(Stop::Io(e)),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => return Err(Stop::Idle(idle)),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return Ok(()),
        }
    }
}

fn unreachable_hint(url: &str, e: impl std::fmt::Display) -> anyhow::Error {
    anyhow!("cannot reach {url}: {e}. Check the network (or set --mirror / RUNNER_FETCH_MIRROR), or download it by hand and unpack it into the data folder")
}

fn published_md5(agent: &ureq::Agent, url: &str, file: &str) -> Result<String> {
    let resp = agent.get(url).call().map_err(|e| unreachable_hint(url, e))?;
    let status = resp.status().as_u16();
    if status != 200 {
        bail!("{url} answered HTTP {status}: the checksum is not published there, so the download cannot be verified (is the mirror right?)");
    }
    let mut bytes = Vec::new();
    read_chunks(resp.into_body().into_reader(), idle_limit(), |c| {
        bytes.extend_from_slice(c);
        anyhow::ensure!(bytes.len() <= 64 * 1024, "{url} is over 64 KiB: not a checksum file");
        Ok(())
    })
    .map_err(|stop| match stop {
        Stop::Idle(d) => anyhow!("{url} sent nothing for {:.0} s; giving up (set RUNNER_FETCH_IDLE_SECS to wait longer)", d.as_secs_f64()),
        Stop::Io(e) => unreachable_hint(url, e),
        Stop::Sink(e) => e,
    })?;
    let text = String::from_utf8_lossy(&bytes).to_string();
    parse_md5(&text, file).ok_or_else(|| anyhow!("{url} holds no MD5 digest for `{file}` (it reads `{}`)", super::fields::printable(text.trim())))
}

/// Downloads `url` into `part`, resuming what `part` already holds.
pub(super) fn download(agent: &ureq::Agent, url: &str, part: &Path, progress: &dyn Progress) -> Result<()> {
    // A server whose ranges do not match the request is asked again from the start, a few
    // times, never endlessly.
    const ATTEMPTS: usize = 3;
    let mut attempt = 0;
    let (resp, start) = loop {
        attempt += 1;
        let have = fs::metadata(part).map(|m| m.len()).unwrap_or(0);
        let mut req = agent.get(url);
        if have > 0 {
            req = req.header("Range", format!("bytes={have}-"));
        }
        let resp = req.call().map_err(|e| unreachable_hint(url, e))?;
        match resp.status().as_u16() {
            // The server resumes where the partial file ends (when it says so).
            206 => {
                let range = resp.headers().get("content-range").and_then(|v| v.to_str().ok()).unwrap_or("");
                let from = range.strip_prefix("bytes ").and_then(|r| r.split('-').next()).and_then(|s| s.trim().parse::<u64>().ok());
                if from == Some(have) {
                    break (resp, have);
                }
                // A range other than the one asked for: start over.
                if have > 0 {
                    fs::remove_file(part)?;
                }
                if attempt >= ATTEMPTS {
                    bail!(
                        "{url} answered {ATTEMPTS} times with a range (`{}`) other than the one asked for; the download was removed. Is the mirror right?",
                        super::fields::printable(range)
                    );
                }
            }
            200 => {
                if have > 0 {
                    progress.say("the server does not resume downloads; starting over");
                }
                break (resp, 0);
            }
            // The partial file is already whole (or longer than the file): the checksum decides.
            416 if have > 0 => return Ok(()),
            s => bail!("{url} answered HTTP {s}{}", if s == 404 { " (not found: is the mirror right?)" } else { "" }),
        }
    };
    let mut file =
        OpenOptions::new().create(true).append(false).write(true).truncate(false).open(part).with_context(|| format!("cannot write `{}`", part.display()))?;
    file.set_len(start)?;
    file.seek(std::io::SeekFrom::Start(start))?;
    let remaining = resp.body().content_length();
    let total = remaining.map(|r| r + start);
    progress.start(url.rsplit('/').next().unwrap_or(url), start, total);
    let mut done = start;
    let read = read_chunks(resp.into_body().into_reader(), idle_limit(), |chunk| {
        file.write_all(chunk).with_context(|| format!("cannot write `{}` (is the disk full?)", part.display()))?;
        done += chunk.len() as u64;
        progress.advance(chunk.len() as u64);
        Ok(())
    });
    let _ = file.sync_all();
    progress.finish();
    let of = total.map(|t| format!(" of {t}")).unwrap_or_default();
    let keep = format!("the part is kept in `{}`: run the same command again to resume", part.display());
    match read {
        Ok(()) => {}
        Err(Stop::Idle(d)) => bail!("the download of {url} stalled: nothing for {:.0} s after {done}{of} bytes; {keep}", d.as_secs_f64()),
        Err(Stop::Io(e)) => bail!("the download of {url} stopped after {done}{of} bytes ({e}); {keep}"),
        Err(Stop::Sink(e)) => return Err(e),
    }
    if let Some(t) = total {
        if done < t {
            bail!("the download of {url} stopped after {done} of {t} bytes; {keep}");
        }
    }
    Ok(())
}

fn md5_of(path: &Path) -> Result<String> {
    let mut f = File::open(path).with_context(|| format!("cannot read `{}`", path.display()))?;
    let mut h = Md5::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// Unpacks the zip `archive` into the scratch folder `tmp`, then renames its content folder
/// (the archive's single top folder, as GroupLens packs them, else the whole scratch folder)
/// to `dest` in one step. `tmp` is removed on any error and on Ctrl-C. More than `cap` bytes,
/// declared or written, stop it.
fn unpack(archive: &Path, tmp: &Path, dest: &Path, cap: u64) -> Result<PathBuf> {
    if tmp.exists() {
        // Left by a fetch that was killed; we hold the lock, so it is nobody's.
        fs::remove_dir_all(tmp).with_context(|| format!("cannot remove the stale `{}`", tmp.display()))?;
    }
    fs::create_dir_all(tmp)?;
    interrupt::register(tmp);
    let result = (|| -> Result<PathBuf> {
        let f = File::open(archive)?;
        let mut zip = zip::ZipArchive::new(f)
            .map_err(|e| anyhow!("`{}` is not a readable zip archive ({e}), although its checksum matched; nothing was unpacked", archive.display()))?;
        extract_capped(&mut zip, tmp, cap).map_err(|e| anyhow!("cannot unpack `{}`: {e:#}; nothing was unpacked", archive.display()))?;
        let entries: Vec<PathBuf> =
            fs::read_dir(tmp)?.filter_map(|e| e.ok()).map(|e| e.path()).filter(|p| !p.file_name().is_some_and(|n| n == "__MACOSX")).collect();
        let root = match entries.as_slice() {
            [one] if one.is_dir() => one.clone(),
            _ => tmp.to_path_buf(),
        };
        Ok(root)
    })();
    let root = match result {
        Ok(r) => r,
        Err(e) => {
            let _ = fs::remove_dir_all(tmp);
            interrupt::unregister(tmp);
            return Err(e);
        }
    };
    interrupt::commit(&[tmp], || fs::rename(&root, dest)).with_context(|| format!("cannot move the unpacked data to `{}`", dest.display()))?;
    let _ = fs::remove_dir_all(tmp);
    Ok(dest.to_path_buf())
}

/// Extracts every entry into `tmp`, refusing entries that would land outside it (absolute
/// paths, `..`) and stopping past `cap` bytes: first by the sizes the archive declares, then
/// by the bytes actually written, which a forged header cannot hide.
fn extract_capped(zip: &mut zip::ZipArchive<File>, tmp: &Path, cap: u64) -> Result<()> {
    let declared: u64 = (0..zip.len()).filter_map(|i| zip.by_index_raw(i).ok().map(|f| f.size())).fold(0u64, u64::saturating_add);
    let too_big = |n: u64| anyhow!("it unpacks to {n} bytes or more, above the {cap} expected of this dataset (a damaged or hostile archive)");
    if declared > cap {
        return Err(too_big(declared));
    }
    let mut written = 0u64;
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i)?;
        let Some(rel) = entry.enclosed_name() else {
            bail!("entry `{}` would land outside the data folder", super::fields::printable(&entry.name().map(|n| n.to_string()).unwrap_or_default()))
        };
        let out = tmp.join(rel);
        if entry.is_dir() {
            fs::create_dir_all(&out)?;
            continue;
        }
        if let Some(parent) = out.parent() {
            fs::create_dir_all(parent)?;
        }
        let mut w = File::create(&out)?;
        written += std::io::copy(&mut (&mut entry).take(cap - written + 1), &mut w)?;
        if written > cap {
            return Err(too_big(written));
        }
    }
    Ok(())
}

/// A terminal progress bar (drawn only on a terminal).
pub struct Bar {
    bar: indicatif::ProgressBar,
    show: bool,
}

impl Bar {
    pub fn new(show: bool) -> Self {
        let bar = indicatif::ProgressBar::with_draw_target(
            None,
            if show { indicatif::ProgressDrawTarget::stderr() } else { indicatif::ProgressDrawTarget::hidden() },
        );
        Bar { bar, show }
    }
}

impl Progress for Bar {
    fn start(&self, what: &str, start: u64, total: Option<u64>) {
        if let Some(t) = total {
            self.bar.set_length(t);
        }
        let style = indicatif::ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
        self.bar.set_style(style.progress_chars("=> "));
        self.bar.set_message(what.to_string());
        self.bar.set_position(start);
        if start > 0 {
            self.say(&format!("resuming {what} at {start} bytes"));
        }
    }
    fn advance(&self, bytes: u64) {
        self.bar.inc(bytes);
    }
    fn finish(&self) {
        self.bar.finish_and_clear();
    }
    fn say(&self, line: &str) {
        if self.show {
            self.bar.suspend(|| eprintln!("{line}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_each_checksum_format() {
        let h = "0e33842e24a9c977be4e0107933c0723";
        assert_eq!(parse_md5(&format!("MD5 (ml-100k.zip) = {h}\n"), "ml-100k.zip").as_deref(), Some(h));
        assert_eq!(parse_md5(&format!("{h}  ml-100k.zip\n"), "ml-100k.zip").as_deref(), Some(h));
        assert_eq!(parse_md5(&format!("{h} *ml-100k.zip\n"), "ml-100k.zip").as_deref(), Some(h));
        assert_eq!(parse_md5(&format!("{}\n", h.to_uppercase()), "ml-100k.zip").as_deref(), Some(h));
        // Another file's digest, a short digest, or HTML are not a checksum.
        assert_eq!(parse_md5(&format!("MD5 (ml-1m.zip) = {h}"), "ml-100k.zip"), None);
        assert_eq!(parse_md5("0e33842e  ml-100k.zip", "ml-100k.zip"), None);
        assert_eq!(parse_md5("<html>not found</html>", "ml-100k.zip"), None);
    }

    #[test]
    fn unknown_names_get_a_suggestion() {
        let e = lookup("ml-100").unwrap_err().to_string();
        assert!(e.contains("did you mean `ml-100k`"), "{e}");
        assert!(lookup("ml-1m").is_ok());
    }

    #[test]
    fn md5_matches_a_known_digest() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x");
        fs::write(&p, b"The quick brown fox jumps over the lazy dog").unwrap();
        assert_eq!(md5_of(&p).unwrap(), "9e107d9d372bb6826bd81d3542a419d6");
    }

    fn zip_with(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let opts = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        for (name, data) in entries {
            w.start_file(*name, opts).unwrap();
            w.write_all(data).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    #[test]
    fn unpack_moves_the_single_top_folder_into_place() {
        let d = tempfile::tempdir().unwrap();
        let archive = d.path().join("a.zip");
        fs::write(&archive, zip_with(&[("ml-10M100K/ratings.dat", b"1::2::3::4\n"), ("ml-10M100K/movies.dat", b"2::T::G\n")])).unwrap();
        let dest = d.path().join("ml-10m");
        unpack(&archive, &d.path().join("scratch"), &dest, 1 << 20).unwrap();
        assert_eq!(fs::read_to_string(dest.join("ratings.dat")).unwrap(), "1::2::3::4\n");
        assert!(dest.join("movies.dat").exists());
        assert!(!d.path().join("scratch").exists());
    }

    #[test]
    fn unpack_of_a_flat_archive_keeps_its_files() {
        let d = tempfile::tempdir().unwrap();
        let archive = d.path().join("a.zip");
        fs::write(&archive, zip_with(&[("u.data", b"1\t2\t3\t4\n"), ("u.item", b"2|T\n")])).unwrap();
        let dest = d.path().join("ml-100k");
        unpack(&archive, &d.path().join("scratch"), &dest, 1 << 20).unwrap();
        assert!(dest.join("u.data").exists() && dest.join("u.item").exists());
    }

    #[test]
    fn a_broken_or_escaping_archive_leaves_nothing() {
        let d = tempfile::tempdir().unwrap();
        let archive = d.path().join("a.zip");
        fs::write(&archive, b"PK\x03\x04 this is not a zip").unwrap();
        let dest = d.path().join("ml-100k");
        let e = unpack(&archive, &d.path().join("scratch"), &dest, 1 << 20).unwrap_err().to_string();
        assert!(e.contains("not a readable zip"), "{e}");
        assert!(!dest.exists() && !d.path().join("scratch").exists());

        fs::write(&archive, zip_with(&[("../evil.txt", b"x")])).unwrap();
        let r = unpack(&archive, &d.path().join("scratch"), &dest, 1 << 20);
        assert!(!d.path().join("evil.txt").exists(), "an entry escaped the scratch folder");
        if r.is_err() {
            assert!(!dest.exists());
        }

        // A bomb: small compressed, past the cap unpacked.
        let big = vec![0u8; 3 << 20];
        fs::write(&archive, zip_with(&[("ml-100k/u.data", &big)])).unwrap();
        let _ = fs::remove_dir_all(&dest);
        let e = unpack(&archive, &d.path().join("scratch"), &dest, 1 << 20).unwrap_err().to_string();
        assert!(e.contains("above the 1048576 expected"), "{e}");
        assert!(!dest.exists() && !d.path().join("scratch").exists());
    }
}
