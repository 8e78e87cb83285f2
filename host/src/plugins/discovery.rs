//! Where plugins are looked for, and which file wins.
//!
//! Search order, first hit wins: `--plugin-dir` / `CARBONIO_MESH_PLUGIN_DIR`, then the site
//! directory `/usr/local/lib/carbonio-mesh/plugins`, then the vendor directory
//! `/usr/lib/carbonio-mesh/plugins`. Plugin `<name>` is the file `<name>.so`; cargo's build name
//! `libcarbonio_mesh_plugin_<name>.so` (dashes as underscores) is accepted too, so that
//! `--plugin-dir target/release` works right after `cargo build --release`.
//! This module only looks at names; whether a file may be loaded is [`crate::plugins::trust`]'s job.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::config::paths::SystemPaths;

/// Cargo's file name prefix for a plugin crate named `carbonio-mesh-plugin-<name>`.
const CARGO_PREFIX: &str = "libcarbonio_mesh_plugin_";
const SUFFIX: &str = ".so";

/// Where a plugin directory comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// `--plugin-dir` or `CARBONIO_MESH_PLUGIN_DIR`.
    Dir,
    /// `/usr/local/lib/carbonio-mesh/plugins`: the site's own builds.
    Site,
    /// `/usr/lib/carbonio-mesh/plugins`: what the package installed.
    Vendor,
}

/// One directory to search, in order.
#[derive(Debug, Clone)]
pub struct SearchDir {
    pub path: PathBuf,
    pub origin: Origin,
}

/// The search path for this run.
pub fn search_dirs(paths: &SystemPaths, plugin_dir: Option<&Path>) -> Vec<SearchDir> {
    let mut dirs = Vec::new();
    if let Some(dir) = plugin_dir {
        dirs.push(SearchDir {
            path: dir.to_owned(),
            origin: Origin::Dir,
        });
    }
    dirs.push(SearchDir {
        path: paths.site_plugin_dir(),
        origin: Origin::Site,
    });
    dirs.push(SearchDir {
        path: paths.vendor_plugin_dir(),
        origin: Origin::Vendor,
    });
    dirs
}

/// Whether `name` can be a plugin name: lower-case letters, digits and inner dashes.
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('-')
        && !name.ends_with('-')
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// The plugin name a file name stands for, if any.
pub fn plugin_name_of(file_name: &str) -> Option<String> {
    let stem = file_name.strip_suffix(SUFFIX)?;
    let name = match stem.strip_prefix(CARGO_PREFIX) {
        Some(crate_part) => crate_part.replace('_', "-"),
        None => stem.to_owned(),
    };
    is_valid_name(&name).then_some(name)
}

/// The file names plugin `name` may have, preferred first.
fn file_names(name: &str) -> [String; 2] {
    [
        format!("{name}{SUFFIX}"),
        format!("{CARGO_PREFIX}{}{SUFFIX}", name.replace('-', "_")),
    ]
}

/// A file standing for a plugin in one directory.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub path: PathBuf,
    pub origin: Origin,
}

/// Every file that stands for plugin `name`, in search order; the first one wins.
pub fn candidates(dirs: &[SearchDir], name: &str) -> Vec<Candidate> {
    let mut found = Vec::new();
    for dir in dirs {
        // One file per directory: `<name>.so` beats cargo's name in the same directory.
        let hit = file_names(name)
            .into_iter()
            .map(|file| dir.path.join(file))
            .find(|path| path.symlink_metadata().is_ok());
        if let Some(path) = hit {
            found.push(Candidate {
                path,
                origin: dir.origin,
            });
        }
    }
    found
}

/// Every plugin name found in any search directory, each with its candidates in search order.
pub fn all_candidates(dirs: &[SearchDir]) -> BTreeMap<String, Vec<Candidate>> {
    let mut names = std::collections::BTreeSet::new();
    for dir in dirs {
        // A missing directory is normal (the site directory is never created by the package).
        let Ok(entries) = std::fs::read_dir(&dir.path) else {
            continue;
        };
        for entry in entries.flatten() {
            let file_name: OsString = entry.file_name();
            if let Some(name) = file_name.to_str().and_then(plugin_name_of) {
                names.insert(name);
            }
        }
    }
    names
        .into_iter()
        .map(|name| {
            let found = candidates(dirs, &name);
            (name, found)
        })
        .collect()
}

/// The plugin directories searched, for messages: `/usr/local/lib/..., /usr/lib/...`.
pub fn searched(dirs: &[SearchDir]) -> String {
    dirs.iter()
        .map(|d| d.path.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_from_files() {
        assert_eq!(plugin_name_of("members.so").as_deref(), Some("members"));
        assert_eq!(
            plugin_name_of("force-leave.so").as_deref(),
            Some("force-leave")
        );
        assert_eq!(
            plugin_name_of("libcarbonio_mesh_plugin_force_leave.so").as_deref(),
            Some("force-leave")
        );
        assert_eq!(plugin_name_of("README"), None);
        assert_eq!(plugin_name_of("Evil Name.so"), None);
        assert_eq!(plugin_name_of("libother.so").as_deref(), Some("libother"));
        assert_eq!(plugin_name_of(".so"), None);
    }

    #[test]
    fn search_order_is_dir_site_vendor() {
        let paths = SystemPaths::new(Some(PathBuf::from("/r")));
        let dirs = search_dirs(&paths, Some(Path::new("/opt/p")));
        let got: Vec<_> = dirs.iter().map(|d| (d.path.clone(), d.origin)).collect();
        assert_eq!(
            got,
            [
                (PathBuf::from("/opt/p"), Origin::Dir),
                (
                    PathBuf::from("/r/usr/local/lib/carbonio-mesh/plugins"),
                    Origin::Site
                ),
                (
                    PathBuf::from("/r/usr/lib/carbonio-mesh/plugins"),
                    Origin::Vendor
                ),
            ]
        );
    }

    #[test]
    fn first_directory_wins_and_short_name_beats_cargo_name() {
        let tmp = tempfile::tempdir().unwrap();
        let (site, vendor) = (tmp.path().join("site"), tmp.path().join("vendor"));
        std::fs::create_dir_all(&site).unwrap();
        std::fs::create_dir_all(&vendor).unwrap();
        std::fs::write(vendor.join("members.so"), b"v").unwrap();
        std::fs::write(site.join("libcarbonio_mesh_plugin_members.so"), b"c").unwrap();
        std::fs::write(site.join("members.so"), b"s").unwrap();
        let dirs = [
            SearchDir {
                path: site.clone(),
                origin: Origin::Site,
            },
            SearchDir {
                path: vendor.clone(),
                origin: Origin::Vendor,
            },
        ];
        let found = candidates(&dirs, "members");
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].path, site.join("members.so"));
        assert_eq!(found[1].path, vendor.join("members.so"));
        assert_eq!(
            all_candidates(&dirs).keys().collect::<Vec<_>>(),
            ["members"]
        );
    }
}
