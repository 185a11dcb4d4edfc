//! The `taskforge` binary as a user runs it: bad configuration, migrations, create-admin.

use std::io::Write;
use std::process::{Command, Output, Stdio};
use taskforge_migration::{Migrator, MigratorTrait};

fn taskforge(args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_taskforge"));
    cmd.args(args)
        .env_clear()
        .env("LOG_FORMAT", "json")
        .current_dir(std::env::temp_dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("the binary starts");
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("write stdin");
    }
    drop(child.stdin.take());
    child.wait_with_output().expect("the binary exits")
}

fn temp_sqlite() -> (String, std::path::PathBuf) {
    let path = std::env::temp_dir().join(format!("taskforge-cli-{}.db", std::process::id()));
    let _ = std::fs::remove_file(&path);
    (format!("sqlite://{}", path.display()), path)
}

#[test]
fn a_bad_setting_is_one_line_naming_the_variable_and_exit_code_2() {
    for (var, value) in [
        ("PORT", "eighty"),
        ("BCRYPT_COST", "99"),
        ("APP_ENV", "production"),
    ] {
        let out = taskforge(&["serve"], &[(var, value)], None);
        assert_eq!(out.status.code(), Some(2), "{var}={value}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let expected = if var == "APP_ENV" {
            "JWT_SECRET_KEY"
        } else {
            var
        };
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
        assert!(stderr.contains(expected), "{stderr}");
    }
}

#[test]
fn create_admin_migrates_a_new_database_and_is_idempotent() {
    let (url, path) = temp_sqlite();
    let env = [("DATABASE_URL", url.as_str()), ("BCRYPT_COST", "4")];
    for _ in 0..2 {
        let out = taskforge(
            &[
                "create-admin",
                "--email",
                "Root@Example.com",
                "--password-stdin",
            ],
            &env,
            Some("a long password\n"),
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("root@example.com is an active admin")
        );
    }
    let short = taskforge(
        &[
            "create-admin",
            "--email",
            "x@example.com",
            "--password-stdin",
        ],
        &env,
        Some("short\n"),
    );
    assert!(!short.status.success());
    let status = taskforge(&["migrate", "status"], &env, None);
    let listing = String::from_utf8_lossy(&status.stdout);
    assert_eq!(
        listing.lines().filter(|l| l.starts_with("applied")).count(),
        Migrator::migrations().len(),
        "{listing}"
    );
    let down = taskforge(&["migrate", "down"], &env, None);
    assert!(down.status.success());
    let listing =
        String::from_utf8_lossy(&taskforge(&["migrate", "status"], &env, None).stdout).to_string();
    assert_eq!(
        listing.lines().filter(|l| l.starts_with("pending")).count(),
        1,
        "{listing}"
    );
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}
