//! The `cloud-otp` binary: see `cloud_otp_server::cli`.

fn main() -> std::process::ExitCode {
    cloud_otp_server::cli::main()
}
