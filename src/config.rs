//! Settings, parsed and validated from the Worker's vars and secrets at the start of a
//! request. A missing or weak secret is an error (every request answers 500 with a
//! clear log line), never an insecure default. Non-secret settings have defaults that
//! mirror `[vars]` in wrangler.toml.

use crate::binding::{BindingPolicy, IpBinding};
use crate::crypto::kdf;
use crate::token::external::{self, Alg};
use crate::token::jwt::JwtKey;
use std::fmt;

/// A value that must never be printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    pub fn new(value: T) -> Self {
        Secret(value)
    }
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([REDACTED])")
    }
}

/// RFC 7518 §3.2: an HS256 key must be at least as long as the hash output (32 bytes).
pub const MIN_SECRET_BYTES: usize = 32;

/// Every setting of the service.
#[derive(Debug, Clone)]
pub struct Settings {
    pub jwt_key: JwtKey,
    pub jwt_previous: Option<JwtKey>,
    pub jwt_issuer: String,
    pub jwt_audience: String,
    pub access_ttl: i64,
    pub refresh_ttl: i64,
    pub refresh_grace: i64,
    pub pbkdf2_iterations: u32,
    pub cors_origins: Vec<String>,
    pub app_url: String,
    pub lockout_threshold: u32,
    pub lockout_window: i64,
    pub lockout_seconds: i64,
    pub password_reset_ttl: i64,
    pub trust_forwarded_for: bool,
    /// `LOG_REQUESTS=all`: a structured log line for every answer; `errors` (the default):
    /// for 4xx and 5xx answers only.
    pub log_all_requests: bool,
    pub rate_limit_auth: u32,
    pub rate_limit_anon: u32,
    pub rate_limit_user: u32,
    pub rate_limit_period: i64,
    pub audit_retention_days: i64,
    /// Live API keys a user may hold (`API_KEYS_PER_USER`).
    pub api_keys_per_user: i64,
    /// Derives a refresh token's one successor (see `token::refresh::successor`);
    /// HMAC-SHA-256 of a fixed label under `JWT_SECRET`.
    pub refresh_successor_key: Secret<[u8; 32]>,
    /// What a session is bound to (`SESSION_BIND_USER_AGENT`, `SESSION_BIND_IP`).
    pub binding: BindingPolicy,
    /// Keys the session-binding fingerprint (`binding`); HMAC-SHA-256 of a fixed label
    /// under `JWT_SECRET`.
    pub binding_key: Secret<[u8; 32]>,
    /// A third-party identity provider whose tokens are accepted (`EXTERNAL_JWT_*`).
    pub external: Option<ExternalIdp>,
}

/// A third-party identity provider (`EXTERNAL_JWT_ISSUER` and the settings beside it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalIdp {
    /// The exact `iss` of its tokens.
    pub issuer: String,
    /// Where its keys are; `None`: discovered from the issuer's OpenID configuration.
    pub jwks_url: Option<String>,
    /// The `aud` its tokens must carry, when set.
    pub audience: Option<String>,
    pub algorithms: Vec<Alg>,
    /// A cookie that carries its token (e.g. Hanko's `hanko`).
    pub cookie: Option<String>,
    pub clock_skew: i64,
}

impl ExternalIdp {
    /// Where its OpenID configuration is (OpenID Connect Discovery 1.0 §4).
    pub fn discovery_url(&self) -> String {
        format!("{}/.well-known/openid-configuration", self.issuer.trim_end_matches('/'))
    }
}

/// Whether the service may fetch keys from `url`: https, or http to this machine only
/// (`wrangler dev` against a local provider). No credentials or fragment in it.
pub fn fetchable_url(url: &str) -> bool {
    let (https, rest) = match (url.strip_prefix("https://"), url.strip_prefix("http://")) {
        (Some(rest), _) => (true, rest),
        (None, Some(rest)) => (false, rest),
        _ => return false,
    };
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().map(|h| format!("[{h}]")).unwrap_or_default(),
        None => authority.split(':').next().unwrap_or_default().to_owned(),
    };
    let clean = !url.chars().any(|c| c.is_whitespace() || c.is_control() || c == '#') && !authority.contains('@');
    let loopback = matches!(host.as_str(), "127.0.0.1" | "localhost" | "[::1]");
    clean && !host.is_empty() && (https || loopback)
}

