//! cloud-otp-web: the browser module (work in progress, see issue 4).
