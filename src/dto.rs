//! Wire input → checked domain types. Request bodies arrive as JSON values; each parser
//! collects every field error (for the `details` array) instead of stopping at the
//! first, and only returns domain types once all fields are valid.

use crate::authz::PermissionSet;
use crate::domain::email::Email;
use crate::domain::password::NewPassword;
use crate::domain::post::{PostBody, PostTitle};
use crate::domain::role::{Permission, Role};
use crate::error::{ApiError, FieldError};
use serde_json::{Map, Value};

/// Passwords presented for verification are bounded too (a KDF input, not a stored value).
pub const MAX_PRESENTED_PASSWORD: usize = 1024;

/// Field-by-field reader over a JSON object body that accumulates errors.
pub struct Fields<'a> {
    obj: Option<&'a Map<String, Value>>,
    errors: Vec<FieldError>,
}

static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();

impl<'a> Fields<'a> {
    /// A missing body reads as `{}`; a body that is not an object is a validation error.
    pub fn new(body: Option<&'a Value>) -> Fields<'a> {
        match body {
            None => Fields { obj: Some(EMPTY.get_or_init(Map::new)), errors: Vec::new() },
            Some(Value::Object(m)) => Fields { obj: Some(m), errors: Vec::new() },
            Some(_) => Fields { obj: None, errors: vec![FieldError::new("body", "must be a JSON object")] },
        }
    }

    fn get(&self, name: &str) -> Option<&'a Value> {
        self.obj.and_then(|m| m.get(name)).filter(|v| !v.is_null())
    }

    pub fn error(&mut self, field: &str, message: impl Into<String>) {
        self.errors.push(FieldError::new(field, message));
    }

    /// True when the field is present and not null.
    pub fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    pub fn string(&mut self, name: &str) -> Option<&'a str> {
        self.obj?;
        match self.get(name) {
            None => {
                self.error(name, "is required");
                None
            }
            Some(Value::String(s)) => Some(s.as_str()),
            Some(_) => {
                self.error(name, "must be a string");
                None
            }
        }
    }

    pub fn opt_string(&mut self, name: &str) -> Option<&'a str> {
        match self.get(name) {
            None => None,
            Some(Value::String(s)) => Some(s.as_str()),
            Some(_) => {
                self.error(name, "must be a string");
                None
            }
        }
    }

    pub fn opt_bool(&mut self, name: &str) -> Option<bool> {
        match self.get(name) {
            None => None,
            Some(Value::Bool(b)) => Some(*b),
            Some(_) => {
                self.error(name, "must be a boolean");
                None
            }
        }
    }

    /// An optional integer within `min..=max`.
    pub fn opt_int(&mut self, name: &str, min: i64, max: i64) -> Option<i64> {
        match self.get(name) {
            None => None,
            Some(v) => match v.as_i64().filter(|n| (min..=max).contains(n)) {
                Some(n) => Some(n),
                None => {
                    self.error(name, format!("must be an integer between {min} and {max}"));
                    None
                }
            },
        }
    }

    pub fn opt_string_array(&mut self, name: &str) -> Option<Vec<&'a str>> {
        match self.get(name) {
            None => None,
            Some(Value::Array(items)) => {
                let strs: Option<Vec<&str>> = items.iter().map(Value::as_str).collect();
                if strs.is_none() {
                    self.error(name, "must be an array of strings");
                }
                strs
            }
            Some(_) => {
                self.error(name, "must be an array of strings");
                None
            }
        }
    }

    /// `Err(validation_failed)` with every collected error, if any.
    pub fn finish(self) -> Result<(), ApiError> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(ApiError::validation(self.errors))
        }
    }
}

fn email_field(f: &mut Fields<'_>) -> Option<Email> {
    let raw = f.string("email")?;
    match Email::parse(raw) {
        Ok(e) => Some(e),
        Err(msg) => {
            f.error("email", msg);
            None
        }
    }
}

fn new_password_field(f: &mut Fields<'_>, name: &str) -> Option<NewPassword> {
    let raw = f.string(name)?;
    match NewPassword::parse(raw) {
        Ok(p) => Some(p),
        Err(msgs) => {
            for m in msgs {
                f.error(name, m);
            }
            None
        }
    }
}