/// The `EXTERNAL_JWT_*` settings: `None` when `EXTERNAL_JWT_ISSUER` is unset (and then no
/// other may be set: a half-configured provider is an error, not a silent no).
fn external_idp(get: &dyn Fn(&str) -> Option<String>) -> Result<Option<ExternalIdp>, ConfigError> {
    let opt = |name: &str| get(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
    let invalid = |name: &'static str, reason: &str| ConfigError::Invalid { name, reason: reason.to_owned() };
    let others = [
        "EXTERNAL_JWKS_URL",
        "EXTERNAL_JWT_AUDIENCE",
        "EXTERNAL_JWT_ALGORITHMS",
        "EXTERNAL_JWT_COOKIE",
        "EXTERNAL_JWT_CLOCK_SKEW_SECONDS",
    ];
    let Some(issuer) = opt("EXTERNAL_JWT_ISSUER") else {
        return match others.iter().find(|n| opt(n).is_some()) {
            Some(_) => Err(invalid("EXTERNAL_JWT_ISSUER", "must be set when any other EXTERNAL_* setting is")),
            None => Ok(None),
        };
    };
    let jwks_url = opt("EXTERNAL_JWKS_URL");
    match &jwks_url {
        Some(url) if !fetchable_url(url) => {
            return Err(invalid("EXTERNAL_JWKS_URL", "must be an https URL (http only for 127.0.0.1 or localhost)"))
        }
        None if !fetchable_url(&issuer) => {
            return Err(invalid(
                "EXTERNAL_JWT_ISSUER",
                "must be an https URL to discover its keys (or set EXTERNAL_JWKS_URL)",
            ))
        }
        _ => {}
    }
    let algorithms =
        external::parse_algorithms(&opt("EXTERNAL_JWT_ALGORITHMS").unwrap_or_else(|| "RS256,ES256".into()))
            .map_err(|reason| ConfigError::Invalid { name: "EXTERNAL_JWT_ALGORITHMS", reason })?;
    let cookie = opt("EXTERNAL_JWT_COOKIE");
    if let Some(name) = &cookie {
        let token_chars = name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
        if !token_chars || name.len() > 64 || name.starts_with("__Host-") || name.starts_with("__Secure-") {
            return Err(invalid("EXTERNAL_JWT_COOKIE", "must be a plain cookie name (letters, digits, - _ .)"));
        }
    }
    Ok(Some(ExternalIdp {
        issuer,
        jwks_url,
        audience: opt("EXTERNAL_JWT_AUDIENCE"),
        algorithms,
        cookie,
        clock_skew: int(get, "EXTERNAL_JWT_CLOCK_SKEW_SECONDS", 60, 0, 300)?,
    }))
}

/// Why the settings are unusable. Logged, never sent to the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigError {
    MissingSecret(&'static str),
    WeakSecret(&'static str),
    Invalid { name: &'static str, reason: String },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::MissingSecret(n) => {
                write!(f, "secret {n} is not set: run `wrangler secret put {n}` (or add it to .dev.vars locally)")
            }
            ConfigError::WeakSecret(n) => {
                write!(
                    f,
                    "secret {n} is shorter than {MIN_SECRET_BYTES} bytes: generate one with `openssl rand -base64 48`"
                )
            }
            ConfigError::Invalid { name, reason } => write!(f, "setting {name} is invalid: {reason}"),
        }
    }
}

fn int<T: std::str::FromStr + PartialOrd + Copy + fmt::Display>(
    get: &dyn Fn(&str) -> Option<String>,
    name: &'static str,
    default: T,
    min: T,
    max: T,
) -> Result<T, ConfigError> {
    match get(name) {
        None => Ok(default),
        Some(raw) => {
            let v: T = raw
                .trim()
                .parse()
                .map_err(|_| ConfigError::Invalid { name, reason: format!("{raw:?} is not an integer") })?;
            if v < min || v > max {
                return Err(ConfigError::Invalid { name, reason: format!("must be between {min} and {max}") });
            }
            Ok(v)
        }
    }
}

fn boolean(get: &dyn Fn(&str) -> Option<String>, name: &'static str, default: bool) -> Result<bool, ConfigError> {
    match text(get, name, if default { "true" } else { "false" }).to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => Err(ConfigError::Invalid { name, reason: "must be true or false".into() }),
    }
}

fn text(get: &dyn Fn(&str) -> Option<String>, name: &'static str, default: &str) -> String {
    get(name).map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).unwrap_or_else(|| default.to_owned())
}

