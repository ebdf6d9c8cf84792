//! A fake desktop for the pop-up tests: a real `dbus-daemon` session bus at
//! `ROOT/UID/bus` (where `mamori` looks for a user's session) and a notification service on it
//! that records every `Notify` call instead of drawing it.

use std::collections::HashMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One notification as the desktop received it.
#[derive(Debug, Clone)]
pub struct Shown {
    pub app_name: String,
    pub summary: String,
    pub body: String,
    pub urgency: Option<u8>,
}

struct Service {
    shown: Arc<Mutex<Vec<Shown>>>,
}

#[zbus::interface(name = "org.freedesktop.Notifications")]
impl Service {
    #[allow(clippy::too_many_arguments)]
    fn notify(
        &self,
        app_name: String,
        _replaces_id: u32,
        _app_icon: String,
        summary: String,
        body: String,
        _actions: Vec<String>,
        hints: HashMap<String, zbus::OwnedVariant>,
        _expire_timeout: i32,
    ) -> u32 {
        let urgency = hints.get("urgency").and_then(|v| u8::try_from(v).ok());
        let mut shown = self.shown.lock().unwrap();
        shown.push(Shown {
            app_name,
            summary,
            body,
            urgency,
        });
        shown.len() as u32
    }

    fn get_capabilities(&self) -> Vec<String> {
        vec!["body".into(), "body-markup".into()]
    }

    fn get_server_information(&self) -> (String, String, String, String) {
        (
            "fake-desktop".into(),
            "mamori tests".into(),
            "0".into(),
            "1.2".into(),
        )
    }

    fn close_notification(&self, _id: u32) {}
}

/// The running fake: the bus daemon is killed and the service stopped on drop.
pub struct Desktop {
    daemon: Child,
    shown: Arc<Mutex<Vec<Shown>>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Desktop {
    /// Starts a session bus for `uid` under `root` (created with the right owner) and the
    /// notification service on it. `None` when `dbus-daemon` is missing.
    pub fn start(root: &Path, uid: u32) -> Option<Desktop> {
        if Command::new("dbus-daemon")
            .arg("--version")
            .output()
            .is_err()
        {
            return None;
        }
        let dir = root.join(uid.to_string());
        std::fs::create_dir_all(&dir).unwrap();
        std::os::unix::fs::chown(&dir, Some(uid), None).unwrap();
        let bus = dir.join("bus");
        let address = format!("unix:path={}", bus.display());
        let daemon = Command::new("dbus-daemon")
            .args(["--session", "--nofork", "--nopidfile"])
            .arg(format!("--address={address}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .expect("starting dbus-daemon");
        let until = Instant::now() + Duration::from_secs(20);
        while !bus.exists() {
            assert!(Instant::now() < until, "dbus-daemon made no socket");
            std::thread::sleep(Duration::from_millis(20));
        }
        let shown = Arc::new(Mutex::new(Vec::new()));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let service = Service {
            shown: Arc::clone(&shown),
        };
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let connection = zbus::connection::Builder::address(address.as_str())
                    .name("org.freedesktop.Notifications")
                    .serve_at("/org/freedesktop/Notifications", service)
                    .build()
                    .await
                    .expect("serving the notification service");
                ready_tx.send(()).unwrap();
                let _ = stopped.await;
                drop(connection);
            });
        });
        ready_rx
            .recv_timeout(Duration::from_secs(20))
            .expect("the notification service did not start");
        Some(Desktop {
            daemon,
            shown,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// What was shown so far.
    pub fn shown(&self) -> Vec<Shown> {
        self.shown.lock().unwrap().clone()
    }

    /// Waits until `count` notifications were shown (or 30 s), and returns them all.
    pub fn wait_for(&self, count: usize) -> Vec<Shown> {
        let until = Instant::now() + Duration::from_secs(30);
        while self.shown().len() < count && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(20));
        }
        self.shown()
    }
}

impl Drop for Desktop {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
    }
}
