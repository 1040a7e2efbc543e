//! `cloud-otp user erase --customer-code CODE USER_ID`: the operator's way to erase a trainee,
//! the same storage call as `DELETE /v1/users/{user_id}`.

use std::path::Path;

use clap::Args;

use super::{OpsError, Target, say, tenant};
use crate::clock::{Clock, SystemClock, db_ms};
use crate::validate::UserId;

/// `user erase`.
#[derive(Debug, Args)]
pub struct EraseArgs {
    #[command(flatten)]
    target: Target,
    /// The trainee's ID.
    user_id: String,
}

/// Erases the user; exit status 3 when nothing was stored of them.
pub async fn run(args: EraseArgs, data_dir: &Path) -> Result<(), OpsError> {
    let user = UserId::parse(&args.user_id)?;
    let (storage, tenant) = tenant(&args.target, data_dir).await?;
    let now = db_ms(SystemClock.now_ms());
    let result = storage.erase_user(&tenant.id, user.as_str(), now).await;
    storage.close().await;
    let erased = result?;
    if !erased.found() {
        return Err(OpsError::NotFound(format!(
            "nothing is stored for {} at customer code {} (never seen, or already erased)",
            user.as_str(),
            tenant.customer_code
        )));
    }
    say(&[format!(
        "Erased {} at customer code {} ({}).",
        user.as_str(),
        tenant.customer_code,
        erased.detail()
    )])
}