impl Settings {
    /// Parses every setting through `get` (the Worker env lookup, or a map in tests).
    pub fn from_lookup(get: &dyn Fn(&str) -> Option<String>) -> Result<Settings, ConfigError> {
        let secret = get("JWT_SECRET").filter(|s| !s.is_empty()).ok_or(ConfigError::MissingSecret("JWT_SECRET"))?;
        if secret.len() < MIN_SECRET_BYTES {
            return Err(ConfigError::WeakSecret("JWT_SECRET"));
        }
        let jwt_previous = match get("JWT_SECRET_PREVIOUS").filter(|s| !s.trim().is_empty()) {
            None => None,
            Some(p) if p.len() < MIN_SECRET_BYTES => return Err(ConfigError::WeakSecret("JWT_SECRET_PREVIOUS")),
            Some(p) => Some(JwtKey::new(p.as_bytes())),
        };
        let trust_forwarded_for = boolean(get, "TRUST_FORWARDED_FOR", false)?;
        let log_all_requests = match text(get, "LOG_REQUESTS", "errors").to_ascii_lowercase().as_str() {
            "errors" => false,
            "all" => true,
            _ => return Err(ConfigError::Invalid { name: "LOG_REQUESTS", reason: "must be errors or all".into() }),
        };
        let bind_ip = text(get, "SESSION_BIND_IP", "false");
        let bind_ip = IpBinding::parse(&bind_ip).ok_or_else(|| ConfigError::Invalid {
            name: "SESSION_BIND_IP",
            reason: "must be false, prefix or exact".into(),
        })?;
        let binding = BindingPolicy { user_agent: boolean(get, "SESSION_BIND_USER_AGENT", true)?, ip: bind_ip };
        let cors_origins = text(get, "CORS_ORIGINS", "")
            .split(',')
            .map(|o| o.trim().trim_end_matches('/').to_owned())
            .filter(|o| !o.is_empty())
            .collect();
        let day = 86_400;
        Ok(Settings {
            jwt_key: JwtKey::new(secret.as_bytes()),
            jwt_previous,
            jwt_issuer: text(get, "JWT_ISSUER", "secure-api"),
            jwt_audience: text(get, "JWT_AUDIENCE", "secure-api"),
            access_ttl: int(get, "ACCESS_TOKEN_TTL_SECONDS", 900, 1, day)?,
            refresh_ttl: int(get, "REFRESH_TOKEN_TTL_SECONDS", 7 * day, 60, 365 * day)?,
            refresh_grace: int(get, "REFRESH_REUSE_GRACE_SECONDS", 10, 0, 300)?,
            pbkdf2_iterations: int(get, "PBKDF2_ITERATIONS", kdf::DEFAULT_ITERATIONS, 1_000, kdf::MAX_ITERATIONS)?,
            cors_origins,
            app_url: text(get, "APP_URL", "http://localhost:3000").trim_end_matches('/').to_owned(),
            lockout_threshold: int(get, "LOCKOUT_THRESHOLD", 10, 1, 1_000)?,
            lockout_window: int(get, "LOCKOUT_WINDOW_SECONDS", 900, 1, 30 * day)?,
            lockout_seconds: int(get, "LOCKOUT_SECONDS", 900, 1, 30 * day)?,
            password_reset_ttl: int(get, "PASSWORD_RESET_TTL_SECONDS", 1800, 1, day)?,
            trust_forwarded_for,
            log_all_requests,
            rate_limit_auth: int(get, "RATE_LIMIT_AUTH", 5, 1, 1_000_000)?,
            rate_limit_anon: int(get, "RATE_LIMIT_ANON", 60, 1, 1_000_000)?,
            rate_limit_user: int(get, "RATE_LIMIT_USER", 1000, 1, 1_000_000)?,
            rate_limit_period: int(get, "RATE_LIMIT_PERIOD_SECONDS", 60, 1, 3_600)?,
            audit_retention_days: int(get, "AUDIT_RETENTION_DAYS", 90, 1, 3_650)?,
            api_keys_per_user: int(get, "API_KEYS_PER_USER", 25, 1, 1_000)?,
            refresh_successor_key: Secret::new(crate::crypto::mac::hmac_sha256(
                secret.as_bytes(),
                b"secure-api refresh-successor v1",
            )),
            binding,
            binding_key: Secret::new(crate::crypto::mac::hmac_sha256(
                secret.as_bytes(),
                b"secure-api session-binding v1",
            )),
            external: external_idp(get)?,
        })
    }

    /// The keys accepted for verifying access tokens: current first, then the previous one.
    /// The account-lockout parameters.
    pub fn lockout_policy(&self) -> crate::throttle::lockout::LockoutPolicy {
        crate::throttle::lockout::LockoutPolicy {
            threshold: self.lockout_threshold,
            window_secs: self.lockout_window,
            lock_secs: self.lockout_seconds,
        }
    }

