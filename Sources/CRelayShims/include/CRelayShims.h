// CRelayShims: the few C helpers Swift cannot express directly.
// - variadic or macro-only APIs get plain prefixed wrappers here.
#ifndef CRELAY_SHIMS_H
#define CRELAY_SHIMS_H
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <event2/event.h>
#include <event2/http.h>
#include <event2/bufferevent.h>

/// Allow an SO_REUSEPORT listener on host:port, bound by evhttp. Returns the bound socket or -1.
evutil_socket_t relay_listen_socket(const char *host, unsigned short port, int reuse_port, int backlog);

/// Port a bound socket listens on (for --listen 127.0.0.1:0).
int relay_socket_port(evutil_socket_t fd);

/// Whether a started reply uses chunked transfer encoding (HTTP/1.1 clients) or is
/// close-delimited (HTTP/1.0). Reads a bit field that http.h does not expose.
int relay_request_is_chunked(struct evhttp_request *req);

/// Before a streamed reply: an HTTP/1.0 request cannot take a chunked body, so its stream is
/// close-delimited; drop a "Connection: keep-alive" it sent, or libevent would announce
/// Content-Length: 0 and keep the connection.
void relay_prepare_stream(struct evhttp_request *req);

/// Writes as much of `data` as the socket takes now, without blocking or SIGPIPE.
/// Returns the bytes written, 0 when the socket is full, -1 on a dead connection.
long relay_send_now(evutil_socket_t fd, const void *data, unsigned long length);

/// Writes as much of several buffers (in order) as the socket takes now: one sendmsg, no
/// blocking, no SIGPIPE. Same returns as relay_send_now. At most 64 buffers.
long relay_send_buffers(evutil_socket_t fd, const void *const *bases, const unsigned long *lengths, int count);

/// Half-closes a socket (no more writes) so that the peer sees the end of the response while
/// the server keeps reading what it still sends (a lingering close, not a reset).
void relay_shutdown_write(evutil_socket_t fd);

/// errno of the calling thread (Swift cannot read the macro through the module).
int relay_errno(void);

/// Writes `length` bytes at once if the socket takes them (no blocking, no SIGPIPE), then
/// closes it: the answer to a connection refused over the cap.
void relay_send_and_close(evutil_socket_t fd, const char *data, unsigned long length);

/// Clock readings in nanoseconds: CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_MONOTONIC_COARSE.
/// (Swift code in RelayIO must not import Glibc next to CLibevent: the two modules see
/// fd_set differently, and a clean build fails.)
long long relay_realtime_ns(void);
long long relay_monotonic_ns(void);
long long relay_monotonic_coarse_ns(void);

/// An id of the calling thread (pthread_self), for the debug check of the loop's thread.
unsigned long relay_thread_id(void);

/// Raises the soft open-file limit to the hard limit; returns the new soft limit.
long relay_raise_nofile_limit(void);

/// RespConnection (raw RESP over a bufferevent):
/// Starts a non-blocking connect of `bev` (created with fd -1) to a unix socket path.
/// 0 when started (a failure then arrives as BEV_EVENT_ERROR); -1 if the path does not fit.
int relay_bev_connect_unix(struct bufferevent *bev, const char *path);

/// TCP_NODELAY and keepalive on a connected TCP socket (15 s idle, then 3 probes 5 s apart,
/// as hiredis' redisEnableKeepAlive): a peer that vanished is noticed in about 30 s.
void relay_tcp_tune(evutil_socket_t fd);

/// Why `bev` failed, read in its event callback: the DNS error if the name did not resolve,
/// else strerror(errno). A static string: copy it before the next call.
const char *relay_bev_error_text(struct bufferevent *bev);

/// The first contiguous chunk of `buffer` (no copy): its length, 0 if empty; `*data` points
/// into the buffer until it is drained. (evbuffer_iovec is a macro Swift cannot see.)
size_t relay_evbuffer_first_chunk(struct evbuffer *buffer, const char **data);

/// TLS (relay_tls.c; OpenSSL and libevent_openssl, behind opaque pointers):
/// An SSL_CTX for a server with the PEM certificate chain and key, TLS 1.2 or later, ALPN
/// "h2" then "http/1.1". NULL on failure, with the reason in `error`.
void *relay_tls_context_new(const char *cert_file, const char *key_file, char *error, size_t error_length);
void relay_tls_context_free(void *ctx);
/// A bufferevent that accepts a TLS handshake on `fd` (it owns the socket and the SSL object).
struct bufferevent *relay_tls_bufferevent(struct event_base *base, evutil_socket_t fd, void *ctx);
/// After the handshake: 1 when ALPN chose "h2".
int relay_tls_negotiated_h2(struct bufferevent *bev);

/// HTTP2Client: starts a non-blocking TCP connect of `bev` (created with fd -1) to host:port
/// (a numeric address or a name, resolved with a blocking getaddrinfo), from `source` (a
/// numeric local address, port chosen by the kernel) when it is not NULL. 0 when started (a
/// failure then arrives as BEV_EVENT_ERROR); -1 if the name, the socket or the bind fails.
int relay_bev_connect_tcp(struct bufferevent *bev, const char *host, unsigned short port, const char *source);

#endif
