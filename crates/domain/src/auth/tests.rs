//! Unit tests of the auth rules, against mockall mocks of the ports.
