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
    pub about: &'static str,
}

pub static CATALOGUE: &[Published] = &[
    Published { name: "ml-100k", file: "ml-100k.zip", size: "5 MB", about: "MovieLens 100K: 943 users, 1,682 movies, 100,000 ratings, user and item features" },
    Published { name: "ml-1m", file: "ml-1m.zip", size: "6 MB", about: "MovieLens 1M: 6,040 users, 3,706 movies, 1,000,209 ratings" },
    Published { name: "ml-10m", file: "ml-10m.zip", size: "63 MB", about: "MovieLens 10M: 69,878 users, 10,677 movies, 10,000,054 ratings" },
    Published { name: "ml-20m", file: "ml-20m.zip", size: "190 MB", about: "MovieLens 20M: 138,493 users, 26,744 movies, 20,000,263 ratings" },
    Published { name: "ml-25m", file: "ml-25m.zip", size: "250 MB", about: "MovieLens 25M: 162,541 users, 59,047 movies, 25,000,095 ratings" },
    Published { name: "ml-32m", file: "ml-32m.zip", size: "240 MB", about: "MovieLens 32M: 200,948 users, 87,585 movies, 32,000,204 ratings" },
    Published {
        name: "ml-latest-small",
        file: "ml-latest-small.zip",
        size: "1 MB",
        about: "MovieLens latest, small: 610 users, 9,742 movies, 100,836 ratings (changes over time)",
    },
];

pub fn lookup(name: &str) -> Result<&'static Published> {
    CATALOGUE.iter().find(|p| p.name == name).ok_or_else(|| {
        let names: Vec<&str> = CATALOGUE.iter().map(|p| p.name).collect();
        let hint = nearest(name, names.iter().copied()).map(|n| format!(" (did you mean `{n}`?)")).unwrap_or_default();
        anyhow!("`{name}` is not a dataset the runner can fetch{hint}; it knows {}", names.join(", "))
    })
}

/// The mirror to download from: `RUNNER_FETCH_MIRROR`, else GroupLens.
pub fn default_mirror() -> String {
    std::env::var("RUNNER_FETCH_MIRROR").ok().filter(|s| !s.trim().is_empty()).unwrap_or_else(|| GROUPLENS.to_string())
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
}

/// Fetches `name` into `dest` (normally `<data>/<name>`) from `mirror` unless `dest` exists.
pub fn fetch(name: &str, dest: &Path, mirror: &str, progress: &dyn Progress) -> Result<Fetched> {
    let published = lookup(name)?;
    if dest.exists() {
        return Ok(Fetched::Present(dest.to_path_buf()));
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
        return Ok(Fetched::Present(dest.to_path_buf()));
    }
    let base = if mirror.ends_with('/') { mirror.to_string() } else { format!("{mirror}/") };
    let url = format!("{base}{}", published.file);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_connect(Some(Duration::from_secs(30)))
        .timeout_recv_response(Some(Duration::from_secs(60)))
        .http_status_as_error(false)
        .build()
        .into();

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
    let unpacked = unpack(&part, &work.join(format!("{name}.unpack")), dest).inspect_err(|_| {
        // The archive matched its checksum yet cannot be read: downloading it again will not help.
        let _ = fs::remove_file(&part);
    })?;
    let _ = fs::remove_file(&part);
    Ok(Fetched::Unpacked(unpacked))
}

