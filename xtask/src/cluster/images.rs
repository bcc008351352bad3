//! Container images built without a registry or a Docker engine.
//!
//! Why: the machine has neither. An image is a docker-archive tarball
//! (`manifest.json`, a config blob, one uncompressed layer tar) that
//! `ctr images import` loads into containerd's `k8s.io` namespace in a
//! fraction of a second. Tarballs are cached under a hash of everything that
//! goes into them, so they are rebuilt only when an input changes.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use agentpod_testkit::cluster::{
    BUSYBOX_IMAGE, CLAUDE_RUNNER_BINARY, CLAUDE_RUNNER_HOME, CLAUDE_RUNNER_IMAGE,
    CLAUDE_RUNNER_UID, PAUSE_IMAGE,
};
use agentpod_testkit::model::ClaudeCli;
use anyhow::{Context, bail};
use sha2::{Digest, Sha256};

use super::host::{output_of, run};
use super::kubernetes::PAUSE_BINARY;
use super::layout::Layout;

const BUSYBOX: &str = "/bin/busybox";
const BASH: &str = "/bin/bash";

/// One file-system entry of an image's single layer.
#[derive(Debug)]
enum Entry {
    Dir {
        path: String,
        mode: u32,
        owner: u64,
    },
    /// A copy of a host file (symlinks followed).
    Copy {
        path: String,
        from: PathBuf,
        mode: u32,
    },
    Text {
        path: String,
        text: String,
    },
    Link {
        path: String,
        target: String,
    },
}

/// What an image is made of.
#[derive(Debug)]
struct Recipe {
    reference: &'static str,
    entries: Vec<Entry>,
    config: serde_json::Value,
}

/// Builds (or reuses) the tarballs of the pause, busybox and claude runner images.
pub fn ensure_tarballs(layout: &Layout) -> anyhow::Result<Vec<PathBuf>> {
    let claude = ClaudeCli::ensure_installed()
        .map_err(|error| anyhow::anyhow!("cannot install the claude CLI: {error}"))?;
    let recipes = [
        pause_recipe(layout),
        busybox_recipe()?,
        claude_runner_recipe(claude.path())?,
    ];
    recipes
        .iter()
        .map(|recipe| cached_tarball(layout, recipe))
        .collect()
}

/// Imports tarballs into containerd's `k8s.io` namespace (idempotent: an
/// import of an existing image just re-tags it).
pub fn import(socket: &Path, tarballs: &[PathBuf]) -> anyhow::Result<()> {
    for tarball in tarballs {
        let mut ctr = Command::new("ctr");
        ctr.arg("-a")
            .arg(socket)
            .args(["-n", "k8s.io", "images", "import"])
            .arg(tarball);
        output_of(&mut ctr).with_context(|| format!("importing {}", tarball.display()))?;
    }
    Ok(())
}

fn pause_recipe(layout: &Layout) -> Recipe {
    Recipe {
        reference: PAUSE_IMAGE,
        entries: vec![Entry::Copy {
            path: "pause".into(),
            from: layout.k8s_binary(PAUSE_BINARY),
            mode: 0o755,
        }],
        config: serde_json::json!({"Entrypoint": ["/pause"]}),
    }
}

/// busybox-static with a link per applet, `/tmp`, and root/nobody users.
fn busybox_entries(passwd: &str, group: &str) -> anyhow::Result<Vec<Entry>> {
    let mut entries = vec![
        Entry::Dir {
            path: "bin".into(),
            mode: 0o755,
            owner: 0,
        },
        Entry::Copy {
            path: "bin/busybox".into(),
            from: BUSYBOX.into(),
            mode: 0o755,
        },
        Entry::Dir {
            path: "tmp".into(),
            mode: 0o1777,
            owner: 0,
        },
        Entry::Dir {
            path: "root".into(),
            mode: 0o700,
            owner: 0,
        },
        Entry::Dir {
            path: "etc".into(),
            mode: 0o755,
            owner: 0,
        },
        Entry::Text {
            path: "etc/passwd".into(),
            text: passwd.into(),
        },
        Entry::Text {
            path: "etc/group".into(),
            text: group.into(),
        },
    ];
    let applets = run(BUSYBOX, ["--list-full"])?;
    let mut dirs: Vec<String> = Vec::new();
    for applet in applets.lines().map(str::trim).filter(|a| !a.is_empty()) {
        if applet == "bin/busybox" {
            continue;
        }
        if let Some((dir, _)) = applet.rsplit_once('/')
            && dir != "bin"
            && !dirs.iter().any(|d| d == dir)
        {
            dirs.push(dir.to_string());
        }
        entries.push(Entry::Link {
            path: applet.into(),
            target: "/bin/busybox".into(),
        });
    }
    dirs.sort_by_key(|dir| dir.len());
    for dir in dirs.into_iter().rev() {
        entries.insert(
            1,
            Entry::Dir {
                path: dir,
                mode: 0o755,
                owner: 0,
            },
        );
    }
    Ok(entries)
}

