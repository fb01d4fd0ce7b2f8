#ifndef CNGHTTP2_SHIM_H
#define CNGHTTP2_SHIM_H
// nghttp2 (Debian libnghttp2-dev 1.52, with the rapid-reset and CONTINUATION-flood fixes
// backported): the HTTP/2 framing, HPACK and flow control under the relay's HTTP/2 server.
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <nghttp2/nghttp2.h>
#endif
