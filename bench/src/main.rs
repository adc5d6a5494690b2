//! A loopback fake of the Lambda Runtime API that runs a program as Lambda runs it, and times
//! it from the outside.
//!
//! ```text
//! bench-runtime --processes N --invocations M [--gap-ms G] [--function NAME] [--cwd DIR]
//!               [--log FILE] [--env KEY=VALUE]... --event LABEL=FILE... -- PROGRAM [ARG]...
//! ```
//!
//! It starts PROGRAM N times, each with `AWS_LAMBDA_RUNTIME_API` pointing at a fresh listener
//! and the environment Lambda sets (plus `--env`, and nothing inherited), and feeds it M
//! events, cycling through the `--event`s across all processes; with `--gap-ms`, it waits G ms
//! before handing out each warm event, as if events came that far apart. It prints JSON:
//!
//! - per process: `init_ms`, spawn to the first `GET .../invocation/next` (Lambda's Init
//!   Duration); `cold_ms`, spawn to the first response; `peak_rss_kb`, VmHWM read while the
//!   program waits for its next event after the last one, just before it is killed;
//! - `warm_ms` by event label: from handing an event out to its response, for every
//!   invocation but each process's first;
//! - `last_response`: the final response body, for the caller's sanity checks.
//!
//! An `/error` or `/init/error` from the program, or a program that exits or goes quiet,
//! fails the run: a benchmark of failing invocations measures nothing useful.
//! `BENCH_TRACE=1` prints every request the fake receives to stderr.

use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const API: &str = "/2018-06-01/runtime";
/// How long a program may stay silent (no Runtime API call) before the run fails.
const QUIET_LIMIT: Duration = Duration::from_secs(60);

/// One Runtime API call from the program, as the connection threads hand it over.
enum Call {
    /// `GET /invocation/next`: the program is idle; `reply` takes the HTTP response to send.
    Next {
        at: Instant,
        reply: Sender<Vec<u8>>,
    },
    Response {
        id: String,
        at: Instant,
        body: Vec<u8>,
    },
    Error {
        id: String,
        body: Vec<u8>,
    },
    InitError {
        body: Vec<u8>,
    },
}

#[derive(Default)]
struct Options {
    processes: usize,
    invocations: usize,
    gap: Duration,
    function: String,
    cwd: Option<String>,
    log: Option<String>,
    env: Vec<(String, String)>,
    events: Vec<(String, Vec<u8>)>,
    program: Vec<String>,
}

fn main() {
    let result = parse_args(std::env::args().skip(1).collect()).and_then(|options| run(&options));
    match result {
        Ok(report) => println!("{report}"),
        Err(error) => {
            eprintln!("bench-runtime: {error}");
            std::process::exit(1);
        }
    }
}

