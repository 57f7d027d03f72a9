//! Checked domain types: outside strings become these through `parse`.
pub mod email;
pub mod ids;
pub mod password;
pub mod post;
pub mod role;
