//! Balance, charges and payments: idempotency, the money invariants under concurrency, and
//! what happens when holds lapse or Redis loses its data mid-payment.

use std::time::Duration;

use futures::future::join_all;
use serde_json::{json, Value};
use sqlx::PgPool;

use crate::helpers::{assert_invariants, assert_problem, TestApp};

#[sqlx::test(migrations = "./migrations")]
async fn charges_are_validated_and_each_is_a_ledger_entry(db: PgPool) {
    let app = TestApp::spawn_with(db, |s| s.max_charge = 1_000_000).await;
    let t = app.admit("alice", 1).await;
    assert_eq!(app.balance(&t).await, 0, "a user who never charged has 0");
    for bad in [
        json!(0),
        json!(-5),
        json!(1.5),
        json!("100"),
        json!(1_000_001),
        json!(null),
    ] {
        assert_problem(app.charge(&t, bad, None).await, 400, "INVALID_AMOUNT").await;
    }
    let res = app.charge(&t, json!(5_000), None).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["balance"], 5_000);
    assert_eq!(body["chargedAmount"], 5_000);
    assert_eq!(body["userId"], "alice");
    app.charge_ok(&t, 2_500).await;
    assert_eq!(app.balance(&t).await, 7_500);
    let entries: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM ledger WHERE user_id = 'alice' AND kind = 'CHARGE'",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(entries, 2);
    assert_invariants(&app.db).await;
}

