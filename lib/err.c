#include <string.h>

#include "err.h"

const char *vg_strerror(int err)
{
    switch (err) {
    case 0: return "success";
    case VG_ETOOBIG: return "size over limit";
    case VG_ETRUNC: return "truncated input";
    case VG_ECORRUPT: return "corrupt data";
    case VG_ELZ4: return "lz4 payload does not match its stated size";
    case VG_EDECODE: return "protobuf payload does not decode";
    case VG_EPROTO: return "protocol violation";
    case VG_EVERSION: return "unsupported version";
    case VG_ECONFIG: return "invalid configuration";
    case VG_ECRYPTO: return "cryptographic operation failed";
    case VG_ECERT: return "certificate rejected";
    case VG_EAGAIN: return "more input needed";
    case VG_EKEYMODE: return "private key file is accessible by group or others (chmod 600 it)";
    default: break;
    }
    if (err < 0 && err > VG_EBASE)
        return strerror(-err);
    return "unknown error";
}