fn parse_args(args: Vec<String>) -> Result<Options, String> {
    let mut options = Options {
        function: "lambda-autoscaler".into(),
        ..Options::default()
    };
    let mut args = args.into_iter();
    while let Some(flag) = args.next() {
        if flag == "--" {
            options.program = args.by_ref().collect();
            break;
        }
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        let number = || {
            value
                .parse::<usize>()
                .map_err(|e| format!("{flag} {value}: {e}"))
        };
        match flag.as_str() {
            "--processes" => options.processes = number()?,
            "--invocations" => options.invocations = number()?,
            "--gap-ms" => options.gap = Duration::from_millis(number()? as u64),
            "--function" => options.function = value,
            "--cwd" => options.cwd = Some(value),
            "--log" => options.log = Some(value),
            "--env" | "--event" => {
                let (key, rest) = value
                    .split_once('=')
                    .ok_or(format!("{flag} {value}: expected KEY=VALUE"))?;
                if flag == "--env" {
                    options.env.push((key.into(), rest.into()));
                } else {
                    let bytes = std::fs::read(rest).map_err(|e| format!("{rest}: {e}"))?;
                    options.events.push((key.into(), bytes));
                }
            }
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    if options.program.is_empty() || options.events.is_empty() || options.invocations == 0 {
        return Err("usage: bench-runtime --processes N --invocations M --event LABEL=FILE... -- PROGRAM [ARG]...".into());
    }
    Ok(options)
}

fn run(options: &Options) -> Result<Value, String> {
    let mut processes = Vec::new();
    let mut warm: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let mut last_response = Value::Null;
    let mut served = 0;
    for _ in 0..options.processes {
        let fake = Fake::start().map_err(|e| format!("listener: {e}"))?;
        let result = run_process(options, &fake, &mut served, &mut warm, &mut last_response);
        fake.stop();
        processes.push(result?);
    }
    Ok(json!({"processes": processes, "warm_ms": warm, "last_response": last_response}))
}

/// One fresh process: its cold start, then `options.invocations - 1` warm invocations.
fn run_process(
    options: &Options,
    fake: &Fake,
    served: &mut usize,
    warm: &mut BTreeMap<String, Vec<f64>>,
    last_response: &mut Value,
) -> Result<Value, String> {
    let mut command = Command::new(&options.program[0]);
    command
        .args(&options.program[1..])
        .env_clear()
        .envs(lambda_environment(&options.function, fake.addr))
        .envs(options.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null());
    if let Some(dir) = &options.cwd {
        command.current_dir(dir);
    }
    // Lambda sends stdout and stderr to CloudWatch Logs; here they go to a file or nowhere.
    let log = |path: &Option<String>| -> io::Result<Stdio> {
        Ok(match path {
            Some(path) => std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)?
                .into(),
            None => Stdio::null(),
        })
    };
    command
        .stdout(log(&options.log).map_err(|e| e.to_string())?)
        .stderr(log(&options.log).map_err(|e| e.to_string())?);
    let spawned = Instant::now();
    let mut child = Running(
        command
            .spawn()
            .map_err(|e| format!("{}: {e}", options.program[0]))?,
    );
    let mut sample = Map::new();
    for i in 0..options.invocations {
        let Call::Next { at, reply } = next_call(&fake.calls, &mut child.0)? else {
            return Err("expected GET /invocation/next".into());
        };
        if i == 0 {
            sample.insert("init_ms".into(), json!(millis(at - spawned)));
        }
        if i > 0 {
            std::thread::sleep(options.gap);
        }
        let (label, event) = &options.events[*served % options.events.len()];
        *served += 1;
        let id = format!("bench-{served:06}");
        let sent = Instant::now();
        // The connection thread is waiting on this channel; it cannot be gone while it waits.
        let _ = reply.send(next_response(&id, event, &options.function));
        match next_call(&fake.calls, &mut child.0)? {
            Call::Response {
                id: answered,
                at,
                body,
            } if answered == id => {
                if i == 0 {
                    sample.insert("cold_ms".into(), json!(millis(at - spawned)));
                } else {
                    warm.entry(label.clone())
                        .or_default()
                        .push(millis(at - sent));
                }
                *last_response = serde_json::from_slice(&body)
                    .unwrap_or_else(|_| String::from_utf8_lossy(&body).into());
            }
            Call::Error { id, body } => {
                return Err(format!(
                    "invocation {id} ({label}) failed: {}",
                    String::from_utf8_lossy(&body)
                ))
            }
            Call::Response { id: other, .. } => {
                return Err(format!("expected the response to {id}, got one to {other}"))
            }
            _ => return Err(format!("expected the response to {id}, got another call")),
        }
    }
    // Idle again, waiting for an event: nothing more can raise its peak before the kill.
    // Hold the call: dropping it closes the connection, and the runtime exits on that.
    let _idle = next_call(&fake.calls, &mut child.0)?;
    sample.insert("peak_rss_kb".into(), json!(peak_rss_kb(child.0.id())?));
    Ok(Value::Object(sample))
}

/// The next Runtime API call, failing on an init error, a dead program or a silent one.
fn next_call(calls: &Receiver<Call>, child: &mut Child) -> Result<Call, String> {
    let deadline = Instant::now() + QUIET_LIMIT;
    loop {
        match calls.recv_timeout(Duration::from_millis(50)) {
            Ok(Call::InitError { body }) => {
                return Err(format!("init error: {}", String::from_utf8_lossy(&body)))
            }
            Ok(call) => return Ok(call),
            Err(RecvTimeoutError::Timeout) => {
                if let Ok(Some(status)) = child.try_wait() {
                    return Err(format!("the program exited ({status})"));
                }
                if Instant::now() > deadline {
                    return Err(format!("no Runtime API call in {QUIET_LIMIT:?}"));
                }
            }
            Err(RecvTimeoutError::Disconnected) => return Err("the listener stopped".into()),
        }
    }
}

/// What Lambda sets for a function on a custom runtime (provided.al2023), minus credentials
/// and region, which the caller passes with `--env`.
fn lambda_environment(function: &str, addr: SocketAddr) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_LAMBDA_RUNTIME_API", addr.to_string()),
        ("AWS_LAMBDA_FUNCTION_NAME", function.into()),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".into()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128".into()),
        ("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand".into()),
        (
            "AWS_LAMBDA_LOG_GROUP_NAME",
            format!("/aws/lambda/{function}"),
        ),
        (
            "AWS_LAMBDA_LOG_STREAM_NAME",
            "2026/01/01/[$LATEST]bench".into(),
        ),
        ("LANG", "en_US.UTF-8".into()),
        ("TZ", ":UTC".into()),
        ("PATH", "/usr/local/bin:/usr/bin/:/bin:/opt/bin".into()),
    ]
}

