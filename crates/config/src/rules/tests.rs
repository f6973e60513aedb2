//! The rules table: each case states which rules fired and what was decided.

use std::collections::BTreeSet;
use std::path::Path;

use super::{FileFacts, OnTimeout, Submission, evaluate};
use crate::Config;

const RULES: &str = r#"
local_domains = ["example.jp"]

[rules]
partner_domains = [".partner.example"]

[rules.groups]
board = ["ceo@example.jp", "@board.example.jp"]
interns = ["intern1@example.jp"]
managers = ["Boss@example.jp", "deputy@example.jp"]

[rules.default]
hold = 1

[[rules.rule]]
name = "interns-external-files"
match = { sender_group = ["interns"], recipient_class = ["external"], attachments = true }
actions = { reject = "Interns may not send files outside the company" }

[[rules.rule]]
name = "encrypted-zip"
match = { encrypted_attachment = true }
actions = { reject = "Password-protected files are not sent: attach the file as is" }

[[rules.rule]]
name = "board-out"
stop = true
match = { sender_group = ["board"], recipient_class = ["external"] }
actions = { notify = ["sender"] }

[[rules.rule]]
name = "mass-external"
match = { min_external_recipients = 10 }
actions = { hold = 10, notify = ["sender"] }

[[rules.rule]]
name = "many-domains"
match = { min_external_domains = 3 }
actions = { hold = 5, bcc_external = 11 }

[[rules.rule]]
name = "first-time"
match = { recipient_class = ["first_time_external"] }
actions = { hold = 3 }

[[rules.rule]]
name = "confidential-subject"
match = { subject_keywords = ["confidential", "社外秘"], recipient_class = ["external"] }
actions = { force_link = true, notify = ["security@example.jp"] }

[[rules.rule]]
name = "mynumber-body"
match = { body_keywords = ["マイナンバー", "my number"] }
actions = { reject = "Personal numbers are not sent by mail" }

[[rules.rule]]
name = "spreadsheets-out"
match = { attachment_types = [".xlsx", ".csv", "application/vnd.ms-excel"], recipient_class = ["external"] }
actions = { force_link = true }

[[rules.rule]]
name = "big-file"
match = { min_attachment_size = "5MB" }
actions = { force_link = true }

[[rules.rule]]
name = "images"
match = { attachment_types = ["image/*"], recipient_class = ["first_time_external"] }
actions = { hold = 2 }

[[rules.rule]]
name = "huge-message"
match = { min_size = "20MB" }
actions = { reject = "Messages of 20 MB or more are not sent: share the files by link" }

[[rules.rule]]
name = "internal-no-files"
match = { recipient_class = ["internal"], attachments = false, sender = ["@example.jp"] }
actions = { notify = ["sender"] }

[[rules.rule]]
name = "contract-approval"
match = { subject_keywords = ["契約"], recipient_class = ["external"] }
actions = { require_approval = { group = "managers", approvers = ["boss@example.jp"], timeout = 120 } }

[[rules.rule]]
name = "payroll-approval"
match = { body_keywords = ["給与"] }
actions = { require_approval = { approvers = ["hr-lead@example.jp"], timeout = 30, on_timeout = "release" } }
"#;