const ROOT_PASSWD: &str =
    "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n";
const ROOT_GROUP: &str = "root:x:0:\nnogroup:x:65534:\n";

fn busybox_recipe() -> anyhow::Result<Recipe> {
    Ok(Recipe {
        reference: BUSYBOX_IMAGE,
        entries: busybox_entries(ROOT_PASSWD, ROOT_GROUP)?,
        config: serde_json::json!({
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Cmd": ["sh"],
        }),
    })
}

/// busybox + the glibc libraries `claude` links (found with ldd) + the
/// binary, run as a non-root user with a writable home. The CLI's Bash tool
/// refuses busybox `sh` ("No suitable shell found"), so the host's `bash`
/// (an essential Debian package) and its libraries go in too.
fn claude_runner_recipe(claude: &Path) -> anyhow::Result<Recipe> {
    let uid = CLAUDE_RUNNER_UID;
    let passwd = format!("{ROOT_PASSWD}agent:x:{uid}:{uid}:agent:{CLAUDE_RUNNER_HOME}:{BASH}\n");
    let group = format!("{ROOT_GROUP}agent:x:{uid}:\n");
    let mut entries = busybox_entries(&passwd, &group)?;
    let home = CLAUDE_RUNNER_HOME.trim_start_matches('/');
    entries.push(Entry::Dir {
        path: "home".into(),
        mode: 0o755,
        owner: 0,
    });
    entries.push(Entry::Dir {
        path: home.into(),
        mode: 0o755,
        owner: u64::try_from(uid)?,
    });
    let mut libraries = linked_libraries(claude)?;
    for library in linked_libraries(Path::new(BASH))? {
        if !libraries.contains(&library) {
            libraries.push(library);
        }
    }
    let mut files = Vec::new();
    for library in libraries {
        let inside = library
            .to_string_lossy()
            .trim_start_matches('/')
            .to_string();
        files.push(Entry::Copy {
            path: inside,
            from: library,
            mode: 0o755,
        });
    }
    files.push(Entry::Copy {
        path: BASH.trim_start_matches('/').into(),
        from: BASH.into(),
        mode: 0o755,
    });
    let binary = CLAUDE_RUNNER_BINARY.trim_start_matches('/');
    files.push(Entry::Copy {
        path: binary.into(),
        from: claude.to_path_buf(),
        mode: 0o755,
    });
    for file in &files {
        if let Entry::Copy { path, .. } = file {
            add_parent_dirs(&mut entries, path);
        }
    }
    entries.extend(files);
    Ok(Recipe {
        reference: CLAUDE_RUNNER_IMAGE,
        entries,
        config: serde_json::json!({
            "User": format!("{uid}:{uid}"),
            "WorkingDir": CLAUDE_RUNNER_HOME,
            "Env": [
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                format!("HOME={CLAUDE_RUNNER_HOME}"),
                format!("SHELL={BASH}"),
            ],
            "Cmd": [CLAUDE_RUNNER_BINARY, "--version"],
        }),
    })
}

/// Adds a `Dir` entry for each missing ancestor of `path`, outermost first.
fn add_parent_dirs(entries: &mut Vec<Entry>, path: &str) {
    let mut missing: Vec<String> = Path::new(path)
        .ancestors()
        .skip(1)
        .map(|dir| dir.to_string_lossy().into_owned())
        .filter(|dir| !dir.is_empty())
        .filter(|dir| {
            !entries
                .iter()
                .any(|e| matches!(e, Entry::Dir { path, .. } if path == dir))
        })
        .collect();
    missing.reverse();
    entries.extend(missing.into_iter().map(|path| Entry::Dir {
        path,
        mode: 0o755,
        owner: 0,
    }));
}

