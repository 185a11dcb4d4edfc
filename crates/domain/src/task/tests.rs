//! Unit tests of the task rules, against mockall mocks of the ports.