/// Fetches the data a config names when it is missing (`fetch = true`), printing progress.
pub fn ensure(name: &str, dest: &Path) -> Result<()> {
    if dest.exists() {
        return Ok(());
    }
    let mirror = default_mirror();
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

fn unreachable_hint(url: &str, e: impl std::fmt::Display) -> anyhow::Error {
    anyhow!("cannot reach {url}: {e}. Check the network (or set --mirror / RUNNER_FETCH_MIRROR), or download it by hand and unpack it into the data folder")
}

fn published_md5(agent: &ureq::Agent, url: &str, file: &str) -> Result<String> {
    let mut resp = agent.get(url).call().map_err(|e| unreachable_hint(url, e))?;
    let status = resp.status().as_u16();
    if status != 200 {
        bail!("{url} answered HTTP {status}: the checksum is not published there, so the download cannot be verified (is the mirror right?)");
    }
    let text = resp.body_mut().with_config().limit(64 * 1024).read_to_string().map_err(|e| unreachable_hint(url, e))?;
    parse_md5(&text, file).ok_or_else(|| anyhow!("{url} holds no MD5 digest for `{file}` (it reads `{}`)", super::loaders::printable(text.trim())))
}

/// Downloads `url` into `part`, resuming what `part` already holds.
fn download(agent: &ureq::Agent, url: &str, part: &Path, progress: &dyn Progress) -> Result<()> {
    let have = fs::metadata(part).map(|m| m.len()).unwrap_or(0);
    let mut req = agent.get(url);
    if have > 0 {
        req = req.header("Range", format!("bytes={have}-"));
    }
    let mut resp = req.call().map_err(|e| unreachable_hint(url, e))?;
    let status = resp.status().as_u16();
    let mut file =
        OpenOptions::new().create(true).append(false).write(true).truncate(false).open(part).with_context(|| format!("cannot write `{}`", part.display()))?;
    let start = match status {
        // The server resumes where the partial file ends (when it says so).
        206 => {
            let range = resp.headers().get("content-range").and_then(|v| v.to_str().ok()).unwrap_or("");
            let from = range.strip_prefix("bytes ").and_then(|r| r.split('-').next()).and_then(|s| s.trim().parse::<u64>().ok());
            if from != Some(have) {
                // A range other than the one asked for: start over.
                drop(file);
                fs::remove_file(part)?;
                return download(agent, url, part, progress);
            }
            have
        }
        200 => {
            if have > 0 {
                progress.say("the server does not resume downloads; starting over");
            }
            file.set_len(0)?;
            0
        }
        // The partial file is already whole (or longer than the file): the checksum decides.
        416 if have > 0 => return Ok(()),
        s => bail!("{url} answered HTTP {s}{}", if s == 404 { " (not found: is the mirror right?)" } else { "" }),
    };
    file.seek(std::io::SeekFrom::Start(start))?;
    let remaining = resp.body().content_length();
    let total = remaining.map(|r| r + start);
    progress.start(url.rsplit('/').next().unwrap_or(url), start, total);
    let mut reader = resp.body_mut().as_reader();
    let mut buf = vec![0u8; 1 << 16];
    let mut done = start;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                let _ = file.sync_all();
                progress.finish();
                let of = total.map(|t| format!(" of {t}")).unwrap_or_default();
                bail!(
                    "the download of {url} stopped after {done}{of} bytes ({e}); the part is kept in `{}`: run the same command again to resume",
                    part.display()
                );
            }
        };
        file.write_all(&buf[..n]).with_context(|| format!("cannot write `{}` (is the disk full?)", part.display()))?;
        done += n as u64;
        progress.advance(n as u64);
    }
    file.sync_all()?;
    progress.finish();
    if let Some(t) = total {
        if done < t {
            bail!("the download of {url} stopped after {done} of {t} bytes; the part is kept in `{}`: run the same command again to resume", part.display());
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
/// to `dest` in one step. `tmp` is removed on any error and on Ctrl-C.
fn unpack(archive: &Path, tmp: &Path, dest: &Path) -> Result<PathBuf> {
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
        // `extract` refuses entries that would land outside `tmp` (absolute paths, `..`).
        zip.extract(tmp).map_err(|e| anyhow!("cannot unpack `{}`: {e}; nothing was unpacked", archive.display()))?;
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
        unpack(&archive, &d.path().join("scratch"), &dest).unwrap();
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
        unpack(&archive, &d.path().join("scratch"), &dest).unwrap();
        assert!(dest.join("u.data").exists() && dest.join("u.item").exists());
    }

    #[test]
    fn a_broken_or_escaping_archive_leaves_nothing() {
        let d = tempfile::tempdir().unwrap();
        let archive = d.path().join("a.zip");
        fs::write(&archive, b"PK\x03\x04 this is not a zip").unwrap();
        let dest = d.path().join("ml-100k");
        let e = unpack(&archive, &d.path().join("scratch"), &dest).unwrap_err().to_string();
        assert!(e.contains("not a readable zip"), "{e}");
        assert!(!dest.exists() && !d.path().join("scratch").exists());

        fs::write(&archive, zip_with(&[("../evil.txt", b"x")])).unwrap();
        let r = unpack(&archive, &d.path().join("scratch"), &dest);
        assert!(!d.path().join("evil.txt").exists(), "an entry escaped the scratch folder");
        if r.is_err() {
            assert!(!dest.exists());
        }
    }
}
