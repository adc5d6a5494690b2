//! What a test's code writes: the EMF publisher's lines, or its log lines as the Lambda
//! runtime's subscriber formats them.

#![allow(dead_code)] // Each test binary uses a different part of this module.

use std::io::Write;
use std::sync::{Arc, Mutex};

/// Everything written into it, shared by its clones.
#[derive(Clone, Default)]
pub struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    pub fn lines(&self) -> Vec<String> {
        let text = String::from_utf8(self.0.lock().unwrap().clone()).unwrap();
        assert!(text.is_empty() || text.ends_with('\n'), "a line left open");
        text.lines().map(str::to_owned).collect()
    }
}

/// What `run` logs at INFO and above on this thread, one line per event, each starting with
/// its level (` WARN`, ` INFO`). The subscriber is the test binary's global one, installed
/// once: tracing caches whether a call site is wanted, and a call site first met by a test
/// running without a subscriber would stay unwanted under a scoped one.
pub fn logged<T>(run: impl FnOnce() -> T) -> (T, Vec<String>) {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        let subscriber = lambda_runtime::tracing::subscriber::fmt()
            .with_ansi(false)
            .without_time()
            .with_writer(|| ToThisThread)
            .finish();
        tracing::subscriber::set_global_default(subscriber).unwrap();
    });
    let lines = Captured::default();
    CAPTURING.with(|c| *c.borrow_mut() = Some(lines.clone()));
    let result = run();
    CAPTURING.with(|c| *c.borrow_mut() = None);
    (result, lines.lines())
}

thread_local! {
    static CAPTURING: std::cell::RefCell<Option<Captured>> = const { std::cell::RefCell::new(None) };
}

/// Writes into this thread's capture, if one is on; elsewhere nothing.
struct ToThisThread;

impl Write for ToThisThread {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        CAPTURING.with(|c| match c.borrow_mut().as_mut() {
            Some(captured) => captured.write(buf),
            None => Ok(buf.len()),
        })
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
