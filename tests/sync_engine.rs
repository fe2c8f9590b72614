//! The run engine driven directly, with a database and nothing else: no server, no
//! agent, no WebSocket (architecture §1.1: the engine takes what it uses).

use adc_e2e::engine::{Engine, TestDb};
use adc_e2e::engines;
use adc_server::db::syncs::{self, DeletionGuard, NewSync};
use adc_server::db::{Db, runs, tenants, users};
use adc_server::registry::Registry;
use adc_server::sync::active::{ActiveRun, StartedEmpty};
use adc_server::sync::failure::RunFailure;
use adc_server::sync::run::{self, NewRun, ReadOffer, StartError};
use adc_server::vocabulary::{RunStatus, Trigger};
use adc_shared::{Settings, UserRecord};
use std::collections::BTreeMap;
use uuid::Uuid;

fn person(i: u32) -> UserRecord {
    UserRecord {
        external_id: format!("id-{i}"),
        username: format!("user{i}@example.com"),
        email: Some(format!("user{i}@example.com")),
        display_name: None,
        given_name: None,
        surname: None,
        enabled: true,
        source_dn: format!("uid=user{i},ou=people,dc=example,dc=com"),
        extra: BTreeMap::new(),
    }
}

struct Direct {
    db: Db,
    sync: syncs::Sync,
}

impl Direct {
    async fn new(test_db: &TestDb) -> Direct {
        let db = Db::connect(Some(&test_db.url)).await.unwrap();
        let tenant = tenants::insert(&db, "direct").await.unwrap();
        let new = NewSync {
            tenant_id: tenant.id,
            name: "head office",
            secret_hash: "not used here",
            settings: Settings::default(),
            schedule_minutes: None,
            guard: DeletionGuard::default(),
            full_read_hours: 24,
        };
        let sync = syncs::insert(&db, new).await.unwrap();
        Direct { db, sync }
    }

    async fn start(&self) -> Result<ActiveRun, StartError> {
        let new = NewRun {
            sync: &self.sync,
            connection_id: Uuid::new_v4(),
            agent_settings: Settings::default(),
            trigger: Trigger::Api,
            triggered_by: "a test".into(),
            dry_run: false,
            full: false,
        };
        let run = run::start(&self.db, new).await?;
        let empty = StartedEmpty::of(&self.db, &run).await;
        Ok(ActiveRun::new(
            &run,
            self.sync.guard.0,
            empty,
            ReadOffer::Full("a test".into()),
        ))
    }

    async fn report(&self, active: &ActiveRun) -> runs::Run {
        runs::get(&self.db, self.sync.tenant_id, active.id)
            .await
            .unwrap()
            .unwrap()
    }

    async fn stored(&self, ids: &[&str]) -> Vec<users::Stored> {
        let ids: Vec<String> = ids.iter().map(|s| s.to_string()).collect();
        users::by_external_ids(&self.db, self.sync.tenant_id, self.sync.id, &ids)
            .await
            .unwrap()
    }
}

#[engines]
async fn the_run_engine_applies_batches_and_deletions_without_a_server(engine: Engine) {
    let test_db = TestDb::new(engine).await;
    let e = Direct::new(&test_db).await;

    // A first run of two batches.
    let mut first = e.start().await.unwrap();
    assert!(
        matches!(e.start().await, Err(StartError::Active(Some(id))) if id == first.id),
        "one run at a time"
    );
    let mut acked = first
        .batch(&e.db, 0, (0..3).map(person).collect(), vec![])
        .await
        .unwrap();
    acked.extend(
        first
            .batch(&e.db, 1, (3..5).map(person).collect(), vec![])
            .await
            .unwrap(),
    );
    acked.extend(
        first
            .read_complete(&e.db, 5, None, None, false)
            .await
            .unwrap(),
    );
    acked.sort();
    assert_eq!(
        acked,
        [0, 1],
        "each batch acknowledged once its write committed"
    );
    assert_eq!(first.done(&e.db).await.unwrap(), RunStatus::Succeeded);
    let report = e.report(&first).await;
    assert_eq!(report.status, RunStatus::Succeeded);
    assert_eq!((report.counts.0.read, report.counts.0.created), (5, 5));
    assert_eq!(e.stored(&["id-0", "id-4"]).await.len(), 2);

    // The next run: user 0 is gone from the source (disabled: delete-disables is on by
    // default), user 1 renamed, the rest unchanged.
    let mut second = e.start().await.unwrap();
    second.manifest_size = 5;
    let renamed = UserRecord {
        username: "renamed@example.com".into(),
        ..person(1)
    };
    second.batch(&e.db, 0, vec![renamed], vec![]).await.unwrap();
    second
        .read_complete(&e.db, 4, None, None, false)
        .await
        .unwrap();
    second.deletions(&e.db, vec!["id-0".into()]).await.unwrap();
    assert_eq!(second.done(&e.db).await.unwrap(), RunStatus::Succeeded);
    let c = e.report(&second).await.counts.0;
    assert_eq!(
        (c.updated, c.disabled, c.unchanged, c.deleted),
        (1, 1, 3, 0),
        "{c:?}"
    );
    let gone = &e.stored(&["id-0"]).await[0];
    assert!(gone.removed_from_source && !gone.enabled);
    assert_eq!(e.stored(&["id-1"]).await[0].username, "renamed@example.com");
}