fn presented_password(f: &mut Fields<'_>, name: &str) -> Option<String> {
    let raw = f.string(name)?;
    if raw.is_empty() {
        f.error(name, "is required");
        return None;
    }
    if raw.len() > MAX_PRESENTED_PASSWORD {
        f.error(name, format!("must be at most {MAX_PRESENTED_PASSWORD} bytes"));
        return None;
    }
    Some(raw.to_owned())
}

/// Turns the collected state into a result: the value when every field was valid.
fn done<T>(f: Fields<'_>, value: Option<T>) -> Result<T, ApiError> {
    f.finish()?;
    value.ok_or_else(|| ApiError::validation(vec![FieldError::new("body", "is invalid")]))
}

pub struct Credentials {
    pub email: Email,
    pub password: String,
}

/// `POST /register` `{email, password}`.
pub fn register(body: Option<&Value>) -> Result<(Email, NewPassword), ApiError> {
    let mut f = Fields::new(body);
    let email = email_field(&mut f);
    let password = new_password_field(&mut f, "password");
    let v = email.zip(password);
    done(f, v)
}

/// `POST /login` `{email, password}`.
pub fn login(body: Option<&Value>) -> Result<Credentials, ApiError> {
    let mut f = Fields::new(body);
    let email = email_field(&mut f);
    let password = presented_password(&mut f, "password");
    let v = email.zip(password).map(|(email, password)| Credentials { email, password });
    done(f, v)
}

/// `POST /refresh` `{refreshToken?}`.
pub fn refresh(body: Option<&Value>) -> Result<Option<String>, ApiError> {
    let mut f = Fields::new(body);
    let token = f.opt_string("refreshToken").map(str::to_owned);
    f.finish()?;
    Ok(token)
}

/// `POST /logout` `{all?}`.
pub fn logout(body: Option<&Value>) -> Result<bool, ApiError> {
    let mut f = Fields::new(body);
    let all = f.opt_bool("all").unwrap_or(false);
    f.finish()?;
    Ok(all)
}

/// `PUT /password` `{currentPassword, newPassword}`.
pub fn change_password(body: Option<&Value>) -> Result<PasswordChange, ApiError> {
    let mut f = Fields::new(body);
    let current = presented_password(&mut f, "currentPassword");
    let new = new_password_field(&mut f, "newPassword");
    let keep_api_keys = f.opt_bool("keepApiKeys").unwrap_or(false);
    let v = current.zip(new).map(|(current, new)| PasswordChange { current, new, keep_api_keys });
    done(f, v)
}

/// `PUT /password` `{currentPassword, newPassword, keepApiKeys?}`.
pub struct PasswordChange {
    pub current: String,
    pub new: NewPassword,
    /// Keep the user's API keys live (default: a password change revokes them).
    pub keep_api_keys: bool,
}

/// `POST /password-reset/request` `{email}`.
pub fn reset_request(body: Option<&Value>) -> Result<Email, ApiError> {
    let mut f = Fields::new(body);
    let email = email_field(&mut f);
    done(f, email)
}

/// `POST /password-reset/confirm` `{token, newPassword}`.
pub fn reset_confirm(body: Option<&Value>) -> Result<(String, NewPassword), ApiError> {
    let mut f = Fields::new(body);
    let token = f.string("token").map(str::to_owned);
    let new = new_password_field(&mut f, "newPassword");
    let v = token.zip(new);
    done(f, v)
}

/// A new post.
pub struct NewPost {
    pub title: PostTitle,
    pub body: PostBody,
    pub published: bool,
}

/// A partial post update: absent fields stay as they are.
#[derive(Default)]
pub struct PostPatch {
    pub title: Option<PostTitle>,
    pub body: Option<PostBody>,
    pub published: Option<bool>,
}

fn title_body(f: &mut Fields<'_>, required: bool) -> (Option<PostTitle>, Option<PostBody>) {
    let title_raw = if required { f.string("title") } else { f.opt_string("title") };
    let title = title_raw.and_then(|t| match PostTitle::parse(t) {
        Ok(t) => Some(t),
        Err(m) => {
            f.error("title", m);
            None
        }
    });
    let body_raw = if required { f.string("body") } else { f.opt_string("body") };
    let body = body_raw.and_then(|b| match PostBody::parse(b) {
        Ok(b) => Some(b),
        Err(m) => {
            f.error("body", m);
            None
        }
    });
    (title, body)
}

/// `POST /api/posts` `{title, body, published?}`.
pub fn new_post(body: Option<&Value>) -> Result<NewPost, ApiError> {
    let mut f = Fields::new(body);
    let (title, post_body) = title_body(&mut f, true);
    let published = f.opt_bool("published").unwrap_or(false);
    let v = title.zip(post_body).map(|(title, body)| NewPost { title, body, published });
    done(f, v)
}

