//! The table of ratios: what `cargo xtask bench` prints and `--write` puts into a document.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::cluster::{Concurrency, Counted, PoolCall, Side, TimedCall};

/// Marks the generated block in a document (`--write`).
pub const BEGIN: &str = "<!-- bench-table:begin -->";
/// End of the generated block.
pub const END: &str = "<!-- bench-table:end -->";

/// One pure-layer operation of B6, ours and theirs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LayerOp {
    /// Criterion's group name (also the row's name).
    pub op: String,
    /// Median time per op, ns (ours, theirs).
    pub ns: (Option<f64>, Option<f64>),
    /// Allocations per op (ours, theirs).
    pub allocs: (f64, f64),
    /// Bytes allocated per op (ours, theirs).
    pub bytes: (f64, f64),
}

/// Everything one run measured.
#[derive(Debug, Default, Serialize)]
pub struct Results {
    /// The commit measured (and whether the tree was dirty).
    pub commit: String,
    /// B1 calls.
    pub b1: Vec<TimedCall>,
    /// B2 calls.
    pub b2: Vec<Counted>,
    /// B3 calls.
    pub b3: Vec<PoolCall>,
    /// B4: (N, ours, theirs).
    pub b4: Vec<(usize, Option<Concurrency>, Option<Concurrency>)>,
    /// B5: ours, theirs.
    pub b5: Option<(Option<Concurrency>, Option<Concurrency>)>,
    /// B5's stream size, MiB.
    pub b5_mib: usize,
    /// B6 operations.
    pub b6: Vec<LayerOp>,
    /// What was skipped and why.
    pub notes: Vec<String>,
}

