/*
 * A stand-in for Windows' bcryptprimitives.dll, for running the test suite
 * under wine only (scripts/test-windows builds it with mingw and puts it
 * beside the test binaries). Never ship it: real Windows has the real DLL.
 *
 * Rust's standard library on Windows seeds its random state (HashMap's
 * hasher, among others) with ProcessPrng from bcryptprimitives.dll. wine 8
 * lacks that function, so every Rust binary that builds a HashMap exits
 * with status 53 before printing anything. This forwards ProcessPrng to
 * RtlGenRandom (exported by advapi32 as SystemFunction036), which wine has.
 */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    /* RtlGenRandom takes a 32-bit length: fill larger requests in chunks. */
    while (len > 0) {
        ULONG chunk = len > 0x40000000 ? 0x40000000 : (ULONG)len;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        len -= chunk;
    }
    return TRUE;
}
