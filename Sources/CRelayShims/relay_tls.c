// TLS for the relay's HTTP server: an OpenSSL context with ALPN ("h2", then "http/1.1") and
// libevent's OpenSSL bufferevents. Swift sees only opaque pointers (see CRelayShims.h).
#include "CRelayShims.h"
#include <stdio.h>
#include <string.h>
#include <openssl/ssl.h>
#include <openssl/err.h>
#include <event2/bufferevent_ssl.h>

static const unsigned char relay_alpn[] = "\x02h2\x08http/1.1";

// The server's preference wins: h2 when the client offers it, else http/1.1; a client that
// offers neither gets no ALPN answer and speaks HTTP/1.1.
static int relay_alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                             const unsigned char *in, unsigned int inlen, void *arg) {
    (void)ssl; (void)arg;
    unsigned char *selected = NULL;
    if (SSL_select_next_proto(&selected, outlen, relay_alpn, sizeof(relay_alpn) - 1, in, inlen) != OPENSSL_NPN_NEGOTIATED) {
        return SSL_TLSEXT_ERR_NOACK;
    }
    *out = selected;
    return SSL_TLSEXT_ERR_OK;
}

static void relay_tls_error(const char *what, char *error, size_t error_length) {
    unsigned long code = ERR_get_error();
    char reason[256] = "";
    if (code != 0) ERR_error_string_n(code, reason, sizeof reason);
    snprintf(error, error_length, "%s%s%s", what, code ? ": " : "", reason);
    ERR_clear_error();
}

void *relay_tls_context_new(const char *cert_file, const char *key_file, char *error, size_t error_length) {
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) { relay_tls_error("cannot create a TLS context", error, error_length); return NULL; }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    // Idle connections (most SSE subscribers) give their read and write buffers back.
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1) {
        relay_tls_error("cannot read the certificate file", error, error_length);
        SSL_CTX_free(ctx);
        return NULL;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1) {
        relay_tls_error("cannot read the key file", error, error_length);
        SSL_CTX_free(ctx);
        return NULL;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        relay_tls_error("the key does not match the certificate", error, error_length);
        SSL_CTX_free(ctx);
        return NULL;
    }
    SSL_CTX_set_alpn_select_cb(ctx, relay_alpn_select, NULL);
    return ctx;
}

void relay_tls_context_free(void *ctx) { SSL_CTX_free((SSL_CTX *)ctx); }

struct bufferevent *relay_tls_bufferevent(struct event_base *base, evutil_socket_t fd, void *ctx) {
    SSL *ssl = SSL_new((SSL_CTX *)ctx);
    if (!ssl) return NULL;
    struct bufferevent *bev = bufferevent_openssl_socket_new(base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
    if (!bev) { SSL_free(ssl); return NULL; }
    // A client that closes without close_notify ends its connection like a plain EOF.
    bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    return bev;
}

int relay_tls_negotiated_h2(struct bufferevent *bev) {
    SSL *ssl = bufferevent_openssl_get_ssl(bev);
    if (!ssl) return 0;
    const unsigned char *data = NULL;
    unsigned int length = 0;
    SSL_get0_alpn_selected(ssl, &data, &length);
    return length == 2 && memcmp(data, "h2", 2) == 0;
}
