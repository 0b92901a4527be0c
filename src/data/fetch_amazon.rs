//! The Amazon Reviews 2023 categories that `runner data fetch amazon-<Category>` and
//! `kind = "amazon", fetch = true` download: `raw/review_categories/<Category>.jsonl.gz`
//! and `raw/meta_categories/meta_<Category>.jsonl.gz` under the McAuley lab's data
//! repository (`--mirror` / `RUNNER_FETCH_MIRROR` name another base URL with the same
//! layout), into `<data>/amazon-<Category>/`, kept compressed (the loader streams them).
//!
//! The release publishes no checksum, so each file is verified by decompressing it to its
//! end: a cut or damaged gzip stream fails there (gzip's own CRC-32 and length trailer are
//! checked), as does an HTML error page served in its place. Both files are downloaded into
//! `<data>/.fetch/` (resuming with `Range` as MovieLens archives do), verified, moved into a
//! scratch folder and that folder renamed to `amazon-<Category>` in one step: the dataset
//! folder either does not exist or holds both whole files. Verifying a large category
//! (Books, Clothing) reads gigabytes and takes minutes.

use super::fetch::{agent, begin, download, Fetched, Progress};
use crate::interrupt;
use anyhow::{anyhow, Context, Result};
use std::fs;
use std::path::Path;

/// Where the release is published.
pub const AMAZON_2023: &str = "https://datarepo.eng.ucsd.edu/mcauley_group/data/amazon_2023/";

/// One category of the release, with its size as the release's statistics give it.
#[derive(Debug)]
pub struct Category {
    pub name: &'static str,
    /// Ratings (reviews), for the listing.
    pub ratings: &'static str,
}

const fn c(name: &'static str, ratings: &'static str) -> Category {
    Category { name, ratings }
}

/// The 34 categories of the 2023 release (`Unknown` holds the items without one).
pub static CATEGORIES: &[Category] = &[
    c("All_Beauty", "701.5K"),
    c("Amazon_Fashion", "2.5M"),
    c("Appliances", "2.1M"),
    c("Arts_Crafts_and_Sewing", "9.0M"),
    c("Automotive", "20.0M"),
    c("Baby_Products", "6.0M"),
    c("Beauty_and_Personal_Care", "23.9M"),
    c("Books", "29.5M"),
    c("CDs_and_Vinyl", "4.8M"),
    c("Cell_Phones_and_Accessories", "20.8M"),
    c("Clothing_Shoes_and_Jewelry", "66.0M"),
    c("Digital_Music", "130.4K"),
    c("Electronics", "43.9M"),
    c("Gift_Cards", "152.4K"),
    c("Grocery_and_Gourmet_Food", "14.3M"),
    c("Handmade_Products", "664.2K"),
    c("Health_and_Household", "25.6M"),
    c("Health_and_Personal_Care", "494.1K"),
    c("Home_and_Kitchen", "67.4M"),
    c("Industrial_and_Scientific", "5.2M"),
    c("Kindle_Store", "25.6M"),
    c("Magazine_Subscriptions", "71.5K"),
    c("Movies_and_TV", "17.3M"),
    c("Musical_Instruments", "3.0M"),
    c("Office_Products", "12.8M"),
    c("Patio_Lawn_and_Garden", "16.5M"),
    c("Pet_Supplies", "16.8M"),
    c("Software", "4.9M"),
    c("Sports_and_Outdoors", "19.6M"),
    c("Subscription_Boxes", "16.2K"),
    c("Tools_and_Home_Improvement", "27.0M"),
    c("Toys_and_Games", "16.1M"),
    c("Video_Games", "4.6M"),
    c("Unknown", "63.8M"),
];

/// The name `runner data fetch` takes for a category, and the folder it fills.
pub fn fetch_name(category: &str) -> String {
    format!("amazon-{category}")
}

/// Every fetchable Amazon name, `amazon-All_Beauty` first.
pub fn names() -> impl Iterator<Item = String> {
    CATEGORIES.iter().map(|c| fetch_name(c.name))
}

/// The category named exactly so (the release's spelling), or an error suggesting the
/// nearest.
pub fn lookup_category(category: &str) -> Result<&'static Category> {
    CATEGORIES.iter().find(|c| c.name == category).ok_or_else(|| {
        let hint = crate::params::nearest(category, CATEGORIES.iter().map(|c| c.name)).map(|n| format!(" (did you mean `{n}`?)")).unwrap_or_default();
        anyhow!(
            "`{}` is not an Amazon Reviews 2023 category{hint}; `runner data list` shows the {} categories",
            super::fields::printable(category),
            CATEGORIES.len()
        )
    })
}

