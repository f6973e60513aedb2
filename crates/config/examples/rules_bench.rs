//! CPU time of the mis-send rules on one submitted message: 100 rules of every kind of
//! condition against a 10 KB message (its text folded once, then every rule checked), as the
//! submission listener runs them. `cargo run --release -p sekisho-config --example rules_bench`

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

use sekisho_config::{Config, FileFacts, Submission, evaluate_rules};

fn rules(n: usize) -> String {
    let mut t = String::from(
        "local_domains = [\"example.jp\"]\n[rules]\npartner_domains = [\".partner.example\"]\n\
         [rules.groups]\nsales = [\"s1@example.jp\", \"s2@example.jp\", \"@branch.example.jp\"]\n",
    );
    for i in 0..n {
        let m = match i % 10 {
            0 => format!("subject_keywords = [\"confidential{i}\", \"社外秘{i}\"]"),
            1 => format!("body_keywords = [\"マイナンバー{i}\", \"account number {i}\"]"),
            2 => "sender_group = [\"sales\"], recipient_class = [\"external\"]".to_string(),
            3 => format!("min_external_recipients = {}", 10 + i),
            4 => format!("min_external_domains = {}", 3 + i),
            5 => "attachment_types = [\".xlsx\", \"application/zip\", \"image/*\"], recipient_class = [\"first_time_external\"]".into(),
            6 => format!("min_attachment_size = \"{}MB\"", 5 + i),
            7 => "encrypted_attachment = true".into(),
            8 => format!("sender = [\"user{i}@example.jp\"], min_size = \"1MB\""),
            _ => format!("recipient_class = [\"first_time_external\"], body_keywords = [\"見積{i}\"]"),
        };
        writeln!(t, "[[rules.rule]]\nname = \"r{i}\"\nmatch = {{ {m} }}\nactions = {{ hold = 5 }}").unwrap();
    }
    t
}

fn main() {
    let config = Config::parse(&rules(100), Path::new("bench.toml")).expect("valid rules");
    let mut body = String::new();
    while body.len() < 10 * 1024 {
        body.push_str("お世話になっております。見積書を添付いたします。Please find the quotation attached. ");
    }
    let recipients: Vec<String> = (0..5).map(|i| format!("r{i}@customer{}.example", i % 3)).collect();
    let known: BTreeSet<String> = ["customer0.example", "customer1.example"].map(String::from).into();
    let files = vec![
        FileFacts {
            name: "見積.xlsx".into(),
            content_type: "application/octet-stream".into(),
            size: 80_000,
            encrypted: false,
        },
        FileFacts { name: "logo.png".into(), content_type: "image/png".into(), size: 9_000, encrypted: false },
    ];
    let s = Submission {
        sender: "alice@example.jp",
        recipients: &recipients,
        subject: "【ご確認】見積書の送付 ＣＯＮＦＩＤＥＮＴＩＡＬ",
        body: &body,
        size: 12_000,
        files: &files,
        local_domains: &config.local_domains,
        known_domains: &known,
        ldap_groups: &std::collections::BTreeSet::new(),
    };
    let rounds = 20_000;
    let mut fired = 0;
    for _ in 0..1000 {
        fired += evaluate_rules(&config.rules, &s).fired().len();
    }
    let start = Instant::now();
    for _ in 0..rounds {
        fired += evaluate_rules(&config.rules, &s).fired().len();
    }
    let per = start.elapsed().as_secs_f64() * 1e3 / rounds as f64;
    println!("100 rules, 10 KB text: {per:.4} ms per message ({} rules fired each time)", fired / (rounds + 1000));
}