fn median(mut values: Vec<f64>) -> Option<f64> {
    values.retain(|v| v.is_finite());
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    Some(if values.len().is_multiple_of(2) {
        f64::midpoint(values[mid - 1], values[mid])
    } else {
        values[mid]
    })
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn fmt_opt(value: Option<f64>, unit: &str, digits: usize) -> String {
    value.map_or_else(
        || "—".into(),
        |v| format!("{v:.digits$} {unit}").trim_end().to_owned(),
    )
}

fn ratio(ours: Option<f64>, theirs: Option<f64>) -> String {
    match (ours, theirs) {
        (Some(o), Some(t)) if t != 0.0 => format!("{:.2}×", o / t),
        _ => "—".into(),
    }
}

impl Results {
    fn b1_side(&self, side: Side, pick: impl Fn(&TimedCall) -> f64) -> Option<f64> {
        median(
            self.b1
                .iter()
                .filter(|c| c.side == side)
                .map(pick)
                .collect(),
        )
    }

    /// The table (GitHub markdown).
    pub fn table(&self) -> String {
        let mut rows: Vec<[String; 6]> = Vec::new();
        let mut row =
            |id: &str, what: &str, ours: String, theirs: String, r: String, target: &str| {
                rows.push([id.into(), what.into(), ours, theirs, r, target.into()]);
            };
        if !self.b1.is_empty() {
            let n = self.b1.iter().filter(|c| c.side == Side::Ours).count();
            let overhead = |c: &TimedCall| ms(c.wall) - ms(c.container);
            let (o, t) = (
                self.b1_side(Side::Ours, overhead),
                self.b1_side(Side::Theirs, overhead),
            );
            row(
                "B1",
                &format!("orchestration overhead per call (wall − container run), median of {n}"),
                fmt_opt(o, "ms", 0),
                fmt_opt(t, "ms", 0),
                ratio(o, t),
                "≤ 0.5×",
            );
            let (o, t) = (
                self.b1_side(Side::Ours, |c| ms(c.wall)),
                self.b1_side(Side::Theirs, |c| ms(c.wall)),
            );
            row(
                "B1",
                "wall time per call, median",
                fmt_opt(o, "ms", 0),
                fmt_opt(t, "ms", 0),
                ratio(o, t),
                "",
            );
            let (o, t) = (
                self.b1_side(Side::Ours, |c| ms(c.container)),
                self.b1_side(Side::Theirs, |c| ms(c.container)),
            );
            row(
                "B1",
                "container's own run (containerd task start → exit), median",
                fmt_opt(o, "ms", 0),
                fmt_opt(t, "ms", 0),
                ratio(o, t),
                "",
            );
            let (o, t) = (
                self.b1_side(Side::Ours, |c| c.exit_to_return_ms),
                self.b1_side(Side::Theirs, |c| c.exit_to_return_ms),
            );
            row(
                "B1",
                "container exit → call returned, median (negative: returned first)",
                fmt_opt(o, "ms", 0),
                fmt_opt(t, "ms", 0),
                String::new(),
                "",
            );
        }
        if !self.b2.is_empty() {
            let side = |s: Side, pick: fn(&Counted) -> f64| {
                median(self.b2.iter().filter(|c| c.side == s).map(pick).collect())
            };
            let n = self.b2.iter().filter(|c| c.side == Side::Ours).count();
            let (o, t) = (
                side(Side::Ours, |c| c.during as f64),
                side(Side::Theirs, |c| c.during as f64),
            );
            row(
                "B2",
                &format!("API requests per call until it returned (counting proxy), median of {n}"),
                fmt_opt(o, "", 0),
                fmt_opt(t, "", 0),
                ratio(o, t),
                "ours ≤ 5",
            );
            let (o, t) = (
                side(Side::Ours, |c| c.with_cleanup as f64),
                side(Side::Theirs, |c| c.with_cleanup as f64),
            );
            row(
                "B2",
                "…including the cleanup after the return",
                fmt_opt(o, "", 0),
                fmt_opt(t, "", 0),
                ratio(o, t),
                "",
            );
            let reported = median(
                self.b2
                    .iter()
                    .filter_map(|c| c.reported.map(|r| r as f64))
                    .collect(),
            );
            row(
                "B2",
                "ours: `AgentOutput::api_requests` for the same calls",
                fmt_opt(reported, "", 0),
                "—".into(),
                String::new(),
                "",
            );
        }
        if !self.b1.is_empty() {
            let reported = median(
                self.b1
                    .iter()
                    .filter_map(|c| c.api_requests.map(|r| r as f64))
                    .collect(),
            );
            let cleanup = median(
                self.b1
                    .iter()
                    .filter_map(|c| c.api_requests_with_cleanup.map(|r| r as f64))
                    .collect(),
            );
            row(
                "B2",
                "ours in the B1 calls: `api_requests` / with cleanup (transport counter)",
                format!("{} / {}", fmt_opt(reported, "", 0), fmt_opt(cleanup, "", 0)),
                "—".into(),
                String::new(),
                "ours ≤ 5",
            );
        }
        if !self.b3.is_empty() {
            let side = |pooled: bool, pick: fn(&PoolCall) -> Duration| {
                median(
                    self.b3
                        .iter()
                        .filter(|c| c.pooled == pooled)
                        .map(|c| ms(pick(c)))
                        .collect(),
                )
            };
            let n = self.b3.iter().filter(|c| c.pooled).count();
            let (pool, ephemeral) = (side(true, |c| c.wall), side(false, |c| c.wall));
            row(
                "B3",
                &format!(
                    "trivial call, median of {n}: warm pool (ours) vs our ephemeral call (theirs column)"
                ),
                fmt_opt(pool, "ms", 0),
                fmt_opt(ephemeral, "ms", 0),
                ratio(pool, ephemeral),
                "≤ 0.1×",
            );
            let (pool, ephemeral) = (side(true, |c| c.agent), side(false, |c| c.agent));
            row(
                "B3",
                "…of which the `claude` process itself (`timings.agent`), median",
                fmt_opt(pool, "ms", 0),
                fmt_opt(ephemeral, "ms", 0),
                String::new(),
                "",
            );
        }
        for (n, ours, theirs) in &self.b4 {
            let done = |c: &Option<Concurrency>| {
                c.as_ref().map_or("—".into(), |c| {
                    format!("{}/{}", c.child.ok, c.child.calls)
                })
            };
            row(
                "B4",
                &format!("{n} concurrent calls: answered"),
                done(ours),
                done(theirs),
                String::new(),
                "all",
            );
            let wall = |c: &Option<Concurrency>| c.as_ref().map(|c| c.child.wall.as_secs_f64());
            row(
                "B4",
                &format!("{n} concurrent calls: wall"),
                fmt_opt(wall(ours), "s", 1),
                fmt_opt(wall(theirs), "s", 1),
                ratio(wall(ours), wall(theirs)),
                "",
            );
            let rss =
                |c: &Option<Concurrency>| c.as_ref().map(|c| c.child.peak_rss_kib as f64 / 1024.0);
            row(
                "B4",
                &format!("{n} concurrent calls: orchestrator peak RSS (VmHWM)"),
                fmt_opt(rss(ours), "MiB", 1),
                fmt_opt(rss(theirs), "MiB", 1),
                ratio(rss(ours), rss(theirs)),
                "ours ≤ 64 MiB",
            );
            let left = |c: &Option<Concurrency>| {
                c.as_ref().map_or("—".into(), |c| {
                    format!(
                        "{}+{} / {}+{}",
                        c.left_at_exit.0, c.left_at_exit.1, c.left_after_30s.0, c.left_after_30s.1
                    )
                })
            };
            let mem = |c: &Option<Concurrency>| {
                c.as_ref().map(|c| c.min_mem_available_mib as f64 / 1024.0)
            };
            row(
                "B4",
                &format!("{n} concurrent calls: machine's lowest MemAvailable meanwhile"),
                fmt_opt(mem(ours), "GiB", 1),
                fmt_opt(mem(theirs), "GiB", 1),
                String::new(),
                "",
            );
            row(
                "B4",
                &format!("{n} concurrent calls: pods+Secrets left at exit / 30 s later"),
                left(ours),
                left(theirs),
                String::new(),
                "0",
            );
        }
        if let Some((ours, theirs)) = &self.b5 {
            let rss =
                |c: &Option<Concurrency>| c.as_ref().map(|c| c.child.peak_rss_kib as f64 / 1024.0);
            row(
                "B5",
                &format!(
                    "a pod printing {} MiB of stream-json: orchestrator peak RSS (VmHWM)",
                    self.b5_mib
                ),
                fmt_opt(rss(ours), "MiB", 1),
                fmt_opt(rss(theirs), "MiB", 1),
                ratio(rss(ours), rss(theirs)),
                "ours ≤ 64 MiB and ≤ 0.2×",
            );
            let base = |c: &Option<Concurrency>| {
                c.as_ref().map(|c| c.child.baseline_rss_kib as f64 / 1024.0)
            };
            row(
                "B5",
                "…the same process before the call",
                fmt_opt(base(ours), "MiB", 1),
                fmt_opt(base(theirs), "MiB", 1),
                String::new(),
                "",
            );
            let wall = |c: &Option<Concurrency>| c.as_ref().map(|c| c.child.wall.as_secs_f64());
            row(
                "B5",
                "…wall time of the call",
                fmt_opt(wall(ours), "s", 1),
                fmt_opt(wall(theirs), "s", 1),
                ratio(wall(ours), wall(theirs)),
                "",
            );
            let done = |c: &Option<Concurrency>| {
                c.as_ref().map_or("—".into(), |c| {
                    if c.child.ok == 1 {
                        "answered".to_owned()
                    } else {
                        format!("failed: {}", c.child.errors.join("; "))
                    }
                })
            };
            row(
                "B5",
                "…outcome",
                done(ours),
                done(theirs),
                String::new(),
                "",
            );
        }
        for op in &self.b6 {
            row(
                "B6",
                &format!("{}: time per op (criterion median)", op.op),
                fmt_time(op.ns.0),
                fmt_time(op.ns.1),
                ratio(op.ns.0, op.ns.1),
                "",
            );
            row(
                "B6",
                &format!("{}: allocations / bytes per op (ratio of bytes)", op.op),
                format!("{:.0} / {}", op.allocs.0, fmt_bytes(op.bytes.0)),
                format!("{:.0} / {}", op.allocs.1, fmt_bytes(op.bytes.1)),
                ratio(Some(op.bytes.0), Some(op.bytes.1)),
                "",
            );
        }
        let mut out = String::new();
        let _ = writeln!(
            out,
            "| | measure | ours (agentpod) | ironflow-core 2.10.1 | ours ÷ theirs | target |"
        );
        let _ = writeln!(out, "|---|---|---|---|---|---|");
        for r in rows {
            let _ = writeln!(out, "| {} |", r.join(" | "));
        }
        let _ = writeln!(out, "\nMeasured on commit {}.", self.commit);
        for note in &self.notes {
            let _ = writeln!(out, "{note}");
        }
        out
    }
}

fn fmt_time(ns: Option<f64>) -> String {
    match ns {
        None => "—".into(),
        Some(ns) if ns >= 1e6 => format!("{:.2} ms", ns / 1e6),
        Some(ns) if ns >= 1e3 => format!("{:.1} µs", ns / 1e3),
        Some(ns) => format!("{ns:.0} ns"),
    }
}

fn fmt_bytes(bytes: f64) -> String {
    if bytes >= 1024.0 * 1024.0 {
        format!("{:.1} MiB", bytes / 1024.0 / 1024.0)
    } else if bytes >= 1024.0 {
        format!("{:.1} KiB", bytes / 1024.0)
    } else {
        format!("{bytes:.0} B")
    }
}

/// Reads B6's figures: criterion's medians and the allocation counts the bench wrote.
pub fn read_layers(criterion_dir: &Path) -> anyhow::Result<Vec<LayerOp>> {
    let allocs = std::fs::read_to_string(criterion_dir.join(ALLOCS_FILE))?;
    let mut ops: Vec<LayerOp> = serde_json::from_str(&allocs)?;
    for op in &mut ops {
        let median = |who: &str| -> Option<f64> {
            let path = criterion_dir
                .join(&op.op)
                .join(who)
                .join("new")
                .join("estimates.json");
            let text = std::fs::read_to_string(path).ok()?;
            let value: serde_json::Value = serde_json::from_str(&text).ok()?;
            value.get("median")?.get("point_estimate")?.as_f64()
        };
        op.ns = (median("ours"), median("ironflow"));
    }
    Ok(ops)
}

/// Where the `layers` bench writes its allocation counts, inside criterion's directory.
pub const ALLOCS_FILE: &str = "agentpod-allocations.json";

/// Replaces the block between [`BEGIN`] and [`END`] in `path` with `table`.
pub fn write_into(path: &Path, table: &str) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(path)?;
    let (Some(start), Some(end)) = (text.find(BEGIN), text.find(END)) else {
        anyhow::bail!("{} has no {BEGIN} … {END} block", path.display());
    };
    let updated = format!("{}{BEGIN}\n{table}{}", &text[..start], &text[end..]);
    std::fs::write(path, updated)?;
    Ok(())
}
