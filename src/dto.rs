//! Wire input → checked domain types.
//!
//! Each request body has a wire struct that mirrors its JSON (camelCase names, every field
//! a [`Field`], so that a wrong type is recorded instead of failing the whole parse), and a
//! `TryFrom<wire>` into the domain input that collects every field error for the
//! `details` array and only succeeds once all fields are valid. Unknown fields are
//! ignored, as the contract's clients (the seed API's) may send extra ones.
//!
//! The body is parsed once by one serde visitor into a flat [`Object`] of (name, [`Raw`])
//! pairs: no JSON tree, and one deserializer for every body instead of one derived per
//! wire struct (each derive costs wasm size on every cold start). [`wire!`] declares the
//! structs and fills them from the object.

use crate::authz::PermissionSet;
use crate::config::Secret;
use crate::crypto::encoding::json_from_bytes;
use crate::decide::logout::Which;
use crate::domain::email::Email;
use crate::domain::password::{NewPassword, PresentedPassword};
use crate::domain::post::{PostBody, PostTitle};
use crate::domain::role::{Permission, Role};
use crate::error::{ApiError, FieldError};
use serde::de::IgnoredAny;
use serde::{Deserialize, Deserializer};

/// One body field as sent: absent (or `null`), a value of the expected type, or a value
/// of another type.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub enum Field<T> {
    #[default]
    Absent,
    Value(T),
    WrongType,
}

/// A JSON value as a body field sees it: one non-generic deserializer for every field type,
/// so that a field of the wrong type is recorded rather than failing the parse (and no
/// buffering of the input is needed to try several types).
pub enum Raw {
    Null,
    Bool(bool),
    Int(i64),
    Str(String),
    Strings(Vec<String>),
    Other,
}

