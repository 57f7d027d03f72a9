//! D1 queries, one module per table group.