/// `PUT /api/posts/:id` with any of `{title, body, published}` (at least one).
pub fn post_patch(body: Option<&Value>) -> Result<PostPatch, ApiError> {
    let mut f = Fields::new(body);
    let (title, post_body) = title_body(&mut f, false);
    let published = f.opt_bool("published");
    if !f.has("title") && !f.has("body") && !f.has("published") {
        f.error("body", "at least one of title, body, published is required");
    }
    f.finish()?;
    Ok(PostPatch { title, body: post_body, published })
}

/// `POST /api/api-keys` input.
pub struct NewApiKey {
    pub name: String,
    pub scopes: PermissionSet,
    pub expires_in_days: Option<i64>,
    /// As requested; see [`NewApiKey::effective_rate_limit`].
    pub rate_limit: Option<i64>,
}

impl NewApiKey {
    /// The key's requests per window: as requested, else [`DEFAULT_KEY_RATE_LIMIT`].
    /// `cap` (the per-user limit, for creators without `api_keys:manage`) bounds it: a
    /// request above it is 400 with a `rateLimit` detail (a key must not be a way around
    /// its owner's own limit), and the default is lowered to it.
    pub fn effective_rate_limit(&self, cap: Option<i64>) -> Result<i64, ApiError> {
        match (self.rate_limit, cap) {
            (Some(r), Some(c)) if r > c => Err(ApiError::validation(vec![FieldError::new(
                "rateLimit",
                format!("must be at most {c} (your own rate limit) without the api_keys:manage permission"),
            )])),
            (Some(r), _) => Ok(r),
            (None, Some(c)) => Ok(DEFAULT_KEY_RATE_LIMIT.min(c)),
            (None, None) => Ok(DEFAULT_KEY_RATE_LIMIT),
        }
    }
}

pub const DEFAULT_KEY_RATE_LIMIT: i64 = 1000;
pub const MAX_KEY_NAME: usize = 100;

/// `{name, scopes?, expiresInDays?, rateLimit?}`. Scopes must name known permissions and
/// be non-empty; whether the creator holds them is an authorization decision (403).
pub fn new_api_key(body: Option<&Value>) -> Result<NewApiKey, ApiError> {
    let mut f = Fields::new(body);
    let name = f.string("name").map(str::trim).and_then(|n| {
        if n.is_empty() || n.chars().count() > MAX_KEY_NAME {
            f.error("name", format!("must be 1 to {MAX_KEY_NAME} characters"));
            None
        } else {
            Some(n.to_owned())
        }
    });
    let scopes = match f.opt_string_array("scopes") {
        None if f.has("scopes") => None,
        None => Some(PermissionSet::from_slice(&[Permission::PostsRead])),
        Some(list) if list.is_empty() => {
            f.error("scopes", "must not be empty");
            None
        }
        Some(list) => {
            let mut set = PermissionSet::empty();
            let mut ok = true;
            for s in list {
                match Permission::parse(s) {
                    Some(p) => set.insert(p),
                    None => {
                        f.error("scopes", format!("unknown permission {s:?}"));
                        ok = false;
                    }
                }
            }
            ok.then_some(set)
        }
    };
    let expires_in_days = f.opt_int("expiresInDays", 1, 365);
    let rate_limit = f.opt_int("rateLimit", 1, 100_000);
    let v = name.zip(scopes).map(|(name, scopes)| NewApiKey { name, scopes, expires_in_days, rate_limit });
    done(f, v)
}

/// `PATCH /api/admin/users/:id` `{role?, isActive?}` (at least one).
pub fn user_patch(body: Option<&Value>) -> Result<(Option<Role>, Option<bool>), ApiError> {
    let mut f = Fields::new(body);
    let role = f.opt_string("role").and_then(|r| match Role::parse(r) {
        Some(r) => Some(r),
        None => {
            f.error("role", "must be one of admin, editor, user, viewer");
            None
        }
    });
    let active = f.opt_bool("isActive");
    if !f.has("role") && !f.has("isActive") {
        f.error("body", "at least one of role, isActive is required");
    }
    f.finish()?;
    Ok((role, active))
}

