/*
 * Minimal blocking WebSocket echo client: the fixed driver of
 * ``echo_rps.py --mode server`` (compiled on demand by the benchmark harness).
 *
 *   echo_client     HOST PORT PATH SIZE DURATION WARMUP SERVER_PID
 *   echo_client_tls HOST PORT PATH SIZE DURATION WARMUP SERVER_PID CAFILE
 *
 * Connects, performs the HTTP/1.1 upgrade, then repeatedly sends ONE masked
 * binary frame of SIZE random bytes and reads the whole echo back (header and
 * payload are verified), for WARMUP + DURATION seconds; round trips in the
 * measured window are counted.  Prints one JSON line: rps, the CPU time of
 * this process per round trip (getrusage) and, when SERVER_PID > 0, the CPU
 * time of the server process per round trip (utime+stime from
 * /proc/PID/stat, clock-tick resolution) over the measured window.
 *
 * Built with -DECHO_TLS (and -lssl -lcrypto) it speaks wss://: TLS over the
 * same blocking socket with the system's OpenSSL (the one Python's ssl module
 * uses on the benchmark machine), verifying the server's certificate against
 * CAFILE and HOST (an IP address), with OpenSSL's default protocol and
 * cipher choice, which is what the Python clients negotiate too.
 *
 * Why C: the driver of a server benchmark should cost as little CPU per
 * round trip as possible (server and driver share one CPU) and must not be
 * one of the libraries under test.  Blocking send/recv is the cheapest
 * possible client: two syscalls per round trip, no event loop.
 *
 * Every wait is bounded (SO_RCVTIMEO/SO_SNDTIMEO); any error exits non-zero
 * with a message on stderr.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <signal.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#ifdef ECHO_TLS
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
static SSL *tls; /* the one connection */
#define N_ARGS 9
#else
#define N_ARGS 8
#endif

static void die(const char *what) {
    fprintf(stderr, "echo_client: %s: %s\n", what, errno ? strerror(errno) : "error");
#ifdef ECHO_TLS
    ERR_print_errors_fp(stderr);
#endif
    exit(1);
}

/* send() / recv() on the socket, or SSL_write() / SSL_read() over it: >0 bytes, 0 closed, <0 error. */
static ssize_t io_send(int fd, const unsigned char *p, size_t n) {
#ifdef ECHO_TLS
    size_t done = 0;
    (void)fd;
    return SSL_write_ex(tls, p, n, &done) == 1 ? (ssize_t)done : -1;
#else
    return send(fd, p, n, MSG_NOSIGNAL);
#endif
}

static ssize_t io_recv(int fd, unsigned char *p, size_t n) {
#ifdef ECHO_TLS
    size_t done = 0;
    (void)fd;
    if (SSL_read_ex(tls, p, n, &done) == 1) return (ssize_t)done;
    int err = SSL_get_error(tls, 0);
    return (err == SSL_ERROR_ZERO_RETURN) ? 0 : -1;
#else
    return recv(fd, p, n, 0);
#endif
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static double self_cpu(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec * 1e-6;
}

/* utime + stime of another process, in seconds; -1 if unavailable. */
static double proc_cpu(int pid) {
    char path[64], buf[2048];
    if (pid <= 0) return -1;
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    if (!p) return -1;
    /* after ") ": field 3 (state) ... field 14 utime, field 15 stime */
    unsigned long long utime = 0, stime = 0;
    int field = 2;
    for (char *tok = strtok(p + 1, " "); tok; tok = strtok(NULL, " ")) {
        field++;
        if (field == 14) utime = strtoull(tok, NULL, 10);
        if (field == 15) { stime = strtoull(tok, NULL, 10); break; }
    }
    return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

static void send_all(int fd, const unsigned char *p, size_t n) {
    while (n) {
        ssize_t r = io_send(fd, p, n);
        if (r < 0) {
            if (errno == EINTR) continue;
            die("send");
        }
        p += r;
        n -= (size_t)r;
    }
}

static void recv_exact(int fd, unsigned char *p, size_t n) {
    while (n) {
        ssize_t r = io_recv(fd, p, n);
        if (r < 0) {
            if (errno == EINTR) continue;
            die("recv (timeout or error)");
        }
        if (r == 0) {
            errno = 0;
            die("connection closed by the server");
        }
        p += r;
        n -= (size_t)r;
    }
}

static size_t header_len(size_t n, int masked) {
    return (n < 126 ? 2 : n < 65536 ? 4 : 10) + (masked ? 4 : 0);
}

static size_t write_header(unsigned char *h, int opcode, size_t n, const unsigned char *mask) {
    size_t i = 0;
    h[i++] = 0x80 | opcode;
    unsigned char mbit = mask ? 0x80 : 0;
    if (n < 126) {
        h[i++] = mbit | (unsigned char)n;
    } else if (n < 65536) {
        h[i++] = mbit | 126;
        h[i++] = (unsigned char)(n >> 8);
        h[i++] = (unsigned char)n;
    } else {
        h[i++] = mbit | 127;
        for (int s = 56; s >= 0; s -= 8) h[i++] = (unsigned char)((uint64_t)n >> s);
    }
    if (mask) {
        memcpy(h + i, mask, 4);
        i += 4;
    }
    return i;
}

int main(int argc, char **argv) {
    if (argc != N_ARGS) {
        fprintf(stderr, "usage: %s HOST PORT PATH SIZE DURATION WARMUP SERVER_PID%s\n", argv[0],
                N_ARGS == 9 ? " CAFILE" : "");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN); /* a vanished server is an error message, not a silent death */
    const char *host = argv[1];
    int port = atoi(argv[2]);
    const char *path = argv[3];
    size_t size = strtoull(argv[4], NULL, 10);
    double duration = atof(argv[5]);
    double warmup = atof(argv[6]);
    int server_pid = atoi(argv[7]);

    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) die("socket");
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct timeval tv = {10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
        errno = 0;
        die("HOST must be an IPv4 address");
    }
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) die("connect");
#ifdef ECHO_TLS
    SSL_CTX *tls_ctx = SSL_CTX_new(TLS_client_method());
    if (!tls_ctx) die("SSL_CTX_new");
    if (SSL_CTX_load_verify_locations(tls_ctx, argv[8], NULL) != 1) die("loading CAFILE");
    SSL_CTX_set_verify(tls_ctx, SSL_VERIFY_PEER, NULL);
    tls = SSL_new(tls_ctx);
    if (!tls || SSL_set_fd(tls, fd) != 1) die("SSL_new");
    if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(tls), host) != 1) die("setting the expected IP");
    if (SSL_connect(tls) != 1) {
        errno = 0;
        die("TLS handshake");
    }
