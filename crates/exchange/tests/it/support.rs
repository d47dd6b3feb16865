//! Starting simulators (and one misbehaving server) on port 0 for a test, and stopping them after.

use std::net::SocketAddr;

use dspp_simulators::{
    CardStatus, IdCard, NationalIdConfig, OperatorConfig, PartialDate, Sex, serve_national_id,
    serve_operator,
};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub const TOKEN: &str = "test-token-7f3a";

/// A running simulator; stops when dropped.
pub struct Running {
    pub address: SocketAddr,
    cancel: CancellationToken,
}

impl Running {
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

pub fn card(id_number: &str, status: CardStatus, expires_on: &str) -> IdCard {
    IdCard {
        id_number: id_number.into(),
        name_km: "សុខ ដារ៉ា".into(),
        name_latin: "SOK DARA".into(),
        birth_date: PartialDate::parse("1980-05-17").unwrap(),
        sex: Sex::Male,
        status,
        expires_on: chrono::NaiveDate::parse_from_str(expires_on, "%Y-%m-%d").unwrap(),
    }
}

/// The register every national ID test uses.
pub fn register() -> Vec<IdCard> {
    vec![
        card("010203045", CardStatus::Valid, "2031-01-01"),
        card("010203046", CardStatus::Revoked, "2031-01-01"),
        card("010203047", CardStatus::Deceased, "2031-01-01"),
        card("010203048", CardStatus::Valid, "2020-01-01"),
    ]
}

pub async fn start_national_id(config: NationalIdConfig) -> Running {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let cancel = CancellationToken::new();
    tokio::spawn(serve_national_id(listener, config, cancel.clone()));
    Running { address, cancel }
}

pub async fn start_operator(config: OperatorConfig) -> Running {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let cancel = CancellationToken::new();
    tokio::spawn(serve_operator(listener, config, cancel.clone()));
    Running { address, cancel }
}

/// A server that answers every request with `status` and `body` (a stand-in for a broken operator).
pub async fn start_answering(status: u16, body: &'static str) -> Running {
    use axum::http::StatusCode;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let cancel = CancellationToken::new();
    let status = StatusCode::from_u16(status).unwrap();
    let router = axum::Router::new()
        .fallback(move || async move { (status, [("content-type", "application/json")], body) });
    let stop = cancel.clone();
    tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(stop.cancelled_owned())
            .await
    });
    Running { address, cancel }
}

/// An address nothing listens on: bound, read, then closed.
pub async fn closed_port() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{address}")
}

/// Sets faults through the simulator's control endpoint, as a test or demo would.
pub async fn set_faults(running: &Running, faults: serde_json::Value) {
    let response = reqwest::Client::new()
        .post(format!("{}/_sim/faults", running.url()))
        .json(&faults)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
}

pub async fn get_json(running: &Running, path: &str) -> serde_json::Value {
    reqwest::get(format!("{}{path}", running.url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}
