//! Unit tests of the user rules, against mockall mocks of the ports.