#[sqlx::test(migrations = "./migrations")]
async fn a_charge_with_the_same_key_moves_money_once(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let t = app.admit("alice", 1).await;
    let first: Value = app
        .charge(&t, json!(1_000), Some("c-1"))
        .await
        .json()
        .await
        .unwrap();
    let again: Value = app
        .charge(&t, json!(1_000), Some("c-1"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(first, again);
    assert_problem(
        app.charge(&t, json!(2_000), Some("c-1")).await,
        422,
        "IDEMPOTENCY_KEY_REUSED",
    )
    .await;
    assert_problem(
        app.charge(&t, json!(2_000), Some(&"k".repeat(300))).await,
        400,
        "INVALID_IDEMPOTENCY_KEY",
    )
    .await;
    assert_eq!(app.balance(&t).await, 1_000);
}

#[sqlx::test(migrations = "./migrations")]
async fn hold_charge_pay_then_replay_the_payment(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let c = app.create_concert(&[10], 40_000).await;
    let t = app.admit("alice", c.id).await;
    let rid = app.hold_ok(&t, c.schedule(), &c.seats()[..2]).await;

    assert_problem(
        app.pay(&t, &rid, None).await,
        400,
        "INVALID_IDEMPOTENCY_KEY",
    )
    .await;
    app.charge_ok(&t, 50_000).await;
    let poor = app.pay(&t, &rid, Some("p-1")).await;
    assert_problem(poor, 402, "INSUFFICIENT_BALANCE").await;
    assert_eq!(
        app.balance(&t).await,
        50_000,
        "a refused payment moves nothing"
    );

    app.charge_ok(&t, 30_000).await;
    let res = app.pay(&t, &rid, Some("p-1")).await;
    assert_eq!(res.status(), 201);
    let paid: Value = res.json().await.unwrap();
    assert_eq!(paid["amount"], 80_000);
    assert_eq!(paid["status"], "COMPLETED");
    assert_eq!(paid["reservationId"], rid.as_str());
    assert_eq!(app.balance(&t).await, 0);

    // The same key and body replays the stored response, even though the session ended.
    let again = app.pay(&t, &rid, Some("p-1")).await;
    assert_eq!(again.status(), 201);
    assert_eq!(again.json::<Value>().await.unwrap(), paid);
    // Another body with the same key is refused.
    assert_problem(
        app.pay(&t, "00000000-0000-4000-8000-000000000000", Some("p-1"))
            .await,
        422,
        "IDEMPOTENCY_KEY_REUSED",
    )
    .await;
    // Paying ended the session: the token no longer books but still reads.
    assert_problem(app.schedules(&t, c.id).await, 403, "SESSION_NOT_ACTIVE").await;
    let r: Value = app.reservation(&t, &rid).await.json().await.unwrap();
    assert_eq!(r["status"], "CONFIRMED");
    assert!(r["confirmedAt"].is_string());
    assert_problem(app.release(&t, &rid).await, 409, "ALREADY_CONFIRMED").await;
    assert_invariants(&app.db).await;
}

#[sqlx::test(migrations = "./migrations")]
async fn payment_after_the_hold_lapsed_is_refused(db: PgPool) {
    let app = TestApp::spawn_with(db, |s| s.hold_ttl_seconds = 1).await;
    let c = app.create_concert(&[3], 1_000).await;
    let t = app.admit("alice", c.id).await;
    app.charge_ok(&t, 5_000).await;
    let rid = app.hold_ok(&t, c.schedule(), &[c.seats()[0]]).await;
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    assert_problem(app.pay(&t, &rid, Some("late")).await, 409, "HOLD_EXPIRED").await;
    assert_eq!(app.balance(&t).await, 5_000);
}

#[sqlx::test(migrations = "./migrations")]
async fn the_same_idempotency_key_sent_fifty_times_at_once_moves_money_once(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let c = app.create_concert(&[3], 1_000).await;
    let t = app.admit("alice", c.id).await;
    app.charge_ok(&t, 10_000).await;
    let rid = app.hold_ok(&t, c.schedule(), &[c.seats()[0]]).await;
    let results = join_all((0..50).map(|_| app.pay(&t, &rid, Some("same-key")))).await;
    let mut payment_ids = std::collections::HashSet::new();
    for res in results {
        match res.status().as_u16() {
            201 => {
                payment_ids.insert(
                    res.json::<Value>().await.unwrap()["paymentId"]
                        .as_str()
                        .unwrap()
                        .to_owned(),
                );
            }
            409 => {
                let code = res.json::<Value>().await.unwrap()["code"]
                    .as_str()
                    .unwrap()
                    .to_owned();
                assert!(code == "IDEMPOTENCY_IN_PROGRESS", "{code}");
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(payment_ids.len(), 1, "every success is the same payment");
    assert_eq!(app.balance(&t).await, 9_000);
    let payments: i64 = sqlx::query_scalar("SELECT count(*) FROM payments")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(payments, 1);
    assert_invariants(&app.db).await;
}

#[sqlx::test(migrations = "./migrations")]
async fn two_hundred_concurrent_payments_and_charges_on_one_wallet_add_up(db: PgPool) {
    let app = TestApp::spawn(db).await;
    // One reservation per concert: 20 concerts, so one user pays 20 times at once.
    let mut pays = Vec::new();
    let mut reader = None;
    for _ in 0..20 {
        let c = app.create_concert(&[2], 700).await;
        let t = app.admit("wallet-owner", c.id).await;
        let rid = app.hold_ok(&t, c.schedule(), &[c.seats()[0]]).await;
        reader.get_or_insert(t.clone());
        pays.push((t, rid));
    }
    let reader = reader.unwrap();
    app.charge_ok(&reader, 3_000).await;
    let payments = pays.iter().enumerate().map(|(i, (t, rid))| {
        let app = &app;
        async move {
            let res = app.pay(t, rid, Some(&format!("pay-{i}"))).await;
            match res.status().as_u16() {
                201 => 700,
                402 => 0,
                other => panic!("payment {i}: {other}"),
            }
        }
    });
    let charges = (0..180).map(|i| {
        let app = &app;
        let reader = &reader;
        async move {
            let res = app
                .charge(reader, json!(10), Some(&format!("charge-{i}")))
                .await;
            assert_eq!(res.status(), 200);
        }
    });
    let (paid, _) = tokio::join!(join_all(payments), join_all(charges));
    let paid: i64 = paid.iter().sum();
    assert_eq!(app.balance(&reader).await, 3_000 + 1_800 - paid);
    let entries: i64 =
        sqlx::query_scalar("SELECT count(*) FROM ledger WHERE user_id = 'wallet-owner'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(
        entries,
        1 + 180 + paid / 700,
        "one ledger entry per charge and payment"
    );
    assert_invariants(&app.db).await;
}

#[sqlx::test(migrations = "./migrations")]
async fn a_hold_that_lapses_while_another_user_buys_the_seat_sells_it_once(db: PgPool) {
    let app = TestApp::spawn_with(db, |s| s.hold_ttl_seconds = 1).await;
    let c = app.create_concert(&[1], 5_000).await;
    let seat = c.seats()[0];
    let ta = app.admit("slow", c.id).await;
    let tb = app.admit("fast", c.id).await;
    app.charge_ok(&ta, 5_000).await;
    app.charge_ok(&tb, 5_000).await;
    let ra = app.hold_ok(&ta, c.schedule(), &[seat]).await;
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    // a's hold has lapsed; b holds the seat and both pay at once.
    let rb = app.hold_ok(&tb, c.schedule(), &[seat]).await;
    let (pa, pb) = tokio::join!(app.pay(&ta, &ra, Some("a")), app.pay(&tb, &rb, Some("b")));
    assert_problem(pa, 409, "HOLD_EXPIRED").await;
    assert_eq!(pb.status(), 201);
    assert_eq!(
        app.balance(&ta).await,
        5_000,
        "the loser's money is untouched"
    );
    assert_eq!(app.balance(&tb).await, 0);
    let sold: i64 = sqlx::query_scalar("SELECT count(*) FROM tickets WHERE seat_id = $1")
        .bind(seat)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(sold, 1);
    assert_invariants(&app.db).await;
}

#[sqlx::test(migrations = "./migrations")]
async fn redis_losing_every_key_mid_run_sells_no_seat_twice_and_loses_no_money(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let c = app.create_concert(&[30], 1_000).await;
    let users: Vec<String> = (0..60).map(|i| format!("buyer-{i}")).collect();
    let run = |round: usize| {
        let app = &app;
        let users = &users;
        let c = &c;
        async move {
            let names: Vec<&str> = users.iter().map(String::as_str).collect();
            let tokens = app.admit_many(&names, c.id).await;
            let jobs = tokens.iter().enumerate().map(|(i, t)| async move {
                let seat = c.seats()[i % c.seats().len()];
                let _ = app
                    .charge(t, json!(1_000), Some(&format!("c-{round}-{i}")))
                    .await;
                let res = app.hold(t, c.schedule(), &[seat]).await;
                if res.status() == 201 {
                    let rid = res.json::<Value>().await.unwrap()["reservationId"]
                        .as_str()
                        .unwrap()
                        .to_owned();
                    let res = app.pay(t, &rid, Some(&format!("p-{round}-{i}"))).await;
                    assert!(res.status().as_u16() < 500, "{}", res.status());
                } else {
                    assert!(res.status().as_u16() < 500, "{}", res.status());
                }
            });
            join_all(jobs).await;
        }
    };
    let flusher = async {
        for _ in 0..10 {
            tokio::time::sleep(Duration::from_millis(15)).await;
            app.flush_redis().await;
        }
    };
    tokio::join!(run(0), flusher);
    run(1).await;
    assert_invariants(&app.db).await;
    let charged: i64 = sqlx::query_scalar(
        "SELECT COALESCE(SUM(amount), 0)::BIGINT FROM ledger WHERE kind = 'CHARGE'",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    let balances: i64 = sqlx::query_scalar("SELECT COALESCE(SUM(balance), 0)::BIGINT FROM wallets")
        .fetch_one(&app.db)
        .await
        .unwrap();
    let paid: i64 = sqlx::query_scalar("SELECT COALESCE(SUM(amount), 0)::BIGINT FROM payments")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(balances, charged - paid, "no money lost or created");
}

/// Code of a problem answer (`None` for a success).
async fn outcome(res: reqwest::Response) -> (u16, Option<String>) {
    let status = res.status().as_u16();
    let body: Value = res.json().await.unwrap_or(Value::Null);
    (status, body["code"].as_str().map(str::to_owned))
}

#[sqlx::test(migrations = "./migrations")]
async fn a_cancel_racing_the_payment_never_answers_canceled_for_a_sale(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let c = app.create_concert(&[40], 100).await;
    let (mut paid, mut canceled) = (0, 0);
    for (i, &seat) in c.seats().iter().enumerate() {
        let user = format!("racer-{i}");
        let t = app.admit(&user, c.id).await;
        app.charge_ok(&t, 1_000).await;
        let rid = app.hold_ok(&t, c.schedule(), &[seat]).await;
        let key = format!("pay-{i}");
        let (pay, cancel) = tokio::join!(app.pay(&t, &rid, Some(&key)), app.release(&t, &rid));
        let (pay, cancel) = (outcome(pay).await, outcome(cancel).await);
        let status: Value = app.reservation(&t, &rid).await.json().await.unwrap();
        match (pay.0, cancel.0) {
            (201, 409) => {
                paid += 1;
                assert!(
                    matches!(
                        cancel.1.as_deref(),
                        Some("PAYMENT_IN_PROGRESS" | "ALREADY_CONFIRMED")
                    ),
                    "{cancel:?}"
                );
                assert_eq!(app.balance(&t).await, 900);
                assert_eq!(status["status"], "CONFIRMED");
            }
            (409, 200) => {
                canceled += 1;
                assert_eq!(pay.1.as_deref(), Some("HOLD_EXPIRED"), "{pay:?}");
                assert_eq!(
                    app.balance(&t).await,
                    1_000,
                    "a canceled hold charges nothing"
                );
                assert_eq!(status["status"], "CANCELED");
            }
            other => panic!("trial {i}: payment {pay:?}, cancel {cancel:?} ({other:?})"),
        }
    }
    assert_eq!(paid + canceled, c.seats().len());
    assert_invariants(&app.db).await;
}

#[sqlx::test(migrations = "./migrations")]
async fn a_payment_in_progress_holds_off_cancels_and_other_payments(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let c = app.create_concert(&[3], 1_000).await;
    let t = app.admit("alice", c.id).await;
    let rid = app.hold_ok(&t, c.schedule(), &[c.seats()[0]]).await;
    let hash = app.keys.concert(c.id).reservation(&rid);
    let set_claim = |until: i64| {
        let app = &app;
        let hash = hash.clone();
        async move {
            let mut conn = app.redis.get().await.unwrap();
            let () = redis::cmd("HSET")
                .arg(&hash)
                .arg("status")
                .arg("PAYING")
                .arg("payingUntil")
                .arg(until)
                .arg("payingBy")
                .arg("another-payment")
                .arg("payingKey")
                .arg("their-key")
                .query_async(&mut conn)
                .await
                .unwrap();
        }
    };
    // Another request's payment holds the claim.
    set_claim(chrono::Utc::now().timestamp_millis() + 60_000).await;
    assert_problem(app.release(&t, &rid).await, 409, "PAYMENT_IN_PROGRESS").await;
    app.charge_ok(&t, 5_000).await;
    assert_problem(
        app.pay(&t, &rid, Some("mine")).await,
        409,
        "PAYMENT_IN_PROGRESS",
    )
    .await;
    assert_problem(
        app.pay(&t, &rid, Some("their-key")).await,
        409,
        "IDEMPOTENCY_IN_PROGRESS",
    )
    .await;
    let r: Value = app.reservation(&t, &rid).await.json().await.unwrap();
    assert_eq!(
        r["status"], "HELD",
        "a reservation being paid is still HELD to its owner"
    );
    assert_eq!(app.balance(&t).await, 5_000);

    // A claim whose request is gone lapses: the reservation can be canceled again.
    set_claim(chrono::Utc::now().timestamp_millis() - 1).await;
    let res = app.release(&t, &rid).await;
    assert_eq!(res.status(), 200);
    assert_invariants(&app.db).await;
}

#[sqlx::test(migrations = "./migrations")]
async fn a_refused_payment_hands_its_claim_back(db: PgPool) {
    let app = TestApp::spawn_with(db, |s| s.hold_ttl_seconds = 2).await;
    let c = app.create_concert(&[3], 1_000).await;
    let t = app.admit("alice", c.id).await;
    let seat = c.seats()[0];
    let rid = app.hold_ok(&t, c.schedule(), &[seat]).await;
    assert_problem(
        app.pay(&t, &rid, Some("poor")).await,
        402,
        "INSUFFICIENT_BALANCE",
    )
    .await;
    // HELD again in Redis (not PAYING), and the seat's hold ends when it was due to, not
    // when the claim would have.
    let k = app.keys.concert(c.id);
    let mut conn = app.redis.get().await.unwrap();
    let (status, pttl): (String, i64) = redis::pipe()
        .cmd("HGET")
        .arg(k.reservation(&rid))
        .arg("status")
        .cmd("PTTL")
        .arg(k.seat_hold(c.schedule(), seat))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(status, "HELD");
    assert!(
        (1..=2_000).contains(&pttl),
        "hold back on its own expiry: {pttl} ms"
    );
    // So a cancel goes through at once, and the seat can be held and paid again.
    let res = app.release(&t, &rid).await;
    assert_eq!(res.status(), 200, "{:?}", res.text().await);
    let again = app.hold_ok(&t, c.schedule(), &[seat]).await;
    app.charge_ok(&t, 1_000).await;
    assert_eq!(app.pay(&t, &again, Some("rich")).await.status(), 201);
    assert_eq!(app.balance(&t).await, 0);
    assert_invariants(&app.db).await;
}

#[sqlx::test(migrations = "./migrations")]
async fn concurrent_charges_with_one_key_answer_one_charge_and_never_fail(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let t = app.admit("alice", 1).await;
    let trials = 100;
    for trial in 0..trials {
        let key = format!("charge-{trial}");
        let answers = join_all((0..10).map(|_| app.charge(&t, json!(7), Some(&key)))).await;
        let mut bodies = std::collections::HashSet::new();
        for res in answers {
            match res.status().as_u16() {
                200 => {
                    bodies.insert(res.json::<Value>().await.unwrap().to_string());
                }
                409 => assert_eq!(
                    res.json::<Value>().await.unwrap()["code"],
                    "IDEMPOTENCY_IN_PROGRESS"
                ),
                other => panic!("trial {trial}: {other} {:?}", res.text().await),
            }
        }
        assert!(bodies.len() <= 1, "every 200 is the one charge: {bodies:?}");
    }
    assert_eq!(app.balance(&t).await, 7 * trials);
    assert_invariants(&app.db).await;
}

#[sqlx::test(migrations = "./migrations")]
#[should_panic(expected = "every wallet balance equals the sum of its user's ledger")]
async fn the_invariant_checks_catch_a_balance_off_its_ledger(db: PgPool) {
    sqlx::query("INSERT INTO wallets (user_id, balance) VALUES ('mallory', 500)")
        .execute(&db)
        .await
        .unwrap();
    assert_invariants(&db).await;
}

/// Balances are read from each instance's memory while the wallet version in Redis stands; a
/// charge or a payment through one instance is read at once through another, and under
/// concurrent charges every read is a balance that existed.
#[sqlx::test(migrations = "./migrations")]
async fn a_charge_or_payment_through_one_instance_is_read_at_once_on_another(db: PgPool) {
    let one = TestApp::spawn(db).await;
    let two = one.spawn_beside().await;
    let c = one.create_concert(&[5], 10_000).await;
    let bob = one.admit("bob", c.id).await;
    // Both instances keep bob's balance.
    for _ in 0..2 {
        assert_eq!(one.balance(&bob).await, 0);
        assert_eq!(two.balance(&bob).await, 0);
    }
    one.charge_ok(&bob, 50_000).await;
    assert_eq!(two.balance(&bob).await, 50_000, "the charge, on the other");
    assert_eq!(one.balance(&bob).await, 50_000);

    let r = one.hold_ok(&bob, c.schedule(), &c.seats()[..1]).await;
    assert_eq!(one.pay(&bob, &r, Some("k1")).await.status(), 201);
    assert_eq!(two.balance(&bob).await, 40_000, "the payment, on the other");
    assert_eq!(one.balance(&bob).await, 40_000);

    // Charges on one, reads on the other at the same time: every read is a balance bob had,
    // and the last read, after the charges, is the final one.
    let charges = join_all((0..20).map(|_| one.charge_ok(&bob, 1_000)));
    let reads = async {
        let mut seen = Vec::new();
        for _ in 0..40 {
            seen.push(two.balance(&bob).await);
        }
        seen
    };
    let (_, seen) = tokio::join!(charges, reads);
    for b in &seen {
        assert!(
            (40_000..=60_000).contains(b) && b % 1_000 == 0,
            "read {b}, never a balance"
        );
    }
    assert!(
        seen.windows(2).all(|w| w[0] <= w[1]),
        "reads went back: {seen:?}"
    );
    assert_eq!(two.balance(&bob).await, 60_000);
}

/// A change whose new version never reached Redis (written straight to Postgres here, as if
/// Redis failed right after the commit) is read within seconds; and when Redis lost the
/// version, the next read goes to Postgres.
#[sqlx::test(migrations = "./migrations")]
async fn a_balance_copy_ends_when_redis_lost_its_version_and_within_seconds_anyway(db: PgPool) {
    let app = TestApp::spawn(db.clone()).await;
    let t = app.identity_token("carol");
    app.charge_ok(&t, 10_000).await;
    for _ in 0..2 {
        assert_eq!(app.balance(&t).await, 10_000);
    }
    let change = |to: i64| {
        let db = db.clone();
        async move {
            sqlx::query("UPDATE wallets SET balance = $1 WHERE user_id = 'carol'")
                .bind(to)
                .execute(&db)
                .await
                .unwrap();
        }
    };
    change(7_000).await;
    app.flush_redis().await;
    assert_eq!(
        app.balance(&t).await,
        7_000,
        "the version was lost: Postgres"
    );

    assert_eq!(app.balance(&t).await, 7_000);
    change(6_000).await;
    let started = std::time::Instant::now();
    while app.balance(&t).await != 6_000 {
        assert!(
            started.elapsed() < Duration::from_secs(7),
            "a copy outlived its maximum age"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
