//! When to try again: the retry schedule and the maximum lifetime, as a pure function.

/// The next attempt for a recipient that just failed temporarily, or `None` when the message has
/// outlived `max_lifetime` and must be bounced.
///
/// `attempts` counts the attempts made so far, this one included; the schedule's last wait
/// repeats. The next attempt is never scheduled past the end of the lifetime, so a message is
/// tried once more at its expiry before it is bounced.
pub fn next_attempt(received_at: i64, attempts: u32, now: i64, schedule: &[u64], max_lifetime: u64) -> Option<i64> {
    let expires = received_at.saturating_add(max_lifetime as i64);
    if now >= expires {
        return None;
    }
    let idx = (attempts.max(1) as usize - 1).min(schedule.len().saturating_sub(1));
    let wait = schedule.get(idx).copied().unwrap_or(300) as i64;
    Some(now.saturating_add(wait).min(expires))
}

/// True when a delay notification is due: the message is older than `after` (0 disables).
pub fn delay_warning_due(received_at: i64, now: i64, after: u64, already_warned: bool) -> bool {
    after > 0 && !already_warned && now - received_at >= after as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCHEDULE: [u64; 3] = [60, 600, 3600];

    #[test]
    fn backoff_follows_the_schedule_and_repeats_the_last_wait() {
        assert_eq!(next_attempt(0, 1, 10, &SCHEDULE, 86_400), Some(70));
        assert_eq!(next_attempt(0, 2, 100, &SCHEDULE, 86_400), Some(700));
        assert_eq!(next_attempt(0, 3, 1000, &SCHEDULE, 86_400), Some(4600));
        assert_eq!(next_attempt(0, 9, 5000, &SCHEDULE, 86_400), Some(8600));
    }

    #[test]
    fn lifetime_ends_retries() {
        assert_eq!(next_attempt(0, 5, 86_000, &SCHEDULE, 86_400), Some(86_400), "one last try at expiry");
        assert_eq!(next_attempt(0, 6, 86_400, &SCHEDULE, 86_400), None);
    }

    #[test]
    fn delay_warning_once() {
        assert!(delay_warning_due(0, 14_400, 14_400, false));
        assert!(!delay_warning_due(0, 14_400, 14_400, true));
        assert!(!delay_warning_due(0, 14_399, 14_400, false));
        assert!(!delay_warning_due(0, 99_999, 0, false), "0 disables");
    }
}
