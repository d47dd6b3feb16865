//! A headless Chromium driven over the DevTools protocol, in real time: for pages that wait on things a DOM dump
//! cannot (a camera) and for clicking. Chromium is Debian's package, installed by the README's test command.

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::AsyncBufReadExt;
use tokio_tungstenite::tungstenite::Message;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub struct Browser {
    _process: tokio::process::Child,
    _profile: tempfile::TempDir,
    port: u16,
}

pub struct Page {
    socket: Socket,
    next_id: u64,
}

impl Browser {
    /// Starts Chromium with `extra` switches (e.g. a fake camera).
    pub async fn launch(extra: &[String]) -> Browser {
        let profile = tempfile::tempdir().unwrap();
        let mut process = tokio::process::Command::new("chromium")
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--remote-debugging-port=0",
                "--window-size=800,1200",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .args(extra)
            .arg("about:blank")
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("Chromium is not installed: run the README's test command (scripts/test), which installs it");
        let mut lines = tokio::io::BufReader::new(process.stderr.take().unwrap()).lines();
        let port = tokio::time::timeout(Duration::from_secs(60), async {
            while let Some(line) = lines.next_line().await.unwrap() {
                if let Some(rest) = line.strip_prefix("DevTools listening on ws://127.0.0.1:") {
                    return rest.split('/').next().unwrap().parse::<u16>().unwrap();
                }
            }
            panic!("Chromium ended without opening its DevTools port");
        })
        .await
        .expect("Chromium opens its DevTools port within a minute");
        // Keep reading its log so that it never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Browser {
            _process: process,
            _profile: profile,
            port,
        }
    }

    /// Opens `url` in a new tab.
    pub async fn open(&self, url: &str) -> Page {
        let target: Value = reqwest::Client::new()
            .put(format!("http://127.0.0.1:{}/json/new?{url}", self.port))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let (socket, _) =
            tokio_tungstenite::connect_async(target["webSocketDebuggerUrl"].as_str().unwrap())
                .await
                .unwrap();
        Page { socket, next_id: 1 }
    }
}

impl Page {
    /// Calls a DevTools method and returns its result.
    pub async fn call(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        let call = json!({ "id": id, "method": method, "params": params });
        self.socket
            .send(Message::Text(call.to_string().into()))
            .await
            .unwrap();
        while let Some(message) = self.socket.next().await {
            let Message::Text(text) = message.unwrap() else {
                continue;
            };
            let answer: Value = serde_json::from_str(&text).unwrap();
            if answer["id"] == id {
                assert!(answer["error"].is_null(), "{method}: {answer}");
                return answer["result"].clone();
            }
        }
        panic!("the page closed during {method}");
    }

    /// Evaluates `expression` in the page (awaiting a promise) and returns its value.
    pub async fn eval(&mut self, expression: &str) -> Value {
        let result = self
            .call(
                "Runtime.evaluate",
                json!({ "expression": expression, "returnByValue": true, "awaitPromise": true }),
            )
            .await;
        assert!(
            result["exceptionDetails"].is_null(),
            "{expression}: {result}"
        );
        result["result"]["value"].clone()
    }

    /// Puts `file` into the file input `selector`, as if the user had chosen it (the page sees a change event).
    ///
    /// The input is found by a JavaScript object handle, not by a DOM node id: node ids come from a
    /// `DOM.getDocument` snapshot and go stale when the page's document is replaced while it loads
    /// ("Could not find node with given id" in CI), while an object handle names the element itself.
    pub async fn choose_file(&mut self, selector: &str, file: &std::path::Path) {
        self.wait_for(
            "document.readyState === 'complete'",
            Duration::from_secs(30),
        )
        .await;
        let selector_literal = serde_json::to_string(selector).unwrap();
        let element = self
            .call(
                "Runtime.evaluate",
                json!({ "expression": format!("document.querySelector({selector_literal})") }),
            )
            .await;
        let object = element["result"]["objectId"]
            .as_str()
            .unwrap_or_else(|| panic!("no element matches {selector}: {element}"))
            .to_owned();
        self.call(
            "DOM.setFileInputFiles",
            json!({ "files": [file.display().to_string()], "objectId": object }),
        )
        .await;
    }

    /// Waits until `expression` is truthy (checked every 200 ms) and returns its value, or fails with the page's
    /// text after `limit`.
    pub async fn wait_for(&mut self, expression: &str, limit: Duration) -> Value {
        let started = Instant::now();
        // While the page is still loading the expression may throw: that counts as not yet.
        let tolerant = format!(
            "(() => {{ try {{ return ({expression}); }} catch (e) {{ return null; }} }})()"
        );
        loop {
            let value = self.eval(&tolerant).await;
            let truthy = !matches!(&value, Value::Null | Value::Bool(false))
                && value != json!("")
                && value != json!(0);
            if truthy {
                return value;
            }
            if started.elapsed() > limit {
                let text = self.eval("document.body.innerText").await;
                panic!("{expression} still false after {limit:?}; the page says: {text}");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}
