//! How many failure reports go out: at most one per reported organisation (the organisational
//! domain of the reported domain, so `a.example.com` and `b.example.com` share one) per
//! interval, at most [`PER_ORGANISATION_DAILY_MAX`] a UTC day per organisation, and at most a
//! daily number in all. Memory is bounded by the daily number: only organisations that got a
//! report today are remembered.

use std::collections::HashMap;

use sekisho_lookalike::organisational_domain;

/// Reports about one organisation a UTC day, at most.
pub const PER_ORGANISATION_DAILY_MAX: u32 = 10;

/// Why a report is not sent now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Limited {
    /// The organisation got one less than the interval ago (unix time of that report).
    Domain { last: i64 },
    /// The organisation got [`PER_ORGANISATION_DAILY_MAX`] today.
    Organisation { max: u32 },
    /// The day's number was reached.
    Daily { max: u32 },
}

impl std::fmt::Display for Limited {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Limited::Domain { .. } => f.write_str(
                "rate-limited: a failure report about this organisation's domains was sent less than [dmarc] failure_interval ago",
            ),
            Limited::Organisation { max } => {
                write!(f, "rate-limited: {max} failure reports about this organisation's domains were sent today")
            }
            Limited::Daily { max } => {
                write!(f, "rate-limited: {max} failure reports were sent today ([dmarc] failure_daily_max)")
            }
        }
    }
}

/// The reports sent recently.
#[derive(Debug, Default)]
pub struct Limiter {
    /// Organisational domain → (unix time of its last report, its reports today).
    last: HashMap<String, (i64, u32)>,
    /// The UTC day (days since 1970) counted and its reports.
    day: (i64, u32),
}

impl Limiter {
    /// Counts a report about `domain` at `now` when the limits allow it.
    pub fn admit(&mut self, domain: &str, now: i64, interval_secs: i64, daily_max: u32) -> Result<(), Limited> {
        let today = now.div_euclid(86_400);
        if self.day.0 != today {
            self.day = (today, 0);
            self.last.clear();
        }
        let org = organisational_domain(&domain.trim_end_matches('.').to_ascii_lowercase());
        let (last, count) = self.last.get(&org).copied().unwrap_or((i64::MIN, 0));
        if last != i64::MIN && now - last < interval_secs {
            return Err(Limited::Domain { last });
        }
        if count >= PER_ORGANISATION_DAILY_MAX {
            return Err(Limited::Organisation { max: PER_ORGANISATION_DAILY_MAX });
        }
        if self.day.1 >= daily_max {
            return Err(Limited::Daily { max: daily_max });
        }
        self.last.insert(org, (now, count + 1));
        self.day.1 += 1;
        Ok(())
    }

    /// Gives back the daily slot a report admitted at `at` took when it was not sent after
    /// all (its destination refused it); the organisation's interval and count stay.
    pub fn release(&mut self, at: i64) {
        if self.day.0 == at.div_euclid(86_400) {
            self.day.1 = self.day.1.saturating_sub(1);
        }
    }

    /// Organisations remembered.
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
        assert_eq!(l.len(), 1, "yesterday's organisations are forgotten");
        assert!(Limited::Daily { max: 3 }.to_string().contains("failure_daily_max"));
    }

    #[test]
    fn subdomains_share_their_organisation_s_interval_and_daily_cap() {
        let mut l = Limiter::default();
        let t = 1_796_256_000;
        assert_eq!(l.admit("a.example.com", t, 60, 1000), Ok(()));
        assert_eq!(l.admit("b.example.com", t + 1, 60, 1000), Err(Limited::Domain { last: t }));
        assert_eq!(l.admit("x.example.co.uk", t + 1, 60, 1000), Ok(()), "another organisation");
        let mut at = t;
        for i in 1..PER_ORGANISATION_DAILY_MAX {
            at += 60;
            assert_eq!(l.admit(&format!("s{i}.example.com"), at, 60, 1000), Ok(()));
        }
        assert_eq!(
            l.admit("example.com", at + 60, 60, 1000),
            Err(Limited::Organisation { max: PER_ORGANISATION_DAILY_MAX })
        );
    }

    #[test]
    fn a_refused_report_gives_its_daily_slot_back() {
        let mut l = Limiter::default();
        let t = 1_796_256_000;
        assert_eq!(l.admit("a.example", t, 3600, 1), Ok(()));
        assert_eq!(l.admit("b.example", t + 1, 3600, 1), Err(Limited::Daily { max: 1 }));
        l.release(t);
        assert_eq!(l.admit("b.example", t + 2, 3600, 1), Ok(()));
        assert_eq!(l.admit("a.example", t + 3, 3600, 2), Err(Limited::Domain { last: t }), "the interval stays");
        l.release(t - 86_400);
        assert_eq!(
            l.admit("c.example", t + 4, 3600, 1),
            Err(Limited::Daily { max: 1 }),
            "yesterday's slot is not today's"
        );
    }
}
