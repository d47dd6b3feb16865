//! Throughput and latency of the clients against the in-process simulators on this machine:
//! `cargo run -p dspp-exchange --example exchange_load -- [CALLS] [CONCURRENCY]` (defaults 4000 and 16).
//! Prints verifications, first deliveries and replays per second with p50/p99 latencies.

use std::error::Error;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dspp_exchange::{
    Delivery, DeliveryPerson, Endpoint, NationalIdClient, OperatorClient, SecretToken, Sex,
    VerifyRequest,
};
use dspp_simulators::{NationalIdConfig, OperatorConfig};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

type Outcome = Result<(), Box<dyn Error + Send + Sync>>;

/// Runs `calls` calls of `call(index)` from `concurrency` tasks; answers (calls per second, p50, p99).
async fn measure<F, Fut>(
    calls: usize,
    concurrency: usize,
    call: F,
) -> Result<(f64, Duration, Duration), Box<dyn Error>>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Outcome> + Send,
{
    let call = Arc::new(call);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for worker in 0..concurrency {
        let call = Arc::clone(&call);
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut index = worker;
            while index < calls {
                let begun = Instant::now();
                call(index).await?;
                latencies.push(begun.elapsed());
                index += concurrency;
            }
            Ok::<_, Box<dyn Error + Send + Sync>>(latencies)
        }));
    }
    let mut latencies = Vec::with_capacity(calls);
    for task in tasks {
        latencies.extend(task.await?.map_err(|error| error.to_string())?);
    }
    let elapsed = started.elapsed();
    latencies.sort();
    let percentile = |p: usize| {
        latencies
            .get(latencies.len() * p / 100)
            .copied()
            .unwrap_or_default()
    };
    Ok((
        calls as f64 / elapsed.as_secs_f64(),
        percentile(50),
        percentile(99),
    ))
}

fn report(what: &str, (rate, p50, p99): (f64, Duration, Duration)) {
    println!(
        "{what:<28} {rate:>8.0} /s   p50 {:>6.2} ms   p99 {:>6.2} ms",
        p50.as_secs_f64() * 1e3,
        p99.as_secs_f64() * 1e3
    );
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let calls: usize = args.next().map_or(Ok(4000), |text| text.parse())?;
    let concurrency: usize = args.next().map_or(Ok(16), |text| text.parse())?;
    let cancel = CancellationToken::new();

    let cards = dspp_simulators::generate_cards(10_000, 1);
    let ids: Arc<Vec<String>> = Arc::new(cards.iter().map(|card| card.id_number.clone()).collect());
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let nid_url = format!("http://{}", listener.local_addr()?);
    tokio::spawn(dspp_simulators::serve_national_id(
        listener,
        NationalIdConfig::new(cards, "load-token"),
        cancel.clone(),
    ));
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let operator = Endpoint::direct(&format!("http://{}", listener.local_addr()?))?;
    tokio::spawn(dspp_simulators::serve_operator(
        listener,
        OperatorConfig::default(),
        cancel.clone(),
    ));

    println!("{calls} calls, {concurrency} concurrent callers");
    let nid = Arc::new(NationalIdClient::new(
        Endpoint::direct(&nid_url)?.with_token(SecretToken::new("load-token")),
    )?);
    let stats = measure(calls, concurrency, move |index| {
        let nid = Arc::clone(&nid);
        let ids = Arc::clone(&ids);
        async move {
            let request = VerifyRequest {
                name_latin: Some("SOK DARA".into()),
                birth_date: Some("1980".into()),
                sex: Some(Sex::Male),
                ..VerifyRequest::new(Uuid::now_v7(), ids[index % ids.len()].clone())
            };
            nid.verify(&request).await?;
            Ok(())
        }
    })
    .await?;
    report("national ID verify", stats);

    let deliveries: Arc<Vec<Delivery>> = Arc::new((0..calls).map(delivery).collect());
    let client = Arc::new(OperatorClient::new()?);
    for what in ["operator deliver (first)", "operator deliver (replay)"] {
        let deliveries = Arc::clone(&deliveries);
        let client = Arc::clone(&client);
        let operator = operator.clone();
        let stats = measure(calls, concurrency, move |index| {
            let deliveries = Arc::clone(&deliveries);
            let client = Arc::clone(&client);
            let operator = operator.clone();
            async move {
                client.deliver(&operator, &deliveries[index]).await?;
                Ok(())
            }
        })
        .await?;
        report(what, stats);
    }
    cancel.cancel();
    Ok(())
}

fn delivery(index: usize) -> Delivery {
    Delivery {
        delivery_id: Uuid::now_v7(),
        program_code: "NSAF-CT".into(),
        program_version: "1".into(),
        spid: format!("KH{index:010}"),
        household_spid: None,
        person: DeliveryPerson {
            name_km: Some("ចាន់ ស្រីពៅ".into()),
            name_latin: Some("CHAN SREYPOV".into()),
            sex: Sex::Female,
            birth_date: Some("1956".into()),
            village_code: "01020101".into(),
        },
        answers: serde_json::Map::new(),
        approved_at: chrono::Utc::now(),
        approved_by: "KH-officer-12".into(),
        on_behalf_of: None,
    }
}