/// The shared libraries (and dynamic loader) a binary needs, per `ldd`.
fn linked_libraries(binary: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let listing = run("ldd", [binary])?;
    let mut libraries = Vec::new();
    for line in listing.lines() {
        let path = match line.split_once("=>") {
            Some((_, right)) => right.split_whitespace().next(),
            None => line
                .split_whitespace()
                .next()
                .filter(|p| p.starts_with('/')),
        };
        if let Some(path) = path.filter(|p| p.starts_with('/')) {
            libraries.push(PathBuf::from(path));
        }
    }
    if libraries.is_empty() {
        bail!("ldd found no libraries for {}: {listing}", binary.display());
    }
    Ok(libraries)
}

/// The tarball for `recipe`, built when no tarball with the same input hash exists.
fn cached_tarball(layout: &Layout, recipe: &Recipe) -> anyhow::Result<PathBuf> {
    let hash = input_hash(recipe)?;
    let stem: String = recipe
        .reference
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let dir = layout.images_dir();
    let tarball = dir.join(format!("{stem}-{}.tar", &hash[..16]));
    if tarball.is_file() {
        return Ok(tarball);
    }
    eprintln!("    building image {}", recipe.reference);
    std::fs::create_dir_all(&dir)?;
    // Older builds of the same image are stale now.
    for entry in std::fs::read_dir(&dir)?.flatten() {
        if entry
            .file_name()
            .to_string_lossy()
            .starts_with(&format!("{stem}-"))
        {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    let staging = dir.join(format!(".{stem}.partial-{}", std::process::id()));
    let result = write_archive(recipe, &staging);
    if let Err(error) = result {
        let _ = std::fs::remove_file(&staging);
        let _ = std::fs::remove_file(staging.with_extension("layer"));
        return Err(error);
    }
    std::fs::rename(&staging, &tarball)?;
    Ok(tarball)
}

/// SHA-256 over the recipe's description and the identity (device, inode,
/// size, modification time) of every copied file: hashing the 200 MB `claude`
/// binary's content on every `up` would cost seconds, and a reinstall or
/// package upgrade changes these fields anyway.
fn input_hash(recipe: &Recipe) -> anyhow::Result<String> {
    use std::os::unix::fs::MetadataExt as _;
    let mut hasher = Sha256::new();
    hasher.update(format!("{recipe:?}").as_bytes());
    for entry in &recipe.entries {
        if let Entry::Copy { from, .. } = entry {
            let meta = std::fs::metadata(from)
                .with_context(|| format!("cannot read {}", from.display()))?;
            let identity = (
                meta.dev(),
                meta.ino(),
                meta.size(),
                meta.mtime(),
                meta.mtime_nsec(),
            );
            hasher.update(format!("{identity:?}").as_bytes());
        }
    }
    Ok(hex(&hasher.finalize()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A writer that hashes what passes through it.
struct Hashing<W> {
    inner: W,
    hasher: Sha256,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let written = self.inner.write(buf)?;
        self.hasher.update(&buf[..written]);
        Ok(written)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

fn write_archive(recipe: &Recipe, target: &Path) -> anyhow::Result<()> {
    let layer_path = target.with_extension("layer");
    let layer_file = BufWriter::new(File::create(&layer_path)?);
    let mut layer = tar::Builder::new(Hashing {
        inner: layer_file,
        hasher: Sha256::new(),
    });
    layer.follow_symlinks(true);
    for entry in &recipe.entries {
        append(&mut layer, entry)?;
    }
    let mut hashing = layer.into_inner()?;
    hashing.flush()?;
    let layer_digest = hex(&hashing.hasher.finalize());

    let mut config = serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "config": recipe.config,
        "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{layer_digest}")]},
    });
    if let Some(object) = config.get_mut("config").and_then(|c| c.as_object_mut()) {
        object.entry("Env").or_insert_with(|| serde_json::json!([]));
    }
    let config_bytes = serde_json::to_vec(&config)?;
    let config_name = format!("{}.json", hex(&Sha256::digest(&config_bytes)));
    let layer_name = format!("{layer_digest}/layer.tar");
    let manifest = serde_json::to_vec(&serde_json::json!([{
        "Config": config_name,
        "RepoTags": [recipe.reference],
        "Layers": [layer_name],
    }]))?;

    let mut archive = tar::Builder::new(BufWriter::new(File::create(target)?));
    append_bytes(&mut archive, "manifest.json", &manifest)?;
    append_bytes(&mut archive, &config_name, &config_bytes)?;
    archive.append_path_with_name(&layer_path, &layer_name)?;
    archive.into_inner()?.flush()?;
    std::fs::remove_file(&layer_path)?;
    Ok(())
}

fn header(kind: tar::EntryType, mode: u32, owner: u64, size: u64) -> tar::Header {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(kind);
    header.set_mode(mode);
    header.set_uid(owner);
    header.set_gid(owner);
    header.set_size(size);
    header.set_mtime(0);
    header
}

fn append<W: Write>(layer: &mut tar::Builder<W>, entry: &Entry) -> anyhow::Result<()> {
    match entry {
        Entry::Dir { path, mode, owner } => {
            let mut h = header(tar::EntryType::Directory, *mode, *owner, 0);
            layer.append_data(&mut h, format!("{path}/"), std::io::empty())?;
        }
        Entry::Copy { path, from, mode } => {
            let file =
                File::open(from).with_context(|| format!("cannot read {}", from.display()))?;
            let mut h = header(tar::EntryType::Regular, *mode, 0, file.metadata()?.len());
            layer.append_data(&mut h, path, file)?;
        }
        Entry::Text { path, text } => {
            let mut h = header(tar::EntryType::Regular, 0o644, 0, text.len() as u64);
            layer.append_data(&mut h, path, text.as_bytes())?;
        }
        Entry::Link { path, target } => {
            let mut h = header(tar::EntryType::Symlink, 0o777, 0, 0);
            layer.append_link(&mut h, path, target)?;
        }
    }
    Ok(())
}

fn append_bytes<W: Write>(
    archive: &mut tar::Builder<W>,
    name: &str,
    bytes: &[u8],
) -> anyhow::Result<()> {
    let mut h = header(tar::EntryType::Regular, 0o644, 0, bytes.len() as u64);
    archive.append_data(&mut h, name, bytes)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use sha2::{Digest, Sha256};

    use super::{Entry, Recipe, hex, write_archive};

    /// Reads every member of a tar archive into (name, bytes).
    fn members(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
        let mut archive = tar::Archive::new(bytes);
        archive
            .entries()
            .unwrap()
            .map(|entry| {
                let mut entry = entry.unwrap();
                let name = entry.path().unwrap().to_string_lossy().into_owned();
                let mut data = Vec::new();
                entry.read_to_end(&mut data).unwrap();
                (name, data)
            })
            .collect()
    }

    #[test]
    fn docker_archive_has_manifest_config_and_a_layer_matching_its_diff_id() {
        let dir = std::env::temp_dir().join(format!("xtask-image-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let source = dir.join("tool");
        std::fs::write(&source, b"#!/bin/sh\necho hi\n").unwrap();
        let recipe = Recipe {
            reference: "agentpod.local/test:1",
            entries: vec![
                Entry::Dir {
                    path: "home/agent".into(),
                    mode: 0o755,
                    owner: 1000,
                },
                Entry::Copy {
                    path: "bin/tool".into(),
                    from: source,
                    mode: 0o755,
                },
                Entry::Text {
                    path: "etc/passwd".into(),
                    text: "root:x:0:0::/:/bin/sh\n".into(),
                },
                Entry::Link {
                    path: "bin/sh".into(),
                    target: "/bin/busybox".into(),
                },
            ],
            config: serde_json::json!({"User": "1000:1000"}),
        };
        let target = dir.join("image.tar");
        write_archive(&recipe, &target).unwrap();
        let outer = members(&std::fs::read(&target).unwrap());
        std::fs::remove_dir_all(&dir).unwrap();

        let find = |name: &str| {
            outer
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, d)| d.clone())
        };
        let manifest: serde_json::Value =
            serde_json::from_slice(&find("manifest.json").unwrap()).unwrap();
        assert_eq!(
            manifest[0]["RepoTags"],
            serde_json::json!(["agentpod.local/test:1"])
        );
        let config_name = manifest[0]["Config"].as_str().unwrap();
        let config_bytes = find(config_name).unwrap();
        assert_eq!(
            config_name,
            format!("{}.json", hex(&Sha256::digest(&config_bytes)))
        );
        let config: serde_json::Value = serde_json::from_slice(&config_bytes).unwrap();
        assert_eq!(config["config"]["User"], "1000:1000");
        assert_eq!(config["os"], "linux");

        let layer = find(manifest[0]["Layers"][0].as_str().unwrap()).unwrap();
        let diff_id = format!("sha256:{}", hex(&Sha256::digest(&layer)));
        assert_eq!(config["rootfs"]["diff_ids"][0], diff_id);
        let files = members(&layer);
        let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["home/agent/", "bin/tool", "etc/passwd", "bin/sh"]);
        assert_eq!(files[1].1, b"#!/bin/sh\necho hi\n");
    }
}
