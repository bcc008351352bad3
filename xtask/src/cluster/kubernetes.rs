//! Kubernetes binaries built from Debian's `kubernetes` source package.
//!
//! Why from source: Debian ships no kube-apiserver/kubelet binaries, but its
//! source package (upstream 1.20.2, every Go dependency vendored) builds
//! offline with Debian's Go. The system's apt has no `deb-src` entries, so a
//! private apt configuration (own sources, lists and archive dirs) derived from
//! the machine's own Debian source list fetches it, leaving the system's apt
//! untouched. The binaries (and a static `pause` compiled from the same tree)
//! are cached per version; the source tree is deleted after the build, the Go
//! build cache is kept so a rebuild is quick.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use agentpod_testkit::cluster::KUBERNETES_VERSION;
use anyhow::{Context, bail};

use super::host::{output_of, run, run_logged};
use super::layout::Layout;

/// The binaries `make` builds, all kept in the cache.
pub const KUBE_BINARIES: [&str; 4] = [
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kubelet",
];

/// The static sandbox binary compiled from the same source tree.
pub const PAUSE_BINARY: &str = "pause";

/// Makes sure the cached binaries exist, building them when absent.
pub fn ensure_binaries(layout: &Layout) -> anyhow::Result<()> {
    let bin = layout.k8s_bin();
    let complete = KUBE_BINARIES
        .iter()
        .chain([&PAUSE_BINARY])
        .all(|name| bin.join(name).is_file());
    if complete {
        return Ok(());
    }
    eprintln!(
        "==> building Kubernetes v{KUBERNETES_VERSION} from Debian's source package (once; ~5-8 min on 2 cores)"
    );
    let started = Instant::now();
    // A fixed path: the compiler's -trimpath flags name it, so only a stable
    // tree path lets a rebuild hit the Go build cache.
    let work = layout.k8s_dir().join("work");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work)?;
    let result = build_into(layout, &work);
    // The tree and make's output are ~2.5 GB: never leave them behind.
    let _ = std::fs::remove_dir_all(&work);
    result?;
    eprintln!(
        "==> Kubernetes binaries cached in {} after {} s",
        bin.display(),
        started.elapsed().as_secs()
    );
    Ok(())
}

