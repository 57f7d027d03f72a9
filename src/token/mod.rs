//! Credential formats: access JWTs, refresh tokens (rotation decisions), API keys.
pub mod api_key;
pub mod external;
pub mod jwt;
pub mod refresh;
pub mod reset;
