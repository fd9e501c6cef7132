
/// `std::time::Instant`, on the host's monotonic clock (permission `clock`):
/// `Instant::now(ctx)` and `elapsed(ctx)` ask the host; the rest is arithmetic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Instant(std::time::Duration);

impl Instant {
    /// # Panics
    ///
    /// When the host refuses the clock, as `Instant::now` panics on
    /// `wasm32-unknown-unknown`.
    pub(crate) fn now(ctx: &mut Context<'_>) -> Self {
        let now = ctx.now().unwrap_or_else(|e| panic!("the host's clock (permission `clock`): {e}"));
        Self(std::time::Duration::from_nanos(now.monotonic_nanos))
    }

    pub(crate) fn elapsed(&self, ctx: &mut Context<'_>) -> std::time::Duration {
        Self::now(ctx).duration_since(*self)
    }

    pub(crate) fn duration_since(&self, earlier: Self) -> std::time::Duration {
        self.0.saturating_sub(earlier.0)
    }

    pub(crate) fn saturating_duration_since(&self, earlier: Self) -> std::time::Duration {
        self.duration_since(earlier)
    }

    pub(crate) fn checked_duration_since(&self, earlier: Self) -> Option<std::time::Duration> {
        self.0.checked_sub(earlier.0)
    }

    pub(crate) fn checked_add(&self, duration: std::time::Duration) -> Option<Self> {
        self.0.checked_add(duration).map(Self)
    }

    pub(crate) fn checked_sub(&self, duration: std::time::Duration) -> Option<Self> {
        self.0.checked_sub(duration).map(Self)
    }
}

impl std::ops::Add<std::time::Duration> for Instant {
    type Output = Self;
    fn add(self, duration: std::time::Duration) -> Self {
        Self(self.0 + duration)
    }
}

impl std::ops::AddAssign<std::time::Duration> for Instant {
    fn add_assign(&mut self, duration: std::time::Duration) {
        self.0 += duration;
    }
}

impl std::ops::Sub<std::time::Duration> for Instant {
    type Output = Self;
    fn sub(self, duration: std::time::Duration) -> Self {
        Self(self.0 - duration)
    }
}

impl std::ops::Sub for Instant {
    type Output = std::time::Duration;
    fn sub(self, earlier: Self) -> std::time::Duration {
        self.duration_since(earlier)
    }
}
