/*
 * A stand-in bcryptprimitives.dll for wine 8 (Debian 12's), which lacks
 * ProcessPrng: Rust's std (1.78 and later) imports it for random numbers,
 * and without it wine refuses to start the program. It fills the buffer
 * from RtlGenRandom (advapi32's SystemFunction036). Only for running
 * unibpf.exe under wine; Windows 10 and later have their own.
 */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
	while (len > 0) {
		ULONG chunk = len > 0x10000000 ? 0x10000000 : (ULONG)len;
		if (!SystemFunction036(data, chunk))
			return FALSE;
		data += chunk;
		len -= chunk;
	}
	return TRUE;
}
