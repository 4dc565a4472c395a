//! Workers sharing one database: a singleton job runs on one worker at a time and moves to
//! another when its worker dies (its lease runs out) or stops (it gives the lease up), and
//! heartbeats show each worker with the jobs it holds.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use pipeline::{Metrics, Report, Settled, WorkerIdentity};
use store::Store;
use tokio::sync::watch;

/// What the job saw: how many copies ran at once at most, and which workers ran it.
#[derive(Default)]
struct Witness {
    running: AtomicUsize,
    most_at_once: AtomicUsize,
    runs: std::sync::Mutex<Vec<String>>,
}

/// A job that runs until told to stop, noting who runs it.
fn job(
    witness: Arc<Witness>,
    worker: &'static str,
) -> impl FnMut(watch::Receiver<bool>) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>
{
    move |mut stop| {
        let witness = witness.clone();
        Box::pin(async move {
            let now = witness.running.fetch_add(1, Ordering::SeqCst) + 1;
            witness.most_at_once.fetch_max(now, Ordering::SeqCst);
            witness.runs.lock().unwrap().push(worker.to_owned());
            let _ = stop.wait_for(|stop| *stop).await;
            witness.running.fetch_sub(1, Ordering::SeqCst);
        })
    }
}

fn runs(witness: &Witness) -> Vec<String> {
    witness.runs.lock().unwrap().clone()
}

async fn wait_until(what: &str, mut done: impl FnMut() -> bool, within: Duration) {
    let deadline = tokio::time::Instant::now() + within;
    while !done() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what} did not happen within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_singleton_job_runs_once_and_moves_when_its_worker_dies_or_stops() {
    let folder = tempfile::tempdir().unwrap();
    let store = Store::open(folder.path().join("tripkey.db")).await.unwrap();
    let lease = Duration::from_millis(1_200);
    let witness = Arc::new(Witness::default());
    let (stop_all, shutdown) = watch::channel(false);
    let singleton = |worker: &'static str| {
        tokio::spawn(pipeline::run_singleton(
            store.clone(),
            "canary-chores".to_owned(),
            worker.to_owned(),
            lease,
            job(witness.clone(), worker),
            shutdown.clone(),
        ))
    };
    let first = singleton("w1");
    wait_until("w1 taking the job", || runs(&witness) == ["w1"], lease).await;
    let second = singleton("w2");
    let third = singleton("w3");
    tokio::time::sleep(lease * 2).await;
    assert_eq!(runs(&witness), ["w1"], "the holder keeps its lease alive");

    // kill -9: the task ends without giving the lease back; another worker takes the job
    // once the lease has run out.
    first.abort();
    let _ = first.await;
    witness.running.fetch_sub(1, Ordering::SeqCst);
    let died = tokio::time::Instant::now();
    wait_until(
        "another worker taking the job",
        || runs(&witness).len() == 2,
        lease * 4,
    )
    .await;
    assert!(
        died.elapsed() < lease * 2,
        "taken over within the lease and a try or two: {:?}",
        died.elapsed()
    );
    let heir = runs(&witness)[1].clone();
    assert!(heir == "w2" || heir == "w3", "{heir}");

    // A clean stop gives the lease back: the last worker takes the job at its next try.
    let (stopping, last) = if heir == "w2" {
        (second, third)
    } else {
        (third, second)
    };
    stopping.abort();
    let _ = stopping.await;
    witness.running.fetch_sub(1, Ordering::SeqCst);
    store.release_lease("canary-chores", &heir).await.unwrap();
    wait_until(
        "the last worker taking the job",
        || runs(&witness).len() == 3,
        lease * 2,
    )
    .await;
    assert_eq!(
        witness.most_at_once.load(Ordering::SeqCst),
        1,
        "never two at once"
    );

    stop_all.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(5), last)
        .await
        .expect("the job and its worker stop at shutdown")
        .unwrap();
    assert_eq!(witness.running.load(Ordering::SeqCst), 0);
    assert_eq!(
        store.lease_holder("canary-chores").await.unwrap(),
        None,
        "given back at shutdown"
    );
}

