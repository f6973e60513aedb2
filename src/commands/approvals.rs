//! `sekisho approvals list|approve|reject [--json]`: messages a `require_approval` rule holds
//! for an approver. An operator may decide any of them (recorded as "cli:LOGIN"); a rejection
//! needs a comment, which the trace keeps with who rejected and when. The decision is taken
//! once (`QueueControl::decide_approval`): of two deciding at once, the second is told the
//! message no longer awaits approval.

use clap::Subcommand;
use sekisho_config::Config;
use sekisho_store::{ApprovalError, Approver, Verdict, Who};

use super::queue::report;
use super::{format_time, print_json};
use crate::Failure;
use crate::config_file::ConfigSource;
use crate::output::outln;

#[derive(Subcommand)]
pub(crate) enum ApprovalsCommand {
    /// Messages awaiting approval, oldest first.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Approve a message: it is delivered at once.
    Approve {
        id: String,
        /// Why (kept in the trace and the audit log).
        #[arg(long, default_value = "")]
        comment: String,
        #[arg(long)]
        json: bool,
    },
    /// Reject a message: it is never delivered.
    Reject {
        id: String,
        /// Why (required; kept in the trace and the audit log).
        #[arg(long)]
        comment: String,
        #[arg(long)]
        json: bool,
    },
}

pub(crate) async fn run(command: ApprovalsCommand, config: &Config, source: &ConfigSource) -> Result<(), Failure> {
    let (stores, control) = super::open_store(config, source, super::DataDir::MustExist).await?;
    let now = chrono::Utc::now().timestamp();
    let (id, verdict, comment, json) = match command {
        ApprovalsCommand::List { json } => {
            let list = stores.messages.awaiting_approval(None).await.map_err(|e| Failure::Failed(e.to_string()))?;
            if json {
                return print_json(&list);
            }
            if list.is_empty() {
                outln!("no message awaits approval");
            }
            for a in list {
                outln!(
                    "{}  <{}> -> {}  (rule {}; approvers {}; {} at {})",
                    a.message_id,
                    a.sender,
                    a.recipients.join(", "),
                    a.rule,
                    a.approvers.join(", "),
                    if a.release_on_timeout { "released" } else { "rejected" },
                    format_time(&config.time_zone, a.deadline)
                );
            }
            return Ok(());
        }
        ApprovalsCommand::Approve { id, comment, json } => (id, Verdict::Approve, comment, json),
        ApprovalsCommand::Reject { id, comment, json } => (id, Verdict::Reject, comment, json),
    };
    let login = super::hold::operator().unwrap_or_else(|| "unknown".into());
    let approver = Approver { who: Who::Operator(&login), client: "local", user_agent: "sekisho-cli" };
    let d = control.decide_approval(&id, verdict, &approver, &comment, now).await.map_err(|e| match e {
        ApprovalError::Store(e) => Failure::Failed(e.to_string()),
        other => Failure::Failed(other.to_string()),
    })?;
    let text = if d.approved {
        format!("{id}: approved, delivered now")
    } else {
        format!("{id}: rejected, it will never be delivered")
    };
    report(
        json,
        serde_json::json!({ "id": id, "approved": d.approved, "by": d.by, "at": d.at, "comment": d.comment }),
        &text,
    )
}