    pub fn verify_keys(&self) -> Vec<&JwtKey> {
        let mut keys = vec![&self.jwt_key];
        if let Some(p) = &self.jwt_previous {
            keys.push(p);
        }
        keys
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |k| map.get(k).cloned()
    }

    const GOOD: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn defaults_match_the_contract() {
        let s = Settings::from_lookup(&lookup(&[("JWT_SECRET", GOOD)])).unwrap();
        assert_eq!(s.access_ttl, 900);
        assert_eq!(s.refresh_grace, 10);
        assert_eq!(s.lockout_threshold, 10);
        assert_eq!(s.lockout_window, 900);
        assert_eq!(s.lockout_seconds, 900);
        assert_eq!(s.password_reset_ttl, 1800);
        assert!(!s.trust_forwarded_for);
        assert!(!s.log_all_requests, "only 4xx/5xx answers are logged by default");
        assert_eq!(s.jwt_issuer, "secure-api");
        assert_eq!(s.pbkdf2_iterations, 100_000);
        assert_eq!((s.rate_limit_auth, s.rate_limit_anon, s.rate_limit_user), (5, 60, 1000));
        assert_eq!(s.audit_retention_days, 90);
        assert_eq!(s.verify_keys().len(), 1);
        assert_eq!(s.binding, BindingPolicy { user_agent: true, ip: IpBinding::Off });
    }

    #[test]
    fn missing_or_short_secret_is_an_error_not_a_default() {
        assert_eq!(Settings::from_lookup(&lookup(&[])).unwrap_err(), ConfigError::MissingSecret("JWT_SECRET"));
        assert_eq!(
            Settings::from_lookup(&lookup(&[("JWT_SECRET", "short")])).unwrap_err(),
            ConfigError::WeakSecret("JWT_SECRET")
        );
        assert_eq!(
            Settings::from_lookup(&lookup(&[("JWT_SECRET", GOOD), ("JWT_SECRET_PREVIOUS", "x")])).unwrap_err(),
            ConfigError::WeakSecret("JWT_SECRET_PREVIOUS")
        );
    }

    #[test]
    fn overrides_are_parsed_and_bounded() {
        let s = Settings::from_lookup(&lookup(&[
            ("JWT_SECRET", GOOD),
            ("JWT_SECRET_PREVIOUS", "fedcba9876543210fedcba9876543210"),
            ("CORS_ORIGINS", " https://a.example/ , https://b.example,, "),
            ("LOCKOUT_THRESHOLD", "3"),
            ("TRUST_FORWARDED_FOR", "TRUE"),
            ("LOG_REQUESTS", "All"),
        ]))
        .unwrap();
        assert_eq!(s.cors_origins, vec!["https://a.example", "https://b.example"]);
        assert_eq!(s.lockout_threshold, 3);
        assert!(s.trust_forwarded_for);
        assert!(s.log_all_requests);
        assert_eq!(s.verify_keys().len(), 2);
        let too_many = Settings::from_lookup(&lookup(&[("JWT_SECRET", GOOD), ("PBKDF2_ITERATIONS", "100001")]));
        assert!(matches!(too_many, Err(ConfigError::Invalid { name: "PBKDF2_ITERATIONS", .. })));
        let junk = Settings::from_lookup(&lookup(&[("JWT_SECRET", GOOD), ("LOCKOUT_SECONDS", "soon")]));
        assert!(matches!(junk, Err(ConfigError::Invalid { name: "LOCKOUT_SECONDS", .. })));
        let bound = Settings::from_lookup(&lookup(&[
            ("JWT_SECRET", GOOD),
            ("SESSION_BIND_USER_AGENT", "false"),
            ("SESSION_BIND_IP", "exact"),
        ]))
        .unwrap();
        assert_eq!(bound.binding, BindingPolicy { user_agent: false, ip: IpBinding::Exact });
        for (name, value) in
            [("SESSION_BIND_IP", "true"), ("SESSION_BIND_USER_AGENT", "sometimes"), ("LOG_REQUESTS", "info")]
        {
            let bad = Settings::from_lookup(&lookup(&[("JWT_SECRET", GOOD), (name, value)]));
            assert!(matches!(bad, Err(ConfigError::Invalid { name: n, .. }) if n == name), "{name}={value}");
        }
    }

