//! What the load generator reads of a process from /proc while it runs: resident memory and
//! CPU time of a process tree, and the CPU time of each thread of the server, by name.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The entries of `dir` named by a number (processes in /proc, threads in /proc/PID/task),
/// with their paths.
fn numbered(dir: impl AsRef<Path>) -> Vec<(u32, PathBuf)> {
    let Ok(dir) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|entry| {
            let n = entry.file_name().to_str()?.parse::<u32>().ok()?;
            Some((n, entry.path()))
        })
        .collect()
}

/// Resident memory (KiB) and CPU ticks of `pid` and all its descendants.
pub fn tree_usage(pid: u32) -> (u64, u64) {
    let procs: Vec<(u32, u32)> = numbered("/proc")
        .into_iter()
        .filter_map(|(p, path)| {
            let ppid = stat_fields(&path.join("stat"))?.get(1)?.parse().ok()?;
            Some((p, ppid))
        })
        .collect();
    let mut tree = vec![pid];
    let mut i = 0;
    while i < tree.len() {
        let parent = tree[i];
        tree.extend(
            procs
                .iter()
                .filter(|(_, pp)| *pp == parent)
                .map(|(p, _)| *p),
        );
        i += 1;
    }
    let mut rss = 0;
    let mut ticks = 0;
    for p in tree {
        rss += rss_kib(p);
        ticks += cpu_ticks(p);
    }
    (rss, ticks)
}

/// The fields of a stat file (/proc/PID/stat, /proc/PID/task/TID/stat) after the command
/// name: state, ppid, ...
fn stat_fields(path: &Path) -> Option<Vec<String>> {
    let text = std::fs::read_to_string(path).ok()?;
    let rest = &text[text.rfind(')')? + 2..];
    Some(rest.split(' ').map(str::to_owned).collect())
}

/// utime + stime of a stat file, in clock ticks (fields 14 and 15 of proc(5)); `None` when it
/// cannot be read (the process or thread has ended).
fn stat_ticks(path: &Path) -> Option<u64> {
    stat_fields(path).map(|f| {
        let get = |i: usize| f.get(i).and_then(|s| s.parse::<u64>().ok()).unwrap_or(0);
        get(11) + get(12)
    })
}

/// utime + stime of `pid`, all its threads together, in clock ticks (0 once it has ended).
pub fn cpu_ticks(pid: u32) -> u64 {
    stat_ticks(Path::new(&format!("/proc/{pid}/stat"))).unwrap_or(0)
}

/// CPU seconds this process has used, all its threads together.
pub fn process_cpu_secs() -> f64 {
    cpu_ticks(std::process::id()) as f64 / TICKS_PER_SEC
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

/// Linux reports CPU times in USER_HZ ticks, 100 per second on every architecture it runs on.
pub const TICKS_PER_SEC: f64 = 100.0;

/// The CPU ticks of each thread of `pid` (its own threads, not its children's), by thread id,
/// with the thread's name.
pub fn thread_ticks(pid: u32) -> HashMap<u32, (String, u64)> {
    numbered(format!("/proc/{pid}/task"))
        .into_iter()
        .filter_map(|(tid, path)| {
            let name = std::fs::read_to_string(path.join("comm")).ok()?;
            let ticks = stat_ticks(&path.join("stat"))?;
            Some((tid, (name.trim().to_owned(), ticks)))
        })
        .collect()
}

/// The cores each thread used between two [`thread_ticks`] samples `secs` apart, busiest
/// first, threads under 0.01 cores left out: which thread, if any, is saturated.
///
/// ```
/// use std::collections::HashMap;
/// use cloud_otp_bench::procfs::busiest_threads;
/// let before = HashMap::from([(1, ("writer".to_owned(), 100)), (2, ("idle".to_owned(), 5))]);
/// let after = HashMap::from([(1, ("writer".to_owned(), 190)), (2, ("idle".to_owned(), 5))]);
/// assert_eq!(busiest_threads(&before, &after, 1.0), vec![("writer".to_owned(), 0.9)]);
/// ```
pub fn busiest_threads(
    before: &HashMap<u32, (String, u64)>,
    after: &HashMap<u32, (String, u64)>,
    secs: f64,
) -> Vec<(String, f64)> {
    let mut out: Vec<(String, f64)> = after
        .iter()
        .map(|(tid, (name, ticks))| {
            let was = before.get(tid).map_or(0, |(_, t)| *t);
            let cores = ticks.saturating_sub(was) as f64 / TICKS_PER_SEC / secs.max(1e-6);
            (name.clone(), (cores * 100.0).round() / 100.0)
        })
        .filter(|(_, cores)| *cores >= 0.01)
        .collect();
    out.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    out
}
