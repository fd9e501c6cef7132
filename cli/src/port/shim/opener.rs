
/// What starting the system's URL opener became: the URL published on
/// `topic` for the app to open (permissions `publish:<topic>` and
/// `ui:<topic>`, so the event reaches the app's page too).
pub(crate) fn open_url(url: impl AsRef<std::ffi::OsStr>, topic: &str, ctx: &mut Context<'_>) -> std::io::Result<Opened> {
    let url = url.as_ref().to_string_lossy().into_owned();
    ctx.publish(topic, &url).map_err(|e| std::io::Error::other(e.message))?;
    Ok(Opened)
}

/// The URL was handed to the app: as an exit status, a success.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Opened;

impl Opened {
    pub(crate) fn success(&self) -> bool {
        true
    }

    pub(crate) fn code(&self) -> Option<i32> {
        Some(0)
    }
}

impl std::fmt::Display for Opened {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("handed to the app")
    }
}
