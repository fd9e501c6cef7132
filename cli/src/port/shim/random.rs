
/// Fills `dest` with the host's random bytes (permission `random`), as
/// `getrandom::fill` did.
pub(crate) fn fill_random(dest: &mut [u8], ctx: &mut Context<'_>) -> Result<(), WireError> {
    for chunk in dest.chunks_mut(wasp_sdk::protocol::services::MAX_RANDOM_BYTES as usize) {
        let len = u32::try_from(chunk.len()).unwrap_or(u32::MAX);
        chunk.copy_from_slice(&ctx.random_bytes(len)?);
    }
    Ok(())
}

/// A value made of random bytes, as `rand::random` makes one.
pub(crate) trait FromRandom: Sized {
    /// How many bytes it takes.
    const LEN: usize;
    fn from_random(bytes: &[u8]) -> Self;
}

macro_rules! from_random_int {
    ($($t:ty),*) => {$(
        impl FromRandom for $t {
            const LEN: usize = std::mem::size_of::<$t>();
            fn from_random(bytes: &[u8]) -> Self {
                let mut b = [0u8; std::mem::size_of::<$t>()];
                b.copy_from_slice(&bytes[..Self::LEN]);
                <$t>::from_le_bytes(b)
            }
        }
    )*};
}
from_random_int!(u8, u16, u32, u64, u128, usize, i8, i16, i32, i64, i128, isize);

impl FromRandom for bool {
    const LEN: usize = 1;
    fn from_random(bytes: &[u8]) -> Self {
        bytes[0] & 1 == 1
    }
}

impl FromRandom for f64 {
    const LEN: usize = 8;
    /// Uniform in `[0, 1)`, as rand's `Standard` makes it.
    fn from_random(bytes: &[u8]) -> Self {
        (u64::from_random(bytes) >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

impl FromRandom for f32 {
    const LEN: usize = 4;
    fn from_random(bytes: &[u8]) -> Self {
        (u32::from_random(bytes) >> 8) as f32 * (1.0 / (1u32 << 24) as f32)
    }
}

impl<const N: usize> FromRandom for [u8; N] {
    const LEN: usize = N;
    fn from_random(bytes: &[u8]) -> Self {
        let mut out = [0u8; N];
        out.copy_from_slice(&bytes[..N]);
        out
    }
}

/// `rand::random()`: a value of the host's random bytes (permission `random`).
///
/// # Panics
///
/// When the host refuses randomness, as `rand::random` panics when the
/// operating system has none.
pub(crate) fn random<T: FromRandom>(ctx: &mut Context<'_>) -> T {
    let mut bytes = vec![0u8; T::LEN];
    fill_random(&mut bytes, ctx).unwrap_or_else(|e| panic!("the host's randomness (permission `random`): {e}"));
    T::from_random(&bytes)
}
