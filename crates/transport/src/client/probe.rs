//! A recipient probe (Postfix's address verification): MAIL FROM:<> and RCPT TO on an open
//! connection, then RSET. No message is ever sent.

use super::reply::ServerReply;
use super::session::{Connection, SessionError};

/// What the server said to a probe.
#[derive(Debug, Clone)]
pub enum ProbeReply {
    /// The null sender was refused: says nothing about the recipient.
    MailRefused(ServerReply),
    /// The reply to RCPT TO.
    Rcpt(ServerReply),
}

impl Connection {
    /// Asks whether the server takes mail for `address`, with the null sender, then RSET.
    pub async fn probe_recipient(&mut self, address: &str) -> Result<ProbeReply, SessionError> {
        let limit = self.timeouts().mail;
        let mail = self.command("MAIL FROM:<>\r\n", limit, "after MAIL FROM").await?;
        if !mail.is_positive() {
            return Ok(ProbeReply::MailRefused(mail));
        }
        let cmd = super::envelope::rcpt_to(address, None, None, &self.caps);
        let rcpt = self.command(&cmd, self.timeouts().rcpt, "after RCPT TO").await?;
        self.rset().await;
        Ok(ProbeReply::Rcpt(rcpt))
    }
}