impl<'de> Deserialize<'de> for Raw {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct RawVisitor;
        impl<'de> serde::de::Visitor<'de> for RawVisitor {
            type Value = Raw;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_unit<E>(self) -> Result<Raw, E> {
                Ok(Raw::Null)
            }
            fn visit_none<E>(self) -> Result<Raw, E> {
                Ok(Raw::Null)
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Raw, D::Error> {
                Raw::deserialize(d)
            }
            fn visit_bool<E>(self, v: bool) -> Result<Raw, E> {
                Ok(Raw::Bool(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Raw, E> {
                Ok(Raw::Int(v))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Raw, E> {
                Ok(i64::try_from(v).map_or(Raw::Other, Raw::Int))
            }
            fn visit_f64<E>(self, _: f64) -> Result<Raw, E> {
                Ok(Raw::Other)
            }
            fn visit_str<E>(self, v: &str) -> Result<Raw, E> {
                Ok(Raw::Str(v.to_owned()))
            }
            fn visit_string<E>(self, v: String) -> Result<Raw, E> {
                Ok(Raw::Str(v))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Raw, A::Error> {
                let mut strings = Some(Vec::new());
                while let Some(item) = seq.next_element::<Raw>()? {
                    match (item, strings.as_mut()) {
                        (Raw::Str(s), Some(list)) => list.push(s),
                        _ => strings = None,
                    }
                }
                Ok(strings.map_or(Raw::Other, Raw::Strings))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Raw, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Raw::Other)
            }
        }
        d.deserialize_any(RawVisitor)
    }
}

/// The field types a body can have.
pub trait FromRaw: Sized {
    fn from_raw(raw: Raw) -> Option<Self>;
}

impl FromRaw for String {
    fn from_raw(raw: Raw) -> Option<Self> {
        if let Raw::Str(s) = raw {
            Some(s)
        } else {
            None
        }
    }
}

impl FromRaw for bool {
    fn from_raw(raw: Raw) -> Option<Self> {
        if let Raw::Bool(b) = raw {
            Some(b)
        } else {
            None
        }
    }
}

impl FromRaw for i64 {
    fn from_raw(raw: Raw) -> Option<Self> {
        if let Raw::Int(n) = raw {
            Some(n)
        } else {
            None
        }
    }
}

impl FromRaw for Vec<String> {
    fn from_raw(raw: Raw) -> Option<Self> {
        match raw {
            Raw::Strings(v) => Some(v),
            _ => None,
        }
    }
}

impl<T> Field<T> {
    /// Present and not null (whatever its type).
    pub fn is_present(&self) -> bool {
        !matches!(self, Field::Absent)
    }
}

/// A JSON object body: its fields in order.
pub struct Object(Vec<(String, Raw)>);

impl<'de> Deserialize<'de> for Object {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct ObjectVisitor;
        impl<'de> serde::de::Visitor<'de> for ObjectVisitor {
            type Value = Object;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Object, A::Error> {
                let mut fields = Vec::new();
                while let Some(entry) = map.next_entry::<String, Raw>()? {
                    fields.push(entry);
                }
                Ok(Object(fields))
            }
            // Anything else is refused here, not by serde's `invalid type` errors (their
            // error paths would be instantiated in the wasm: see `crate::json`).
            fn visit_unit<E: serde::de::Error>(self) -> Result<Object, E> {
                Err(not_object())
            }
            fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<Object, E> {
                Err(not_object())
            }
            fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<Object, E> {
                Err(not_object())
            }
            fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<Object, E> {
                Err(not_object())
            }
            fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<Object, E> {
                Err(not_object())
            }
            fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<Object, E> {
                Err(not_object())
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, _: A) -> Result<Object, A::Error> {
                Err(not_object())
            }
        }
        fn not_object<E: serde::de::Error>() -> E {
            E::custom("expected a JSON object")
        }
        d.deserialize_any(ObjectVisitor)
    }
}

impl Object {
    /// The field `name` (a field sent twice: the last one, as JSON parsers commonly do).
    pub fn take<T: FromRaw>(&mut self, name: &str) -> Field<T> {
        match self.0.iter().rposition(|(k, _)| k == name) {
            None => Field::Absent,
            Some(i) => match self.0.swap_remove(i).1 {
                Raw::Null => Field::Absent,
                raw => T::from_raw(raw).map_or(Field::WrongType, Field::Value),
            },
        }
    }
}

/// Declares a wire struct: its fields, their types and their JSON names.
macro_rules! wire {
    ($(#[$doc:meta])* pub struct $name:ident { $($field:ident: $ty:ty = $json:literal),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Default)]
        pub struct $name {
            $(pub $field: Field<$ty>,)*
        }

        impl From<Object> for $name {
            #[allow(unused_mut, unused_variables)]
            fn from(mut o: Object) -> Self {
                $name { $($field: o.take($json),)* }
            }
        }
    };
}

/// Parses a request body into its wire struct: no body reads as `{}`; malformed JSON is
/// 400 `invalid_json` (the pipeline already checked the syntax of every write's body);
/// JSON that is not an object is 400 `validation_failed` on `body`.
pub fn wire<W: From<Object> + Default>(body: Option<&[u8]>) -> Result<W, ApiError> {
    let Some(bytes) = body else {
        return Ok(W::default());
    };
    let invalid_json = || ApiError::new(crate::error::ErrorCode::InvalidJson);
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        json_from_bytes::<IgnoredAny>(bytes).ok_or_else(invalid_json)?;
        return Err(ApiError::validation(vec![FieldError::new("body", "must be a JSON object")]));
    }
    json_from_bytes::<Object>(bytes).map(W::from).ok_or_else(invalid_json)
}

/// Parses a body straight into the domain input `D` (through its wire struct `W`).
pub fn read<W, D>(body: Option<&[u8]>) -> Result<D, ApiError>
where
    W: From<Object> + Default,
    D: TryFrom<W, Error = ApiError>,
{
    D::try_from(wire::<W>(body)?)
}

/// Collects field errors while a wire struct is converted.
#[derive(Default)]
pub struct Check {
    errors: Vec<FieldError>,
}

impl Check {
    pub fn error(&mut self, field: &str, message: impl Into<String>) {
        self.errors.push(FieldError::new(field, message));
    }

    /// A required string.
    pub fn string(&mut self, name: &str, f: Field<String>) -> Option<String> {
        match f {
            Field::Value(s) => Some(s),
            Field::Absent => {
                self.error(name, "is required");
                None
            }
            Field::WrongType => {
                self.error(name, "must be a string");
                None
            }
        }
    }

    pub fn opt_string(&mut self, name: &str, f: Field<String>) -> Option<String> {
        match f {
            Field::Absent => None,
            f => self.string(name, f),
        }
    }

    pub fn opt_bool(&mut self, name: &str, f: Field<bool>) -> Option<bool> {
        match f {
            Field::Value(b) => Some(b),
            Field::Absent => None,
            Field::WrongType => {
                self.error(name, "must be a boolean");
                None
            }
        }
    }

    /// An optional integer within `min..=max`.
    pub fn opt_int(&mut self, name: &str, f: Field<i64>, min: i64, max: i64) -> Option<i64> {
        match f {
            Field::Absent => None,
            Field::Value(n) if (min..=max).contains(&n) => Some(n),
            _ => {
                self.error(name, format!("must be an integer between {min} and {max}"));
                None
            }
        }
    }

    pub fn opt_string_array(&mut self, name: &str, f: Field<Vec<String>>) -> Option<Vec<String>> {
        match f {
            Field::Value(v) => Some(v),
            Field::Absent => None,
            Field::WrongType => {
                self.error(name, "must be an array of strings");
                None
            }
        }
    }

    /// A required field parsed by `parse`, whose messages are listed under `name`.
    pub fn parsed<T, E: IntoIterator<Item = String>>(
        &mut self,
        name: &str,
        raw: Option<String>,
        parse: impl FnOnce(&str) -> Result<T, E>,
    ) -> Option<T> {
        match parse(&raw?) {
            Ok(v) => Some(v),
            Err(messages) => {
                for m in messages {
                    self.error(name, m);
                }
                None
            }
        }
    }

    /// `Err(validation_failed)` with every collected error; else the value.
    pub fn finish<T>(self, value: Option<T>) -> Result<T, ApiError> {
        if !self.errors.is_empty() {
            return Err(ApiError::validation(self.errors));
        }
        value.ok_or_else(|| ApiError::validation(vec![FieldError::new("body", "is invalid")]))
    }
}

fn email(c: &mut Check, f: Field<String>) -> Option<Email> {
    let raw = c.string("email", f);
    c.parsed("email", raw, |s| Email::parse(s).map_err(|m| [m.to_string()]))
}

fn new_password(c: &mut Check, name: &str, f: Field<String>) -> Option<NewPassword> {
    let raw = c.string(name, f);
    c.parsed(name, raw, NewPassword::parse)
}

fn presented(c: &mut Check, name: &str, f: Field<String>) -> Option<PresentedPassword> {
    let raw = c.string(name, f);
    c.parsed(name, raw, |s| PresentedPassword::parse(s).map_err(|m| [m]))
}

wire! {
    /// `POST /register` `{email, password}`.
    pub struct RegisterBody {
        email: String = "email",
        password: String = "password",
    }
}

pub struct Registration {
    pub email: Email,
    pub password: NewPassword,
}

impl TryFrom<RegisterBody> for Registration {
    type Error = ApiError;
    fn try_from(w: RegisterBody) -> Result<Self, ApiError> {
        let mut c = Check::default();
        let email = email(&mut c, w.email);
        let password = new_password(&mut c, "password", w.password);
        c.finish(email.zip(password).map(|(email, password)| Registration { email, password }))
    }
}

wire! {
    /// `POST /login` `{email, password}`.
    pub struct LoginBody {
        email: String = "email",
        password: String = "password",
    }
}

#[derive(Debug)]
pub struct Credentials {
    pub email: Email,
    pub password: PresentedPassword,
}

impl TryFrom<LoginBody> for Credentials {
    type Error = ApiError;
    fn try_from(w: LoginBody) -> Result<Self, ApiError> {
        let mut c = Check::default();
        let email = email(&mut c, w.email);
        let password = presented(&mut c, "password", w.password);
        c.finish(email.zip(password).map(|(email, password)| Credentials { email, password }))
    }
}

wire! {
    /// `POST /refresh` `{refreshToken?}` (without it, the refresh cookie is used).
    pub struct RefreshBody {
        refresh_token: String = "refreshToken",
    }
}

pub struct RefreshInput {
    pub token: Option<Secret<String>>,
}

impl TryFrom<RefreshBody> for RefreshInput {
    type Error = ApiError;
    fn try_from(w: RefreshBody) -> Result<Self, ApiError> {
        let mut c = Check::default();
        let token = c.opt_string("refreshToken", w.refresh_token).map(Secret::new);
        c.finish(Some(RefreshInput { token }))
    }
}

wire! {
    /// `POST /logout` `{all?, others?}`.
    pub struct LogoutBody {
        all: bool = "all",
        others: bool = "others",
    }
}

pub struct LogoutInput {
    /// This session, every session of the user, or every other one.
    pub which: Which,
}

impl TryFrom<LogoutBody> for LogoutInput {
    type Error = ApiError;
    fn try_from(w: LogoutBody) -> Result<Self, ApiError> {
        let mut c = Check::default();
        let all = c.opt_bool("all", w.all).unwrap_or(false);
        let others = c.opt_bool("others", w.others).unwrap_or(false);
        let which = match (all, others) {
            (true, true) => {
                c.error("others", "cannot be combined with all");
                None
            }
            (true, false) => Some(Which::All),
            (false, true) => Some(Which::Others),
            (false, false) => Some(Which::This),
        };
        c.finish(which.map(|which| LogoutInput { which }))
    }
}

wire! {
    /// `PUT /password` `{currentPassword, newPassword, keepApiKeys?}`.
    pub struct PasswordChangeBody {
        current_password: String = "currentPassword",
        new_password: String = "newPassword",
        keep_api_keys: bool = "keepApiKeys",
    }
}

#[derive(Debug)]
pub struct PasswordChange {
    pub current: PresentedPassword,
    pub new: NewPassword,
    /// Keep the user's API keys live (default: a password change revokes them).
    pub keep_api_keys: bool,
}

impl TryFrom<PasswordChangeBody> for PasswordChange {
    type Error = ApiError;
    fn try_from(w: PasswordChangeBody) -> Result<Self, ApiError> {
        let mut c = Check::default();
        let current = presented(&mut c, "currentPassword", w.current_password);
        let new = new_password(&mut c, "newPassword", w.new_password);
        let keep_api_keys = c.opt_bool("keepApiKeys", w.keep_api_keys).unwrap_or(false);
        c.finish(current.zip(new).map(|(current, new)| PasswordChange { current, new, keep_api_keys }))
    }
}

wire! {
    /// `POST /password-reset/request` `{email}`.
    pub struct ResetRequestBody {
        email: String = "email",
    }
}

pub struct ResetRequest {
    pub email: Email,
}

impl TryFrom<ResetRequestBody> for ResetRequest {
    type Error = ApiError;
    fn try_from(w: ResetRequestBody) -> Result<Self, ApiError> {
        let mut c = Check::default();
        let email = email(&mut c, w.email);
        c.finish(email.map(|email| ResetRequest { email }))
    }
}

wire! {
    /// `POST /password-reset/confirm` `{token, newPassword}`.
    pub struct ResetConfirmBody {
        token: String = "token",
        new_password: String = "newPassword",
    }
}

pub struct ResetConfirm {
    pub token: Secret<String>,
    pub new_password: NewPassword,
}

impl TryFrom<ResetConfirmBody> for ResetConfirm {
    type Error = ApiError;
    fn try_from(w: ResetConfirmBody) -> Result<Self, ApiError> {
        let mut c = Check::default();
        let token = c.string("token", w.token).map(Secret::new);
        let new = new_password(&mut c, "newPassword", w.new_password);
        c.finish(token.zip(new).map(|(token, new_password)| ResetConfirm { token, new_password }))
    }
}

wire! {
    /// `POST /api/posts` `{title, body, published?}` and `PUT /api/posts/:id` (any of them).
    pub struct PostBodyWire {
        title: String = "title",
        body: String = "body",
        published: bool = "published",
    }
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

impl PostPatch {
    /// The names of the fields this patch sets (for the audit log).
    pub fn fields(&self) -> Vec<&'static str> {
        let mut v = Vec::new();
        if self.title.is_some() {
            v.push("title");
        }
        if self.body.is_some() {
            v.push("body");
        }
        if self.published.is_some() {
            v.push("published");
        }
        v
    }
}

fn title_and_body(c: &mut Check, w: &mut PostBodyWire, required: bool) -> (Option<PostTitle>, Option<PostBody>) {
    let (title, body) = (std::mem::take(&mut w.title), std::mem::take(&mut w.body));
    let title = if required { c.string("title", title) } else { c.opt_string("title", title) };
    let title = c.parsed("title", title, |t| PostTitle::parse(t).map_err(|m| [m.to_string()]));
    let body = if required { c.string("body", body) } else { c.opt_string("body", body) };
    let body = c.parsed("body", body, |b| PostBody::parse(b).map_err(|m| [m.to_string()]));
    (title, body)
}

impl TryFrom<PostBodyWire> for NewPost {
    type Error = ApiError;
    fn try_from(mut w: PostBodyWire) -> Result<Self, ApiError> {
        let mut c = Check::default();
        let (title, body) = title_and_body(&mut c, &mut w, true);
        let published = c.opt_bool("published", w.published).unwrap_or(false);
        c.finish(title.zip(body).map(|(title, body)| NewPost { title, body, published }))
    }
}

impl TryFrom<PostBodyWire> for PostPatch {
    type Error = ApiError;
    fn try_from(mut w: PostBodyWire) -> Result<Self, ApiError> {
        let mut c = Check::default();
        let any = w.title.is_present() || w.body.is_present() || w.published.is_present();
        let (title, body) = title_and_body(&mut c, &mut w, false);
        let published = c.opt_bool("published", w.published);
        if !any {
            c.error("body", "at least one of title, body, published is required");
        }
        c.finish(Some(PostPatch { title, body, published }))
    }
}

wire! {
    /// `POST /api/api-keys` `{name, scopes?, expiresInDays?, rateLimit?}`.
    pub struct NewApiKeyBody {
        name: String = "name",
        scopes: Vec<String> = "scopes",
        expires_in_days: i64 = "expiresInDays",
        rate_limit: i64 = "rateLimit",
    }
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

/// Scopes must name known permissions and be non-empty; whether the creator holds them
/// is an authorization decision (403), not validation.
impl TryFrom<NewApiKeyBody> for NewApiKey {
    type Error = ApiError;
    fn try_from(w: NewApiKeyBody) -> Result<Self, ApiError> {
        let mut c = Check::default();
        let name = c.string("name", w.name).and_then(|n| {
            let n = n.trim();
            if n.is_empty() || n.chars().count() > MAX_KEY_NAME {
                c.error("name", format!("must be 1 to {MAX_KEY_NAME} characters"));
                None
            } else {
                Some(n.to_owned())
            }
        });
        let scopes = match w.scopes {
            Field::Absent => Some(PermissionSet::from_slice(&[Permission::PostsRead])),
            f => match c.opt_string_array("scopes", f) {
                None => None,
                Some(list) if list.is_empty() => {
                    c.error("scopes", "must not be empty");
                    None
                }
                Some(list) => {
                    let mut set = PermissionSet::empty();
                    let mut ok = true;
                    for s in &list {
                        match Permission::parse(s) {
                            Some(p) => set.insert(p),
                            None => {
                                c.error("scopes", format!("unknown permission {s:?}"));
                                ok = false;
                            }
                        }
                    }
                    ok.then_some(set)
                }
            },
        };
        let expires_in_days = c.opt_int("expiresInDays", w.expires_in_days, 1, 365);
        let rate_limit = c.opt_int("rateLimit", w.rate_limit, 1, 100_000);
        c.finish(name.zip(scopes).map(|(name, scopes)| NewApiKey { name, scopes, expires_in_days, rate_limit }))
    }
}

wire! {
    /// `PATCH /api/admin/users/:id` `{role?, isActive?}` (at least one).
    pub struct UserPatchBody {
        role: String = "role",
        is_active: bool = "isActive",
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UserPatch {
    pub role: Option<Role>,
    pub is_active: Option<bool>,
}

impl TryFrom<UserPatchBody> for UserPatch {
    type Error = ApiError;
    fn try_from(w: UserPatchBody) -> Result<Self, ApiError> {
        let mut c = Check::default();
        let any = w.role.is_present() || w.is_active.is_present();
        let role = c.opt_string("role", w.role).and_then(|r| match Role::parse(&r) {
            Some(r) => Some(r),
            None => {
                c.error("role", "must be one of admin, editor, user, viewer");
                None
            }
        });
        let is_active = c.opt_bool("isActive", w.is_active);
        if !any {
            c.error("body", "at least one of role, isActive is required");
        }
        c.finish(Some(UserPatch { role, is_active }))
    }
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

    fn fields_of(e: ApiError) -> Vec<String> {
        e.details.into_iter().map(|d| d.field).collect()
    }

    fn body<W: From<Object> + Default, D: TryFrom<W, Error = ApiError>>(json: &str) -> Result<D, ApiError> {
        read::<W, D>(Some(json.as_bytes()))
    }

    #[test]
    fn register_lists_every_bad_field() {
        let e = body::<RegisterBody, Registration>(r#"{"email": "nope", "password": "short"}"#).err().unwrap();
        let fields = fields_of(e);
        assert!(fields.contains(&"email".to_owned()));
        assert!(fields.iter().filter(|f| *f == "password").count() >= 2, "{fields:?}");
        let e = read::<RegisterBody, Registration>(None).err().unwrap();
        assert_eq!(fields_of(e), vec!["email", "password"]);
        let e = body::<RegisterBody, Registration>("[1]").err().unwrap();
        assert_eq!(fields_of(e), vec!["body"]);
        let e = body::<RegisterBody, Registration>(r#"{"email": 5, "password": true}"#).err().unwrap();
        assert_eq!(e.details[0].message, "must be a string");
        assert_eq!(e.details.len(), 2, "both wrong types listed");
        let e = body::<RegisterBody, Registration>(r#"{"email": null}"#).err().unwrap();
        assert_eq!(e.details[0].message, "is required", "null reads as absent");
    }

    #[test]
    fn bodies_that_are_not_objects_are_validation_errors() {
        for bad in ["[1]", "\"x\"", "3", "true", "null"] {
            let e = body::<LogoutBody, LogoutInput>(bad).err().unwrap();
            assert_eq!(e.code, crate::error::ErrorCode::ValidationFailed, "{bad}");
            assert_eq!(e.details[0].message, "must be a JSON object", "{bad}");
        }
        let last = body::<LogoutBody, LogoutInput>(r#"{"all": 1, "all": true}"#).unwrap();
        assert_eq!(last.which, Which::All, "a repeated field: the last one counts");
        let others = body::<LogoutBody, LogoutInput>(r#"{"others": true}"#).unwrap();
        assert_eq!(others.which, Which::Others);
        let both = body::<LogoutBody, LogoutInput>(r#"{"all": true, "others": true}"#).err().unwrap();
        assert_eq!((both.details[0].field.as_str(), both.code), ("others", crate::error::ErrorCode::ValidationFailed));
        let e = body::<LogoutBody, LogoutInput>("{").err().unwrap();
        assert_eq!(e.code, crate::error::ErrorCode::InvalidJson);
    }

    #[test]
    fn unknown_fields_are_ignored() {
        let r: Registration =
            body::<RegisterBody, _>(r#"{"email": "a@b.co", "password": "Abcdefg1", "name": {"x": [1]}}"#).unwrap();
        assert_eq!(r.email.as_str(), "a@b.co");
    }

    #[test]
    fn register_normalises_email() {
        let r: Registration = body::<RegisterBody, _>(r#"{"email": "  Race@X.com ", "password": "Abcdefg1"}"#).unwrap();
        assert_eq!(r.email.as_str(), "race@x.com");
    }

    #[test]
    fn login_requires_a_non_empty_bounded_password() {
        assert!(body::<LoginBody, Credentials>(r#"{"email": "a@b.co", "password": ""}"#).is_err());
        let long = format!(r#"{{"email": "a@b.co", "password": "{}"}}"#, "x".repeat(2000));
        assert!(body::<LoginBody, Credentials>(&long).is_err());
        let c: Credentials = body::<LoginBody, _>(r#"{"email": "A@B.co", "password": "anything"}"#).unwrap();
        assert_eq!(c.email.as_str(), "a@b.co");
        assert!(!format!("{c:?}").contains("anything"), "the password never prints");
    }

    #[test]
    fn password_change_and_reset_confirm() {
        let p: PasswordChange = body::<PasswordChangeBody, _>(
            r#"{"currentPassword": "old", "newPassword": "Abcdefg1", "keepApiKeys": true}"#,
        )
        .unwrap();
        assert!(p.keep_api_keys);
        let e = body::<PasswordChangeBody, PasswordChange>(r#"{"keepApiKeys": 1}"#).err().unwrap();
        assert_eq!(fields_of(e), vec!["currentPassword", "newPassword", "keepApiKeys"]);
        let e = body::<ResetConfirmBody, ResetConfirm>(r#"{"token": 7, "newPassword": "weak"}"#).err().unwrap();
        assert_eq!(fields_of(e)[0], "token");
        let r: ResetConfirm = body::<ResetConfirmBody, _>(r#"{"token": "t", "newPassword": "Abcdefg1"}"#).unwrap();
        assert_eq!(r.token.expose(), "t");
        let r: RefreshInput = body::<RefreshBody, _>(r#"{"refreshToken": "rt_x"}"#).unwrap();
        assert_eq!(r.token.map(|t| t.expose().clone()).as_deref(), Some("rt_x"));
        assert!(read::<RefreshBody, RefreshInput>(None).unwrap().token.is_none());
    }

    #[test]
    fn post_patch_needs_one_field_and_validates_each() {
        assert!(body::<PostBodyWire, PostPatch>("{}").is_err());
        assert!(body::<PostBodyWire, PostPatch>(r#"{"published": "yes"}"#).is_err());
        let p: PostPatch = body::<PostBodyWire, _>(r#"{"published": true}"#).unwrap();
        assert_eq!(p.published, Some(true));
        assert!(p.title.is_none());
        assert_eq!(p.fields(), vec!["published"]);
        let long = format!(r#"{{"title": "", "body": "{}", "published": 1}}"#, "x".repeat(50_001));
        let e = body::<PostBodyWire, NewPost>(&long).err().unwrap();
        assert_eq!(fields_of(e), vec!["title", "body", "published"]);
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
        let k: NewApiKey = body::<NewApiKeyBody, _>(r#"{"name": "ci"}"#).unwrap();
        assert_eq!(k.scopes.names(), vec!["posts:read"]);
        assert_eq!(k.rate_limit, None);
        assert_eq!(k.effective_rate_limit(None).ok(), Some(1000));
        assert_eq!(k.effective_rate_limit(Some(6)).ok(), Some(6), "the default never exceeds the cap");
        let big: NewApiKey = body::<NewApiKeyBody, _>(r#"{"name": "ci", "rateLimit": 100000}"#).unwrap();
        assert_eq!(big.effective_rate_limit(None).ok(), Some(100_000), "api_keys:manage: no cap");
        assert_eq!(fields_of(big.effective_rate_limit(Some(1000)).err().unwrap()), vec!["rateLimit"]);
        let at: NewApiKey = body::<NewApiKeyBody, _>(r#"{"name": "ci", "rateLimit": 1000}"#).unwrap();
        assert_eq!(at.effective_rate_limit(Some(1000)).ok(), Some(1000));
        for bad in [
            r#"{"name": "ci", "scopes": []}"#,
            r#"{"name": "ci", "scopes": ["nope"]}"#,
            r#"{"name": "ci", "scopes": "posts:read"}"#,
            r#"{"name": "ci", "scopes": ["posts:read", 3]}"#,
            r#"{"name": "ci", "expiresInDays": 0}"#,
            r#"{"name": "ci", "expiresInDays": 366}"#,
            r#"{"name": "ci", "expiresInDays": 1.5}"#,
            r#"{"name": "ci", "rateLimit": 0}"#,
            r#"{"name": "", "scopes": ["posts:read"]}"#,
            r#"{"scopes": ["posts:read"]}"#,
        ] {
            assert!(body::<NewApiKeyBody, NewApiKey>(bad).is_err(), "{bad}");
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
        assert!(body::<UserPatchBody, UserPatch>(r#"{"role": "root"}"#).is_err());
        assert!(body::<UserPatchBody, UserPatch>("{}").is_err());
        let p: UserPatch = body::<UserPatchBody, _>(r#"{"role": "editor"}"#).unwrap();
        assert_eq!(p, UserPatch { role: Some(Role::Editor), is_active: None });
        let p: UserPatch = body::<UserPatchBody, _>(r#"{"isActive": false}"#).unwrap();
        assert_eq!(p, UserPatch { role: None, is_active: Some(false) });
    }
}
