//! Closed-loop load generator for `npm run bench` (see scripts/bench.sh).
//!
//!   loadgen provider <port> <tokens.json>
//!   loadgen seed <url> <seed.json>
//!   loadgen run <ours-url> <ours-pids> <baseline-url> <baseline-pids> <seed.json> <results.md> <wasm-raw> <wasm-gzip>
//!
//! `run` measures every scenario at concurrency 1 and 8, alternating secure-api and the
//! baseline worker in the same run (two rounds each), and reports requests/s, latency
//! percentiles, non-2xx answers and the CPU milliseconds per request of each target's
//! workerd processes (utime + stime from /proc/<pid>/stat, before and after). Every loop
//! is bounded by a request count and a deadline; traffic goes to loopback only, with a
//! fresh `CF-Connecting-IP` per request so per-IP tiers do not distort the figures.
//!
//! `provider` is the third-party identity provider of the `me (third-party RS256)` scenario:
//! it makes an RSA-2048 key, writes RS256 tokens for [`USERS`] subjects to `tokens.json`,
//! then serves its OpenID configuration and JWKS on 127.0.0.1:`port` until it is killed.
//! `seed` signs those subjects in once (provisioning their users) when
//! `BENCH_EXTERNAL_TOKENS` names that file.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const PASSWORD: &str = "Bench-Password-1";
const USERS: usize = 8;
const RUN_DEADLINE: Duration = Duration::from_secs(30);
/// How long a run of a scenario that creates per-IP objects waits before its CPU is read:
/// the objects' window (`RATE_LIMIT_PERIOD_SECONDS=5` in scripts/bench.sh), the alarm's
/// second of slack and a margin, so that deleting them is counted in the run that created
/// them, on both sides, rather than in whichever run happens to be measured when their
/// alarms fire. An idle workerd process spends about 2 ms of CPU per second, which this
/// adds to both sides alike.
const OBJECT_CLEANUP_WAIT: Duration = Duration::from_secs(7);

static IP: AtomicU64 = AtomicU64::new(1);

fn next_ip() -> String {
    let n = IP.fetch_add(1, Ordering::Relaxed);
    // 198.18.0.0/15 is reserved for benchmarking (RFC 2544); only a header value here.
    format!("198.{}.{}.{}", 18 + ((n >> 16) & 1), (n >> 8) & 255, n & 255)
}

fn agent() -> ureq::Agent {
    // A request that gets no answer within 20 s counts as failed (status 0) instead of
    // stalling the run.
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(20)))
        .build()
        .into()
}

struct Answer {
    status: u16,
    body: Value,
}

fn send(agent: &ureq::Agent, method: &str, url: &str, headers: &[(&str, String)], body: Option<&Value>) -> Answer {
    let mut b = ureq::http::Request::builder().method(method).uri(url).header("CF-Connecting-IP", next_ip());
    for (k, v) in headers {
        b = b.header(*k, v);
    }
    let resp = match body {
        Some(v) => {
            agent.run(b.header("Content-Type", "application/json").body(serde_json::to_vec(v).unwrap()).unwrap())
        }
        None => agent.run(b.body(()).unwrap()),
    };
    match resp {
        Ok(mut r) => {
            let status = r.status().as_u16();
            let text = r.body_mut().read_to_string().unwrap_or_default();
            Answer { status, body: serde_json::from_str(&text).unwrap_or(Value::Null) }
        }
        Err(_) => Answer { status: 0, body: Value::Null },
    }
}

/// The `aud` of the benchmark's third-party tokens (`EXTERNAL_JWT_AUDIENCE` in bench.sh).
const EXTERNAL_AUDIENCE: &str = "secure-api-bench";

fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn provider(port: &str, out: &str) {
    use rsa::signature::{SignatureEncoding, Signer};
    use rsa::traits::PublicKeyParts;
    use std::io::{Read, Write};
    let key = rsa::RsaPrivateKey::new(&mut rand_core::OsRng, 2048).unwrap();
    let issuer = format!("http://127.0.0.1:{port}");
    let jwk = json!({"kty": "RSA", "kid": "bench-1", "use": "sig", "alg": "RS256",
                     "n": b64(&key.n().to_bytes_be()), "e": b64(&key.e().to_bytes_be())});
    let jwks = json!({ "keys": [jwk] }).to_string();
    let discovery = json!({"issuer": issuer, "jwks_uri": format!("{issuer}/jwks.json")}).to_string();
    let signer = rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new(key);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let header = b64(json!({"alg": "RS256", "typ": "JWT", "kid": "bench-1"}).to_string().as_bytes());
    let tokens: Vec<String> = (0..USERS)
        .map(|i| {
            let claims = json!({"iss": issuer, "aud": EXTERNAL_AUDIENCE, "sub": format!("bench-subject-{now}-{i}"),
                                "email": format!("bench-ext-{now}-{i}@example.com"), "email_verified": true,
                                "iat": now, "exp": now + 7200});
            let input = format!("{header}.{}", b64(claims.to_string().as_bytes()));
            let sig = signer.sign(input.as_bytes()).to_vec();
            format!("{input}.{}", b64(&sig))
        })
        .collect();
    let listener = std::net::TcpListener::bind(("127.0.0.1", port.parse::<u16>().unwrap())).unwrap();
    std::fs::write(out, json!(tokens).to_string()).unwrap();
    for mut stream in listener.incoming().flatten() {
        let mut request = Vec::new();
        let mut buf = [0u8; 1024];
        while !request.windows(4).any(|w| w == b"\r\n\r\n") && request.len() < 16384 {
            match stream.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => request.extend_from_slice(&buf[..n]),
            }
        }
        let line = String::from_utf8_lossy(&request).lines().next().unwrap_or_default().to_owned();
        let (status, body) = match line.split(' ').nth(1) {
            Some("/.well-known/openid-configuration") => ("200 OK", discovery.as_str()),
            Some("/jwks.json") => ("200 OK", jwks.as_str()),
            _ => ("404 Not Found", "{}"),
        };
        let _ = write!(
            stream,
            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nCache-Control: public, max-age=3600\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
    }
}

fn seed(url: &str, out: &str) {
    let a = agent();
    let tag: u64 = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let mut users = Vec::new();
    for i in 0..USERS {
        let email = format!("bench-{tag}-{i}@example.com");
        let r = send(
            &a,
            "POST",
            &format!("{url}/api/auth/register"),
            &[],
            Some(&json!({"email": email, "password": PASSWORD})),
        );
        assert_eq!(r.status, 201, "register: {}", r.body);
        let r = send(
            &a,
            "POST",
            &format!("{url}/api/auth/login"),
            &[],
            Some(&json!({"email": email, "password": PASSWORD})),
        );
        assert_eq!(r.status, 200, "login: {}", r.body);
        users.push(json!({"email": email, "access": r.body["accessToken"]}));
    }
    let access = users[0]["access"].as_str().unwrap().to_owned();
    let bearer = [("Authorization", format!("Bearer {access}"))];
    let r = send(
        &a,
        "POST",
        &format!("{url}/api/api-keys"),
        &bearer,
        Some(&json!({"name": "bench", "scopes": ["posts:read", "posts:create"], "rateLimit": 100000})),
    );
    assert_eq!(r.status, 201, "api key: {}", r.body);
    let key = r.body["key"].clone();
    for i in 0..20 {
        let r = send(
            &a,
            "POST",
            &format!("{url}/api/posts"),
            &bearer,
            Some(
                &json!({"title": format!("Post {i}"), "body": "Seeded by the benchmark. ".repeat(8), "published": true}),
            ),
        );
        assert_eq!(r.status, 201, "post: {}", r.body);
    }
    // Third-party users: each token's first request provisions its user (outside the run).
    let mut external = Vec::new();
    if let Ok(path) = std::env::var("BENCH_EXTERNAL_TOKENS") {
        let tokens: Vec<String> = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        for token in tokens {
            let r =
                send(&a, "GET", &format!("{url}/api/auth/me"), &[("Authorization", format!("Bearer {token}"))], None);
            assert_eq!(r.status, 200, "third-party me: {}", r.body);
            assert!(r.body["provider"].is_string(), "third-party me: {}", r.body);
            external.push(token);
        }
    }
    let seeded = json!({"users": users, "apiKey": key, "external": external});
    std::fs::write(out, serde_json::to_string_pretty(&seeded).unwrap()).unwrap();
}

/// Clock ticks of utime + stime over every given process.
fn cpu_ticks(pids: &[u32]) -> u64 {
    pids.iter()
        .map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
            let f: Vec<&str> = after.split_whitespace().collect();
            // Fields after the command: state is index 0, utime is field 14 overall (index 11 here).
            f.get(11).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
                + f.get(12).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
        })
        .sum()
}

fn ticks_per_second() -> f64 {
    // Linux's USER_HZ for /proc is 100 on every mainstream configuration.
    100.0
}

