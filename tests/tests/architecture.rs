//! The dependency rule, read from `cargo metadata`: the domain depends on no web, SQL,
//! runtime or crypto crate; the HTTP layer never on the adapters; the adapters never on actix.

use std::collections::{BTreeSet, HashMap};

use cargo_metadata::{DependencyKind, MetadataCommand, PackageId};

/// Every package `root` depends on, transitively, through normal (non-dev) dependencies.
fn dependency_closure(root: &str) -> BTreeSet<String> {
    let metadata = MetadataCommand::new()
        .manifest_path(concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.toml"))
        .exec()
        .expect("cargo metadata runs");
    let resolve = metadata.resolve.as_ref().expect("a resolved graph");
    let nodes: HashMap<&PackageId, _> = resolve.nodes.iter().map(|n| (&n.id, n)).collect();
    let names: HashMap<&PackageId, &str> = metadata
        .packages
        .iter()
        .map(|p| (&p.id, p.name.as_str()))
        .collect();
    let root_id = metadata
        .packages
        .iter()
        .find(|p| p.name.as_str() == root)
        .map(|p| &p.id)
        .expect("the package exists");
    let mut seen = BTreeSet::new();
    let mut stack = vec![root_id];
    while let Some(id) = stack.pop() {
        for dep in &nodes[id].deps {
            let normal = dep
                .dep_kinds
                .iter()
                .any(|k| k.kind == DependencyKind::Normal);
            if normal && seen.insert(names[&dep.pkg].to_owned()) {
                stack.push(&dep.pkg);
            }
        }
    }
    seen
}

fn assert_free_of(package: &str, forbidden: &[&str]) {
    let deps = dependency_closure(package);
    let found: Vec<_> = forbidden.iter().filter(|f| deps.contains(**f)).collect();
    assert!(found.is_empty(), "{package} must not depend on {found:?}");
}

#[test]
fn domain_depends_on_no_web_sql_runtime_or_crypto_crate() {
    assert_free_of(
        "taskforge-domain",
        &[
            "actix-web",
            "actix-rt",
            "sea-orm",
            "sqlx",
            "sqlx-core",
            "tokio",
            "jsonwebtoken",
            "bcrypt",
            "hyper",
        ],
    );
}

#[test]
fn api_does_not_depend_on_infra_or_sql() {
    assert_free_of(
        "taskforge-api",
        &[
            "taskforge-infra",
            "sea-orm",
            "sqlx",
            "bcrypt",
            "jsonwebtoken",
        ],
    );
}

#[test]
fn infra_does_not_depend_on_actix() {
    assert_free_of(
        "taskforge-infra",
        &["actix-web", "actix-http", "actix-rt", "taskforge-api"],
    );
}

#[test]
fn the_closure_sees_real_dependencies() {
    // Guards the test itself: a broken graph walk would make every rule above pass.
    assert!(dependency_closure("taskforge-api").contains("actix-web"));
    assert!(dependency_closure("taskforge-infra").contains("sea-orm"));
    assert!(dependency_closure("taskforge").contains("taskforge-infra"));
}
