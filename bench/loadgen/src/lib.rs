//! cloud-otp-bench: the load generator and enrollment tools behind docs/benchmarks.md. It
//! speaks just enough HTTP/1.1 to drive cloud-otp's `/v1/check` and privacyIDEA's
//! `/validate/check` with the same workload, computing correct codes itself with
//! cloud-otp-core.

pub mod enroll;
pub mod http;
pub mod procfs;
pub mod report;
pub mod run;
pub mod storage_cost;
pub mod workload;