fn build_into(layout: &Layout, work: &Path) -> anyhow::Result<()> {
    let downloads = fetch_source(layout)?;
    let tree = work.join("kubernetes");
    eprintln!("    extracting the source package");
    let dsc = find_with_suffix(&downloads, ".dsc")?;
    run(
        "dpkg-source",
        [
            "-x".as_ref(),
            "--no-check".as_ref(),
            dsc.as_os_str(),
            tree.as_os_str(),
        ],
    )?;

    let home = work.join("home");
    std::fs::create_dir_all(&home)?;
    // The tree's build scripts force GOCACHE to `_output/local/go/cache`;
    // pointing that at the cache dir keeps the Go build cache (about 2 GB)
    // when the tree is deleted, so a rebuild takes a fraction of the cold time.
    std::fs::create_dir_all(layout.go_cache())?;
    let go_output = tree.join("_output/local/go");
    std::fs::create_dir_all(&go_output)?;
    std::os::unix::fs::symlink(layout.go_cache(), go_output.join("cache"))?;
    let mut make = Command::new("make");
    make.current_dir(&tree)
        .env_remove("GOFLAGS")
        .env("HOME", &home)
        .env("GOPROXY", "off")
        .env("CGO_ENABLED", "0")
        .env("GOTMPDIR", &home)
        .arg(format!(
            "WHAT={}",
            KUBE_BINARIES.map(|b| format!("cmd/{b}")).join(" ")
        ));
    run_logged(
        &mut make,
        "make (kube-apiserver, kubelet, kube-scheduler, kube-controller-manager)",
        &work.join("build.log"),
    )?;

    let staging = layout
        .k8s_dir()
        .join(format!("bin.partial-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging)?;
    let built = tree.join("_output/local/bin/linux/amd64");
    for name in KUBE_BINARIES {
        std::fs::copy(built.join(name), staging.join(name))
            .with_context(|| format!("make did not produce {name} in {}", built.display()))?;
    }
    let mut gcc = Command::new("gcc");
    gcc.args(["-static", "-Os", "-o"])
        .arg(staging.join(PAUSE_BINARY))
        .arg(format!("-DVERSION=v{KUBERNETES_VERSION}-agentpod"))
        .arg(tree.join("build/pause/linux/pause.c"));
    output_of(&mut gcc)?;

    let bin = layout.k8s_bin();
    let _ = std::fs::remove_dir_all(&bin);
    std::fs::rename(&staging, &bin)
        .with_context(|| format!("cannot move the binaries to {}", bin.display()))?;
    Ok(())
}

/// Downloads the source package (once) into the cache and returns its dir.
fn fetch_source(layout: &Layout) -> anyhow::Result<PathBuf> {
    let downloads = layout.k8s_dir().join("source");
    if find_with_suffix(&downloads, ".dsc").is_ok() {
        return Ok(downloads);
    }
    eprintln!("    fetching Debian's kubernetes source package with a private apt configuration");
    let apt = layout.apt_dir();
    let parts = apt.join("sources.list.d");
    for dir in [
        &parts,
        &apt.join("lists/partial"),
        &apt.join("archives/partial"),
    ] {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(parts.join("agentpod-src.sources"), source_entry()?)?;
    let options = [
        "-o".to_string(),
        "Dir::Etc::SourceList=/dev/null".to_string(),
        "-o".to_string(),
        format!("Dir::Etc::SourceParts={}", parts.display()),
        "-o".to_string(),
        format!("Dir::State::Lists={}", apt.join("lists").display()),
        "-o".to_string(),
        format!("Dir::Cache::Archives={}", apt.join("archives").display()),
    ];
    let mut update = Command::new("apt-get");
    update.args(&options).args(["-q", "update"]);
    output_of(&mut update)?;

    let staging = layout
        .k8s_dir()
        .join(format!("source.partial-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging)?;
    let mut source = Command::new("apt-get");
    source.current_dir(&staging).args(&options).args([
        "-q",
        "source",
        "--download-only",
        "kubernetes",
    ]);
    output_of(&mut source)?;
    let dsc = find_with_suffix(&staging, ".dsc")?;
    let dsc_name = dsc
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if !dsc_name.contains(&format!("really{KUBERNETES_VERSION}"))
        && !dsc_name.contains(&format!("_{KUBERNETES_VERSION}"))
    {
        bail!(
            "the kubernetes source package is {dsc_name}, not upstream {KUBERNETES_VERSION}; update KUBERNETES_VERSION in agentpod-testkit"
        );
    }
    let _ = std::fs::remove_dir_all(&downloads);
    std::fs::rename(&staging, &downloads)?;
    Ok(downloads)
}

/// A deb822 `deb-src` entry for the machine's main Debian archive: the first
/// `deb` entry of `/etc/apt/sources.list.d/*.sources` (or a one-line
/// `sources.list` entry) that is not the security archive.
fn source_entry() -> anyhow::Result<String> {
    let mut files: Vec<PathBuf> = std::fs::read_dir("/etc/apt/sources.list.d")
        .map(|dir| dir.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.sort();
    files.insert(0, PathBuf::from("/etc/apt/sources.list"));
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        let entry = if file.extension().is_some_and(|e| e == "sources") {
            deb_src_from_deb822(&text)
        } else {
            deb_src_from_one_line(&text)
        };
        if let Some(entry) = entry {
            return Ok(entry);
        }
    }
    bail!(
        "no Debian archive found in /etc/apt/sources.list.d or /etc/apt/sources.list to fetch the kubernetes source package from"
    )
}

fn deb_src_from_deb822(text: &str) -> Option<String> {
    for stanza in text.split("\n\n") {
        let field = |key: &str| {
            stanza.lines().find_map(|line| {
                line.strip_prefix(key)
                    .and_then(|rest| rest.strip_prefix(':'))
                    .map(|value| value.trim().to_string())
            })
        };
        let (Some(types), Some(uris), Some(suites)) =
            (field("Types"), field("URIs"), field("Suites"))
        else {
            continue;
        };
        if !types.split_whitespace().any(|t| t == "deb") || uris.contains("security") {
            continue;
        }
        let suite = suites.split_whitespace().next().unwrap_or_default();
        let components = field("Components").unwrap_or_else(|| "main".into());
        let mut entry =
            format!("Types: deb-src\nURIs: {uris}\nSuites: {suite}\nComponents: {components}\n");
        if let Some(keyring) = field("Signed-By") {
            entry.push_str(&format!("Signed-By: {keyring}\n"));
        }
        return Some(entry);
    }
    None
}

fn deb_src_from_one_line(text: &str) -> Option<String> {
    for line in text.lines() {
        let mut words = line.split_whitespace().peekable();
        if words.next() != Some("deb") {
            continue;
        }
        // Options such as `[signed-by=…]` may follow `deb`.
        let mut options = Vec::new();
        if words.peek().is_some_and(|w| w.starts_with('[')) {
            for word in words.by_ref() {
                options.push(word.trim_matches(|c| c == '[' || c == ']').to_string());
                if word.ends_with(']') {
                    break;
                }
            }
        }
        let rest: Vec<&str> = words.collect();
        if rest.len() < 3 || rest[0].contains("security") {
            continue;
        }
        let mut entry = format!(
            "Types: deb-src\nURIs: {}\nSuites: {}\nComponents: {}\n",
            rest[0],
            rest[1],
            rest[2..].join(" ")
        );
        if let Some(keyring) = options.iter().find_map(|o| o.strip_prefix("signed-by=")) {
            entry.push_str(&format!("Signed-By: {keyring}\n"));
        }
        return Some(entry);
    }
    None
}

fn find_with_suffix(dir: &Path, suffix: &str) -> anyhow::Result<PathBuf> {
    std::fs::read_dir(dir)
        .with_context(|| format!("cannot read {}", dir.display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .find(|path| path.to_string_lossy().ends_with(suffix))
        .with_context(|| format!("no *{suffix} in {}", dir.display()))
}

#[cfg(test)]
mod tests {
    use super::{deb_src_from_deb822, deb_src_from_one_line};

    #[test]
    fn deb822_source_skips_security_and_keeps_the_keyring() {
        let sources = "Types: deb\nURIs: http://archive.example/debian-security\nSuites: bookworm-security\nComponents: main\n\n\
                       Types: deb\nURIs: http://archive.example/debian\nSuites: bookworm bookworm-updates\nComponents: main contrib\nSigned-By: /usr/share/keyrings/k.gpg\n";
        assert_eq!(
            deb_src_from_deb822(sources).as_deref(),
            Some(
                "Types: deb-src\nURIs: http://archive.example/debian\nSuites: bookworm\nComponents: main contrib\nSigned-By: /usr/share/keyrings/k.gpg\n"
            )
        );
        assert_eq!(
            deb_src_from_deb822("Types: deb-src\nURIs: x\nSuites: y\n"),
            None
        );
    }

    #[test]
    fn one_line_source_understands_options() {
        let list = "# comment\ndeb [arch=amd64 signed-by=/k.gpg] http://archive.example/debian bookworm main\n";
        assert_eq!(
            deb_src_from_one_line(list).as_deref(),
            Some(
                "Types: deb-src\nURIs: http://archive.example/debian\nSuites: bookworm\nComponents: main\nSigned-By: /k.gpg\n"
            )
        );
        assert_eq!(deb_src_from_one_line("deb-src http://x y main\n"), None);
    }
}