/// The `/invocation/next` answer, with the headers Lambda sends.
fn next_response(id: &str, event: &[u8], function: &str) -> Vec<u8> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let region = std::env::var("AWS_REGION").unwrap_or_else(|_| "us-east-1".into());
    let mut response = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\
         Lambda-Runtime-Aws-Request-Id: {id}\r\n\
         Lambda-Runtime-Deadline-Ms: {}\r\n\
         Lambda-Runtime-Invoked-Function-Arn: arn:aws:lambda:{region}:123456789012:function:{function}\r\n\
         Lambda-Runtime-Trace-Id: Root=1-{:08x}-{:024x};Parent={:016x};Sampled=0\r\n\
         Content-Length: {}\r\n\r\n",
        now.as_millis() + 30_000,
        now.as_secs(),
        now.as_nanos(),
        now.as_nanos() as u64,
        event.len()
    )
    .into_bytes();
    response.extend_from_slice(event);
    response
}

/// VmHWM (peak resident set) of a live process, in KiB.
fn peak_rss_kb(pid: u32) -> Result<u64, String> {
    let status =
        std::fs::read_to_string(format!("/proc/{pid}/status")).map_err(|e| e.to_string())?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| "no VmHWM in /proc/PID/status".into())
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// Kills the program however the run ends.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One listener, one thread per connection (the runtime clients keep theirs alive).
struct Fake {
    addr: SocketAddr,
    calls: Receiver<Call>,
    stopping: Arc<AtomicBool>,
}

impl Fake {
    fn start() -> io::Result<Fake> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let (sender, calls) = channel();
        let stopping = Arc::new(AtomicBool::new(false));
        let stop = stopping.clone();
        thread::spawn(move || {
            for stream in listener.incoming() {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                if let Ok(stream) = stream {
                    let sender = sender.clone();
                    thread::spawn(move || serve(stream, sender));
                }
            }
        });
        Ok(Fake {
            addr,
            calls,
            stopping,
        })
    }

    /// Ends the accept loop (it wakes up for one last connection).
    fn stop(&self) {
        self.stopping.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect(self.addr);
    }
}

/// Answers one connection's requests until the program closes it or dies.
fn serve(stream: TcpStream, calls: Sender<Call>) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    while let Some((method, path, body)) = read_request(&mut reader, &mut writer)? {
        let at = Instant::now();
        if std::env::var_os("BENCH_TRACE").is_some() {
            eprintln!("{method} {path} {} bytes", body.len());
        }
        let path = path.strip_prefix(API).unwrap_or("");
        let invocation = path
            .strip_prefix("/invocation/")
            .and_then(|p| p.split_once('/'));
        let call = match (method.as_str(), path, invocation) {
            ("GET", "/invocation/next", _) => {
                let (reply, event) = channel();
                calls.send(Call::Next { at, reply }).ok();
                match event.recv() {
                    Ok(response) => writer.write_all(&response)?,
                    Err(_) => return Ok(()), // the run is over: the program is being killed
                }
                continue;
            }
            ("POST", _, Some((id, "response"))) => Call::Response {
                id: id.into(),
                at,
                body,
            },
            ("POST", _, Some((id, "error"))) => Call::Error {
                id: id.into(),
                body,
            },
            ("POST", "/init/error", _) => Call::InitError { body },
            _ => {
                writer.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")?;
                continue;
            }
        };
        // Hand the call over before acknowledging it: once acknowledged, the program's next
        // call (on another connection, from another thread) could overtake it.
        calls.send(call).ok();
        writer.write_all(
            b"HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\nContent-Length: 15\r\n\r\n{\"status\":\"OK\"}",
        )?;
    }
    Ok(())
}

/// Reads one HTTP/1.1 request: method, path and body (by Content-Length or chunked).
fn read_request(
    reader: &mut BufReader<TcpStream>,
    writer: &mut TcpStream,
) -> io::Result<Option<(String, String, Vec<u8>)>> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    let mut words = line.split_whitespace().map(String::from);
    let (method, path) = (
        words.next().unwrap_or_default(),
        words.next().unwrap_or_default(),
    );
    let (mut length, mut chunked) = (0, false);
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 {
            return Ok(None);
        }
        let Some((name, value)) = header.trim_end().split_once(':') else {
            break; // the blank line that ends the headers
        };
        let value = value.trim();
        match name.to_ascii_lowercase().as_str() {
            "content-length" => length = value.parse().unwrap_or(0),
            "transfer-encoding" => chunked = value.eq_ignore_ascii_case("chunked"),
            // curl-based clients (awslambdaric) may wait for this before sending a body.
            "expect" if value.eq_ignore_ascii_case("100-continue") => {
                writer.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?
            }
            _ => {}
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    while chunked {
        let mut size = String::new();
        reader.read_line(&mut size)?;
        let size = usize::from_str_radix(size.trim().split(';').next().unwrap_or(""), 16)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        let mut chunk = vec![0; size + 2]; // the chunk and its CRLF
        reader.read_exact(&mut chunk)?;
        body.extend_from_slice(&chunk[..size]);
        chunked = size > 0;
    }
    Ok(Some((method, path, body)))
}
