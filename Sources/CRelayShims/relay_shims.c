#include "CRelayShims.h"
#include <event2/http_struct.h>
#include <event2/buffer.h>
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
#include <sys/un.h>
#include <time.h>
#include <pthread.h>


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

int relay_bev_connect_unix(struct bufferevent *bev, const char *path) {
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof sa.sun_path) return -1;
    strcpy(sa.sun_path, path);
    return bufferevent_socket_connect(bev, (struct sockaddr *)&sa, (int)sizeof sa);
}

void relay_tcp_tune(evutil_socket_t fd) {
    int one = 1, idle = 15, interval = 5, count = 3;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof interval);
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof count);
}

const char *relay_bev_error_text(struct bufferevent *bev) {
    int dns = bufferevent_socket_get_dns_error(bev);
    if (dns) return evutil_gai_strerror(dns);
    int code = errno;
    return code ? strerror(code) : "connection error";
}

size_t relay_evbuffer_first_chunk(struct evbuffer *buffer, const char **data) {
    struct evbuffer_iovec chunk;
    if (evbuffer_peek(buffer, -1, NULL, &chunk, 1) < 1 || chunk.iov_len == 0) return 0;
    *data = chunk.iov_base;
    return chunk.iov_len;
}
