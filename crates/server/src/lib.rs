//! cloud-otp-server: the verification server (work in progress, see issue 3).
