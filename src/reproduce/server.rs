//! A model served by `r2l serve` in a child process on 127.0.0.1 (any free port), the way users
//! serve a student; stopped (SIGTERM, then kill) when dropped.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

/// How long loading (and in-situ quantization) may take before the server counts as failed.
const READY_WITHIN: Duration = Duration::from_secs(900);

/// A running `r2l serve`.
pub struct ServedModel {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base_url: String,
    /// The id `/v1/models` lists.
    pub model_id: String,
}

impl ServedModel {
    /// Starts `r2l serve --config MODELS_FILE` and waits until it answers `/ready`. Its log goes
    /// to `log`.
    pub fn start(r2l: &Path, models_file: &Path, log: &Path) -> Result<ServedModel> {
        let model = models_file.display();
        let log_file =
            std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
        let mut child = Command::new(r2l)
            .args(["serve", "--host", "127.0.0.1", "--port", "0", "--config"])
            .arg(models_file)
            .env("NO_COLOR", "1")
            // The address comes from the server's `listening on` line (serve::server, info).
            .env("R2L_LOG", serve_log_filter())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {} serve", r2l.display()))?;
        let stderr = child.stderr.take().context("the server's stderr")?;
        let (sender, receiver) = mpsc::channel();
        std::thread::spawn(move || {
            let mut log_file = log_file;
            for line in BufReader::new(stderr)
                .lines()
                .map_while(std::result::Result::ok)
            {
                let _ = writeln!(log_file, "{line}");
                if let Some(at) = line.find("listening on http://") {
                    let address = line[at + "listening on ".len()..].trim().to_string();
                    let _ = sender.send(Ok(address));
                } else if line.contains("failed to load") {
                    // The server stays up without the model; say why instead of waiting.
                    let _ = sender.send(Err(line.clone()));
                }
            }
        });
        let started = Instant::now();
        let mut served = ServedModel {
            child,
            base_url: String::new(),
            model_id: String::new(),
        };
        loop {
            if let Some(status) = served.child.try_wait()? {
                bail!(
                    "r2l serve --config {model} exited ({status}) before it was ready; see {}",
                    log.display()
                );
            }
            match receiver.recv_timeout(Duration::from_millis(200)) {
                Ok(Ok(address)) => served.base_url = address,
                Ok(Err(line)) => bail!("r2l serve --config {model}: {line}"),
                Err(_) => {}
            }
            if !served.base_url.is_empty()
                && http_get(&served.base_url, "/ready").is_ok_and(|(status, _)| status == 200)
            {
                break;
            }
            if started.elapsed() > READY_WITHIN {
                bail!(
                    "r2l serve --config {model} was not ready within {} s; see {}",
                    READY_WITHIN.as_secs(),
                    log.display()
                );
            }
        }
        let (_, models) = http_get(&served.base_url, "/v1/models")?;
        let models: serde_json::Value =
            serde_json::from_str(&models).context("the server's /v1/models")?;
        served.model_id = models["data"][0]["id"]
            .as_str()
            .context("the server lists no model")?
            .to_string();
        Ok(served)
    }

    /// The OpenAI base URL (`…/v1`).
    pub fn endpoint(&self) -> String {
        format!("{}/v1", self.base_url)
    }
}

impl Drop for ServedModel {
    fn drop(&mut self) {
        // SIGTERM lets the server drain; kill after a grace period.
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A plain HTTP/1.0 GET on the loopback server: (status, body).
fn http_get(base_url: &str, path: &str) -> Result<(u16, String)> {
    let address = base_url
        .strip_prefix("http://")
        .context("the server address is not http://")?;
    let mut stream = TcpStream::connect(address)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {address}\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .context("no HTTP status line")?;
    let body = response
        .split_once("\r\n\r\n")
        .map_or("", |(_, body)| body)
        .to_string();
    Ok((status, body))
}

/// The log filter for the child server: the user's (or the default), plus the line that says
/// where it listens.
fn serve_log_filter() -> String {
    let base = std::env::var("R2L_LOG")
        .ok()
        .filter(|filter| !filter.trim().is_empty())
        .unwrap_or_else(|| "info,mistralrs_core=warn,mistralrs=warn".to_string());
    format!("{base},serve::server=info")
}
