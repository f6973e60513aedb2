//! The sender console over plain HTTP, for tests of its pages: a client that does not follow
//! redirects, a password sign-in, and a GET with the console cookie.

/// An HTTP client that shows redirects instead of following them.
pub fn http() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// Signs in to the console with a password; the console cookie.
pub async fn sign_in(http: &reqwest::Client, base: &str, user: &str, password: &str) -> String {
    let (status, cookie) = try_sign_in(http, base, user, password).await;
    assert_eq!(status, 303, "{user} signs in");
    cookie.expect("a console cookie")
}

/// Posts the console's sign-in form: the status and the console cookie, when one was set.
pub async fn try_sign_in(http: &reqwest::Client, base: &str, user: &str, password: &str) -> (u16, Option<String>) {
    let r = http.get(format!("{base}/sent")).header("accept-language", "en").send().await.unwrap();
    let pre = r.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();
    let csrf = crate::csrf_in(&r.bytes().await.unwrap()).unwrap();
    let form = [("csrf", csrf.as_str()), ("user", user), ("password", password)];
    let r = http.post(format!("{base}/sent/login")).header("cookie", pre).form(&form).send().await.unwrap();
    let cookie = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|c| c.to_str().unwrap().split(';').next().unwrap().to_string())
        // `__Host-sekisho-console` when the portal's url is https.
        .find(|c| {
            c.split_once('=').is_some_and(|(name, value)| name.ends_with("sekisho-console") && !value.is_empty())
        });
    (r.status().as_u16(), cookie)
}

/// GET `url` in English, with `cookie` when given: the status and the page.
pub async fn get(http: &reqwest::Client, url: String, cookie: Option<&str>) -> (u16, String) {
    let mut r = http.get(url).header("accept-language", "en");
    if let Some(c) = cookie {
        r = r.header("cookie", c);
    }
    let r = r.send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}
