//! The `require_approval` action: a message a rule matches waits, held in the queue, until an
//! approver approves it (it is then delivered) or rejects it (it is never delivered), or its
//! timeout passes (then `on_timeout` decides).

use serde::{Deserialize, Serialize};

use crate::error::ConfigError;

/// What happens to a message nobody approved or rejected within its timeout.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnTimeout {
    /// It is rejected: never delivered (the default).
    #[default]
    Reject,
    /// It is released: delivered as if approved.
    Release,
}

impl OnTimeout {
    /// The keyword.
    pub fn as_str(self) -> &'static str {
        match self {
            OnTimeout::Reject => "reject",
            OnTimeout::Release => "release",
        }
    }
}

/// Default `timeout`: one day, in minutes.
pub const DEFAULT_APPROVAL_TIMEOUT: u32 = 24 * 60;

/// `actions.require_approval = { approvers = [...], group = "...", timeout = 60, on_timeout =
/// "reject" }`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequireApproval {
    /// Addresses that may approve or reject.
    #[serde(default)]
    pub approvers: Vec<String>,
    /// A group of `[rules.groups]` whose addresses may approve or reject.
    #[serde(default)]
    pub group: Option<String>,
    /// Minutes the message waits for a decision.
    #[serde(default = "default_timeout")]
    pub timeout: u32,
    /// What the timeout does.
    #[serde(default)]
    pub on_timeout: OnTimeout,
}

fn default_timeout() -> u32 {
    DEFAULT_APPROVAL_TIMEOUT
}

/// What one message's approval needs, as the rules decided it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalNeeded {
    /// The rule that asks for it.
    pub rule: String,
    /// Who may decide (the rule's addresses and its group's, lower case, each once).
    pub approvers: Vec<String>,
    /// Minutes it waits.
    pub timeout_minutes: u32,
    /// What its timeout does.
    pub on_timeout: OnTimeout,
}

impl RequireApproval {
    /// The approvers: the listed addresses, then the group's, lower case, each once.
    pub fn approvers(&self, groups: &std::collections::BTreeMap<String, Vec<String>>) -> Vec<String> {
        let from_group = self.group.as_ref().and_then(|g| groups.get(g)).into_iter().flatten();
        let mut out: Vec<String> = Vec::new();
        for a in self.approvers.iter().chain(from_group) {
            let a = a.to_ascii_lowercase();
            if !out.contains(&a) {
                out.push(a);
            }
        }
        out
    }

    /// Checks the action: someone to decide, every approver a whole address (mail goes to
    /// each), a timeout of at least one minute.
    pub(crate) fn validate(
        &self,
        groups: &std::collections::BTreeMap<String, Vec<String>>,
        prefix: &str,
        err: &dyn Fn(&str, String) -> ConfigError,
    ) -> Result<(), ConfigError> {
        if self.approvers.is_empty() && self.group.is_none() {
            return Err(err("require_approval", "name the approvers (`approvers`) or their group (`group`)".into()));
        }
        if let Some(bad) = self.approvers.iter().find(|a| !is_address(a)) {
            return Err(err("require_approval.approvers", format!("`{bad}` is not an address")));
        }
        if let Some(g) = &self.group {
            let Some(members) = groups.get(g) else {
                let known: Vec<&str> = groups.keys().map(String::as_str).collect();
                return Err(err(
                    "require_approval.group",
                    format!("no group `{g}` in {prefix}groups (groups: {})", known.join(", ")),
                ));
            };
            if let Some(bad) = members.iter().find(|a| !is_address(a)) {
                return Err(err(
                    "require_approval.group",
                    format!("group `{g}` holds `{bad}`: approvers must be addresses, not a whole domain"),
                ));
            }
        }
        if self.timeout == 0 {
            return Err(err("require_approval.timeout", "must be at least 1 (minutes)".into()));
        }
        Ok(())
    }
}

fn is_address(a: &str) -> bool {
    a.split_once('@').is_some_and(|(l, d)| !l.is_empty() && !d.is_empty() && !a.contains(char::is_whitespace))
}
