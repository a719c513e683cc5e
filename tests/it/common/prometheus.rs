//! A real Prometheus (Debian's package), started by a test on a port of the kernel's choosing,
//! scraping the given targets every second; ended (with its storage) when dropped.

use std::process::{Command, Stdio};

use tempfile::TempDir;

use crate::common::{Worker, temp_dir};

pub struct Prometheus {
    /// `http://127.0.0.1:PORT`, its query API.
    pub url: String,
    // Dropped in this order: the process, then its folder.
    process: Worker,
    _dir: TempDir,
}

impl Prometheus {
    /// Prometheus scraping `targets` (`host:port`, the job `kanban-workers`) every second.
    pub fn scraping(targets: &[&str]) -> Prometheus {
        Prometheus::on_port(free_port(), targets)
    }

    /// The same, listening on `port` (from [`free_port`], for a URL needed before it starts).
    pub fn on_port(port: u16, targets: &[&str]) -> Prometheus {
        let dir = temp_dir("prometheus");
        let config = dir.path().join("prometheus.yml");
        let list = targets
            .iter()
            .map(|t| format!("'{t}'"))
            .collect::<Vec<_>>()
            .join(", ");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: kanban-workers\n    static_configs:\n      - targets: [{list}]\n"
            ),
        )
        .unwrap();
        let process = Worker(
            Command::new("prometheus")
                .arg(format!("--config.file={}", config.display()))
                .arg(format!(
                    "--storage.tsdb.path={}",
                    dir.path().join("data").display()
                ))
                .arg(format!("--web.listen-address=127.0.0.1:{port}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("prometheus (Debian's prometheus package; .ci/run installs it)"),
        );
        Prometheus {
            url: format!("http://127.0.0.1:{port}"),
            process,
            _dir: dir,
        }
    }

    /// Whether it has exited (it should not have).
    pub fn exited(&mut self) -> bool {
        self.process.0.try_wait().map_or(true, |s| s.is_some())
    }

    /// End it now (its query API then refuses connections).
    pub fn end(self) {
        drop(self);
    }
}

/// A loopback port free now (the kernel's choice), for a server started with it next.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