    #[test]
    fn an_external_provider_is_off_unless_fully_and_safely_configured() {
        let with = |pairs: &[(&str, &str)]| {
            let mut all = vec![("JWT_SECRET", GOOD)];
            all.extend_from_slice(pairs);
            Settings::from_lookup(&lookup(&all)).map(|s| s.external)
        };
        assert_eq!(with(&[]), Ok(None));
        let idp = with(&[("EXTERNAL_JWT_ISSUER", "https://auth.example.com/")]).unwrap().unwrap();
        assert_eq!(idp.algorithms, vec![Alg::Rs256, Alg::Es256]);
        assert_eq!((idp.clock_skew, idp.audience.as_deref(), idp.cookie.as_deref()), (60, None, None));
        assert_eq!(idp.discovery_url(), "https://auth.example.com/.well-known/openid-configuration");
        let local = with(&[
            ("EXTERNAL_JWT_ISSUER", "hanko"),
            ("EXTERNAL_JWKS_URL", "http://127.0.0.1:8788/.well-known/jwks.json"),
            ("EXTERNAL_JWT_AUDIENCE", "app"),
            ("EXTERNAL_JWT_ALGORITHMS", "RS256"),
            ("EXTERNAL_JWT_COOKIE", "hanko"),
            ("EXTERNAL_JWT_CLOCK_SKEW_SECONDS", "300"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(
            (local.algorithms, local.clock_skew, local.cookie.as_deref()),
            (vec![Alg::Rs256], 300, Some("hanko"))
        );
        for (pairs, name) in [
            (&[("EXTERNAL_JWT_AUDIENCE", "app")][..], "EXTERNAL_JWT_ISSUER"),
            (&[("EXTERNAL_JWT_ISSUER", "http://auth.example.com")][..], "EXTERNAL_JWT_ISSUER"),
            (&[("EXTERNAL_JWT_ISSUER", "not-a-url")][..], "EXTERNAL_JWT_ISSUER"),
            (&[("EXTERNAL_JWT_ISSUER", "x"), ("EXTERNAL_JWKS_URL", "http://10.0.0.1/jwks")][..], "EXTERNAL_JWKS_URL"),
            (
                &[("EXTERNAL_JWT_ISSUER", "x"), ("EXTERNAL_JWKS_URL", "https://u:p@a.example/jwks")][..],
                "EXTERNAL_JWKS_URL",
            ),
            (
                &[("EXTERNAL_JWT_ISSUER", "https://a.example"), ("EXTERNAL_JWT_ALGORITHMS", "HS256")][..],
                "EXTERNAL_JWT_ALGORITHMS",
            ),
            (
                &[("EXTERNAL_JWT_ISSUER", "https://a.example"), ("EXTERNAL_JWT_ALGORITHMS", "none")][..],
                "EXTERNAL_JWT_ALGORITHMS",
            ),
            (
                &[("EXTERNAL_JWT_ISSUER", "https://a.example"), ("EXTERNAL_JWT_COOKIE", "a;b")][..],
                "EXTERNAL_JWT_COOKIE",
            ),
            (
                &[("EXTERNAL_JWT_ISSUER", "https://a.example"), ("EXTERNAL_JWT_COOKIE", "__Host-access")][..],
                "EXTERNAL_JWT_COOKIE",
            ),
            (
                &[("EXTERNAL_JWT_ISSUER", "https://a.example"), ("EXTERNAL_JWT_CLOCK_SKEW_SECONDS", "301")][..],
                "EXTERNAL_JWT_CLOCK_SKEW_SECONDS",
            ),
        ] {
            assert!(matches!(with(pairs), Err(ConfigError::Invalid { name: n, .. }) if n == name), "{pairs:?}");
        }
    }

    #[test]
    fn only_https_or_loopback_urls_are_fetched() {
        for ok in [
            "https://a.example/jwks",
            "https://a.example:8443",
            "http://127.0.0.1:9/x",
            "http://localhost/x",
            "http://[::1]:80/",
        ] {
            assert!(fetchable_url(ok), "{ok}");
        }
        for bad in [
            "http://a.example/jwks",
            "ftp://a.example",
            "https://",
            "https://a.example/#x",
            "http://127.0.0.1.evil.example/",
            "https://a b.example/",
            "http://localhost@evil.example/",
        ] {
            assert!(!fetchable_url(bad), "{bad}");
        }
    }

    #[test]
    fn debug_output_never_contains_secrets() {
        let s = Settings::from_lookup(&lookup(&[("JWT_SECRET", GOOD)])).unwrap();
        let dbg = format!("{s:?}");
        assert!(!dbg.contains(GOOD), "{dbg}");
        assert_eq!(format!("{:?}", Secret::new("hunter2")), "Secret([REDACTED])");
    }
}