/// The admin users list's `email` filter: a case-insensitive substring, trimmed and
/// lower-cased; empty means no filter; longer than an email can be (254) is 400.
pub fn email_filter(query: &[(String, String)]) -> Result<Option<String>, ApiError> {
    let Some(raw) = crate::web::query::get(query, "email").map(str::trim).filter(|e| !e.is_empty()) else {
        return Ok(None);
    };
    if raw.chars().count() > crate::domain::email::MAX_EMAIL_LEN {
        return Err(ApiError::validation(vec![FieldError::new(
            "email",
            format!("must be at most {} characters", crate::domain::email::MAX_EMAIL_LEN),
        )]));
    }
    Ok(Some(raw.to_ascii_lowercase()))
}

/// `page` (≥ 1, default 1) and `limit` (1..=100, default 10) from a query string.
/// Anything else (negative, zero, fractions, junk) is 400 with details.
pub fn page_params(query: &[(String, String)]) -> Result<(i64, i64), ApiError> {
    let mut errors = Vec::new();
    let mut int = |name: &str, default: i64, min: i64, max: i64| -> i64 {
        match crate::web::query::get(query, name) {
            None => default,
            Some(raw) => match raw.trim().parse::<i64>() {
                Ok(n) if (min..=max).contains(&n) => n,
                _ => {
                    errors.push(FieldError::new(name, format!("must be an integer between {min} and {max}")));
                    default
                }
            },
        }
    };
    let page = int("page", 1, 1, 1_000_000);
    let limit = int("limit", 10, 1, 100);
    if errors.is_empty() {
        Ok((page, limit))
    } else {
        Err(ApiError::validation(errors))
    }
}

/// An optional `true`/`false` query flag.
pub fn bool_param(query: &[(String, String)], name: &str) -> Result<Option<bool>, ApiError> {
    match crate::web::query::get(query, name) {
        None => Ok(None),
        Some("true") => Ok(Some(true)),
        Some("false") => Ok(Some(false)),
        Some(_) => Err(ApiError::validation(vec![FieldError::new(name, "must be true or false")])),
    }
}