#endif

    /* RFC 6455 section 1.3 sample key and its accept value. */
    char req[512];
    int rl = snprintf(req, sizeof req,
                      "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
                      path, host, port);
    send_all(fd, (unsigned char *)req, (size_t)rl);
    char resp[8192];
    size_t got = 0;
    char *end = NULL;
    while (!end) {
        if (got == sizeof resp - 1) {
            errno = 0;
            die("upgrade response too long");
        }
        ssize_t r = io_recv(fd, (unsigned char *)resp + got, sizeof resp - 1 - got);
        if (r <= 0) die("reading the upgrade response");
        got += (size_t)r;
        resp[got] = 0;
        end = strstr(resp, "\r\n\r\n");
    }
    if (strncmp(resp, "HTTP/1.1 101", 12) != 0 || !strstr(resp, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")) {
        errno = 0;
        fprintf(stderr, "echo_client: bad upgrade response: %.200s\n", resp);
        return 1;
    }
    if ((size_t)(end + 4 - resp) != got) {
        errno = 0;
        die("unexpected bytes after the 101 response");
    }

    unsigned char mask[4];
    unsigned char *payload = malloc(size ? size : 1);
    if (!payload) die("malloc");
    FILE *ur = fopen("/dev/urandom", "rb");
    if (!ur || fread(mask, 1, 4, ur) != 4 || (size && fread(payload, 1, size, ur) != size)) die("/dev/urandom");
    fclose(ur);

    size_t fhl = header_len(size, 1);
    unsigned char *frame = malloc(fhl + size);
    if (!frame) die("malloc");
    write_header(frame, 0x2, size, mask);
    for (size_t i = 0; i < size; i++) frame[fhl + i] = payload[i] ^ mask[i & 3];
    size_t frame_len = fhl + size;

    unsigned char expect_hdr[14];
    size_t ehl = write_header(expect_hdr, 0x2, size, NULL);
    size_t echo_len = ehl + size;
    unsigned char *echo = malloc(echo_len);
    if (!echo) die("malloc");

    double t = now(), phase_end = t + warmup, t0 = t, t1 = t;
    double c0 = 0, c1 = 0, s0 = -1, s1 = -1;
    int measuring = warmup <= 0;
    if (measuring) {
        c0 = self_cpu();
        s0 = proc_cpu(server_pid);
        phase_end = t + duration;
    }
    long count = 0;
    for (;;) {
        send_all(fd, frame, frame_len);
        recv_exact(fd, echo, echo_len);
        if (memcmp(echo, expect_hdr, ehl) != 0 || memcmp(echo + ehl, payload, size) != 0) {
            errno = 0;
            die("echo does not match what was sent");
        }
        count++;
        t = now();
        if (t < phase_end) continue;
        if (!measuring) {
            measuring = 1;
            count = 0;
            t0 = t;
            c0 = self_cpu();
            s0 = proc_cpu(server_pid);
            phase_end = t + duration;
            continue;
        }
        t1 = t;
        c1 = self_cpu();
        s1 = proc_cpu(server_pid);
        break;
    }

    /* Closing handshake: masked CLOSE(1000), then read until the server closes. */
    unsigned char close_frame[8] = {0x88, 0x82, mask[0], mask[1], mask[2], mask[3],
                                    (unsigned char)(0x03 ^ mask[0]), (unsigned char)(0xE8 ^ mask[1])};
    send_all(fd, close_frame, sizeof close_frame);
    struct timeval tv2 = {2, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv2, sizeof tv2);
    for (int i = 0; i < 100; i++) {
        ssize_t r = io_recv(fd, echo, echo_len < 4096 ? echo_len : 4096);
        if (r <= 0) break;
    }
    close(fd);

    double elapsed = t1 - t0;
#ifdef ECHO_TLS
    const char *impl = "c-tls";
#else
    const char *impl = "c";
#endif
    printf("{\"role\": \"client\", \"impl\": \"%s\", \"size\": %zu, \"round_trips\": %ld, \"elapsed\": %.6f, "
           "\"rps\": %.3f, \"client_cpu_us_per_rt\": %.4f",
           impl, size, count, elapsed, elapsed > 0 ? count / elapsed : 0.0, count ? (c1 - c0) / count * 1e6 : 0.0);
    if (s0 >= 0 && s1 >= 0 && count)
        printf(", \"server_cpu_us_per_rt\": %.4f, \"server_cpu_share\": %.4f", (s1 - s0) / count * 1e6,
               elapsed > 0 ? (s1 - s0) / elapsed : 0.0);
#ifdef ECHO_TLS
    printf(", \"tls_version\": \"%s\", \"tls_cipher\": \"%s\"", SSL_get_version(tls), SSL_get_cipher_name(tls));
#endif
    printf("}\n");
    return 0;
}
