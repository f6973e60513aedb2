//! How many failure reports go out: at most one per reported domain per interval and at most
//! a daily number in all. Memory is bounded by the daily number: only domains that got a
//! report are remembered, and only for the interval.

use std::collections::HashMap;

/// Why a report is not sent now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Limited {
    /// The domain got one less than the interval ago (unix time of that report).
    Domain { last: i64 },
    /// The day's number was reached.
    Daily { max: u32 },
}

impl std::fmt::Display for Limited {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Limited::Domain { .. } => f.write_str(
                "rate-limited: a failure report about this domain was sent less than [dmarc] failure_interval ago",
            ),
            Limited::Daily { max } => {
                write!(f, "rate-limited: {max} failure reports were sent today ([dmarc] failure_daily_max)")
            }
        }
    }
}

/// The reports sent recently.
#[derive(Debug, Default)]
pub struct Limiter {
    /// Reported domain → unix time of its last report.
    last: HashMap<String, i64>,
    /// The UTC day (days since 1970) counted and its reports.
    day: (i64, u32),
}

impl Limiter {
    /// Counts a report about `domain` at `now` when the limits allow it.
    pub fn admit(&mut self, domain: &str, now: i64, interval_secs: i64, daily_max: u32) -> Result<(), Limited> {
        let today = now.div_euclid(86_400);
        if self.day.0 != today {
            self.day = (today, 0);
        }
        if let Some(&last) = self.last.get(domain)
            && now - last < interval_secs
        {
            return Err(Limited::Domain { last });
        }
        if self.day.1 >= daily_max {
            return Err(Limited::Daily { max: daily_max });
        }
        self.last.retain(|_, t| now - *t < interval_secs);
        self.last.insert(domain.to_string(), now);
        self.day.1 += 1;
        Ok(())
    }

    /// Domains remembered.
    pub fn len(&self) -> usize {
        self.last.len()
    }

    /// True when none is remembered.
    pub fn is_empty(&self) -> bool {
        self.last.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_report_per_domain_per_interval_and_a_daily_cap() {
        let mut l = Limiter::default();
        let t = 1_796_256_000; // a UTC midnight
        assert_eq!(l.admit("a.example", t, 3600, 3), Ok(()));
        assert_eq!(l.admit("a.example", t + 3599, 3600, 3), Err(Limited::Domain { last: t }));
        assert_eq!(l.admit("b.example", t + 10, 3600, 3), Ok(()));
        assert_eq!(l.admit("a.example", t + 3600, 3600, 3), Ok(()), "the interval passed");
        assert_eq!(l.admit("c.example", t + 3700, 3600, 3), Err(Limited::Daily { max: 3 }));
        assert_eq!(l.admit("c.example", t + 86_400, 3600, 3), Ok(()), "a new UTC day");
        assert_eq!(l.len(), 1, "domains whose interval passed are forgotten");
        assert!(Limited::Daily { max: 3 }.to_string().contains("failure_daily_max"));
    }
}
