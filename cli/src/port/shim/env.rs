
/// `std::env::var(name)`: the configuration value `key` of the manifest's
/// `[config]`, or the host's (permission `config`), as the text an
/// environment variable would hold. `NotPresent` when it is not set.
pub(crate) fn env_var(key: &str, ctx: &mut Context<'_>) -> Result<String, std::env::VarError> {
    if let Ok(Some(text)) = ctx.config::<String>(key) {
        return Ok(text);
    }
    if let Ok(Some(n)) = ctx.config::<i64>(key) {
        return Ok(n.to_string());
    }
    if let Ok(Some(x)) = ctx.config::<f64>(key) {
        return Ok(x.to_string());
    }
    match ctx.config::<bool>(key) {
        Ok(Some(b)) => Ok(b.to_string()),
        _ => Err(std::env::VarError::NotPresent),
    }
}

/// `std::env::var_os(name)`, as [`env_var`].
pub(crate) fn env_var_os(key: &str, ctx: &mut Context<'_>) -> Option<std::ffi::OsString> {
    env_var(key, ctx).ok().map(Into::into)
}
