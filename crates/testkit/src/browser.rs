//! A browser-like HTTP client for the portal tests: it keeps the session cookie and the form
//! token of the last page by hand, never follows redirects, and asks for English pages.

use reqwest::header::HeaderMap;

/// One visitor of the portal.
#[derive(Clone)]
pub struct Browser {
    pub http: reqwest::Client,
    /// The portal's address, "http://IP:PORT".
    pub base: String,
    /// The session cookie ("name=value"), once a link was followed.
    pub cookie: Option<String>,
    /// The form token of the last page that had one.
    pub csrf: String,
}

impl Browser {
    /// A visitor of the portal at `base`.
    pub fn new(base: &str) -> Browser {
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
        Browser { http, base: base.to_string(), cookie: None, csrf: String::new() }
    }

    /// `r` with the visitor's language and cookie.
    pub fn request(&self, r: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        let r = r.header("accept-language", "en");
        match &self.cookie {
            Some(c) => r.header("cookie", c),
            None => r,
        }
    }

    /// Follows a link (from a notice): keeps the cookie it sets; returns the answer as is.
    pub async fn follow(&mut self, url: &str) -> reqwest::Response {
        let r = self.request(self.http.get(url)).send().await.expect("portal reachable");
        if let Some(set) = r.headers().get("set-cookie") {
            self.cookie = Some(set.to_str().unwrap().split(';').next().unwrap().to_string());
        }
        r
    }

    /// Follows a link and, when it redirects, loads the page: its status and text.
    pub async fn open(&mut self, url: &str) -> (u16, String) {
        let r = self.follow(url).await;
        if r.status().as_u16() != 303 {
            let status = r.status().as_u16();
            return (status, r.text().await.unwrap());
        }
        self.get_text("/d").await
    }

    /// GET `path`: status, headers, body; keeps the page's form token.
    pub async fn get(&mut self, path: &str) -> (u16, HeaderMap, Vec<u8>) {
        let r = self.request(self.http.get(format!("{}{path}", self.base))).send().await.expect("portal reachable");
        let (status, headers) = (r.status().as_u16(), r.headers().clone());
        let body = r.bytes().await.unwrap().to_vec();
        if let Some(csrf) = csrf_in(&body) {
            self.csrf = csrf;
        }
        (status, headers, body)
    }

    /// GET `path`: status and text.
    pub async fn get_text(&mut self, path: &str) -> (u16, String) {
        let (status, _, body) = self.get(path).await;
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    /// POST the form `fields` to `path` as they are, with `origin` as the Origin field.
    pub async fn post(&self, path: &str, fields: &[(&str, &str)], origin: Option<&str>) -> (u16, String) {
        let mut r = self.request(self.http.post(format!("{}{path}", self.base)).form(fields));
        if let Some(o) = origin {
            r = r.header("origin", o);
        }
        let r = r.send().await.expect("portal reachable");
        let status = r.status().as_u16();
        (status, r.text().await.unwrap())
    }

    /// POST the form `fields` to `path` with the page's form token, as the page would.
    pub async fn submit(&self, path: &str, fields: &[(&str, &str)]) -> (u16, String) {
        let mut form: Vec<(&str, &str)> = vec![("csrf", &self.csrf)];
        form.extend_from_slice(fields);
        self.post(path, &form, None).await
    }

    /// Enters a code, password or passphrase; the status.
    pub async fn verify(&self, secret: &str) -> u16 {
        self.submit("/d/verify", &[("secret", secret)]).await.0
    }
}

/// The form token of a page.
pub fn csrf_in(page: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(page);
    let at = text.find("name=\"csrf\" value=\"")? + "name=\"csrf\" value=\"".len();
    Some(text[at..at + text[at..].find('"')?].to_string())
}