/// A first run of an empty tenant looks up only the names it was sent before: a name
/// sent again in a later batch, under another ID, is still found, and is a conflict
/// rather than a write the name's unique index refuses.
#[engines]
async fn a_first_run_of_an_empty_tenant_still_finds_a_name_it_was_sent_in_an_earlier_batch(
    engine: Engine,
) {
    let test_db = TestDb::new(engine).await;
    let e = Direct::new(&test_db).await;
    let mut first = e.start().await.unwrap();
    first
        .batch(&e.db, 0, vec![person(0), person(1)], vec![])
        .await
        .unwrap();
    let twin = UserRecord {
        external_id: "id-twin".into(),
        source_dn: "uid=twin,ou=people,dc=example,dc=com".into(),
        ..person(1)
    };
    first
        .batch(&e.db, 1, vec![twin, person(2)], vec![])
        .await
        .unwrap();
    first
        .read_complete(&e.db, 4, None, None, false)
        .await
        .unwrap();
    assert_eq!(first.done(&e.db).await.unwrap(), RunStatus::Succeeded);
    let report = e.report(&first).await;
    let c = report.counts.0;
    assert_eq!((c.created, c.conflicts), (3, 1), "{c:?}");
    assert!(e.stored(&["id-twin"]).await.is_empty());
    assert_eq!(e.stored(&["id-1"]).await[0].username, "user1@example.com");
}

#[engines]
async fn the_run_engine_refuses_deletions_before_a_complete_read_and_records_why(engine: Engine) {
    let test_db = TestDb::new(engine).await;
    let e = Direct::new(&test_db).await;
    let mut first = e.start().await.unwrap();
    first
        .batch(&e.db, 0, (0..3).map(person).collect(), vec![])
        .await
        .unwrap();
    first
        .read_complete(&e.db, 3, None, None, false)
        .await
        .unwrap();
    first.done(&e.db).await.unwrap();

    let mut second = e.start().await.unwrap();
    second.manifest_size = 3;
    let refused = second
        .deletions(&e.db, vec!["id-0".into()])
        .await
        .unwrap_err();
    assert_eq!(refused, RunFailure::DeletionsBeforeRead);
    second.fail(&e.db, &Registry::default(), &refused).await;
    let report = e.report(&second).await;
    assert_eq!(report.status, RunStatus::Failed);
    assert_eq!(
        report.error.as_deref(),
        Some("deletions arrived before the read was reported complete; nothing is deleted")
    );
    assert!(
        e.stored(&["id-0", "id-1", "id-2"])
            .await
            .iter()
            .all(|u| u.enabled && !u.removed_from_source)
    );
    // The failed run no longer blocks the next one.
    e.start().await.unwrap();
}

/// A run handed to a connection that ended before taking it goes to another agent of the
/// synchronization, recorded on it; with none left, it fails with the reason.
#[engines]
async fn a_run_its_connection_never_took_goes_to_another_agent_or_fails_with_the_reason(
    engine: Engine,
) {
    use adc_server::registry::Order;
    use adc_server::sync::dispatch;
    let test_db = TestDb::new(engine).await;
    let e = Direct::new(&test_db).await;
    let registry = Registry::default();
    let (_alive, mut orders) = registry.register(Uuid::new_v4(), e.sync.id);
    let alive = registry.connections(e.sync.id)[0];

    let first = e.start().await.unwrap();
    let run = runs::get(&e.db, e.sync.tenant_id, first.id)
        .await
        .unwrap()
        .unwrap();
    dispatch::pass_on(&e.db, &registry, run).await;
    match orders.try_recv() {
        Ok(Order::StartRun(r)) => assert_eq!(r.id, first.id),
        other => panic!("the other agent got no run: {other:?}"),
    }
    let moved = e.report(&first).await;
    assert_eq!(
        (moved.status, moved.connection_id),
        (RunStatus::Running, Some(alive))
    );

    // No other agent: failed, with why.
    runs::fail(&e.db, first.id, "reset for the next case")
        .await
        .unwrap();
    let second = e.start().await.unwrap();
    let run = runs::get(&e.db, e.sync.tenant_id, second.id)
        .await
        .unwrap()
        .unwrap();
    dispatch::pass_on(&e.db, &Registry::default(), run).await;
    let failed = e.report(&second).await;
    assert_eq!(failed.status, RunStatus::Failed);
    assert_eq!(
        failed.error.as_deref(),
        Some("the agent disconnected before the run started")
    );
}
