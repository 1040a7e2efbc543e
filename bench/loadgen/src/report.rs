//! Turns a results file (one [`Point`] per line) into the Markdown tables of
//! docs/benchmarks.md and docs/benchmarks-history.md: medians with min-max over repetitions,
//! per-repetition ratios against a baseline target, and every target as a fraction of the
//! HTTP floor (`GET /v1/time` through the same client and connections).

use std::fmt::Write;

use crate::run::Point;

/// Median, minimum and maximum.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spread {
    /// The median (mean of the two middle values for an even count).
    pub median: f64,
    /// The smallest value.
    pub min: f64,
    /// The largest value.
    pub max: f64,
}

/// The spread of `values`; `None` when empty.
///
/// ```
/// use cloud_otp_bench::report::spread;
/// let s = spread(&[3.0, 1.0, 2.0, 10.0]).unwrap();
/// assert_eq!((s.median, s.min, s.max), (2.5, 1.0, 10.0));
/// ```
pub fn spread(values: &[f64]) -> Option<Spread> {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        return None;
    }
    let median = if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    };
    Some(Spread {
        median,
        min: v[0],
        max: v[n - 1],
    })
}

/// A number with sensible precision for a table.
pub fn num(x: f64) -> String {
    if x >= 100.0 {
        format!("{x:.0}")
    } else if x >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    }
}

fn cell(s: Option<Spread>) -> String {
    match s {
        Some(s) => format!("{} ({}-{})", num(s.median), num(s.min), num(s.max)),
        None => "-".into(),
    }
}

fn groups(points: &[Point]) -> Vec<(String, usize, usize)> {
    let mut keys: Vec<(String, usize, usize)> = Vec::new();
    for p in points {
        let key = (p.target.clone(), p.connections, p.accounts);
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    keys
}

/// The Markdown report: one row per target and connection count, then ratios of every other
/// target's accepted codes per second to `baseline`'s, repetition by repetition.
pub fn markdown(points: &[Point], baseline: Option<&str>) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| target | users | conns | reps | correct verifications/s | requests/s | p50 ms | p99 ms | server RSS MiB (max) | server CPU (cores) | accepted / wrong / replayed / late / other |"
    );
    let _ = writeln!(
        out,
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
    );
    for (target, conns, users) in groups(points) {
        let ps: Vec<&Point> = points
            .iter()
            .filter(|p| p.target == target && p.connections == conns && p.accounts == users)
            .collect();
        let get = |f: fn(&Point) -> f64| spread(&ps.iter().map(|p| f(p)).collect::<Vec<_>>());
        let rss = ps.iter().map(|p| p.rss_mib).fold(0.0, f64::max);
        let sum = |f: fn(&Point) -> u64| ps.iter().map(|p| f(p)).sum::<u64>();
        let other = sum(|p| p.unexpected + p.locked + p.errors);
        let exhausted = ps.iter().filter(|p| p.exhausted).count();
        let note = if exhausted > 0 {
            format!(" ({exhausted} ended early: users exhausted)")
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "| {target} | {users} | {conns} | {} | {} | {} | {} | {} | {} | {} | {} / {} / {} / {} / {other}{note} |",
            ps.len(),
            cell(get(|p| p.accepted_per_s)),
            cell(get(|p| p.rps)),
            cell(get(|p| p.p50_ms)),
            cell(get(|p| p.p99_ms)),
            num(rss),
            cell(get(|p| p.server_cpu)),
            sum(|p| p.accepted),
            sum(|p| p.rejected),
            sum(|p| p.replayed),
            sum(|p| p.late),
        );
    }
    if let Some(base) = baseline {
        let _ = writeln!(
            out,
            "\n| target / {base} | conns | ratio of correct verifications/s, median (min-max) over repetitions |"
        );
        let _ = writeln!(out, "|---|---:|---:|");
        for (target, conns, users) in groups(points) {
            if target == base {
                continue;
            }
            let ratios: Vec<f64> = points
                .iter()
                .filter(|p| p.target == target && p.connections == conns && p.accounts == users)
                .filter_map(|p| {
                    points
                        .iter()
                        .find(|b| b.target == base && b.connections == conns && b.rep == p.rep)
                        .filter(|b| b.accepted_per_s > 0.0)
                        .map(|b| p.accepted_per_s / b.accepted_per_s)
                })
                .collect();
            if !ratios.is_empty() {
                let _ = writeln!(out, "| {target} | {conns} | {}x |", cell(spread(&ratios)));
            }
        }
    }
    out
}

