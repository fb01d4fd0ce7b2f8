#ifndef CHIREDIS_SHIM_H
#define CHIREDIS_SHIM_H
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <hiredis/hiredis.h>
#endif