/// Downloads `category`'s reviews and meta files into `dest` unless it exists.
pub(super) fn fetch(category: &str, dest: &Path, mirror: &str, progress: &dyn Progress) -> Result<Fetched> {
    let cat = lookup_category(category)?;
    let name = fetch_name(cat.name);
    let Some((work, _lock)) = begin(&name, dest, progress)? else {
        return Ok(Fetched::Present(dest.to_path_buf()));
    };
    let base = if mirror.ends_with('/') { mirror.to_string() } else { format!("{mirror}/") };
    let files = [
        (format!("raw/review_categories/{}.jsonl.gz", cat.name), format!("{}.jsonl.gz", cat.name)),
        (format!("raw/meta_categories/meta_{}.jsonl.gz", cat.name), format!("meta_{}.jsonl.gz", cat.name)),
    ];
    let agent = agent();
    for (remote, local) in &files {
        let url = format!("{base}{remote}");
        let part = work.join(format!("{local}.part"));
        download(&agent, &url, &part, progress)?;
        progress.say(&format!("verifying {local} (decompressing it to its end)"));
        if let Err(e) = verify_gzip(&part) {
            // Whole by its length yet not a whole gzip stream: resuming cannot mend it.
            let _ = fs::remove_file(&part);
            return Err(anyhow!(
                "{url} is not a whole gzip file ({e}); the download was removed and `{}` was not created. Run the command again to download it afresh (is the mirror right?)",
                dest.display()
            ));
        }
    }
    let tmp = work.join(format!("{name}.unpack"));
    if tmp.exists() {
        // Left by a fetch that was killed; we hold the lock, so it is nobody's.
        fs::remove_dir_all(&tmp).with_context(|| format!("cannot remove the stale `{}`", tmp.display()))?;
    }
    fs::create_dir_all(&tmp).with_context(|| format!("cannot create `{}`", tmp.display()))?;
    interrupt::register(&tmp);
    let moved = files.iter().try_for_each(|(_, local)| fs::rename(work.join(format!("{local}.part")), tmp.join(local)));
    let placed = moved.and_then(|()| interrupt::commit(&[&tmp], || fs::rename(&tmp, dest)));
    if let Err(e) = placed {
        let _ = fs::remove_dir_all(&tmp);
        interrupt::unregister(&tmp);
        return Err(anyhow!("cannot move the downloads to `{}`: {e}", dest.display()));
    }
    Ok(Fetched::Downloaded(dest.to_path_buf()))
}

/// Decompresses the gzip file at `path` to its end, keeping nothing; fails on a cut stream,
/// a wrong CRC or length, or bytes that are not gzip.
fn verify_gzip(path: &Path) -> Result<u64> {
    let f = fs::File::open(path).with_context(|| format!("cannot read `{}`", path.display()))?;
    let mut gz = flate2::read::MultiGzDecoder::new(std::io::BufReader::with_capacity(1 << 20, f));
    Ok(std::io::copy(&mut gz, &mut std::io::sink())?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn categories_are_known_and_typos_get_a_suggestion() {
        assert_eq!(CATEGORIES.len(), 34);
        assert!(lookup_category("All_Beauty").is_ok());
        let e = lookup_category("All_Beuty").unwrap_err().to_string();
        assert!(e.contains("did you mean `All_Beauty`"), "{e}");
        let e = super::super::fetch::check("amazon-Video_Game").unwrap_err().to_string();
        assert!(e.contains("did you mean `Video_Games`"), "{e}");
        assert!(super::super::fetch::check("amazon-Books").is_ok() && super::super::fetch::check("ml-1m").is_ok());
    }

    #[test]
    fn a_cut_gzip_fails_verification() {
        let d = tempfile::tempdir().unwrap();
        let mut w = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        w.write_all(&b"{\"user_id\": \"A\"}\n".repeat(500)).unwrap();
        let gz = w.finish().unwrap();
        let p = d.path().join("x.gz");
        fs::write(&p, &gz).unwrap();
        assert_eq!(verify_gzip(&p).unwrap(), 17 * 500);
        fs::write(&p, &gz[..gz.len() - 6]).unwrap();
        assert!(verify_gzip(&p).is_err());
        fs::write(&p, b"<html>not found</html>").unwrap();
        assert!(verify_gzip(&p).is_err());
    }
}