/// Every target's correct verifications per second as a fraction of the floor's requests
/// per second, and its p99 as a multiple of the floor's, repetition by repetition (the floor
/// and the target measured back to back in the same repetition).
///
/// ```
/// use cloud_otp_bench::report::against_floor;
/// use cloud_otp_bench::run::Point;
/// let p = |target: &str, rps: f64, p99: f64| Point {
///     target: target.into(), rep: 1, connections: 64, accounts: 10, secs: 10.0,
///     requests: 0, accepted: 0, rejected: 0, replayed: 0, unexpected: 0, late: 0, locked: 0,
///     errors: 0, exhausted: false, rps, accepted_per_s: rps, p50_ms: 1.0, p99_ms: p99,
///     max_ms: 9.0, rss_mib: 1.0, server_cpu: 1.0, client_cpu: 1.0, at: 0, rss_per_s: vec![],
///     server_threads: vec![],
/// };
/// let table = against_floor(&[p("floor", 20000.0, 2.0), p("sqlite", 12000.0, 5.0)], "floor");
/// assert!(table.contains("| sqlite | 64 | 0.60 (0.60-0.60) | 2.50 (2.50-2.50)x |"), "{table}");
/// ```
pub fn against_floor(points: &[Point], floor: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\n| target / {floor} | conns | correct verifications/s as a fraction of the floor's requests/s | p99 as a multiple of the floor's |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|");
    for (target, conns, users) in groups(points) {
        if target == floor {
            continue;
        }
        let pairs: Vec<(f64, f64)> = points
            .iter()
            .filter(|p| p.target == target && p.connections == conns && p.accounts == users)
            .filter_map(|p| {
                points
                    .iter()
                    .find(|f| f.target == floor && f.connections == conns && f.rep == p.rep)
                    .filter(|f| f.rps > 0.0 && f.p99_ms > 0.0)
                    .map(|f| (p.accepted_per_s / f.rps, p.p99_ms / f.p99_ms))
            })
            .collect();
        if pairs.is_empty() {
            continue;
        }
        let rate: Vec<f64> = pairs.iter().map(|(r, _)| *r).collect();
        let p99: Vec<f64> = pairs.iter().map(|(_, l)| *l).collect();
        let _ = writeln!(
            out,
            "| {target} | {conns} | {} | {}x |",
            cell(spread(&rate)),
            cell(spread(&p99))
        );
    }
    out
}

/// How the server's memory moved over each point run with `--sample-rss`: the median of the
/// first and of the last minute, the largest sample, and the change from first to last
/// minute. A flat soak changes by a few percent; a leak grows steadily.
///
/// ```
/// use cloud_otp_bench::report::soak;
/// use cloud_otp_bench::run::Point;
/// let mut rss: Vec<f64> = vec![20.0; 60];
/// rss.extend(vec![22.0; 60]);
/// let p = Point {
///     target: "sqlite".into(), rep: 1, connections: 64, accounts: 10, secs: 120.0,
///     requests: 0, accepted: 0, rejected: 0, replayed: 0, unexpected: 0, late: 0, locked: 0,
///     errors: 0, exhausted: false, rps: 1.0, accepted_per_s: 1.0, p50_ms: 1.0, p99_ms: 1.0,
///     max_ms: 9.0, rss_mib: 22.0, server_cpu: 1.0, client_cpu: 1.0, at: 0, rss_per_s: rss,
///     server_threads: vec![],
/// };
/// let table = soak(&[p]);
/// assert!(table.contains("| sqlite | 64 | 2.0 | 20.0 | 22.0 | 22.0 | +10.0% |"), "{table}");
/// ```
pub fn soak(points: &[Point]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\n| target | conns | minutes | RSS MiB, first minute (median) | last minute (median) | largest | change |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|");
    for p in points.iter().filter(|p| !p.rss_per_s.is_empty()) {
        let samples = &p.rss_per_s;
        let minute = samples.len().min(60);
        let first = spread(&samples[..minute]).map_or(0.0, |s| s.median);
        let last = spread(&samples[samples.len() - minute..]).map_or(0.0, |s| s.median);
        let largest = samples.iter().copied().fold(0.0, f64::max);
        let change = if first > 0.0 {
            (last - first) / first * 100.0
        } else {
            0.0
        };
        let _ = writeln!(
            out,
            "| {} | {} | {:.1} | {first:.1} | {last:.1} | {largest:.1} | {change:+.1}% |",
            p.target,
            p.connections,
            samples.len() as f64 / 60.0,
        );
    }
    out
}
