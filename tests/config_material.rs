//! `config check` and `serve` load what the configuration names on disk — the certificate and
//! key, the extra roots, the DNSSEC trust anchor — and a bad file is a configuration error
//! (exit 2) naming the file, the line and the key, before anything starts.

mod support;

use sekisho_testkit::TestPki;
use support::{own_address, run, write_config};

fn config_with(dir: &std::path::Path, extra: &str) -> std::path::PathBuf {
    let extra = format!("[delivery]\nrelay_host = \"[127.0.0.1]:9\"\n{extra}");
    write_config(dir, own_address(2525), &extra)
}

#[test]
fn bad_tls_material_and_trust_anchors_are_configuration_errors_with_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let one = TestPki::generate(&dir.path().join("one"), "gw.sekisho.test");
    let other = TestPki::generate(&dir.path().join("other"), "gw.sekisho.test");
    let tls = |cert: &std::path::Path, key: &std::path::Path| {
        format!("[tls]\ncertificate = \"{}\"\nkey = \"{}\"\n", cert.display(), key.display())
    };
    let ds = dir.path().join("root.ds");
    std::fs::write(&ds, ". 86400 IN DS 20326 8 2 E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D\n")
        .unwrap();
    let bind = dir.path().join("bind.keys");
    std::fs::write(&bind, "trust-anchors {\n  . initial-key 257 3 8 \"AwEAAa==\";\n};\n").unwrap();
    let missing = dir.path().join("missing.key");
    let bad_ca = dir.path().join("bad-ca.pem");
    std::fs::write(&bad_ca, "-----BEGIN CERTIFICATE-----\nnot base64 at all!\n-----END CERTIFICATE-----\n").unwrap();
    let cases: Vec<(&str, String, &str, &str)> = vec![
        ("missing", tls(&one.cert_path, &missing), "tls.key", "is not a file"),
        ("mismatch", tls(&one.cert_path, &other.key_path), "tls.key", "is not the key of the certificate"),
        ("key-as-cert", tls(&one.key_path, &one.key_path), "tls.certificate", "no certificate in the file"),
        ("ds", format!("[dns]\ntrust_anchor = \"{}\"\n", ds.display()), "dns.trust_anchor", "these are DS records"),
        ("bind", format!("[dns]\ntrust_anchor = \"{}\"\n", bind.display()), "dns.trust_anchor", "BIND's trust-anchors"),
        (
            "arc-key",
            format!(
                "[authentication.arc_seal]\ndomain = \"gw.sekisho.test\"\nselector = \"arc\"\nkey_file = \"{}\"\n",
                one.key_path.display()
            ),
            "authentication.arc_seal.key_file",
            "not an RSA private key",
        ),
        (
            "ldap-ca",
            format!(
                "[ldap]\nurl = \"ldaps://127.0.0.1:636\"\nbase_dn = \"dc=example,dc=jp\"\nca_file = \"{}\"\n",
                bad_ca.display()
            ),
            "ldap.ca_file",
            "bad-ca.pem",
        ),
    ];
    for (name, extra, key, says) in cases {
        let config = config_with(&dir.path().join(name), &extra);
        let text = std::fs::read_to_string(&config).unwrap();
        let last = key.rsplit('.').next().unwrap();
        let line = text.lines().position(|l| l.starts_with(&format!("{last} ="))).unwrap() + 1;
        let (code, out, err) = run(None, &["config", "check", config.to_str().unwrap()], "");
        assert_eq!(code, 2, "{name}: {out}{err}");
        assert!(err.contains(&format!("{}:{line}: {key}: ", config.display())), "{name}: {err}");
        assert!(err.contains(says), "{name}: {err}");
        // serve refuses to start the same way, before it listens.
        let (code, _, err) = run(Some(&config), &["serve"], "");
        assert_eq!(code, 2, "{name}: {err}");
        assert!(err.contains(says), "{name}: {err}");
    }
    let good = config_with(&dir.path().join("good"), &tls(&one.cert_path, &one.key_path));
    let (code, out, err) = run(None, &["config", "check", good.to_str().unwrap()], "");
    assert_eq!(code, 0, "{out}{err}");
}
