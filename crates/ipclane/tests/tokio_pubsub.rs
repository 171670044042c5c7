//! Feeds awaited (`ipclane::tokio::Subscriber`, feature `tokio`): async and blocking
//! subscribers, in this process and in others, each getting every message of a paced
//! feed, in order and whole; receives cancelled by a timer 100,000 times losing and
//! duplicating nothing; a strict ping-pong whose every reply must ring a parked async
//! subscriber; a publisher killed under an awaiting subscriber; a lapped async subscriber
//! told what it missed; and the table of bells, full at 128 and reclaiming a dead
//! subscriber's entry.

use std::time::Duration;

use async_support::{run, runtime, timer};
use bytes::Bytes;
use ipclane::queue::WaitStrategy;
use ipclane::{Error, PublishOptions, Publisher, SubscribeOptions, Subscriber};
use ipclane_testkit::{Peer, ShmName, SubscriberRecords, hold, listen, say};

mod async_support;

/// Message `seq`: its sequence number, then a tail derived from it (0 to 120 bytes).
fn message(seq: u64) -> Vec<u8> {
    let mut msg = seq.to_le_bytes().to_vec();
    msg.extend((0..(seq * 7) % 121).map(|k| (seq as u8).wrapping_mul(31).wrapping_add(k as u8)));
    msg
}

/// Checks a received message whole and returns its sequence number.
fn check(msg: &[u8]) -> u64 {
    let seq = u64::from_le_bytes(msg[..8].try_into().expect("a sequence number"));
    assert!(msg == &message(seq)[..], "message {seq} arrived changed");
    seq
}

/// A feed whose ring holds every message of a test: nobody is lapped, so every message
/// must arrive.
fn roomy() -> PublishOptions {
    PublishOptions::default()
        .slots(1 << 17)
        .max_message_len(128)
}