/// An optional ISO-8601 instant query parameter, as Unix seconds. A `+` offset sent
/// unencoded arrives as a space (form encoding) and is read back as `+`.
pub fn instant_param(query: &[(String, String)], name: &str) -> Result<Option<i64>, ApiError> {
    match crate::web::query::get(query, name) {
        None | Some("") => Ok(None),
        Some(raw) => crate::time::parse_iso8601(&raw.replace(' ', "+")).map(Some).ok_or_else(|| {
            ApiError::validation(vec![FieldError::new(name, "must be an ISO-8601 instant, e.g. 2026-01-31T12:00:00Z")])
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields_of(e: ApiError) -> Vec<String> {
        e.details.into_iter().map(|d| d.field).collect()
    }

    #[test]
    fn register_lists_every_bad_field() {
        let e = register(Some(&json!({"email": "nope", "password": "short"}))).err().unwrap();
        let fields = fields_of(e);
        assert!(fields.contains(&"email".to_owned()));
        assert!(fields.iter().filter(|f| *f == "password").count() >= 2, "{fields:?}");
        let e = register(None).err().unwrap();
        assert_eq!(fields_of(e), vec!["email", "password"]);
        let e = register(Some(&json!([1]))).err().unwrap();
        assert_eq!(fields_of(e), vec!["body"]);
        let e = register(Some(&json!({"email": 5, "password": true}))).err().unwrap();
        assert_eq!(e.details[0].message, "must be a string");
    }

    #[test]
    fn register_normalises_email() {
        let (email, _) = register(Some(&json!({"email": "  Race@X.com ", "password": "Abcdefg1"}))).ok().unwrap();
        assert_eq!(email.as_str(), "race@x.com");
    }

    #[test]
    fn login_requires_a_non_empty_bounded_password() {
        assert!(login(Some(&json!({"email": "a@b.co", "password": ""}))).is_err());
        assert!(login(Some(&json!({"email": "a@b.co", "password": "x".repeat(2000)}))).is_err());
        let c = login(Some(&json!({"email": "A@B.co", "password": "anything"}))).ok().unwrap();
        assert_eq!(c.email.as_str(), "a@b.co");
    }

    #[test]
    fn post_patch_needs_one_field_and_validates_each() {
        assert!(post_patch(Some(&json!({}))).is_err());
        assert!(post_patch(Some(&json!({"published": "yes"}))).is_err());
        let p = post_patch(Some(&json!({"published": true}))).ok().unwrap();
        assert_eq!(p.published, Some(true));
        assert!(p.title.is_none());
        let e = new_post(Some(&json!({"title": "", "body": "x".repeat(50_001)}))).err().unwrap();
        assert_eq!(fields_of(e), vec!["title", "body"]);
    }

    #[test]
    fn the_email_filter_is_trimmed_lowered_and_bounded() {
        let q = |v: &str| vec![("email".to_owned(), v.to_owned())];
        assert_eq!(email_filter(&q(" Bob_%\\ ")).ok().flatten().as_deref(), Some("bob_%\\"));
        assert_eq!(email_filter(&q("  ")).ok(), Some(None));
        assert_eq!(email_filter(&[]).ok(), Some(None));
        assert!(email_filter(&q(&"a".repeat(254))).is_ok());
        assert_eq!(fields_of(email_filter(&q(&"a".repeat(255))).err().unwrap()), vec!["email"]);
    }

    #[test]
    fn api_key_scopes_default_and_validate() {
        let k = new_api_key(Some(&json!({"name": "ci"}))).ok().unwrap();
        assert_eq!(k.scopes.names(), vec!["posts:read"]);
        assert_eq!(k.rate_limit, None);
        assert_eq!(k.effective_rate_limit(None).ok(), Some(1000));
        assert_eq!(k.effective_rate_limit(Some(6)).ok(), Some(6), "the default never exceeds the cap");
        let big = new_api_key(Some(&json!({"name": "ci", "rateLimit": 100_000}))).ok().unwrap();
        assert_eq!(big.effective_rate_limit(None).ok(), Some(100_000), "api_keys:manage: no cap");
        assert_eq!(fields_of(big.effective_rate_limit(Some(1000)).err().unwrap()), vec!["rateLimit"]);
        let at = new_api_key(Some(&json!({"name": "ci", "rateLimit": 1000}))).ok().unwrap();
        assert_eq!(at.effective_rate_limit(Some(1000)).ok(), Some(1000));
        for bad in [
            json!({"name": "ci", "scopes": []}),
            json!({"name": "ci", "scopes": ["nope"]}),
            json!({"name": "ci", "scopes": "posts:read"}),
            json!({"name": "ci", "expiresInDays": 0}),
            json!({"name": "ci", "expiresInDays": 366}),
            json!({"name": "ci", "rateLimit": 0}),
            json!({"name": "", "scopes": ["posts:read"]}),
            json!({"scopes": ["posts:read"]}),
        ] {
            assert!(new_api_key(Some(&bad)).is_err(), "{bad}");
        }
    }

    fn q(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn pagination_defaults_and_bounds() {
        assert_eq!(page_params(&q(&[])).ok(), Some((1, 10)));
        assert_eq!(page_params(&q(&[("page", "3"), ("limit", "100")])).ok(), Some((3, 100)));
        for (k, v) in [
            ("page", "0"),
            ("page", "-1"),
            ("page", "1.5"),
            ("page", "x"),
            ("limit", "0"),
            ("limit", "101"),
            ("limit", ""),
        ] {
            assert!(page_params(&q(&[(k, v)])).is_err(), "{k}={v}");
        }
        let e = page_params(&q(&[("page", "0"), ("limit", "500")])).err().unwrap();
        assert_eq!(e.details.len(), 2, "both listed");
    }

    #[test]
    fn flags_and_instants() {
        assert_eq!(bool_param(&q(&[("published", "true")]), "published").ok(), Some(Some(true)));
        assert!(bool_param(&q(&[("published", "1")]), "published").is_err());
        assert_eq!(instant_param(&q(&[("from", "1970-01-02T00:00:00Z")]), "from").ok(), Some(Some(86_400)));
        assert_eq!(instant_param(&q(&[("from", "1970-01-02T02:00:00 02:00")]), "from").ok(), Some(Some(86_400)));
        assert!(instant_param(&q(&[("to", "yesterday")]), "to").is_err());
    }

    #[test]
    fn user_patch_validates_role() {
        assert!(user_patch(Some(&json!({"role": "root"}))).is_err());
        assert!(user_patch(Some(&json!({}))).is_err());
        assert_eq!(user_patch(Some(&json!({"role": "editor"}))).ok().unwrap(), (Some(Role::Editor), None));
        assert_eq!(user_patch(Some(&json!({"isActive": false}))).ok().unwrap(), (None, Some(false)));
    }
}
