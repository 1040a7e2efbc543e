//! Administration by the institution: its view of a user, lifting a suspension (docs/product.md
//! rule 4), retiring a device, erasing a trainee, its webhook, and reading its audit log.

use super::{Refusal, ServiceResult, Services, UserStatus};
use crate::storage::{AuditLine, DeviceRecord, Tenant};
use crate::storage::{WebhookRecord, WebhookStats};
use crate::validate::{UserId, WebhookUrl};

/// A user as the institution sees it.
#[derive(Debug, Clone)]
pub struct UserView {
    /// The status.
    pub status: UserStatus,
    /// Wrong codes since the last accepted one.
    pub failures: u32,
    /// The active device.
    pub device: Option<DeviceRecord>,
}

/// Which audit events to read.
#[derive(Debug, Clone)]
pub struct AuditFilter {
    /// One user's, or everyone's.
    pub user: Option<UserId>,
    /// At or after this time (Unix ms).
    pub since_ms: i64,
    /// At most this many (1 to 1000).
    pub limit: i64,
}

impl Services<'_> {
    /// The user's status, failure count and device.
    pub async fn user_view(&self, tenant: &Tenant, user: &UserId) -> ServiceResult<UserView> {
        let record = self.storage.user(&tenant.id, user.as_str()).await?;
        Ok(UserView {
            status: UserStatus::of(record.as_ref()),
            failures: record.as_ref().map_or(0, |u| u.state.failures),
            device: record.and_then(|u| u.device),
        })
    }

    /// Lifts a suspension after the institution's own identity check; with `revoke_device`
    /// also retires the device. Returns the user's status after it.
    pub async fn unlock(
        &self,
        tenant: &Tenant,
        user: &UserId,
        revoke_device: bool,
        now: i64,
    ) -> ServiceResult<UserStatus> {
        // None: no such user, nothing unlocked.
        if self
            .storage
            .unlock(&tenant.id, user.as_str(), revoke_device, now)
            .await?
            .is_some()
        {
            self.metrics.unlock();
        }
        let record = self.storage.user(&tenant.id, user.as_str()).await?;
        Ok(UserStatus::of(record.as_ref()))
    }

    /// Retires the user's device.
    pub async fn remove_device(
        &self,
        tenant: &Tenant,
        user: &UserId,
        now: i64,
    ) -> ServiceResult<()> {
        if self
            .storage
            .remove_device(&tenant.id, user.as_str(), now)
            .await?
        {
            Ok(())
        } else {
            Err(Refusal::NotRegistered)
        }
    }

    /// Erases every record of the user at the institution, in one transaction, leaving one
    /// `user_erased` audit event that names no user; the ID may enrol again later as a new
    /// user. [`Refusal::UnknownUser`] when nothing was stored (never seen, or erased before).
    pub async fn erase_user(&self, tenant: &Tenant, user: &UserId, now: i64) -> ServiceResult<()> {
        let erased = self
            .storage
            .erase_user(&tenant.id, user.as_str(), now)
            .await?;
        if erased.found() {
            Ok(())
        } else {
            Err(Refusal::UnknownUser)
        }
    }

    /// Sets the institution's webhook with a new signing secret, which is returned (and
    /// shown only this once).
    pub async fn set_webhook(
        &self,
        tenant: &Tenant,
        url: &WebhookUrl,
        now: i64,
    ) -> ServiceResult<String> {
        let crypto = self.crypto.current();
        Ok(crate::webhooks::set(self.storage, &crypto, &tenant.id, url, now).await?)
    }

    /// Removes the institution's webhook and its undelivered events.
    pub async fn remove_webhook(&self, tenant: &Tenant) -> ServiceResult<()> {
        self.storage.delete_webhook(&tenant.id).await?;
        Ok(())
    }

    /// The institution's webhook, if any, and the state of its outbox.
    pub async fn webhook(
        &self,
        tenant: &Tenant,
    ) -> ServiceResult<(Option<WebhookRecord>, WebhookStats)> {
        let hook = self.storage.webhook(&tenant.id).await?;
        let stats = self.storage.webhook_stats(&tenant.id).await?;
        Ok((hook, stats))
    }

    /// The institution's audit events, oldest first.
    pub async fn audit_log(
        &self,
        tenant: &Tenant,
        filter: &AuditFilter,
    ) -> ServiceResult<Vec<AuditLine>> {
        Ok(self
            .storage
            .audit_events(
                &tenant.id,
                filter.user.as_ref().map(UserId::as_str),
                filter.since_ms,
                filter.limit,
            )
            .await?)
    }
}
