//! Pushes that survive a busy registry: a push refused with 429 or a 5xx status, or cut by a
//! connection reset, is tried again after a growing pause (1 s, 2 s, 4 s; 4 attempts), and the
//! whole push of a tag is bounded by `--push-timeout`.

use super::creds::Found;
use super::{BuiltImage, Digest, Publisher};
use crate::reference::Reference;
use anyhow::{anyhow, bail, Result};
use std::fmt;
use std::time::Duration;

/// A push failure worth trying again: the registry was busy or the connection broke.
#[derive(Debug)]
pub struct Transient(pub anyhow::Error);

impl fmt::Display for Transient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl std::error::Error for Transient {}

/// True when a registry's push error says it was busy (429, 5xx) or the connection broke.
pub fn is_transient(error: &str) -> bool {
    let lower = error.to_ascii_lowercase();
    let status = [
        "429",
        "toomanyrequests",
        "too many requests",
        "500 internal server error",
        "502 bad gateway",
        "503 service unavailable",
        "504 gateway timeout",
        "unexpected http status: 5",
        "connection reset",
        "broken pipe",
        "unexpected eof",
    ];
    status.iter().any(|m| lower.contains(m))
}

/// How pushes are retried and bounded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushPolicy {
    /// Pauses between attempts; there is one attempt more than pauses.
    pub pauses: Vec<Duration>,
    /// The longest a tag's push may take, retries included.
    pub timeout: Duration,
}

impl PushPolicy {
    /// 4 attempts, 1/2/4 s apart, within `timeout`.
    pub fn standard(timeout: Duration) -> PushPolicy {
        PushPolicy {
            pauses: [1, 2, 4].map(Duration::from_secs).to_vec(),
            timeout,
        }
    }
}

/// Parses `--push-timeout`: seconds (`90`), or a number with `s`, `m` or `h` (`10m`).
pub fn parse_duration(text: &str) -> Result<Duration> {
    let t = text.trim();
    let (number, unit) = match t.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => t.split_at(i),
        None => (t, "s"),
    };
    let seconds = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        _ => 0,
    };
    match number.parse::<u64>() {
        Ok(n) if n > 0 && seconds > 0 => Ok(Duration::from_secs(n.saturating_mul(seconds))),
        _ => bail!("--push-timeout {text} is not a duration; write e.g. 600, 90s, 10m or 1h"),
    }
}

/// A duration as it is written on the command line: `10m`, `90s`, `1h`.
pub fn show_duration(d: Duration) -> String {
    let s = d.as_secs();
    if d.subsec_millis() != 0 {
        format!("{}ms", d.as_millis())
    } else if s > 0 && s.is_multiple_of(3600) {
        format!("{}h", s / 3600)
    } else if s > 0 && s.is_multiple_of(60) {
        format!("{}m", s / 60)
    } else {
        format!("{s}s")
    }
}

