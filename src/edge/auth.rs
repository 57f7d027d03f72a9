//! Authentication of the caller.
