#ifndef FWTRACE_CNFTABLES_SHIM_H
#define FWTRACE_CNFTABLES_SHIM_H
#include <nftables/libnftables.h>
#endif
