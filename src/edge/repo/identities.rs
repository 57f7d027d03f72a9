//! Third-party identities (`external_identities`): a provider's subject mapped to the local
//! user it signs in as, provisioned on its first valid token.

use super::{from_row, Arg, Db};
use crate::domain::ids::UserId;
use crate::domain::role::Role;
use crate::error::{ApiResult, ErrorCode};

/// The local user of an external identity, as authentication needs it.
pub struct Mapped {
    pub id: UserId,
    pub email: String,
    pub role: Role,
    pub is_active: bool,
    pub created_at: i64,
}
from_row!(Mapped { id, email, role, is_active, created_at });

/// The user that `(issuer, subject)` signs in as, if provisioned.
pub async fn find(db: &Db, issuer: &str, subject: &str) -> ApiResult<Option<Mapped>> {
    let sql = "SELECT u.id, u.email, u.role, u.is_active, u.created_at FROM external_identities e \
               JOIN users u ON u.id = e.user_id WHERE e.issuer = ?1 AND e.subject = ?2";
    db.first(sql, &[Arg::Text(issuer), Arg::Text(subject)]).await
}

/// The password hash of a provisioned account: no KDF string parses as it, so no password
/// ever matches (login answers as for a wrong password) until one is set by a reset.
pub const NO_PASSWORD: &str = "!external";

/// How a provisioning attempt ended.
pub enum Provisioned {
    Created,
    /// The email is another account's: provision again under a placeholder.
    EmailTaken,
    /// Another request provisioned the identity first: look it up again.
    Raced,
}

/// A new user (role `user`) and its identity, in one batch.
pub async fn provision(
    db: &Db,
    id: &UserId,
    email: &str,
    issuer: &str,
    subject: &str,
    now: i64,
) -> ApiResult<Provisioned> {
    let user = db.stmt(
        "INSERT INTO users (id, email, password_hash, role, is_active, created_at, updated_at) \
         VALUES (?1, ?2, ?3, 'user', 1, ?4, ?4)",
        &[Arg::Text(id.as_str()), Arg::Text(email), Arg::Text(NO_PASSWORD), Arg::Int(now)],
    )?;
    let identity = db.stmt(
        "INSERT INTO external_identities (issuer, subject, user_id, created_at) VALUES (?1, ?2, ?3, ?4)",
        &[Arg::Text(issuer), Arg::Text(subject), Arg::Text(id.as_str()), Arg::Int(now)],
    )?;
    match db.batch(vec![user, identity]).await {
        Ok(_) => Ok(Provisioned::Created),
        Err(e) if e.code == ErrorCode::Conflict => {
            let email_taken = e.cause.as_deref().is_some_and(|c| c.contains("users.email"));
            Ok(if email_taken { Provisioned::EmailTaken } else { Provisioned::Raced })
        }
        Err(e) => Err(e),
    }
}