/// Pushes `reference` through `publisher`, trying transient failures again per `policy`;
/// `retrying` hears each retry (the error and the pause before the next attempt).
pub async fn push<P: Publisher>(
    publisher: &P,
    image: &BuiltImage,
    reference: &Reference,
    credentials: Option<&Found>,
    policy: &PushPolicy,
    retrying: &mut dyn FnMut(&anyhow::Error, Duration),
) -> Result<Digest> {
    let attempts = async {
        let mut pauses = policy.pauses.iter();
        loop {
            match publisher.push(image, reference, credentials).await {
                Ok(digest) => return Ok(digest),
                Err(e) => match (e.downcast::<Transient>(), pauses.next()) {
                    (Ok(Transient(e)), Some(&pause)) => {
                        retrying(&e, pause);
                        tokio::time::sleep(pause).await;
                    }
                    (Ok(Transient(e)), None) => {
                        return Err(anyhow!(
                            "{e} (gave up after {} attempts)",
                            policy.pauses.len() + 1
                        ))
                    }
                    (Err(e), _) => return Err(e),
                },
            }
        }
    };
    match tokio::time::timeout(policy.timeout, attempts).await {
        Ok(result) => result,
        Err(_) => bail!(
            "pushing {reference} did not finish within {} (--push-timeout); check that {} is reachable and not overloaded, or raise --push-timeout",
            show_duration(policy.timeout),
            reference.registry
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::collections::VecDeque;

    /// A publisher answering from a script: `Err(true)` is a transient failure,
    /// `Err(false)` a final one, `Ok(())` the digest; each answer after `delay`.
    struct Fake {
        script: RefCell<VecDeque<Result<(), bool>>>,
        calls: RefCell<u32>,
        delay: Duration,
    }

    impl Fake {
        fn new(script: &[Result<(), bool>], delay: Duration) -> Fake {
            Fake {
                script: RefCell::new(script.iter().cloned().collect()),
                calls: RefCell::new(0),
                delay,
            }
        }
    }

    impl Publisher for Fake {
        async fn push(&self, _: &BuiltImage, r: &Reference, _: Option<&Found>) -> Result<Digest> {
            *self.calls.borrow_mut() += 1;
            tokio::time::sleep(self.delay).await;
            let next = self.script.borrow_mut().pop_front();
            match next.expect("a scripted answer") {
                Ok(()) => Ok(Digest(format!("sha256:{}", "d".repeat(64)))),
                Err(true) => Err(Transient(anyhow!(
                    "pushing {r} failed: received unexpected HTTP status: 503 Service Unavailable"
                ))
                .into()),
                Err(false) => Err(anyhow!("{} requires credentials", r.registry)),
            }
        }
    }

    fn image() -> (BuiltImage, Reference) {
        let r = Reference::parse("127.0.0.1:5000/app:1").unwrap();
        (
            BuiltImage {
                id: "sha256:1".into(),
                tags: vec![r.clone()],
            },
            r,
        )
    }

    fn quick(timeout: Duration) -> PushPolicy {
        PushPolicy {
            pauses: [1, 2, 4].map(Duration::from_millis).to_vec(),
            timeout,
        }
    }

    async fn run(fake: &Fake, policy: &PushPolicy) -> (Result<Digest>, Vec<Duration>) {
        let (img, r) = image();
        let mut pauses = Vec::new();
        let result = push(fake, &img, &r, None, policy, &mut |_, p| pauses.push(p)).await;
        (result, pauses)
    }

    #[tokio::test]
    async fn transient_failures_are_retried_with_growing_pauses() {
        let fake = Fake::new(&[Err(true), Err(true), Ok(())], Duration::ZERO);
        let (result, pauses) = run(&fake, &quick(Duration::from_secs(10))).await;
        assert!(result.unwrap().0.starts_with("sha256:"));
        assert_eq!(*fake.calls.borrow(), 3);
        assert_eq!(pauses, [1, 2].map(Duration::from_millis));
        assert_eq!(
            PushPolicy::standard(Duration::from_secs(600)).pauses,
            [1, 2, 4].map(Duration::from_secs)
        );
    }

    #[tokio::test]
    async fn retries_are_bounded_and_final_errors_are_not_retried() {
        let fake = Fake::new(&[Err(true); 4], Duration::ZERO);
        let (result, pauses) = run(&fake, &quick(Duration::from_secs(10))).await;
        let e = result.unwrap_err().to_string();
        assert!(
            e.contains("503 Service Unavailable") && e.ends_with("(gave up after 4 attempts)"),
            "{e}"
        );
        assert_eq!(*fake.calls.borrow(), 4);
        assert_eq!(pauses.len(), 3);

        let fake = Fake::new(&[Err(false)], Duration::ZERO);
        let (result, pauses) = run(&fake, &quick(Duration::from_secs(10))).await;
        assert!(result
            .unwrap_err()
            .to_string()
            .contains("requires credentials"));
        assert_eq!((*fake.calls.borrow(), pauses.len()), (1, 0));
    }

    #[tokio::test]
    async fn a_push_that_hangs_times_out_in_one_sentence() {
        let fake = Fake::new(&[Ok(())], Duration::from_secs(30));
        let (result, _) = run(&fake, &quick(Duration::from_millis(50))).await;
        let e = result.unwrap_err().to_string();
        assert_eq!(
            e,
            "pushing 127.0.0.1:5000/app:1 did not finish within 50ms (--push-timeout); check that 127.0.0.1:5000 is reachable and not overloaded, or raise --push-timeout"
        );
    }

    #[test]
    fn transient_errors_and_durations() {
        for e in [
            "toomanyrequests: Rate exceeded",
            "received unexpected HTTP status: 502 Bad Gateway",
            "read tcp 127.0.0.1:4->127.0.0.1:5000: read: connection reset by peer",
            "Put \"http://r/v2/x/blobs/uploads/1\": unexpected EOF",
        ] {
            assert!(is_transient(e), "{e}");
        }
        for e in [
            "unauthorized: authentication required",
            "denied: requested access to the resource is denied",
            "dial tcp 127.0.0.1:1: connect: connection refused",
        ] {
            assert!(!is_transient(e), "{e}");
        }
        assert_eq!(parse_duration("600").unwrap(), Duration::from_secs(600));
        assert_eq!(parse_duration("10m").unwrap(), Duration::from_secs(600));
        assert_eq!(parse_duration("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("1h").unwrap(), Duration::from_secs(3600));
        for bad in ["", "0", "ten", "5d", "-1"] {
            assert!(parse_duration(bad)
                .unwrap_err()
                .to_string()
                .contains("is not a duration"));
        }
        assert_eq!(show_duration(Duration::from_secs(600)), "10m");
        assert_eq!(show_duration(Duration::from_secs(90)), "90s");
    }
}
