//! Console sign-in through the organisation's directory (`[console] sign_in = ["local",
//! "ldap"]`) against a real slapd: a directory user signs in with their directory password and
//! becomes the address the directory gives them; a wrong password, an empty one, an unknown
//! name and a user outside the required group get the wrong-password page; a directory that
//! does not answer is a 503, never a sign-in. Local accounts keep working.

use sekisho_config::SignInMethod;
use sekisho_testkit::console::{get, http, try_sign_in};
use sekisho_testkit::slapd::{ADMIN_DN, ADMIN_PASSWORD, Slapd};
use sekisho_testkit::{FakeDns, TestServer};

const LDIF: &str = "dn: uid=hanako,ou=people,dc=example,dc=jp
objectClass: inetOrgPerson
uid: hanako
cn: Hanako
sn: Sato
mail: hanako@example.jp
userPassword: hanako-directory-pw

dn: uid=jiro,ou=people,dc=example,dc=jp
objectClass: inetOrgPerson
uid: jiro
cn: Jiro
sn: Suzuki
mail: jiro@example.jp
userPassword: jiro-directory-pw

dn: cn=console-users,dc=example,dc=jp
objectClass: groupOfNames
cn: console-users
member: uid=hanako,ou=people,dc=example,dc=jp
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn directory_users_sign_in_with_their_directory_password_and_group() {
    let dir = tempfile::tempdir().unwrap();
    let slapd = Slapd::start(&dir.path().join("slapd"), "127.0.0.164", LDIF);
    let dns = FakeDns::start("127.0.0.53").await;
    let url = slapd.url.clone();
    let gw = TestServer::start_delivering(&dns, 25, move |c| {
        c.ldap.url = Some(url);
        c.ldap.bind_dn = Some(ADMIN_DN.into());
        c.ldap.bind_password = Some(ADMIN_PASSWORD.into());
        c.ldap.base_dn = "dc=example,dc=jp".into();
        c.console.sign_in = vec![SignInMethod::Local, SignInMethod::Ldap];
        c.console.ldap.group = Some("cn=console-users,dc=example,dc=jp".into());
    })
    .await;
    gw.add_user("admin@example.jp", "local password").await;
    let (http, base) = (http(), format!("http://{}", gw.portal.unwrap()));

    // By uid or by address: the session is the directory's address.
    for name in ["hanako", "Hanako@example.jp"] {
        let (status, session) = try_sign_in(&http, &base, name, "hanako-directory-pw").await;
        assert_eq!(status, 303, "{name}");
        let session = session.expect("a console session");
        let (status, page) = get(&http, format!("{base}/sent"), Some(&session)).await;
        assert_eq!(status, 200);
        assert!(page.contains("hanako@example.jp"), "{page}");
    }
    // Refusals look alike to the user: the wrong-password page, no session.
    for (name, password) in [
        ("hanako", "wrong"),
        ("hanako", ""),
        ("nobody", "hanako-directory-pw"),
        ("jiro", "jiro-directory-pw"),
        ("*", "hanako-directory-pw"),
    ] {
        let (status, session) = try_sign_in(&http, &base, name, password).await;
        assert_eq!((status, session.is_none()), (403, true), "{name}/{password}");
    }
    // sekisho's own account still signs in.
    let (status, session) = try_sign_in(&http, &base, "admin@example.jp", "local password").await;
    assert_eq!((status, session.is_some()), (303, true));

    // The directory does not answer: no sign-in, a 503 saying to try again.
    slapd.stop();
    let (status, session) = try_sign_in(&http, &base, "hanako", "hanako-directory-pw").await;
    assert_eq!((status, session.is_none()), (503, true));
}
