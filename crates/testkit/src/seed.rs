//! What delivery and the console would have stored, written straight into a test server's
//! store: a kept message with its files and one recipient's link, a console session.

use sekisho_store::links::{random_token, token_hash};
use sekisho_store::{Access, ConsoleSession, LinkFile, LinkMessage, NewLink};

use crate::{FakeDns, TestServer};

impl TestServer {
    /// A delivering server for portal tests: example.com and example.jp resolve, and nothing
    /// answers their mail, so sekisho's own mails (codes, notices) wait in the queue.
    pub async fn with_mail_held(
        tweak: impl FnOnce(&mut sekisho_config::Config) + Send + 'static,
    ) -> (FakeDns, TestServer) {
        let dns = FakeDns::start("127.0.0.53").await;
        for domain in ["example.com", "example.jp"] {
            dns.mx(domain, 10, &format!("mx.{domain}"));
            dns.addr(&format!("mx.{domain}"), "127.0.0.1");
        }
        // Nothing answers on port 9.
        let s = TestServer::start_delivering(&dns, 9, tweak).await;
        (dns, s)
    }

    /// Keeps `files` (name, bytes) for message `message_id` from alice@example.jp and makes
    /// bob@example.com a link with `access` (an hour, three downloads): the link's URL.
    pub async fn seed_link(&self, message_id: &str, files: &[(&str, &[u8])], access: Access) -> String {
        self.seed_link_with(message_id, files, access, |_| {}).await
    }

    /// Like `seed_link`, the link changed by `tweak` before it is stored.
    pub async fn seed_link_with(
        &self,
        message_id: &str,
        files: &[(&str, &[u8])],
        access: Access,
        tweak: impl FnOnce(&mut NewLink),
    ) -> String {
        let mut kept = Vec::new();
        for (idx, (name, bytes)) in files.iter().enumerate() {
            let stored = self.files.put(bytes).expect("seal a file");
            kept.push(LinkFile {
                idx: idx as i64,
                file_id: stored.id,
                key: stored.key,
                name: name.to_string(),
                content_type: "application/pdf".into(),
                size: stored.size,
                sha256: stored.sha256,
                purged: false,
            });
        }
        let store = &self.queue.stores().links;
        let message = LinkMessage {
            message_id: message_id.into(),
            sender: "alice@example.jp".into(),
            subject: "figures".into(),
            header_from: String::new(),
            created_at: 0,
            files: kept,
            original: None,
            password_hash: None,
        };
        store.put_link_message(&message).await.expect("keep the files");
        let token = random_token(16);
        let now = chrono::Utc::now().timestamp();
        let mut link = NewLink {
            message_id: message_id.into(),
            idx: 0,
            recipient: "bob@example.com".into(),
            token_hash: token_hash(&token),
            access,
            created_at: now,
            expires_at: now + 3600,
            max_downloads: 3,
            secret_hash: None,
            hint: None,
        };
        tweak(&mut link);
        store.put_link(&link).await.expect("store the link");
        format!("http://{}/d/{token}", self.portal.expect("a portal"))
    }

    /// A sender console session of `sender` (ten minutes): the `Cookie` header that carries it.
    pub async fn console_cookie(&self, sender: &str) -> String {
        let id = random_token(32);
        let session = ConsoleSession {
            sender: sender.into(),
            account: false,
            csrf: random_token(16),
            expires_at: chrono::Utc::now().timestamp() + 600,
        };
        self.queue.stores().sessions.put_console_session(&token_hash(&id), &session).await.expect("a session");
        format!("sekisho-console={id}")
    }
}
