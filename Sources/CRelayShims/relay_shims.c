#include "CRelayShims.h"
#include <hiredis/adapters/libevent.h>
#include <event2/http_struct.h>
#include <errno.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/uio.h>
#include <time.h>
#include <pthread.h>

int relay_redis_attach(redisAsyncContext *ac, struct event_base *base) {
    return redisLibeventAttach(ac, base);
}

const char *relay_redis_errstr(const redisAsyncContext *ac) {
    return ac->err ? ac->errstr : NULL;
}


evutil_socket_t relay_listen_socket(const char *host, unsigned short port, int reuse_port, int backlog) {
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    char portstr[8];
    snprintf(portstr, sizeof portstr, "%u", (unsigned)port);
    if (getaddrinfo(host, portstr, &hints, &res) != 0 || res == NULL) return -1;
    evutil_socket_t fd = socket(res->ai_family, res->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) { freeaddrinfo(res); return -1; }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (reuse_port) setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    /* Accepted sockets inherit TCP_NODELAY on Linux. libevent writes at most 16 KiB at a
       time, so without it Nagle holds the tail of a larger response until the client's
       delayed ACK (about 40 ms). */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (bind(fd, res->ai_addr, res->ai_addrlen) != 0 || listen(fd, backlog) != 0) {
        close(fd); freeaddrinfo(res); return -1;
    }
    freeaddrinfo(res);
    return fd;
}

int relay_socket_port(evutil_socket_t fd) {
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0) return -1;
    if (ss.ss_family == AF_INET) return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6) return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return -1;
}

long relay_raise_nofile_limit(void) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return -1;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    return (long)rl.rlim_cur;
}

int relay_request_is_chunked(struct evhttp_request *req) {
    return req->chunked ? 1 : 0;
}

long relay_send_now(evutil_socket_t fd, const void *data, unsigned long length) {
    ssize_t n = send(fd, data, length, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n >= 0) return (long)n;
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return 0;
    return -1;
}

long relay_send_buffers(evutil_socket_t fd, const void *const *bases, const unsigned long *lengths, int count) {
    struct iovec iov[64];
    if (count > 64) count = 64;
    for (int i = 0; i < count; i++) {
        iov[i].iov_base = (void *)bases[i];
        iov[i].iov_len = lengths[i];
    }
    struct msghdr msg;
    memset(&msg, 0, sizeof msg);
    msg.msg_iov = iov;
    msg.msg_iovlen = (size_t)count;
    ssize_t n = sendmsg(fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n >= 0) return (long)n;
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return 0;
    return -1;
}

void relay_prepare_stream(struct evhttp_request *req) {
    if (req->major == 1 && req->minor == 0) {
        evhttp_remove_header(evhttp_request_get_input_headers(req), "Connection");
    }
}

void relay_shutdown_write(evutil_socket_t fd) {
    shutdown(fd, SHUT_WR);
}

int relay_errno(void) {
    return errno;
}

void relay_send_and_close(evutil_socket_t fd, const char *data, unsigned long length) {
    (void)send(fd, data, length, MSG_NOSIGNAL | MSG_DONTWAIT);
    close(fd);
}

static long long relay_clock_ns(clockid_t clock) {
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

long long relay_realtime_ns(void) { return relay_clock_ns(CLOCK_REALTIME); }
long long relay_monotonic_ns(void) { return relay_clock_ns(CLOCK_MONOTONIC); }
long long relay_monotonic_coarse_ns(void) { return relay_clock_ns(CLOCK_MONOTONIC_COARSE); }

unsigned long relay_thread_id(void) { return (unsigned long)pthread_self(); }
