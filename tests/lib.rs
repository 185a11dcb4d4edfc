//! Black-box tests of the Taskforge server live in `tests/`; this crate has no library code.