#[derive(Clone, Copy, PartialEq)]
enum Scenario {
    Health,
    Me,
    MeExternal,
    ListPosts,
    CreatePost,
    Login,
    Refresh,
}

impl Scenario {
    fn name(self) -> &'static str {
        match self {
            Scenario::Health => "GET /health",
            Scenario::Me => "GET /api/auth/me (Bearer)",
            Scenario::MeExternal => "GET /api/auth/me (third-party RS256)",
            Scenario::ListPosts => "GET /api/posts?page=1&limit=10",
            Scenario::CreatePost => "POST /api/posts (X-API-Key)",
            Scenario::Login => "POST /api/auth/login",
            Scenario::Refresh => "POST /api/auth/refresh (rotation chain)",
        }
    }

    fn key(self) -> &'static str {
        match self {
            Scenario::Health => "health",
            Scenario::Me => "me",
            Scenario::MeExternal => "me_external",
            Scenario::ListPosts => "list",
            Scenario::CreatePost => "create",
            Scenario::Login => "login",
            Scenario::Refresh => "refresh",
        }
    }

    /// Whether every request creates a Durable Object of its own (a fresh client IP counted
    /// in the anonymous or auth tier), deleted by its alarm once its window is over.
    fn creates_ip_objects(self) -> bool {
        matches!(self, Scenario::ListPosts | Scenario::Login | Scenario::Refresh)
    }

    fn requests(self, concurrency: usize) -> usize {
        // Sized so that every run is a second or more of CPU (10 ms clock ticks), and the
        // cheap routes run long enough for the wasm to reach its optimised tier.
        let base = match self {
            Scenario::Login => 40,
            Scenario::CreatePost | Scenario::Refresh => 200,
            Scenario::ListPosts => 400,
            Scenario::Me | Scenario::MeExternal => 1000,
            Scenario::Health => 2000,
        };
        if concurrency > 1 {
            base * 2
        } else {
            base
        }
    }
}

#[derive(Default)]
struct Stats {
    latencies: Vec<f64>,
    non2xx: usize,
    elapsed: f64,
    cpu_ms: f64,
    /// D1 rows written per request (secure-api only; see `d1_rows`).
    d1_rows_per_request: f64,
}

impl Stats {
    fn merge(&mut self, other: Stats) {
        self.latencies.extend(other.latencies);
        self.non2xx += other.non2xx;
        self.elapsed += other.elapsed;
        self.cpu_ms += other.cpu_ms;
    }
    fn pct(&self, p: f64) -> f64 {
        let mut v = self.latencies.clone();
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        if v.is_empty() {
            return 0.0;
        }
        let idx = ((v.len() as f64 - 1.0) * p).round() as usize;
        v[idx]
    }
    fn rps(&self) -> f64 {
        self.latencies.len() as f64 / self.elapsed.max(1e-9)
    }
    fn cpu_per_request(&self) -> f64 {
        self.cpu_ms / (self.latencies.len().max(1) as f64)
    }
}

