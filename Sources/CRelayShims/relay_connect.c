// relay_connect.c: an outgoing TCP connect for a bufferevent, optionally bound to a local
// source address (the load tester spreads its connections over 127.0.0.x sources; a
// bufferevent cannot bind by itself). Used by RelayIO's HTTP2Client.
#include "CRelayShims.h"
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int relay_bev_connect_tcp(struct bufferevent *bev, const char *host, unsigned short port, const char *source) {
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    char portstr[8];
    snprintf(portstr, sizeof portstr, "%u", (unsigned)port);
    if (getaddrinfo(host, portstr, &hints, &res) != 0 || res == NULL) return -1;
    evutil_socket_t fd = socket(res->ai_family, res->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) { freeaddrinfo(res); return -1; }
    if (source != NULL) {
        struct addrinfo *local = NULL;
        hints.ai_family = res->ai_family;
        hints.ai_flags = AI_NUMERICHOST | AI_PASSIVE;
#ifdef IP_BIND_ADDRESS_NO_PORT
        // The port is picked at connect time, per destination: many sources share the range.
        int one = 1;
        setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
#endif
        int bound = getaddrinfo(source, NULL, &hints, &local) == 0 && local != NULL
            && bind(fd, local->ai_addr, local->ai_addrlen) == 0;
        if (local != NULL) freeaddrinfo(local);
        if (!bound) { close(fd); freeaddrinfo(res); return -1; }
    }
    if (bufferevent_setfd(bev, fd) != 0) { close(fd); freeaddrinfo(res); return -1; }
    // From here the bufferevent owns the socket (BEV_OPT_CLOSE_ON_FREE).
    int started = bufferevent_socket_connect(bev, res->ai_addr, (int)res->ai_addrlen);
    freeaddrinfo(res);
    return started;
}
