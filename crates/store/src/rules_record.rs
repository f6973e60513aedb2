//! What the mis-send rules decided for a submitted message, kept with it (`MessageInfo::rules`)
//! so that delivery acts on the decision as taken, and `queue show`, `--json` and the trace
//! API show which rule fired and why.

use serde::{Deserialize, Serialize};

/// One rule that matched, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FiredRule {
    /// The rule's name.
    pub rule: String,
    /// Each condition that held.
    pub reasons: Vec<String>,
}

/// The rules' decision on one message.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RulesRecord {
    /// The rules that matched, in order.
    pub fired: Vec<FiredRule>,
    /// No rule matched, and `[rules.default]` applied.
    pub default_applied: bool,
    /// Minutes the first delivery attempt waited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold_minutes: Option<u32>,
    /// The rule that sends the attachments as links whatever the TLS, if one does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub force_link: Option<String>,
    /// The rule that gives each external recipient a copy naming only them, if one does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bcc_external: Option<String>,
    /// What a `require_approval` rule asks for: the message waits, held, for a decision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<ApprovalRequest>,
    /// The rule whose banner the recipients get at the top of the message, and its text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub banner: Option<RuleBanner>,
}

/// A rule's banner, as kept with the message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleBanner {
    pub rule: String,
    pub text: String,
}

/// Who must approve a message, and until when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalRequest {
    /// The rule that asks for it.
    pub rule: String,
    /// The addresses that may decide (lower case).
    pub approvers: Vec<String>,
    /// When the timeout decides (Unix seconds).
    pub deadline: i64,
    /// True: the timeout releases the message; false: it rejects it.
    pub release_on_timeout: bool,
}
