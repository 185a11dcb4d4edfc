//! The background purge of dead sessions.

use super::Ports;
use crate::tests::fixtures::now;

#[tokio::test]
async fn purge_sessions_purges_as_of_the_clock_and_returns_the_count() {
    let mut ports = Ports::default();
    ports
        .sessions
        .expect_purge()
        .withf(|at| *at == now())
        .times(1)
        .returning(|_| Ok(7));

    assert_eq!(ports.service().purge_sessions().await.unwrap(), 7);
}
