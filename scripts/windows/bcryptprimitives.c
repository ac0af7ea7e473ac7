/* Stand-in for Windows' bcryptprimitives.dll, which Wine 8 (Debian 12) lacks.
 * Rust's std for Windows imports ProcessPrng from it (for HashMap keys, among
 * others), and a program importing it does not start without it: Wine says
 * "bcryptprimitives.dll not found". scripts/test-windows.sh builds this file
 * and puts the DLL beside the .exe files:
 *   x86_64-w64-mingw32-gcc -shared -o bcryptprimitives.dll bcryptprimitives.c -ladvapi32
 *   i686-w64-mingw32-gcc -shared -Wl,--kill-at -o bcryptprimitives.dll bcryptprimitives.c -ladvapi32
 * (on i686, --kill-at exports the stdcall function as plain "ProcessPrng",
 * the name Rust's std imports, instead of "ProcessPrng@8").
 */
#include <windows.h>
#include <ntsecapi.h>

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    /* RtlGenRandom takes a ULONG length: fill larger buffers in chunks. */
    while (len > 0) {
        ULONG chunk = len > 0x10000000 ? 0x10000000 : (ULONG)len;
        if (!RtlGenRandom(data, chunk))
            return FALSE;
        data += chunk;
        len -= chunk;
    }
    return TRUE;
}