/// One row: the message, then what must come out.
struct Case {
    what: &'static str,
    from: &'static str,
    to: Vec<String>,
    subject: &'static str,
    body: &'static str,
    size: u64,
    files: Vec<FileFacts>,
    fired: &'static [&'static str],
    reject: Option<&'static str>,
    hold: Option<u32>,
    force_link: bool,
    approval: Option<(&'static str, &'static [&'static str], OnTimeout)>,
}

fn file(name: &str, content_type: &str, size: u64, encrypted: bool) -> FileFacts {
    FileFacts { name: name.into(), content_type: content_type.into(), size, encrypted }
}

fn to(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn many(n: usize, domains: &[&str]) -> Vec<String> {
    (0..n).map(|i| format!("r{i}@{}", domains[i % domains.len()])).collect()
}

const MB: u64 = 1024 * 1024;

fn case(what: &'static str, from: &'static str, rcpts: Vec<String>) -> Case {
    Case {
        what,
        from,
        to: rcpts,
        subject: "Hello",
        body: "See you tomorrow.",
        size: 2000,
        files: Vec::new(),
        fired: &[],
        reject: None,
        hold: None,
        force_link: false,
        approval: None,
    }
}

impl Case {
    fn files(mut self, files: Vec<FileFacts>) -> Self {
        self.files = files;
        self
    }
    fn subject(mut self, s: &'static str) -> Self {
        self.subject = s;
        self
    }
    fn body(mut self, b: &'static str) -> Self {
        self.body = b;
        self
    }
    fn size(mut self, n: u64) -> Self {
        self.size = n;
        self
    }
    fn fires(mut self, fired: &'static [&'static str]) -> Self {
        self.fired = fired;
        self
    }
    fn rejected_by(mut self, rule: &'static str) -> Self {
        self.reject = Some(rule);
        self
    }
    fn held(mut self, minutes: u32) -> Self {
        self.hold = Some(minutes);
        self
    }
    fn approved_by(mut self, rule: &'static str, approvers: &'static [&'static str], on_timeout: OnTimeout) -> Self {
        self.approval = Some((rule, approvers, on_timeout));
        self
    }
    fn linked(mut self) -> Self {
        self.force_link = true;
        self
    }
}

fn cases() -> Vec<Case> {
    let pdf = |size| file("report.pdf", "application/pdf", size, false);
    vec![
        case("internal mail without files", "user@example.jp", to(&["b@example.jp"])).fires(&["internal-no-files"]),
        case("internal mail with a file: no rule, the default", "user@example.jp", to(&["b@example.jp"]))
            .files(vec![pdf(1000)])
            .held(1),
        case("a partner's subdomain is internal", "user@example.jp", to(&["p@sales.partner.example"]))
            .fires(&["internal-no-files"]),
        case("a known customer: no rule", "user@example.jp", to(&["c@customer.example"])).held(1),
        case("a first-time domain", "user@example.jp", to(&["x@new.example"])).fires(&["first-time"]).held(3),
        case("a first-time domain, whatever its case", "user@example.jp", to(&["x@New.Example"]))
            .fires(&["first-time"])
            .held(3),
        case("an intern sends a file outside", "intern1@example.jp", to(&["c@customer.example"]))
            .files(vec![pdf(1000)])
            .fires(&["interns-external-files"])
            .rejected_by("interns-external-files"),
        case("an intern sends a file inside", "intern1@example.jp", to(&["b@example.jp"]))
            .files(vec![pdf(1000)])
            .held(1),
        case("an intern writes outside without files", "intern1@example.jp", to(&["c@customer.example"])).held(1),
        case("an encrypted file, even inside", "user@example.jp", to(&["b@example.jp"]))
            .files(vec![file("a.zip", "application/zip", 100, true)])
            .fires(&["encrypted-zip"])
            .rejected_by("encrypted-zip"),
        case(
            "an intern's encrypted file outside: the first refusal ends it",
            "intern1@example.jp",
            to(&["c@customer.example"]),
        )
        .files(vec![file("a.zip", "application/zip", 100, true)])
        .fires(&["interns-external-files"])
        .rejected_by("interns-external-files"),
        case("the board writes to a new domain: stop", "ceo@example.jp", to(&["x@new.example"])).fires(&["board-out"]),
        case("the board by domain", "chair@board.example.jp", to(&["c@customer.example"])).fires(&["board-out"]),
        case("the board's address in capitals", "CEO@EXAMPLE.JP", to(&["c@customer.example"])).fires(&["board-out"]),
        case("the board inside", "ceo@example.jp", to(&["b@example.jp"])).fires(&["internal-no-files"]),
        case("ten external recipients", "user@example.jp", many(10, &["customer.example"]))
            .fires(&["mass-external"])
            .held(10),
        case("nine external recipients", "user@example.jp", many(9, &["customer.example"])).held(1),
        case("ten recipients, one of them inside: nine outside is not ten", "user@example.jp", {
            let mut r = many(9, &["customer.example"]);
            r.push("b@example.jp".into());
            r
        })
        .fires(&["internal-no-files"]),
        case(
            "three known external domains",
            "user@example.jp",
            many(3, &["customer.example", "client.example", "supplier.example"]),
        )
        .fires(&["many-domains"])
        .held(5),
        case(
            "three domains, one new: the longest hold",
            "user@example.jp",
            many(3, &["customer.example", "client.example", "new.example"]),
        )
        .fires(&["many-domains", "first-time"])
        .held(5),
        case(
            "twelve recipients over three domains",
            "user@example.jp",
            many(12, &["customer.example", "client.example", "supplier.example"]),
        )
        .fires(&["mass-external", "many-domains"])
        .held(10),
        case("a full-width keyword in the subject", "user@example.jp", to(&["c@customer.example"]))
            .subject("ＣＯＮＦＩＤＥＮＴＩＡＬ: plan")
            .fires(&["confidential-subject"])
            .linked(),
        case("a keyword in another case", "user@example.jp", to(&["c@customer.example"]))
            .subject("Re: Confidential figures")
            .fires(&["confidential-subject"])
            .linked(),
        case("a Japanese keyword", "user@example.jp", to(&["c@customer.example"]))
            .subject("【社外秘】資料")
            .fires(&["confidential-subject"])
            .linked(),
        case("a keyword, but only inside", "user@example.jp", to(&["b@example.jp"]))
            .subject("社外秘")
            .fires(&["internal-no-files"]),
        case("a half-width katakana keyword in the text", "user@example.jp", to(&["b@example.jp"]))
            .body("ﾏｲﾅﾝﾊﾞｰは 1234 です")
            .fires(&["mynumber-body"])
            .rejected_by("mynumber-body"),
        case("an English keyword in capitals in the text", "user@example.jp", to(&["c@customer.example"]))
            .body("MY NUMBER is below")
            .fires(&["mynumber-body"])
            .rejected_by("mynumber-body"),
        case("a spreadsheet outside", "user@example.jp", to(&["c@customer.example"]))
            .files(vec![file("Q3.XLSX", "application/octet-stream", 1000, false)])
            .fires(&["spreadsheets-out"])
            .linked(),
        case("a spreadsheet by its type", "user@example.jp", to(&["c@customer.example"]))
            .files(vec![file("data.bin", "application/vnd.ms-excel", 1000, false)])
            .fires(&["spreadsheets-out"])
            .linked(),
        case("a spreadsheet inside", "user@example.jp", to(&["b@example.jp"]))
            .files(vec![file("Q3.xlsx", "application/octet-stream", 1000, false)])
            .held(1),
        case("a large file", "user@example.jp", to(&["b@example.jp"]))
            .files(vec![pdf(6 * MB)])
            .fires(&["big-file"])
            .linked(),
        case("a file of exactly 5 MB", "user@example.jp", to(&["b@example.jp"]))
            .files(vec![pdf(5 * MB)])
            .fires(&["big-file"])
            .linked(),
        case("a file just under 5 MB", "user@example.jp", to(&["b@example.jp"])).files(vec![pdf(5 * MB - 1)]).held(1),
        case("an image to a new domain", "user@example.jp", to(&["x@new.example"]))
            .files(vec![file("p.png", "image/png", 100, false)])
            .fires(&["first-time", "images"])
            .held(3),
        case("an image to a known domain", "user@example.jp", to(&["c@customer.example"]))
            .files(vec![file("p.png", "image/png", 100, false)])
            .held(1),
        case("a huge message", "user@example.jp", to(&["b@example.jp"]))
            .size(25 * MB)
            .fires(&["huge-message"])
            .rejected_by("huge-message"),
        case("everything at once to a new domain", "user@example.jp", to(&["x@new.example"]))
            .subject("confidential")
            .files(vec![file("q.csv", "text/csv", 100, false)])
            .fires(&["first-time", "confidential-subject", "spreadsheets-out"])
            .held(3)
            .linked(),
        case("someone outside the company's domain writing inside", "guest@other.example", to(&["b@example.jp"]))
            .held(1),
        case("a contract outside waits for a manager", "user@example.jp", to(&["c@customer.example"]))
            .subject("契約書の件")
            .fires(&["contract-approval"])
            .approved_by("contract-approval", &["boss@example.jp", "deputy@example.jp"], OnTimeout::Reject),
        case("a contract inside needs nobody's approval", "user@example.jp", to(&["b@example.jp"]))
            .subject("契約書の件")
            .fires(&["internal-no-files"]),
        case("pay in the text, even inside, waits for HR", "user@example.jp", to(&["b@example.jp"]))
            .body("今月の給与明細です")
            .fires(&["internal-no-files", "payroll-approval"])
            .approved_by("payroll-approval", &["hr-lead@example.jp"], OnTimeout::Release),
        case("a contract and pay outside: the first approval rule decides", "user@example.jp", {
            to(&["c@customer.example"])
        })
        .subject("契約")
        .body("給与")
        .fires(&["contract-approval", "payroll-approval"])
        .approved_by("contract-approval", &["boss@example.jp", "deputy@example.jp"], OnTimeout::Reject),
        case("the board's contract stops before any approval", "ceo@example.jp", to(&["c@customer.example"]))
            .subject("契約")
            .fires(&["board-out"]),
    ]
}

#[test]
fn each_case_fires_the_rules_it_states() {
    let config = Config::parse(RULES, Path::new("rules.toml")).expect("the table's rules are valid");
    let known: BTreeSet<String> = ["customer.example", "client.example", "supplier.example"].map(String::from).into();
    let cases = cases();
    assert!(cases.len() >= 30);
    for c in &cases {
        let s = Submission {
            sender: c.from,
            recipients: &c.to,
            subject: c.subject,
            body: c.body,
            size: c.size,
            files: &c.files,
            local_domains: &config.local_domains,
            known_domains: &known,
            ldap_groups: &BTreeSet::new(),
        };
        let d = evaluate(&config.rules, &s);
        assert_eq!(d.fired(), c.fired, "{}: {:#?}", c.what, d.checked);
        assert_eq!(d.reject.as_ref().map(|r| r.rule.as_str()), c.reject, "{}", c.what);
        assert_eq!(d.hold_minutes, c.hold, "{}", c.what);
        assert_eq!(d.force_link.is_some(), c.force_link, "{}", c.what);
        let approval = d.approval.as_ref().map(|a| (a.rule.as_str(), a.approvers.clone(), a.on_timeout));
        let want = c.approval.map(|(r, who, t)| (r, who.iter().map(|w| w.to_string()).collect::<Vec<_>>(), t));
        assert_eq!(approval, want, "{}", c.what);
        assert_eq!(d.default_applied, c.fired.is_empty(), "{}", c.what);
        // many-domains moves external recipients to Bcc above 11 of them.
        let bcc = d.fired().contains(&"many-domains") && c.to.len() > 11;
        assert_eq!(d.bcc_external.is_some(), bcc, "{}", c.what);
    }
}

#[test]
fn a_matched_rule_says_why_and_an_unmatched_one_says_what_failed() {
    let config = Config::parse(RULES, Path::new("rules.toml")).unwrap();
    let known = BTreeSet::new();
    let rcpts = to(&["x@new.example"]);
    let files = [file("Q3.xlsx", "application/octet-stream", 1000, false)];
    let s = Submission {
        sender: "user@example.jp",
        recipients: &rcpts,
        subject: "Q3",
        body: "",
        size: 5000,
        files: &files,
        local_domains: &config.local_domains,
        known_domains: &known,
        ldap_groups: &BTreeSet::new(),
    };
    let d = evaluate(&config.rules, &s);
    let first_time = d.checked.iter().find(|c| c.rule == "first-time").unwrap();
    assert_eq!(first_time.reasons, ["first-time external domain(s): new.example"]);
    let interns = d.checked.iter().find(|c| c.rule == "interns-external-files").unwrap();
    assert!(!interns.matched);
    assert_eq!(interns.reasons, ["sender user@example.jp is in none of the groups interns"]);
    let sheets = d.checked.iter().find(|c| c.rule == "spreadsheets-out").unwrap();
    assert_eq!(sheets.reasons, ["external recipient(s): x@new.example", "file Q3.xlsx is application/octet-stream"]);
    assert_eq!((d.hold_minutes, d.force_link.as_deref()), (Some(3), Some("spreadsheets-out")));
}

#[test]
fn rule_errors_name_the_file_line_and_key() {
    let parse = |text: &str| Config::parse(text, Path::new("sekisho.toml")).unwrap_err().to_string();
    let e = parse("[[rules.rule]]\nname = \"a\"\nmatch = { sender_group = [\"nobody\"] }\nactions = { hold = 5 }\n");
    assert_eq!(e, "sekisho.toml:3: rules.rule.0.match.sender_group: no group `nobody` in rules.groups (groups: )");
    let e = parse(
        "[[rules.rule]]\nname = \"a\"\nactions = { hold = 5 }\n[[rules.rule]]\nname = \"b\"\n\n[rules.rule.actions]\nhold = 0\n",
    );
    assert_eq!(e, "sekisho.toml:8: rules.rule.1.actions.hold: must be at least 1 (minutes)");
    let e = parse("[[rules.rule]]\nname = \"a\"\nmatch = { colour = \"red\" }\nactions = { hold = 5 }\n");
    assert!(e.starts_with("sekisho.toml:3: ") && e.contains("unknown key `colour`"), "{e}");
    let e =
        parse("[[rules.rule]]\nname = \"a\"\nmatch = { recipient_class = [\"outside\"] }\nactions = { hold = 5 }\n");
    assert!(e.starts_with("sekisho.toml:3: ") && e.contains("outside"), "{e}");
    let e = parse("[[rules.rule]]\nname = \"a\"\n");
    assert_eq!(e, "sekisho.toml:1: rules.rule.0.actions: rule `a` has no action");
    let e = parse("[[rules.rule]]\nname = \"a\"\nactions = { require_approval = { timeout = 5 } }\n");
    assert_eq!(
        e,
        "sekisho.toml:3: rules.rule.0.actions.require_approval: name the approvers (`approvers`) or their group (`group`)"
    );
    let e = parse(
        "[rules.groups]\nsales = [\"@example.jp\"]\n[[rules.rule]]\nname = \"a\"\n\
         actions = { require_approval = { group = \"sales\" } }\n",
    );
    assert_eq!(
        e,
        "sekisho.toml:5: rules.rule.0.actions.require_approval.group: group `sales` holds `@example.jp`: approvers must be addresses, not a whole domain"
    );
    let e = parse("[[rules.rule]]\nname = \"a\"\nactions = { require_approval = { approvers = [\"boss\"] } }\n");
    assert_eq!(e, "sekisho.toml:3: rules.rule.0.actions.require_approval.approvers: `boss` is not an address");
    let e = parse("[[rules.rule]]\nname = \"a\"\nactions = { reject = \"\" }\n");
    assert!(e.starts_with("sekisho.toml:3: rules.rule.0.actions.reject: "), "{e}");
}

#[test]
fn rules_read_from_their_own_file_name_that_file_in_errors() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules.toml");
    std::fs::write(&rules, "[groups]\nsales = [\"a@example.jp\"]\n\n[[rule]]\nname = \"s\"\nmatch = { sender_group = [\"sales\"] }\nactions = { hold = 5 }\n").unwrap();
    let config =
        Config::parse(&format!("[rules]\nfile = \"{}\"\n", rules.display()), Path::new("sekisho.toml")).unwrap();
    assert_eq!(config.rules.rules[0].name, "s");
    assert_eq!(config.rules.groups["sales"], ["a@example.jp"]);

    std::fs::write(&rules, "[[rule]]\nname = \"s\"\n\n[rule.actions]\nforce_link = true\nhold = 0\n").unwrap();
    let e =
        Config::parse(&format!("[rules]\nfile = \"{}\"\n", rules.display()), Path::new("sekisho.toml")).unwrap_err();
    assert_eq!(e.to_string(), format!("{}:6: rule.0.actions.hold: must be at least 1 (minutes)", rules.display()));

    let e = Config::parse(
        &format!("[rules]\nfile = \"{}\"\npartner_domains = [\"p.example\"]\n", rules.display()),
        Path::new("sekisho.toml"),
    )
    .unwrap_err();
    assert!(e.to_string().starts_with("sekisho.toml:2: rules.file: the rules are read from"), "{e}");
}

#[test]
fn a_group_the_directory_decides_matches_when_the_directory_says_the_sender_is_in_it() {
    let text = "[ldap]\nurl = \"ldap://127.0.0.1:389\"\nbase_dn = \"dc=example,dc=jp\"\n\
                [rules.ldap_groups]\nmanagers = \"(&(mail={sender})(ou=managers))\"\n\
                [[rules.rule]]\nname = \"managers-out\"\nmatch = { sender_group = [\"managers\"] }\n\
                actions = { hold = 5 }\n";
    let config = Config::parse(text, Path::new("rules.toml")).unwrap();
    assert_eq!(config.rules.ldap_groups_used(), [("managers", "(&(mail={sender})(ou=managers))")]);
    let (rcpts, known) = (to(&["c@customer.example"]), BTreeSet::new());
    let evaluate_with = |groups: &BTreeSet<String>| {
        let s = Submission {
            sender: "boss@example.jp",
            recipients: &rcpts,
            subject: "",
            body: "",
            size: 100,
            files: &[],
            local_domains: &config.local_domains,
            known_domains: &known,
            ldap_groups: groups,
        };
        evaluate(&config.rules, &s)
    };
    let d = evaluate_with(&BTreeSet::from(["managers".to_string()]));
    assert_eq!(d.fired(), ["managers-out"]);
    assert_eq!(d.checked[0].reasons, ["sender boss@example.jp is in group managers"]);
    assert!(evaluate_with(&BTreeSet::new()).fired().is_empty());

    let parse = |text: &str| Config::parse(text, Path::new("s.toml")).unwrap_err().to_string();
    let e = parse("[rules.ldap_groups]\nm = \"(mail=x)\"\n");
    assert_eq!(e, "s.toml:2: rules.ldap_groups.m: `(mail=x)` must be an LDAP filter containing {sender}");
    let e = parse("[rules.groups]\nm = [\"a@x.jp\"]\n[rules.ldap_groups]\nm = \"(mail={sender})\"\n");
    assert!(e.contains("rules.ldap_groups.m: `m` is also in rules.groups"), "{e}");
    let e = parse(
        "[rules.ldap_groups]\nm = \"(mail={sender})\"\n[[rules.rule]]\nname = \"a\"\n\
         match = { sender_group = [\"m\"] }\nactions = { hold = 5 }\n",
    );
    assert!(e.contains("ldap.url") && e.contains("url is not set"), "{e}");
}
