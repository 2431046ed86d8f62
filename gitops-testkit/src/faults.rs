//! Fault injection: scripted or random failures per verb and resource, so clients' retries,
//! backoff and watch recovery can be tested.

use std::time::Duration;

/// What a fault does to a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FaultAction {
    /// Answer with this status code (500, 503, 409, ...) and a Status body.
    Status(u16),
    /// Answer 429 Too Many Requests with `Retry-After` seconds.
    TooManyRequests {
        /// The `Retry-After` header, seconds.
        retry_after: u64,
    },
    /// Answer normally, after a delay.
    Delay(Duration),
    /// For watches: close the stream after this long.
    DropWatchAfter(Duration),
}

/// A fault: which requests it hits, what it does, how many times.
#[derive(Clone, Debug)]
pub struct Fault {
    /// The verb (`get`, `list`, `create`, `update`, `patch`, `delete`, `watch`), any when unset.
    pub verb: Option<String>,
    /// The plural resource name (`deployments`), any when unset.
    pub resource: Option<String>,
    /// The object's name (requests naming one object: get, update, patch, delete), any when
    /// unset.
    pub name: Option<String>,
    /// What it does.
    pub action: FaultAction,
    /// How many requests it hits; `None` for all of them.
    pub times: Option<usize>,
    /// With a probability below 1.0 the fault hits that share of matching requests (seeded, so
    /// runs repeat).
    pub probability: f64,
}

impl Fault {
    /// A fault hitting the next `times` matching requests.
    pub fn new(verb: Option<&str>, resource: Option<&str>, action: FaultAction, times: usize) -> Self {
        Fault {
            verb: verb.map(String::from),
            resource: resource.map(String::from),
            name: None,
            action,
            times: Some(times),
            probability: 1.0,
        }
    }

    /// A fault hitting a share of matching requests, forever.
    pub fn random(verb: Option<&str>, resource: Option<&str>, action: FaultAction, probability: f64) -> Self {
        Fault {
            verb: verb.map(String::from),
            resource: resource.map(String::from),
            name: None,
            action,
            times: None,
            probability,
        }
    }

    /// The same fault, only for requests naming the object `name`.
    pub fn named(mut self, name: &str) -> Self {
        self.name = Some(name.to_string());
        self
    }
}

/// The faults of a server.
#[derive(Clone, Debug, Default)]
pub struct Faults {
    list: Vec<Fault>,
    rng: u64,
    /// How many requests were hit, for assertions.
    pub injected: usize,
}

impl Faults {
    /// Adds a fault.
    pub fn push(&mut self, fault: Fault) {
        if self.rng == 0 {
            self.rng = 0x2545_f491_4f6c_dd1d;
        }
        self.list.push(fault);
    }

    /// Removes every fault.
    pub fn clear(&mut self) {
        self.list.clear();
    }

    fn roll(&mut self) -> f64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        (self.rng >> 11) as f64 / (1u64 << 53) as f64
    }

    /// The fault that hits a request, if any (consuming one of its `times`).
    pub fn take(&mut self, verb: &str, resource: &str, name: &str) -> Option<FaultAction> {
        for i in 0..self.list.len() {
            let f = &self.list[i];
            if f.verb.as_deref().is_some_and(|v| v != verb)
                || f.resource.as_deref().is_some_and(|r| r != resource)
                || f.name.as_deref().is_some_and(|n| n != name)
            {
                continue;
            }
            if f.times == Some(0) {
                continue;
            }
            let p = f.probability;
            if p < 1.0 && self.roll() >= p {
                continue;
            }
            let f = &mut self.list[i];
            if let Some(t) = f.times.as_mut() {
                *t -= 1;
            }
            self.injected += 1;
            return Some(f.action.clone());
        }
        None
    }
}