/// Publishes messages 0..count, pausing 2 ms after every `burst` of them, so that the
/// subscribers run dry and park between bursts.
fn publish_paced(publisher: &mut Publisher, count: u64, burst: u64) {
    for seq in 0..count {
        publisher.publish(&message(seq)).unwrap();
        if seq % burst == burst - 1 {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

/// Receives messages 0..count in order, then `Disconnected`.
async fn read_all(sub: &mut ipclane::tokio::Subscriber, count: u64) {
    for expected in 0..count {
        let got = sub.recv().await.unwrap();
        assert_eq!(check(&got), expected, "{}: out of order", sub.name());
    }
    let end = sub.recv().await;
    assert!(matches!(end, Err(Error::Disconnected { .. })), "{end:?}");
}

#[test]
#[ignore = "entry point of peer processes; runs only when a test starts one"]
fn peer_entry() {
    ipclane_testkit::run_peer(|role, args| match role {
        // Publishes `args[1]` messages on the feed `args[0]` once told "go", paced, then
        // says what its wake-ups cost and ends the feed.
        "publisher" => {
            let mut publisher = Publisher::create(&args[0], roomy()).unwrap();
            say("ready");
            assert_eq!(listen().as_deref(), Some("go"));
            publish_paced(&mut publisher, args[1].parse().unwrap(), 500);
            say(format!("wakes {}", publisher.wait_stats().wakes));
        }
        // Publishes 10 messages, says so, and holds (to be killed).
        "publish-and-hold" => {
            let mut publisher = Publisher::create(&args[0], roomy()).unwrap();
            say("ready");
            assert_eq!(listen().as_deref(), Some("go"));
            for seq in 0..10 {
                publisher.publish(&message(seq)).unwrap();
            }
            say("published");
            hold();
        }
        // An async subscriber in another process: reads `args[1]` messages and the end.
        "async-subscriber" => runtime().block_on(async {
            let mut sub = ipclane::tokio::Subscriber::open(&args[0]).await.unwrap();
            say("ready");
            read_all(&mut sub, args[1].parse().unwrap()).await;
            say("done");
        }),
        // A blocking subscriber, the same.
        "blocking-subscriber" => {
            let mut sub = Subscriber::open(&args[0]).unwrap();
            say("ready");
            for expected in 0..args[1].parse::<u64>().unwrap() {
                assert_eq!(check(&sub.recv().unwrap()), expected);
            }
            assert!(matches!(sub.recv(), Err(Error::Disconnected { .. })));
            say("done");
        }
        // Takes an entry in the table of bells and holds (to be killed).
        "async-hold" => runtime().block_on(async {
            let _sub = ipclane::tokio::Subscriber::open(&args[0]).await.unwrap();
            say("ready");
            hold();
        }),
        // Echoes the feed `args[0]` onto the feed `args[1]`, never sleeping, so that its
        // replies land within a few hundred nanoseconds of the request.
        "echo-busy" => {
            let mut out = Publisher::create(&args[1], roomy()).unwrap();
            let mut sub = Subscriber::open(&args[0]).unwrap();
            sub.set_wait_strategy(WaitStrategy::busy_poll());
            say("ready");
            loop {
                match sub.recv() {
                    Ok(msg) => out.publish(&msg).unwrap(),
                    Err(Error::Disconnected { .. }) => break,
                    Err(e) => panic!("echo: {e}"),
                }
            }
        }
        other => panic!("unknown role {other}"),
    });
}

/// Three async subscribers in this process, one in another and a blocking one beside
/// them, all on one feed published from a third process in bursts with pauses between
/// (so the subscribers park and must be rung): each gets every message once, in order,
/// whole, then `Disconnected`; and the publisher's wake-ups were rings and futex wakes
/// per pause, not per message.
#[test]
fn async_and_blocking_subscribers_each_get_every_message() {
    const COUNT: u64 = 20_000;
    let name = ShmName::new("tokio-feed-mixed");
    let mut publisher = Peer::spawn("publisher", &[&name.0, &COUNT.to_string()]);
    assert_eq!(publisher.recv(), "ready");
    let count = COUNT.to_string();
    let mut others = [
        Peer::spawn("async-subscriber", &[&name.0, &count]),
        Peer::spawn("blocking-subscriber", &[&name.0, &count]),
    ];
    for peer in &mut others {
        assert_eq!(peer.recv(), "ready");
    }
    run(async {
        let mut readers = Vec::new();
        for _ in 0..3 {
            let mut sub = ipclane::tokio::Subscriber::open(&name.0).await.unwrap();
            readers.push(tokio::spawn(async move { read_all(&mut sub, COUNT).await }));
        }
        publisher.send("go");
        for reader in readers {
            reader.await.unwrap();
        }
    });
    for peer in &mut others {
        assert_eq!(peer.recv(), "done");
    }
    let wakes: u64 = publisher
        .recv()
        .strip_prefix("wakes ")
        .and_then(|n| n.parse().ok())
        .expect("the publisher's wake-ups");
    println!("{COUNT} messages in bursts of 500: the publisher woke or rang {wakes} times");
    assert!(
        wakes > 0,
        "nobody parked: the test did not exercise the bells"
    );
    assert!(wakes < COUNT / 10, "{wakes} wake-ups for {COUNT} messages");
    assert!(publisher.finish().success());
    for peer in others {
        assert!(peer.finish().success());
    }
}

/// The cancel-safety test, on a feed: 100,000 receives, each in a `select!`
/// against a timer (a few polls, now and then a sleep) and retried when the timer wins.
/// Nothing may be lost, duplicated or reordered; the count of cancellations proves the
/// races happened.
#[test]
fn receives_cancelled_by_a_timer_lose_and_duplicate_nothing() {
    const COUNT: u64 = 100_000;
    let name = ShmName::new("tokio-feed-cancel");
    let mut publisher = Publisher::create(&name.0, roomy()).unwrap();
    run(async {
        let mut sub = ipclane::tokio::Subscriber::open(&name.0).await.unwrap();
        let publishing = std::thread::spawn(move || {
            publish_paced(&mut publisher, COUNT, 5_000);
            publisher
        });
        let mut cancelled = 0u64;
        for expected in 0..COUNT {
            let got = loop {
                tokio::select! {
                    got = sub.recv() => break got.unwrap(),
                    () = timer(expected * 3 + cancelled) => cancelled += 1,
                }
            };
            assert_eq!(check(&got), expected);
        }
        drop(publishing.join().unwrap());
        let end = sub.recv().await;
        assert!(matches!(end, Err(Error::Disconnected { .. })), "{end:?}");
        println!("{COUNT} messages; receives cancelled {cancelled} times");
        assert!(
            cancelled > 1000,
            "only {cancelled} receives were cancelled: the test did not race"
        );
    });
}

/// Strict ping-pong through two feeds, the async side never spinning: every receive
/// parks and arms, with the echo's reply landing around that moment. A ring lost in that
/// race (the look after arming left out, the entry marked parked after arming) leaves a
/// reply unheard, which no later message rescues: the test hangs and fails at the wait
/// limit.
#[test]
fn an_async_subscriber_in_ping_pong_never_loses_a_wake_up() {
    let (ping, pong) = (ShmName::new("tokio-ping"), ShmName::new("tokio-pong"));
    let mut publisher = Publisher::create(&ping.0, roomy()).unwrap();
    let mut echo = Peer::spawn("echo-busy", &[&ping.0, &pong.0]);
    assert_eq!(echo.recv(), "ready");
    run(async {
        let mut sub = ipclane::tokio::Subscriber::open(&pong.0).await.unwrap();
        sub.set_wait_strategy(WaitStrategy::efficient());
        for seq in 0..20_000u64 {
            publisher.publish(&message(seq)).unwrap();
            assert_eq!(check(&sub.recv().await.unwrap()), seq, "round trip {seq}");
        }
    });
    drop(publisher);
    assert!(echo.finish().success(), "the echo peer failed");
}

/// A publisher killed while an async subscriber awaits: what it published is read, then
/// `Disconnected` (the publisher's pidfd wakes the wait; the backstop would, a second
/// later at most: no time is asserted, the test's limit bounds it).
#[test]
fn a_killed_publisher_is_disconnected_for_an_awaiting_subscriber() {
    let name = ShmName::new("tokio-feed-killed");
    let mut publisher = Peer::spawn("publish-and-hold", &[&name.0]);
    assert_eq!(publisher.recv(), "ready");
    run(async {
        let mut sub = ipclane::tokio::Subscriber::open(&name.0).await.unwrap();
        publisher.send("go");
        assert_eq!(publisher.recv(), "published");
        let awaiting = tokio::spawn(async move {
            let mut got = Vec::new();
            let end = loop {
                match sub.recv().await {
                    Ok(msg) => got.push(check(&msg)),
                    other => break other,
                }
            };
            (got, end)
        });
        // Let it read the ten and park.
        tokio::time::sleep(Duration::from_millis(50)).await;
        publisher.kill();
        let (got, end) = awaiting.await.unwrap();
        assert_eq!(got, (0..10).collect::<Vec<_>>());
        assert!(matches!(end, Err(Error::Disconnected { .. })), "{end:?}");
    });
}

/// Lapped, an async subscriber is told exactly how many messages it missed, then goes on
/// with the oldest still there; `recv_into` fills a buffer and refuses a short one,
/// losing nothing.
#[test]
fn a_lapped_async_subscriber_is_told_what_it_missed() {
    let name = ShmName::new("tokio-feed-lapped");
    let mut publisher = Publisher::create(&name.0, PublishOptions::default().slots(8)).unwrap();
    run(async {
        let mut sub = ipclane::tokio::Subscriber::open_with(&name.0, SubscribeOptions::default())
            .await
            .unwrap();
        for seq in 0..20 {
            publisher.publish(&message(seq)).unwrap();
        }
        // 8 slots keep 7: 13 missed.
        let lapped = sub.recv().await;
        assert!(
            matches!(lapped, Err(Error::Lagged { missed: 13 })),
            "{lapped:?}"
        );
        let mut short = [0u8; 4];
        assert!(matches!(
            sub.recv_into(&mut short).await,
            Err(Error::BufferTooSmall { .. })
        ));
        let mut buf = [0u8; 256];
        for seq in 13..20 {
            let len = sub.recv_into(&mut buf).await.unwrap();
            assert_eq!(check(&buf[..len]), seq);
        }
        assert_eq!(sub.try_recv().unwrap(), None::<Bytes>);
    });
}

/// A feed takes 128 async subscribers, and the 129th is refused with a clear error; the
/// entry of one killed is taken over (its bell no longer answers), and a message
/// published wakes all 128, each parked on its own bell.
#[test]
fn the_table_of_bells_holds_128_and_reclaims_a_dead_subscribers_entry() {
    let name = ShmName::new("tokio-feed-full");
    let mut publisher = Publisher::create(&name.0, PublishOptions::default()).unwrap();
    let mut dead = Peer::spawn("async-hold", &[&name.0]);
    let _records = SubscriberRecords(vec![dead.pid()]);
    assert_eq!(dead.recv(), "ready");
    dead.kill();
    run(async {
        let mut subs = Vec::new();
        for _ in 0..128 {
            let mut sub = ipclane::tokio::Subscriber::open(&name.0).await.unwrap();
            sub.set_wait_strategy(WaitStrategy::efficient());
            subs.push(sub);
        }
        let refused = ipclane::tokio::Subscriber::open(&name.0).await;
        match refused {
            Err(Error::Protocol { reason }) => {
                assert!(reason.contains("128 async subscribers"), "{reason}")
            }
            other => panic!("the 129th async subscriber: {other:?}"),
        }
        let readers: Vec<_> = subs
            .into_iter()
            .map(|mut sub| tokio::spawn(async move { sub.recv().await.unwrap() }))
            .collect();
        // Let them park.
        tokio::time::sleep(Duration::from_millis(100)).await;
        publisher.publish(&message(7)).unwrap();
        for reader in readers {
            assert_eq!(check(&reader.await.unwrap()), 7);
        }
    });
}

/// Plain old data through a feed to an async subscriber: a declared type's values arrive
/// whole; a message of another size is a `Decode` error and the next value arrives; a
/// call with another type than the declared one is refused, nothing taken.
#[cfg(feature = "pod")]
#[test]
fn pod_values_reach_an_async_subscriber() {
    use ipclane::MessageType;

    let name = ShmName::new("tokio-feed-pod");
    let options = PublishOptions::default().message_type(MessageType::of::<u64>());
    let mut publisher = Publisher::create(&name.0, options).unwrap();
    run(async {
        let declared = SubscribeOptions::default().message_type(MessageType::of::<u64>());
        let mut sub = ipclane::tokio::Subscriber::open_with(&name.0, declared)
            .await
            .unwrap();
        for price in 100..110u64 {
            publisher.publish_pod(&price).unwrap();
        }
        publisher.publish(b"not a u64").unwrap();
        publisher.publish_pod(&7u64).unwrap();
        for price in 100..110u64 {
            assert_eq!(sub.recv_pod::<u64>().await.unwrap(), price);
        }
        let wrong = sub.recv_pod::<u64>().await;
        assert!(
            matches!(wrong, Err(Error::Decode { len: 9, .. })),
            "{wrong:?}"
        );
        let refused = sub.recv_pod::<i64>().await;
        assert!(
            matches!(refused, Err(Error::WrongMessageType { .. })),
            "{refused:?}"
        );
        assert_eq!(sub.recv_pod::<u64>().await.unwrap(), 7);
    });
}

#[test]
fn a_publisher_in_another_network_namespace_is_refused_with_the_reason() {
    const TEST: &str = "a_publisher_in_another_network_namespace_is_refused_with_the_reason";
    if !ipclane_testkit::is_root() {
        ipclane_testkit::skip(TEST, "needs root to make a network namespace");
        return;
    }
    let namespaces = match ipclane_testkit::netns::Namespaces::new("bell") {
        Ok(n) => n,
        Err(why) => {
            ipclane_testkit::skip(TEST, &format!("cannot make the namespaces here: {why}"));
            return;
        }
    };
    let name = ShmName::new("async-netns");
    let _publisher = Publisher::create(&name.0, roomy()).unwrap();
    // The feed's memory is shared; the abstract socket of a doorbell would not be.
    let refused = std::thread::scope(|s| {
        s.spawn(|| {
            namespaces.enter(0);
            runtime().block_on(async {
                ipclane::tokio::Subscriber::open(&name.0)
                    .await
                    .map(drop)
                    .unwrap_err()
            })
        })
        .join()
        .unwrap()
    });
    let message = refused.to_string();
    assert!(message.contains("another network namespace"), "{message}");
    assert_eq!(refused.io_kind(), std::io::ErrorKind::Unsupported);
    // A blocking subscriber there is fine: the futex wakes it.
    std::thread::scope(|s| {
        s.spawn(|| {
            namespaces.enter(0);
            Subscriber::open(&name.0).unwrap();
        });
    });
}
