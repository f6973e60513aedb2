//! What a configuration reload (SIGHUP) can change and what needs a restart: pure, so the
//! list the log shows is tested as a value.

use sekisho_config::Config;

/// The settings bound at start whose change a reload does not apply, as the log names them.
pub(crate) fn restart_needed(running: &Config, new: &Config) -> Vec<&'static str> {
    let mut needed = Vec::new();
    let listeners = |c: &Config| -> Vec<String> { c.listeners.iter().map(|l| format!("{l:?}")).collect() };
    let checks: [(&'static str, bool); 10] = [
        ("[[listener]] (addresses and their settings)", listeners(running) != listeners(new)),
        ("[store] path", running.store.path != new.store.path),
        ("[store] key_file", running.store.key_file != new.store.key_file),
        ("[admin] listen", running.admin.listen != new.admin.listen),
        ("[portal]", format!("{:?}", running.portal) != format!("{:?}", new.portal)),
        ("[log] (format, level, file)", format!("{:?}", running.log) != format!("{:?}", new.log)),
        ("[dns]", format!("{:?}", running.dns) != format!("{:?}", new.dns)),
        ("[delivery] max_connections", running.delivery.max_connections != new.delivery.max_connections),
        (
            "[tlsrpt] and [reports]",
            format!("{:?}{:?}", running.tlsrpt, running.reports) != format!("{:?}{:?}", new.tlsrpt, new.reports),
        ),
        (
            "[console] and [ldap] for the portal",
            format!("{:?}{:?}", running.console, running.ldap) != format!("{:?}{:?}", new.console, new.ldap),
        ),
    ];
    for (what, changed) in checks {
        if changed {
            needed.push(what);
        }
    }
    needed
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn parse(text: &str) -> Config {
        Config::parse(text, Path::new("t.toml")).unwrap()
    }

    #[test]
    fn policies_and_routes_reload_and_bound_settings_are_named() {
        let running = parse("[routes]\n\"example.com\" = \"[127.0.0.1]:2601\"\n");
        let routes =
            parse("[routes]\n\"example.com\" = \"[127.0.0.1]:2602\"\n\n[outbound]\ntls_require = \"encrypted\"\n");
        assert!(restart_needed(&running, &routes).is_empty(), "routes and policies reload");
        let moved = parse(
            "[store]\npath = \"/srv/other\"\n\n[admin]\nlisten = \"127.0.0.1:9025\"\n\n\
             [[listener]]\naddress = \"127.0.0.1:2626\"\nrole = \"mx\"\n",
        );
        assert_eq!(
            restart_needed(&running, &moved),
            ["[[listener]] (addresses and their settings)", "[store] path", "[admin] listen"]
        );
    }
}
