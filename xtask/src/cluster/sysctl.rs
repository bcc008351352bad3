//! Host sysctls the kubelet rewrites at start (kernel.panic, kernel.panic_on_oops,
//! vm.overcommit_memory). They are global, not per network namespace, so the
//! original values are saved before the first kubelet start and put back by `down`.

use std::path::PathBuf;

use anyhow::Context;

use super::layout::Layout;

const KEYS: [&str; 3] = [
    "kernel.panic",
    "kernel.panic_on_oops",
    "vm.overcommit_memory",
];

fn proc_path(key: &str) -> PathBuf {
    PathBuf::from("/proc/sys").join(key.replace('.', "/"))
}

/// Saves the current values unless a save from an earlier, unfinished run
/// exists (those are the real originals; the current ones may be the kubelet's).
pub fn save(layout: &Layout) -> anyhow::Result<()> {
    let file = layout.saved_sysctls();
    if file.exists() {
        return Ok(());
    }
    let mut saved = String::new();
    for key in KEYS {
        let value = std::fs::read_to_string(proc_path(key))
            .with_context(|| format!("cannot read sysctl {key}"))?;
        saved.push_str(&format!("{key}={}\n", value.trim()));
    }
    super::host::write_atomic(&file, saved)
}

/// Writes the saved values back and forgets them.
pub fn restore(layout: &Layout) -> anyhow::Result<()> {
    let file = layout.saved_sysctls();
    let Ok(saved) = std::fs::read_to_string(&file) else {
        return Ok(());
    };
    for line in saved.lines() {
        if let Some((key, value)) = line.split_once('=')
            && KEYS.contains(&key)
        {
            std::fs::write(proc_path(key), value)
                .with_context(|| format!("cannot restore sysctl {key}={value}"))?;
        }
    }
    std::fs::remove_file(&file)?;
    Ok(())
}
