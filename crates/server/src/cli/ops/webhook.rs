//! `cloud-otp webhook set|show|rotate-secret|remove|retry`: an institution's webhook from the
//! operator's side (the institution has `PUT`, `GET` and `DELETE /v1/webhook`).

use std::path::Path;

use clap::{Args, Subcommand};

use super::{OpsError, Target, say, tenant};
use crate::clock::{Clock, SystemClock, db_ms, rfc3339};
use crate::crypto::load_key_ring;
use crate::reload::key_envs;
use crate::storage::Storage;
use crate::validate::WebhookUrl;

/// `webhook ...`.
#[derive(Debug, Subcommand)]
pub enum WebhookCommand {
    /// Registers (or replaces) the institution's webhook URL with a new signing secret,
    /// printed alone on the last line (shown only now).
    Set(SetArgs),
    /// Shows the URL and how many events wait or are dead, with the last delivery error.
    Show(Target),
    /// Gives the webhook a new signing secret, printed alone on the last line; the old one
    /// signs nothing from now on.
    RotateSecret(Target),
    /// Removes the institution's webhook and drops its undelivered events.
    Remove(Target),
    /// Makes the dead events due again, with fresh attempts.
    Retry(Target),
}

/// `webhook set`.
#[derive(Debug, Args)]
pub struct SetArgs {
    #[command(flatten)]
    target: Target,
    /// The receiver: an absolute https:// URL (any host but a link-local one; its
    /// certificate is verified), or an http:// URL on a loopback or private address,
    /// localhost or a .internal, .localhost or .home.arpa name.
    #[arg(long)]
    url: String,
}

/// Runs a `webhook` command.
pub async fn run(command: WebhookCommand, data_dir: &Path) -> Result<(), OpsError> {
    let now = db_ms(SystemClock.now_ms());
    match command {
        WebhookCommand::Set(args) => {
            let url = WebhookUrl::parse(&args.url)?;
            new_secret(&args.target, data_dir, Some(url), now).await
        }
        WebhookCommand::RotateSecret(target) => new_secret(&target, data_dir, None, now).await,
        WebhookCommand::Remove(target) => {
            let (storage, tenant) = tenant(&target, data_dir).await?;
            let result = storage.delete_webhook(&tenant.id).await;
            storage.close().await;
            if !result? {
                return Err(OpsError::NotFound(format!(
                    "customer code {} has no webhook",
                    tenant.customer_code
                )));
            }
            say(&[format!(
                "Removed the webhook of customer code {} and its undelivered events.",
                tenant.customer_code
            )])
        }
        WebhookCommand::Show(target) => {
            let (storage, tenant) = tenant(&target, data_dir).await?;
            let result = async {
                Ok::<_, OpsError>((
                    storage.webhook(&tenant.id).await?,
                    storage.webhook_stats(&tenant.id).await?,
                ))
            }
            .await;
            storage.close().await;
            let (hook, stats) = result?;
            say(&[
                match hook {
                    Some(h) => format!("url: {} (secret set {})", h.url, rfc3339(h.created_ms)),
                    None => "url: none".into(),
                },
                format!("pending: {}", stats.pending),
                format!("dead: {}", stats.dead),
                format!(
                    "last error: {}",
                    stats.last_error.as_deref().unwrap_or("none")
                ),
            ])
        }
        WebhookCommand::Retry(target) => {
            let (storage, tenant) = tenant(&target, data_dir).await?;
            let result = storage.retry_dead_webhooks(&tenant.id, now).await;
            storage.close().await;
            say(&[format!("{} dead events are due again.", result?)])
        }
    }
}

/// `set` (with a URL) and `rotate-secret` (the URL kept): a new secret sealed under the
/// master key, printed on the last line.
async fn new_secret(
    target: &Target,
    data_dir: &Path,
    url: Option<WebhookUrl>,
    now: i64,
) -> Result<(), OpsError> {
    let (primary, extra) = key_envs();
    let keys = load_key_ring(
        primary.as_deref().map(String::as_str),
        extra.as_deref().map(String::as_str),
        data_dir,
        false,
    )
    .map_err(|e| OpsError::Input(e.to_string()))?;
    let (storage, tenant) = tenant(target, data_dir).await?;
    let result = seal(&storage, &keys.crypto, &tenant.id, url, now).await;
    storage.close().await;
    let (url, secret) = result?;
    say(&[
        format!(
            "Webhook of \"{}\", customer code {}: {url}",
            tenant.name, tenant.customer_code
        ),
        "Signing secret (shown only now; keep it secret):".into(),
        secret,
    ])
}

async fn seal(
    storage: &Storage,
    crypto: &crate::crypto::Crypto,
    tenant_id: &str,
    url: Option<WebhookUrl>,
    now: i64,
) -> Result<(String, String), OpsError> {
    crate::rotate::ensure_key_ring(storage, crypto)
        .await
        .map_err(|e| OpsError::Input(e.to_string()))?;
    let url = match url {
        Some(url) => url,
        None => match storage.webhook(tenant_id).await? {
            // Stored URLs were checked when they were set.
            Some(hook) => WebhookUrl::parse(&hook.url)?,
            None => return Err(OpsError::NotFound("this institution has no webhook".into())),
        },
    };
    let secret = crate::webhooks::set(storage, crypto, tenant_id, &url, now).await?;
    Ok((url.as_str().to_owned(), secret))
}