fn run_one(url: &str, pids: &[u32], seed: &Value, scenario: Scenario, concurrency: usize) -> Stats {
    let total = scenario.requests(concurrency);
    let per_thread = total / concurrency;
    let key = seed["apiKey"].as_str().unwrap().to_owned();
    let users: Vec<(String, String)> = seed["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| (u["email"].as_str().unwrap().to_owned(), u["access"].as_str().unwrap().to_owned()))
        .collect();
    let external: Vec<String> =
        seed["external"].as_array().into_iter().flatten().filter_map(|t| t.as_str().map(str::to_owned)).collect();
    // Refresh chains start from fresh logins (outside the measurement).
    let chains: Vec<String> = if scenario == Scenario::Refresh {
        let a = agent();
        (0..concurrency)
            .map(|i| {
                let (email, _) = &users[i % users.len()];
                let r = send(
                    &a,
                    "POST",
                    &format!("{url}/api/auth/login"),
                    &[],
                    Some(&json!({"email": email, "password": PASSWORD})),
                );
                r.body["refreshToken"].as_str().unwrap_or_default().to_owned()
            })
            .collect()
    } else {
        Vec::new()
    };
    std::thread::sleep(Duration::from_millis(300));
    let cpu_before = cpu_ticks(pids);
    let started = Instant::now();
    let results = Mutex::new(Stats::default());
    std::thread::scope(|s| {
        for t in 0..concurrency {
            let (users, key, results, chains, external) = (&users, &key, &results, &chains, &external);
            s.spawn(move || {
                let a = agent();
                let mut local = Stats::default();
                let mut refresh = chains.get(t).cloned().unwrap_or_default();
                let deadline = Instant::now() + RUN_DEADLINE;
                for i in 0..per_thread {
                    if Instant::now() > deadline {
                        break;
                    }
                    let (email, access) = &users[(t + i) % users.len()];
                    let external_token = external.get((t + i) % external.len().max(1));
                    let t0 = Instant::now();
                    let r = match scenario {
                        Scenario::Health => send(&a, "GET", &format!("{url}/health"), &[], None),
                        Scenario::Me => send(
                            &a,
                            "GET",
                            &format!("{url}/api/auth/me"),
                            &[("Authorization", format!("Bearer {access}"))],
                            None,
                        ),
                        Scenario::MeExternal => send(
                            &a,
                            "GET",
                            &format!("{url}/api/auth/me"),
                            &[("Authorization", format!("Bearer {}", external_token.unwrap()))],
                            None,
                        ),
                        Scenario::ListPosts => send(&a, "GET", &format!("{url}/api/posts?page=1&limit=10"), &[], None),
                        Scenario::CreatePost => send(
                            &a,
                            "POST",
                            &format!("{url}/api/posts"),
                            &[("X-API-Key", key.clone())],
                            Some(&json!({"title": "Benchmark post", "body": "Created under load.", "published": true})),
                        ),
                        Scenario::Login => send(
                            &a,
                            "POST",
                            &format!("{url}/api/auth/login"),
                            &[],
                            Some(&json!({"email": email, "password": PASSWORD})),
                        ),
                        Scenario::Refresh => {
                            let r = send(
                                &a,
                                "POST",
                                &format!("{url}/api/auth/refresh"),
                                &[],
                                Some(&json!({"refreshToken": refresh})),
                            );
                            if let Some(next) = r.body["refreshToken"].as_str() {
                                refresh = next.to_owned();
                            }
                            r
                        }
                    };
                    local.latencies.push(t0.elapsed().as_secs_f64() * 1000.0);
                    if !(200..300).contains(&r.status) {
                        local.non2xx += 1;
                    }
                }
                results.lock().unwrap().merge(local);
            });
        }
    });
    let elapsed = started.elapsed().as_secs_f64();
    // Let work queued with waitUntil (audit rows) finish inside the measured window, and the
    // per-IP objects the run created be deleted.
    std::thread::sleep(if scenario.creates_ip_objects() { OBJECT_CLEANUP_WAIT } else { Duration::from_millis(300) });
    let cpu_after = cpu_ticks(pids);
    let mut stats = results.into_inner().unwrap();
    stats.elapsed = elapsed;
    stats.cpu_ms = (cpu_after.saturating_sub(cpu_before)) as f64 * 1000.0 / ticks_per_second();
    stats
}

fn pids(arg: &str) -> Vec<u32> {
    arg.split(',').filter_map(|p| p.trim().parse().ok()).collect()
}

/// D1 rows written so far, measured on the local D1 file: rows in every table plus the
/// increments of the (former) D1 rate-limit counters. A request's inserts and counter bumps
/// count; updates of existing rows (rotation marks, revocations) do not.
fn d1_rows(state_dir: &str) -> i64 {
    let dir = std::path::Path::new(state_dir).join("v3/d1/miniflare-D1DatabaseObject");
    let Some(file) = std::fs::read_dir(&dir).ok().and_then(|entries| {
        entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .find(|p| p.extension().is_some_and(|x| x == "sqlite") && !p.ends_with("metadata.sqlite"))
    }) else {
        return 0;
    };
    let db = rusqlite::Connection::open_with_flags(&file, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let tables: Vec<String> = db
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%' AND name != 'd1_migrations'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .filter_map(Result::ok)
        .collect();
    let mut rows = 0i64;
    for t in &tables {
        rows += db.query_row(&format!("SELECT count(*) FROM \"{t}\""), [], |r| r.get::<_, i64>(0)).unwrap_or(0);
    }
    // An UPSERT that bumps an existing counter writes a row without adding one.
    rows + db.query_row("SELECT coalesce(sum(count - 1), 0) FROM rate_limit_counters", [], |r| r.get(0)).unwrap_or(0i64)
}

fn run(args: &[String]) {
    let (ours, ours_pids, base, base_pids) = (&args[0], pids(&args[1]), &args[2], pids(&args[3]));
    let ours_d1 = args.get(8).cloned().unwrap_or_default();
    let seed: Value = serde_json::from_str(&std::fs::read_to_string(&args[4]).unwrap()).unwrap();
    let out = &args[5];
    let (wasm_raw, wasm_gz) = (&args[6], &args[7]);
    let scenarios = [
        Scenario::Health,
        Scenario::Me,
        Scenario::MeExternal,
        Scenario::ListPosts,
        Scenario::CreatePost,
        Scenario::Login,
        Scenario::Refresh,
    ];
    let has_external = seed["external"].as_array().is_some_and(|t| !t.is_empty());
    let mut rows = Vec::new();
    // BENCH_SCENARIOS=health,me limits a run to some scenarios (for profiling).
    let only = std::env::var("BENCH_SCENARIOS").unwrap_or_default();
    let wanted = |s: &Scenario| only.is_empty() || only.split(',').any(|k| k == s.key());
    for scenario in scenarios.into_iter().filter(wanted).filter(|s| *s != Scenario::MeExternal || has_external) {
        for concurrency in [1usize, 8] {
            let mut a = Stats::default();
            let mut b = Stats::default();
            // Warm-up (isolates, caches), then two interleaved rounds.
            run_one(ours, &ours_pids, &seed, scenario, 1);
            run_one(base, &base_pids, &seed, scenario, 1);
            std::thread::sleep(std::time::Duration::from_millis(500));
            let rows_before = d1_rows(&ours_d1);
            let mut written_requests = 0usize;
            for _ in 0..2 {
                let ours_stats = run_one(ours, &ours_pids, &seed, scenario, concurrency);
                // Writes queued after the answers (audit rows) land before the next count.
                std::thread::sleep(std::time::Duration::from_millis(500));
                written_requests += ours_stats.latencies.len();
                a.merge(ours_stats);
                b.merge(run_one(base, &base_pids, &seed, scenario, concurrency));
            }
            a.d1_rows_per_request = (d1_rows(&ours_d1) - rows_before) as f64 / written_requests.max(1) as f64;
            // Nothing of this scenario (object alarms, queued writes) runs into the next one.
            std::thread::sleep(std::time::Duration::from_secs(7));
            eprintln!(
                "[bench] {} c={concurrency}: ours {:.2} ms CPU/req, baseline {:.2} ms CPU/req, ratio {:.2}, D1 rows written/req {:.2}",
                scenario.name(),
                a.cpu_per_request(),
                b.cpu_per_request(),
                a.cpu_per_request() / b.cpu_per_request().max(1e-9),
                a.d1_rows_per_request
            );
            rows.push((scenario, concurrency, a, b));
        }
    }
    let mut md = String::new();
    md.push_str("| scenario | c | target | req/s | p50 ms | p90 ms | p99 ms | non-2xx | CPU ms/req | CPU ratio | D1 rows written/req |\n");
    md.push_str("|---|---|---|---|---|---|---|---|---|---|---|\n");
    for (scenario, c, a, b) in &rows {
        let ratio = a.cpu_per_request() / b.cpu_per_request().max(1e-9);
        let rows = format!("{:.2}", a.d1_rows_per_request);
        for (name, s, r, w) in
            [("secure-api", a, format!("**{ratio:.2}x**"), rows.as_str()), ("baseline", b, String::new(), "")]
        {
            md.push_str(&format!(
                "| {} | {c} | {name} | {:.0} | {:.1} | {:.1} | {:.1} | {} | {:.2} | {r} | {w} |\n",
                scenario.name(),
                s.rps(),
                s.pct(0.5),
                s.pct(0.9),
                s.pct(0.99),
                s.non2xx,
                s.cpu_per_request()
            ));
        }
    }
    let meta = format!("Release `build/index_bg.wasm`: {wasm_raw} bytes raw, {wasm_gz} bytes gzip.\n");
    std::fs::write(out, format!("{md}\n{meta}")).unwrap();
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("provider") => provider(&args[1], &args[2]),
        Some("seed") => seed(&args[1], &args[2]),
        Some("run") => run(&args[1..]),
        _ => {
            eprintln!("usage: loadgen provider <port> <tokens.json> | loadgen seed <url> <seed.json> | loadgen run <ours> <pids> <baseline> <pids> <seed.json> <out.md> <wasm-raw> <wasm-gzip> [<ours-d1-state-dir>]");
            std::process::exit(2);
        }
    }
}
