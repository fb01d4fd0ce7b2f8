#ifndef CLIBEVENT_SHIM_H
#define CLIBEVENT_SHIM_H
// libevent's event-config.h defines _GNU_SOURCE; define it first so that every C module
// that Swift imports agrees about the system headers (fd_set and friends).
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <event2/event.h>
#include <event2/http.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/keyvalq_struct.h>
#include <event2/util.h>
#include <event2/listener.h>
#endif
