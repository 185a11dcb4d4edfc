//! Unit tests of cross-cutting domain pieces (errors, pages, clock).
