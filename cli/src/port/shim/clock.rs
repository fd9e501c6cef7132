
/// `std::time::SystemTime::now()`, from the host's clock (permission `clock`).
///
/// # Panics
///
/// When the host refuses the clock, as `SystemTime::now` panics on
/// `wasm32-unknown-unknown`.
pub(crate) fn system_time(ctx: &mut Context<'_>) -> std::time::SystemTime {
    let now = ctx.now().unwrap_or_else(|e| panic!("the host's clock (permission `clock`): {e}"));
    std::time::UNIX_EPOCH + std::time::Duration::from_nanos(now.unix_nanos)
}
