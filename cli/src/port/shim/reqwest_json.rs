
/// reqwest's JSON bodies (its `json` feature), with `serde_json`.
impl reqwest::blocking::RequestBuilder {
    pub(crate) fn json<T: serde::Serialize + ?Sized>(self, value: &T) -> Self {
        match serde_json::to_vec(value) {
            Ok(body) => self.header("content-type", "application/json").body(body),
            Err(e) => self.failed(reqwest::Error::builder(e)),
        }
    }
}

impl reqwest::blocking::Response {
    pub(crate) fn json<T: serde::de::DeserializeOwned>(self) -> reqwest::Result<T> {
        let body = self.bytes()?;
        serde_json::from_slice(&body).map_err(reqwest::Error::body)
    }
}
