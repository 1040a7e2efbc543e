//! What the load generator reads of a process from /proc while it runs: resident memory and
//! CPU time of a process tree, and the CPU time of each thread of the server, by name.

use std::collections::HashMap;

/// Resident memory (KiB) and CPU ticks of `pid` and all its descendants.
pub fn tree_usage(pid: u32) -> (u64, u64) {
    let mut procs: Vec<(u32, u32)> = Vec::new();
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for entry in dir.flatten() {
            let Some(p) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<u32>().ok())
            else {
                continue;
            };
            if let Some(ppid) = stat_fields(p).and_then(|f| f.get(1).and_then(|s| s.parse().ok())) {
                procs.push((p, ppid));
            }
        }
    }
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

/// The fields of /proc/PID/stat after the command name: state, ppid, ...
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &text[text.rfind(')')? + 2..];
    Some(rest.split(' ').map(str::to_owned).collect())
}

/// utime + stime in clock ticks (fields 14 and 15 of proc(5)).
pub fn cpu_ticks(pid: u32) -> u64 {
    stat_fields(pid).map_or(0, |f| {
        let get = |i: usize| f.get(i).and_then(|s| s.parse::<u64>().ok()).unwrap_or(0);
        get(11) + get(12)
    })
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
    let mut out = HashMap::new();
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for entry in dir.flatten() {
        let Some(tid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let path = entry.path();
        let (Ok(name), Ok(stat)) = (
            std::fs::read_to_string(path.join("comm")),
            std::fs::read_to_string(path.join("stat")),
        ) else {
            continue;
        };
        let ticks = stat.rfind(')').map_or(0, |end| {
            let f: Vec<&str> = stat[end + 2..].split(' ').collect();
            let get = |i: usize| f.get(i).and_then(|s| s.parse::<u64>().ok()).unwrap_or(0);
            get(11) + get(12)
        });
        out.insert(tid, (name.trim().to_owned(), ticks));
    }
    out
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