#[tokio::test]
async fn heartbeats_show_each_worker_and_its_jobs_in_the_report() {
    let folder = tempfile::tempdir().unwrap();
    let store = Store::open(folder.path().join("tripkey.db")).await.unwrap();
    let identity = WorkerIdentity::current();
    let (stop, shutdown) = watch::channel(false);
    let beating = tokio::spawn(pipeline::run_heartbeat(
        store.clone(),
        identity.clone(),
        "9.9.9".to_owned(),
        Arc::new(Metrics::default()),
        Duration::from_millis(100),
        shutdown.clone(),
    ));
    let witness = Arc::new(Witness::default());
    let holding = tokio::spawn(pipeline::run_singleton(
        store.clone(),
        "s3:trail".to_owned(),
        identity.id.clone(),
        Duration::from_secs(30),
        job(witness.clone(), "me"),
        shutdown,
    ));
    wait_until(
        "the job starting",
        || runs(&witness).len() == 1,
        Duration::from_secs(5),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    let report = Report::gather(&store, &Metrics::default()).await.unwrap();
    let me = report
        .workers
        .iter()
        .find(|worker| worker.id == identity.id)
        .expect("the heartbeat is in the report");
    assert_eq!(me.state, "live");
    assert_eq!(me.host, identity.host);
    assert_eq!((me.pid, me.version.as_str()), (std::process::id(), "9.9.9"));
    assert_eq!(me.jobs, ["s3:trail"]);
    let metrics = report.prometheus();
    assert!(metrics.contains(&format!(
        "tripkey_worker_up{{worker=\"{}\",host=\"{}\"}} 1",
        identity.id, identity.host
    )));
    assert!(metrics.contains(&format!(
        "tripkey_job_holder{{job=\"s3:trail\",worker=\"{}\"}} 1",
        identity.id
    )));

    stop.send(true).unwrap();
    beating.await.unwrap();
    holding.await.unwrap();
    let report = Report::gather(&store, &Metrics::default()).await.unwrap();
    assert_eq!(report.workers[0].state, "stopped");
    assert!(report.workers[0].jobs.is_empty());
    assert!(report.prometheus().contains(&format!(
        "tripkey_worker_up{{worker=\"{}\",host=\"{}\"}} 0",
        identity.id, identity.host
    )));
}

/// The quiet-spell release is the whole input's, not one worker's: a worker that brought
/// nothing does not release a decision while another worker has just brought records, nor
/// while listed objects still wait to be read; once every worker's input has been quiet for
/// the settle time, it does.
#[tokio::test]
async fn an_idle_worker_waits_for_every_workers_input_to_go_quiet() {
    let folder = tempfile::tempdir().unwrap();
    let store = Store::open(folder.path().join("tripkey.db")).await.unwrap();
    let settle = Duration::from_millis(800);
    let config = detect::DetectConfig {
        settle: detect::Span(i64::try_from(settle.as_millis()).unwrap()),
        ..Default::default()
    };
    let open = |worker: &str| {
        pipeline::Ingestor::open_as(
            store.clone(),
            config.clone(),
            std::sync::Arc::new(|_: &detect::Alert| vec!["hook".to_owned()]),
            Arc::new(Metrics::default()),
            worker.to_owned(),
        )
    };
    let mut reading = open("w1").await.unwrap();
    let mut idle = open("w2").await.unwrap();
    idle.wait_for_queued_objects_of(vec!["polled".to_owned()]);

    // The instance's own address locks its session; a second address is the stream's newest
    // call, so its decision waits for the settle time or for the input to go quiet.
    let body = serde_json::json!({ "Records": [
        common::instance_role_assumed(),
        common::instance_record("2026-11-30T10:01:00Z", "54.1.2.3", "instance"),
        common::instance_record("2026-11-30T10:01:00.500Z", "203.0.113.9", "attacker"),
    ]});
    let done = reading
        .ingest(&pipeline::Batch {
            source: "notified".to_owned(),
            items: vec![pipeline::Item {
                name: "AWSLogs/a.json".to_owned(),
                bytes: body.to_string().into_bytes(),
            }],
            checkpoint: None,
            held: Default::default(),
        })
        .await
        .unwrap();
    assert_eq!(done.records, 3);
    assert!(done.new_alerts.is_empty(), "{:?}", done.new_alerts);

    match idle.settle_pending().await.unwrap() {
        Settled::NotQuiet(again) => assert!(again <= settle, "{again:?}"),
        released => panic!("released while w1 had just read records: {released:?}"),
    }

    store
        .queue_source_objects(
            "polled",
            &[store::QueuedObject {
                key: "AWSLogs/b.json.gz".to_owned(),
                prefix: "AWSLogs/123456789012/CloudTrail/us-east-1".to_owned(),
                attempts: 0,
            }],
            "AWSLogs/b.json.gz",
            store::now(),
        )
        .await
        .unwrap();
    tokio::time::sleep(settle + Duration::from_millis(100)).await;
    assert!(
        matches!(idle.settle_pending().await.unwrap(), Settled::NotQuiet(_)),
        "released while a listed object waited to be read"
    );

    store
        .finish_source_objects("polled", &["AWSLogs/b.json.gz".to_owned()])
        .await
        .unwrap();
    let attacker = "instance-credential-exfiltration:arn:aws:sts::123456789012:assumed-role/web/i-0abc1234:ip:203.0.113.9";
    assert_eq!(
        idle.settle_pending().await.unwrap(),
        Settled::Released(vec![attacker.to_owned()])
    );
}
