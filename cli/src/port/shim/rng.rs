
/// `rand::Rng`'s methods, for a generator whose every byte is the host's.
pub(crate) trait Rng {
    /// Fills `dest` with random bytes.
    fn fill_bytes(&mut self, dest: &mut [u8]);

    fn next_u32(&mut self) -> u32 {
        self.r#gen()
    }

    fn next_u64(&mut self) -> u64 {
        self.r#gen()
    }

    /// `rng.gen::<T>()` (rand 0.8).
    fn r#gen<T: FromRandom>(&mut self) -> T {
        let mut bytes = vec![0u8; T::LEN];
        self.fill_bytes(&mut bytes);
        T::from_random(&bytes)
    }

    /// `rng.random::<T>()` (rand 0.9).
    fn random<T: FromRandom>(&mut self) -> T {
        self.r#gen()
    }

    /// A value in `range` (`a..b` or `a..=b`), uniform, as rand's.
    ///
    /// # Panics
    ///
    /// When the range is empty, as rand does.
    fn gen_range<T: SampleUniform, R: SampleRange<T>>(&mut self, range: R) -> T {
        let (low, high, inclusive) = range.bounds();
        T::sample(low, high, inclusive, &mut |dest| self.fill_bytes(dest))
    }

    fn random_range<T: SampleUniform, R: SampleRange<T>>(&mut self, range: R) -> T {
        self.gen_range(range)
    }

    /// `true` with probability `p`.
    ///
    /// # Panics
    ///
    /// When `p` is not in `[0, 1]`, as rand does.
    fn gen_bool(&mut self, p: f64) -> bool {
        assert!((0.0..=1.0).contains(&p), "p={p} is outside range [0.0, 1.0]");
        self.r#gen::<f64>() < p
    }

    fn random_bool(&mut self, p: f64) -> bool {
        self.gen_bool(p)
    }

    /// `rng.fill(&mut buf)` of bytes.
    fn fill<T: AsMut<[u8]> + ?Sized>(&mut self, dest: &mut T) {
        self.fill_bytes(dest.as_mut());
    }

    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), WireError> {
        self.fill_bytes(dest);
        Ok(())
    }
}

/// What `rand::thread_rng()` (`rand::rng()`) became: each value drawn is
/// made of the host's random bytes (permission `random`).
pub(crate) struct ThreadRng<'a, 'c> {
    ctx: &'a mut Context<'c>,
}

/// `rand::thread_rng()`, on the host's randomness.
pub(crate) fn thread_rng<'a, 'c>(ctx: &'a mut Context<'c>) -> ThreadRng<'a, 'c> {
    ThreadRng { ctx }
}

impl Rng for ThreadRng<'_, '_> {
    /// # Panics
    ///
    /// When the host refuses randomness, as rand panics when the operating
    /// system has none.
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        fill_random(dest, self.ctx).unwrap_or_else(|e| panic!("the host's randomness (permission `random`): {e}"));
    }
}

/// `rand::random_range(range)`, on the host's randomness.
pub(crate) fn random_range<T: SampleUniform, R: SampleRange<T>>(range: R, ctx: &mut Context<'_>) -> T {
    thread_rng(ctx).gen_range(range)
}

/// `rand::random_bool(p)`, on the host's randomness.
pub(crate) fn random_bool(p: f64, ctx: &mut Context<'_>) -> bool {
    thread_rng(ctx).gen_bool(p)
}

/// A range `gen_range` draws from.
pub(crate) trait SampleRange<T> {
    /// (low, high, whether `high` is in).
    fn bounds(self) -> (T, T, bool);
}

impl<T> SampleRange<T> for std::ops::Range<T> {
    fn bounds(self) -> (T, T, bool) {
        (self.start, self.end, false)
    }
}

impl<T> SampleRange<T> for std::ops::RangeInclusive<T> {
    fn bounds(self) -> (T, T, bool) {
        let (low, high) = self.into_inner();
        (low, high, true)
    }
}

/// A type `gen_range` draws.
pub(crate) trait SampleUniform: Sized {
    fn sample(low: Self, high: Self, inclusive: bool, fill: &mut dyn FnMut(&mut [u8])) -> Self;
}

macro_rules! sample_int {
    ($($t:ty),*) => {$(
        impl SampleUniform for $t {
            /// Uniform, without bias: draws again above the largest multiple of the span.
            fn sample(low: Self, high: Self, inclusive: bool, fill: &mut dyn FnMut(&mut [u8])) -> Self {
                assert!(if inclusive { low <= high } else { low < high }, "cannot sample empty range");
                let span = (high as i128 - low as i128) as u128 + u128::from(inclusive);
                let zone = u128::MAX - (u128::MAX % span);
                loop {
                    let mut bytes = [0u8; 16];
                    fill(&mut bytes);
                    let v = u128::from_le_bytes(bytes);
                    if v < zone {
                        return (low as i128 + (v % span) as i128) as $t;
                    }
                }
            }
        }
    )*};
}
sample_int!(u8, u16, u32, u64, usize, i8, i16, i32, i64, isize);

macro_rules! sample_float {
    ($($t:ty),*) => {$(
        impl SampleUniform for $t {
            fn sample(low: Self, high: Self, inclusive: bool, fill: &mut dyn FnMut(&mut [u8])) -> Self {
                assert!(if inclusive { low <= high } else { low < high }, "cannot sample empty range");
                let mut bytes = [0u8; <$t as FromRandom>::LEN];
                fill(&mut bytes);
                let unit = <$t>::from_random(&bytes);
                let x = low + (high - low) * unit;
                if !inclusive && x >= high { low } else { x }
            }
        }
    )*};
}
sample_float!(f32, f64);
