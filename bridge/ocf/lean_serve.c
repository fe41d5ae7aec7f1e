/*
 * The compiled lean GET path of the virtual OCF devices (docs/design.md, "The compiled GET
 * path"; Python side: bridge/ocf/lean_compiled.py).
 *
 * One thread per event loop waits on the UDP sockets of that loop's virtual OCF devices
 * (epoll) and answers, without the Python interpreter, the requests whose answer the Python
 * lean path (bridge/ocf/lean_path.py) has handed it: a GET whose options, byte for byte, are
 * those of a GET the lean path answered before, with the state unchanged since. Every other
 * datagram, the socket's error queue and the errors of reads and sends go, in the order they
 * came, to a queue the event loop drains (an eventfd wakes it); the Python side then treats
 * them exactly as it treats what it reads itself.
 *
 * The thread never calls into Python and Python never waits on it for long: one mutex guards
 * the sockets, their kept answers and the queue; the thread holds it while it handles the
 * datagrams of one wake-up, Python while it changes a table or takes one queued item.
 *
 * It also holds the request window of bridge/ocf/limits.py (Window) in C, so that one window
 * counts the requests of both paths: a source's requests remembered for the exchange
 * lifetime, capped per source and in total, a repeated request taking no room.
 *
 * Built into a shared library by hatch_build.py (cc -O2 -shared -fPIC) and loaded with
 * ctypes: no Python headers, no Python ABI. Linux only (epoll, eventfd, IPV6_RECVERR).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define EXPORT __attribute__((visibility("default")))

/* The largest UDP payload (65,535 minus the 8-byte UDP header), as the Python side reads. */
#define LARGEST 65527
/* Room for a datagram's ancillary data (its IPV6_PKTINFO; an ICMP error's extended error). */
#define ANCILLARY 1024
/* Datagrams read per wake-up of a busy socket at most; a quiet one reads one, every PROBE-th
 * wake-up two (the read that finds nothing costs as much as an answer). */
#define BATCH 32
#define PROBE 8
/* Items the event loop has not taken yet, at most (then a datagram is lost, like one the
 * kernel's socket buffer cannot take). */
#define QUEUE 1024
/* Answers kept per socket at most (then it starts over), as the Python path keeps. */
#define KEPT 256
/* How long a request is a duplicate of the one before it (RFC 7252 EXCHANGE_LIFETIME). */
#define EXCHANGE_LIFETIME 247.0

/* ---------------------------------------------------------------- a byte-keyed table */

typedef struct {
    uint64_t hash;
    uint8_t *key; /* NULL: empty; TOMB: removed */
    uint32_t len;
    void *value;
} slot_t;

typedef struct {
    slot_t *slots;
    size_t cap, used, live; /* used: live + removed */
} table_t;

static uint8_t tomb_byte;
#define TOMB (&tomb_byte)

static uint64_t hash_bytes(const uint8_t *data, size_t len) {
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (size_t i = 0; i < len; i++) {
        h ^= data[i];
        h *= 1099511628211ULL;
    }
    return h;
}

static slot_t *table_find(table_t *t, const uint8_t *key, uint32_t len, uint64_t h) {
    if (!t->cap)
        return NULL;
    size_t mask = t->cap - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        slot_t *s = &t->slots[i];
        if (!s->key)
            return NULL;
        if (s->key != TOMB && s->hash == h && s->len == len && !memcmp(s->key, key, len))
            return s;
    }
}

static int table_grow(table_t *t) {
    size_t cap = 16; /* at most half full after the rehash, removed slots dropped */
    while ((t->live + 1) * 2 >= cap)
        cap *= 2;
    slot_t *slots = calloc(cap, sizeof(slot_t));
    if (!slots)
        return -1;
    for (size_t i = 0; i < t->cap; i++) {
        slot_t *s = &t->slots[i];
        if (!s->key || s->key == TOMB)
            continue;
        size_t j = s->hash & (cap - 1);
        while (slots[j].key)
            j = (j + 1) & (cap - 1);
        slots[j] = *s;
    }
    free(t->slots);
    t->slots = slots;
    t->cap = cap;
    t->used = t->live;
    return 0;
}

/* The slot of key, made (with value NULL) when missing; NULL when out of memory. */
static slot_t *table_put(table_t *t, const uint8_t *key, uint32_t len, uint64_t h) {
    slot_t *found = table_find(t, key, len, h);
    if (found)
        return found;
    if ((t->used + 1) * 10 >= t->cap * 7 && table_grow(t))
        return NULL;
    uint8_t *copy = malloc(len ? len : 1);
    if (!copy)
        return NULL;
    memcpy(copy, key, len);
    size_t mask = t->cap - 1;
    size_t i = h & mask;
    while (t->slots[i].key && t->slots[i].key != TOMB)
        i = (i + 1) & mask;
    slot_t *s = &t->slots[i];
    if (!s->key)
        t->used++;
    s->hash = h;
    s->key = copy;
    s->len = len;
    s->value = NULL;
    t->live++;
    return s;
}

static void table_remove(table_t *t, slot_t *s) {
    free(s->key);
    s->key = TOMB;
    s->value = NULL;
    t->live--;
}

/* Every entry removed; free_value(value) for each. */
static void table_clear(table_t *t, void (*free_value)(void *)) {
    for (size_t i = 0; i < t->cap; i++) {
        slot_t *s = &t->slots[i];
        if (s->key && s->key != TOMB) {
            if (free_value)
                free_value(s->value);
            free(s->key);
        }
    }
    free(t->slots);
    memset(t, 0, sizeof(*t));
}

/* ---------------------------------------------------------------- clocks */

static double monotonic(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts); /* what Python's time.monotonic() reads on Linux */
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---------------------------------------------------------------- the request window */

typedef struct {
    double at;
    uint8_t *key;
    uint32_t klen;
    uint64_t khash;
    uint8_t *host;
    uint32_t hlen;
    uint64_t hhash;
} wentry_t;

typedef struct {
    pthread_mutex_t mu;
    uint32_t per_client, total;
    double lifetime;
    wentry_t *ring; /* oldest first, from head */
    size_t cap, head, count;
    table_t keys;  /* key -> (unused) */
    table_t hosts; /* host -> count (as a pointer-sized integer) */
} window_t;

EXPORT void *ow_new(uint32_t per_client, uint32_t total, double lifetime) {
    window_t *w = calloc(1, sizeof(window_t));
    if (!w)
        return NULL;
    pthread_mutex_init(&w->mu, NULL);
    w->per_client = per_client;
    w->total = total;
    w->lifetime = lifetime;
    return w;
}

static void window_forget(window_t *w, double now) {
    while (w->count) {
        wentry_t *e = &w->ring[w->head];
        if (e->at + w->lifetime > now)
            break;
        slot_t *k = table_find(&w->keys, e->key, e->klen, e->khash);
        if (k)
            table_remove(&w->keys, k);
        slot_t *h = table_find(&w->hosts, e->host, e->hlen, e->hhash);
        if (h) {
            uintptr_t left = (uintptr_t)h->value - 1;
            if (left)
                h->value = (void *)left;
            else
                table_remove(&w->hosts, h);
        }
        free(e->key);
        free(e->host);
        w->head = (w->head + 1) % w->cap;
        w->count--;
    }
}

/* A full ring of count items of size bytes, oldest at *head, made twice as big (oldest
 * first from 0); -1 when out of memory (the ring stays as it was). */
static int ring_grow(void **ring, size_t size, size_t *cap, size_t *head, size_t count) {
    size_t bigger = *cap ? *cap * 2 : 64;
    uint8_t *grown = malloc(bigger * size);
    if (!grown)
        return -1;
    for (size_t i = 0; i < count; i++)
        memcpy(grown + i * size, (uint8_t *)*ring + ((*head + i) % *cap) * size, size);
    free(*ring);
    *ring = grown;
    *cap = bigger;
    *head = 0;
    return 0;
}

static int window_push(window_t *w, wentry_t *e) {
    if (w->count == w->cap
        && ring_grow((void **)&w->ring, sizeof(wentry_t), &w->cap, &w->head, w->count))
        return -1;
    w->ring[(w->head + w->count) % w->cap] = *e;
    w->count++;
    return 0;
}

/* -1: the request fits (remembered now, or a repeat of one remembered); else the seconds
 * until it would. */
static double window_take_locked(window_t *w, const uint8_t *host, uint32_t hlen,
                                 const uint8_t *key, uint32_t klen, double now) {
    if (w->count && w->ring[w->head].at + w->lifetime <= now)
        window_forget(w, now);
    uint64_t kh = hash_bytes(key, klen), hh = hash_bytes(host, hlen);
    if (table_find(&w->keys, key, klen, kh))
        return -1.0;
    slot_t *mine = table_find(&w->hosts, host, hlen, hh);
    if (mine && (uintptr_t)mine->value >= w->per_client) {
        for (size_t i = 0; i < w->count; i++) { /* this source's oldest */
            wentry_t *e = &w->ring[(w->head + i) % w->cap];
            if (e->hhash == hh && e->hlen == hlen && !memcmp(e->host, host, hlen))
                return e->at + w->lifetime - now;
        }
        return 0.0;
    }
    if (w->count >= w->total)
        return w->ring[w->head].at + w->lifetime - now;
    wentry_t e = {.at = now, .klen = klen, .khash = kh, .hlen = hlen, .hhash = hh};
    e.key = malloc(klen ? klen : 1);
    e.host = malloc(hlen ? hlen : 1);
    slot_t *k = NULL, *h = NULL;
    if (e.key && e.host) {
        memcpy(e.key, key, klen);
        memcpy(e.host, host, hlen);
        k = table_put(&w->keys, key, klen, kh);
        h = k ? table_put(&w->hosts, host, hlen, hh) : NULL;
    }
    if (!h || window_push(w, &e)) {
        /* Out of memory: the request is taken without being remembered. */
        if (k)
            table_remove(&w->keys, k);
        if (h && !h->value)
            table_remove(&w->hosts, h);
        free(e.key);
        free(e.host);
        return -1.0;
    }
    h->value = (void *)((uintptr_t)h->value + 1);
    return -1.0;
}

EXPORT double ow_take(void *handle, const uint8_t *host, uint32_t hlen, const uint8_t *key,
                      uint32_t klen, double now) {
    window_t *w = handle;
    pthread_mutex_lock(&w->mu);
    double wait = window_take_locked(w, host, hlen, key, klen, now < 0 ? monotonic() : now);
    pthread_mutex_unlock(&w->mu);
    return wait;
}

EXPORT uint32_t ow_total(void *handle, double now) {
    window_t *w = handle;
    pthread_mutex_lock(&w->mu);
    window_forget(w, now < 0 ? monotonic() : now);
    uint32_t total = (uint32_t)w->count;
    pthread_mutex_unlock(&w->mu);
    return total;
}

EXPORT uint32_t ow_count(void *handle, const uint8_t *host, uint32_t hlen, double now) {
    window_t *w = handle;
    pthread_mutex_lock(&w->mu);
    window_forget(w, now < 0 ? monotonic() : now);
    slot_t *h = table_find(&w->hosts, host, hlen, hash_bytes(host, hlen));
    uint32_t count = h ? (uint32_t)(uintptr_t)h->value : 0;
    pthread_mutex_unlock(&w->mu);
    return count;
}

EXPORT void ow_free(void *handle) {
    window_t *w = handle;
    if (!w)
        return;
    for (size_t i = 0; i < w->count; i++) {
        wentry_t *e = &w->ring[(w->head + i) % w->cap];
        free(e->key);
        free(e->host);
    }
    free(w->ring);
    table_clear(&w->keys, NULL);
    table_clear(&w->hosts, NULL);
    pthread_mutex_destroy(&w->mu);
    free(w);
}

/* ---------------------------------------------------------------- sockets and their answers */

typedef struct {
    uint8_t *tail; /* what follows the token: options, payload marker, representation */
    uint32_t len;
    int32_t tag;   /* the resource it answers (the Python side's number for its path) */
    double until;  /* answered here until then (monotonic): then a read of the origin is due */
} kept_t;

typedef struct {
    double expires;
    uint8_t *reply; /* the answer sent (a CON's); NULL: a NON, not answered again */
    uint32_t len;
} recent_t;

typedef struct {
    uint8_t key[24]; /* the source (address, scope, port) and the message id */
    double expires;
} order_t;

typedef struct {
    int fd;
    window_t *window; /* NULL: uncapped */
    int restricted;   /* only requests arriving on the interfaces of allowed */
    uint32_t allowed[16];
    int nallowed;
    uint16_t mid;
    uint8_t busy;
    uint8_t quiet;
    uint64_t answered;
    table_t kept;   /* the bytes after a GET's token -> kept_t */
    table_t recent; /* order_t.key -> recent_t: the duplicate records */
    order_t *order; /* the duplicate records oldest first */
    size_t ocap, ohead, ocount;
} sock_t;

enum { ITEM_DATA = 1, ITEM_ERRQUEUE = 2, ITEM_READ_ERROR = 3, ITEM_SEND_ERROR = 4 };

typedef struct {
    int32_t kind, fd, err, flags;
    uint32_t dlen, alen;
    uint8_t addr[16];
    uint32_t port, flowinfo, scope;
    uint8_t *data; /* dlen bytes of datagram, then alen of ancillary data as the Python side
                    * reads it: per item level, type (int32 each), length (uint32), data */
} item_t;

/* What os_next fills in for the Python side (data goes to its buffer). */
typedef struct {
    int32_t kind, fd, err, flags;
    uint32_t dlen, alen;
    uint8_t addr[16];
    uint32_t port, flowinfo, scope;
} item_head_t;

typedef struct {
    pthread_mutex_t mu;
    pthread_t thread;
    int epoll, wake, stop;
    sock_t **by_fd;
    size_t nfd;
    size_t socks;
    item_t queue[QUEUE];
    size_t qhead, qcount;
    uint64_t lost;
    double frozen; /* < 0: the duplicate records read the monotonic clock; else this */
    uint8_t *buf;
    uint8_t *reply;
} server_t;

static void free_kept(void *value) {
    kept_t *k = value;
    if (k) {
        free(k->tail);
        free(k);
    }
}

static void free_recent(void *value) {
    recent_t *r = value;
    if (r) {
        free(r->reply);
        free(r);
    }
}

static sock_t *sock_of(server_t *s, int fd) {
    return fd >= 0 && (size_t)fd < s->nfd ? s->by_fd[fd] : NULL;
}

/* Queue an item for the event loop; 0 when the queue was empty before (wake it). */
static void enqueue(server_t *s, item_t *item, int *wake) {
    if (s->qcount == QUEUE) {
        s->lost++;
        free(item->data);
        return;
    }
    s->queue[(s->qhead + s->qcount) % QUEUE] = *item;
    s->qcount++;
    *wake = 1;
}

static void fill_source(item_t *item, const struct sockaddr_in6 *from) {
    memcpy(item->addr, &from->sin6_addr, 16);
    item->port = ntohs(from->sin6_port);
    item->flowinfo = ntohl(from->sin6_flowinfo);
    item->scope = from->sin6_scope_id;
}

/* The ancillary data of msg, as the Python side reads it (see item_t). */
static uint32_t pack_ancillary(struct msghdr *msg, uint8_t *out, uint32_t room) {
    uint32_t at = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(msg); c; c = CMSG_NXTHDR(msg, c)) {
        uint32_t len = (uint32_t)(c->cmsg_len - CMSG_LEN(0));
        if (at + 12 + len > room)
            break;
        int32_t level = c->cmsg_level, type = c->cmsg_type;
        memcpy(out + at, &level, 4);
        memcpy(out + at + 4, &type, 4);
        memcpy(out + at + 8, &len, 4);
        memcpy(out + at + 12, CMSG_DATA(c), len);
        at += 12 + len;
    }
    return at;
}

static void queue_datagram(server_t *s, int kind, sock_t *k, const uint8_t *data, size_t len,
                           struct msghdr *msg, const struct sockaddr_in6 *from, int *wake) {
    uint8_t anc[ANCILLARY + 64];
    item_t item = {.kind = kind, .fd = k->fd, .flags = msg->msg_flags};
    uint32_t alen = pack_ancillary(msg, anc, sizeof(anc));
    item.data = malloc(len + alen + 1);
    if (!item.data) {
        s->lost++;
        return;
    }
    memcpy(item.data, data, len);
    memcpy(item.data + len, anc, alen);
    item.dlen = (uint32_t)len;
    item.alen = alen;
    fill_source(&item, from);
    enqueue(s, &item, wake);
}

static void queue_error(server_t *s, int kind, sock_t *k, int err,
                        const struct sockaddr_in6 *to, const uint8_t *pktinfo, int *wake) {
    item_t item = {.kind = kind, .fd = k->fd, .err = err};
    if (to) {
        fill_source(&item, to);
        item.data = malloc(sizeof(struct in6_pktinfo));
        if (item.data && pktinfo) {
            memcpy(item.data, pktinfo, sizeof(struct in6_pktinfo));
            item.alen = sizeof(struct in6_pktinfo);
        }
    }
    enqueue(s, &item, wake);
}

/* One datagram (flags: MSG_ERRQUEUE for the error queue) into the server's buffer, with its
 * source (all zero when the kernel gave none) and ancillary data in control (ANCILLARY). */
static ssize_t receive(server_t *s, sock_t *k, int flags, struct sockaddr_in6 *from,
                       uint8_t *control, struct iovec *iov, struct msghdr *msg) {
    iov->iov_base = s->buf;
    iov->iov_len = LARGEST;
    memset(msg, 0, sizeof(*msg));
    msg->msg_name = from;
    msg->msg_namelen = sizeof(*from);
    msg->msg_iov = iov;
    msg->msg_iovlen = 1;
    msg->msg_control = control;
    msg->msg_controllen = ANCILLARY;
    ssize_t n = recvmsg(k->fd, msg, flags | MSG_DONTWAIT);
    if (n >= 0 && msg->msg_namelen < sizeof(*from))
        memset(from, 0, sizeof(*from));
    return n;
}

/* The socket's error queue (ICMP errors, IPV6_RECVERR) to the event loop. */
static void read_errors(server_t *s, sock_t *k, int *wake) {
    for (int i = 0; i < BATCH; i++) {
        struct sockaddr_in6 from;
        uint8_t control[ANCILLARY];
        struct iovec iov;
        struct msghdr msg;
        ssize_t n = receive(s, k, MSG_ERRQUEUE, &from, control, &iov, &msg);
        if (n < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                queue_error(s, ITEM_READ_ERROR, k, errno, NULL, NULL, wake);
            return;
        }
        queue_datagram(s, ITEM_ERRQUEUE, k, s->buf, (size_t)n, &msg, &from, wake);
    }
}

static void sweep(sock_t *k, double now) {
    while (k->ocount && k->order[k->ohead].expires <= now) {
        order_t *o = &k->order[k->ohead];
        slot_t *r = table_find(&k->recent, o->key, sizeof(o->key),
                               hash_bytes(o->key, sizeof(o->key)));
        if (r && ((recent_t *)r->value)->expires <= now) {
            free_recent(r->value);
            table_remove(&k->recent, r);
        }
        k->ohead = (k->ohead + 1) % k->ocap;
        k->ocount--;
    }
}

static int remember(sock_t *k, const uint8_t *key, double expires, const uint8_t *reply,
                    uint32_t len) {
    if (k->ocount == k->ocap
        && ring_grow((void **)&k->order, sizeof(order_t), &k->ocap, &k->ohead, k->ocount))
        return -1;
    recent_t *r = calloc(1, sizeof(recent_t));
    if (!r)
        return -1;
    r->expires = expires;
    if (reply) {
        r->reply = malloc(len);
        if (!r->reply) {
            free(r);
            return -1;
        }
        memcpy(r->reply, reply, len);
        r->len = len;
    }
    slot_t *slot = table_put(&k->recent, key, 24, hash_bytes(key, 24));
    if (!slot) {
        free_recent(r);
        return -1;
    }
    free_recent(slot->value);
    slot->value = r;
    order_t *o = &k->order[(k->ohead + k->ocount) % k->ocap];
    memcpy(o->key, key, 24);
    o->expires = expires;
    k->ocount++;
    return 0;
}

/* The duplicate records' key of a request: its source and message id. */
static void record_key(uint8_t *key, const uint8_t *addr, uint32_t scope, uint16_t port,
                       uint16_t mid) {
    memset(key, 0, 24);
    memcpy(key, addr, 16);
    memcpy(key + 16, &scope, 4);
    key[20] = (uint8_t)(port >> 8);
    key[21] = (uint8_t)(port & 0xFF);
    key[22] = (uint8_t)(mid >> 8);
    key[23] = (uint8_t)(mid & 0xFF);
}

/* A send that failed with err: once more (a failed send may have consumed another peer's
 * pending ICMP error); a full socket buffer loses the datagram; a second failure ends that
 * peer's exchanges in aiocoap (the event loop's item). */
static void send_reply(server_t *s, sock_t *k, struct msghdr *out, const uint8_t *pktinfo,
                       const struct sockaddr_in6 *to, int *wake) {
    if (sendmsg(k->fd, out, MSG_DONTWAIT) >= 0)
        return;
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS)
        return;
    if (sendmsg(k->fd, out, MSG_DONTWAIT) >= 0)
        return;
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS)
        return;
    queue_error(s, ITEM_SEND_ERROR, k, errno, to, pktinfo, wake);
}

static int is_allowed(const sock_t *k, uint32_t index) {
    for (int i = 0; i < k->nallowed; i++)
        if (k->allowed[i] == index)
            return 1;
    return 0;
}

/* Answer one datagram here (1) or leave it to the event loop (0). */
static int serve(server_t *s, sock_t *k, const uint8_t *data, size_t size, struct msghdr *msg,
                 const struct sockaddr_in6 *from, int *wake) {
    /* RFC 7252 section 3: version 1, a CON or a NON, code 0.01 (GET), a token of 0-8. */
    if (size < 4 || data[1] != 0x01 || (data[0] & 0xE0) != 0x40)
        return 0;
    size_t end = 4 + (data[0] & 0x0F);
    if (end > 12 || end > size || (msg->msg_flags & MSG_TRUNC))
        return 0;
    /* The only ancillary item is the IPV6_PKTINFO of a unicast arrival. */
    struct cmsghdr *c = CMSG_FIRSTHDR(msg);
    if (!c || CMSG_NXTHDR(msg, c) || c->cmsg_level != IPPROTO_IPV6
        || c->cmsg_type != IPV6_PKTINFO
        || c->cmsg_len != CMSG_LEN(sizeof(struct in6_pktinfo)))
        return 0;
    struct in6_pktinfo info;
    memcpy(&info, CMSG_DATA(c), sizeof(info));
    const uint8_t *dst = info.ipi6_addr.s6_addr;
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};
    if (dst[0] == 0xFF || (!memcmp(dst, mapped, 12) && dst[12] >= 224 && dst[12] <= 239))
        return 0;
    if (from->sin6_family != AF_INET6)
        return 0;
    /* ocf.interfaces: an interface the Python side took a request on before. */
    if (k->restricted && !is_allowed(k, info.ipi6_ifindex))
        return 0;
    uint16_t mid = (uint16_t)((data[2] << 8) | data[3]);
    double now = s->frozen >= 0 ? s->frozen : monotonic();
    if (k->window) {
        /* The window's host and key, as bridge/ocf/admission.py names them. */
        char text[INET6_ADDRSTRLEN + 16], host[INET6_ADDRSTRLEN + 16], key[INET6_ADDRSTRLEN + 40];
        const uint8_t *a = from->sin6_addr.s6_addr;
        if (!inet_ntop(AF_INET6, a, text, sizeof(text)))
            return 0;
        int hlen;
        const char *shown = text;
        char v4[INET_ADDRSTRLEN];
        if (!memcmp(a, mapped, 12) && strchr(text, '.')) {
            if (!inet_ntop(AF_INET, a + 12, v4, sizeof(v4)))
                return 0;
            shown = v4;
        }
        if (from->sin6_scope_id)
            hlen = snprintf(host, sizeof(host), "%s%%%u", shown, from->sin6_scope_id);
        else
            hlen = snprintf(host, sizeof(host), "%s", shown);
        int klen = snprintf(key, sizeof(key), "%s,%u,%u", text, ntohs(from->sin6_port), mid);
        if (hlen < 0 || klen < 0)
            return 0;
        pthread_mutex_lock(&k->window->mu);
        double wait = window_take_locked(k->window, (uint8_t *)host, (uint32_t)hlen,
                                         (uint8_t *)key, (uint32_t)klen,
                                         s->frozen >= 0 ? monotonic() : now);
        pthread_mutex_unlock(&k->window->mu);
        if (wait >= 0)
            return 0; /* the event loop's aiocoap refuses it (5.03) and counts it */
    }
    if (k->ocount && k->order[k->ohead].expires <= now)
        sweep(k, now);
    uint8_t rkey[24];
    record_key(rkey, from->sin6_addr.s6_addr, from->sin6_scope_id, ntohs(from->sin6_port), mid);
    struct iovec iov;
    struct msghdr out = {.msg_name = (void *)from, .msg_namelen = sizeof(*from),
                         .msg_iov = &iov, .msg_iovlen = 1, .msg_control = msg->msg_control,
                         .msg_controllen = msg->msg_controllen};
    slot_t *seen = table_find(&k->recent, rkey, 24, hash_bytes(rkey, 24));
    if (seen) {
        recent_t *r = seen->value;
        if (r->expires > now) {
            if (r->reply) {
                iov.iov_base = r->reply;
                iov.iov_len = r->len;
                send_reply(s, k, &out, (const uint8_t *)&info, from, wake);
            }
            k->answered++;
            return 1;
        }
        free_recent(r);
        table_remove(&k->recent, seen);
    }
    /* A GET answered here before: the bytes of its options are the key. */
    const uint8_t *options = data + end;
    uint32_t olen = (uint32_t)(size - end);
    slot_t *found = table_find(&k->kept, options, olen, hash_bytes(options, olen));
    if (!found)
        return 0;
    kept_t *kept = found->value;
    if (kept->until <= now)
        return 0; /* the Python side asks whether the origin must be read first */
    size_t tkl = end - 4, len = end + kept->len;
    uint8_t *reply = s->reply;
    int confirmable = !(data[0] & 0x30);
    if (confirmable) {
        reply[0] = (uint8_t)(0x60 | tkl); /* an ACK, piggybacked: the request's message id */
        reply[2] = data[2];
        reply[3] = data[3];
    } else {
        k->mid++;
        reply[0] = (uint8_t)(0x50 | tkl); /* a NON with a message id of its own */
        reply[2] = (uint8_t)(k->mid >> 8);
        reply[3] = (uint8_t)(k->mid & 0xFF);
    }
    reply[1] = 0x45; /* 2.05 Content */
    memcpy(reply + 4, data + 4, tkl);
    memcpy(reply + end, kept->tail, kept->len);
    remember(k, rkey, now + EXCHANGE_LIFETIME, confirmable ? reply : NULL, (uint32_t)len);
    k->answered++;
    iov.iov_base = reply;
    iov.iov_len = len;
    send_reply(s, k, &out, (const uint8_t *)&info, from, wake);
    return 1;
}

static void read_socket(server_t *s, sock_t *k, int *wake) {
    int reads = k->busy ? BATCH : (k->quiet >= PROBE ? 2 : 1);
    int count = 0;
    while (count < reads) {
        struct sockaddr_in6 from;
        uint8_t control[ANCILLARY];
        struct iovec iov;
        struct msghdr msg;
        ssize_t n = receive(s, k, 0, &from, control, &iov, &msg);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
                if (!count)
                    read_errors(s, k, wake);
            } else {
                queue_error(s, ITEM_READ_ERROR, k, errno, NULL, NULL, wake);
                read_errors(s, k, wake);
            }
            break;
        }
        count++;
        if (!serve(s, k, s->buf, (size_t)n, &msg, &from, wake))
            queue_datagram(s, ITEM_DATA, k, s->buf, (size_t)n, &msg, &from, wake);
    }
    if (count == BATCH)
        read_errors(s, k, wake);
    k->busy = count > 1;
    k->quiet = (count != 1 || reads != 1) ? 0 : (uint8_t)(k->quiet < 255 ? k->quiet + 1 : 255);
}

static void *run(void *arg) {
    server_t *s = arg;
    struct epoll_event events[64];
    for (;;) {
        int n = epoll_wait(s->epoll, events, 64, -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return NULL;
        }
        int wake = 0;
        pthread_mutex_lock(&s->mu);
        for (int i = 0; i < n; i++) {
            int fd = events[i].data.fd;
            if (fd == s->stop) {
                pthread_mutex_unlock(&s->mu);
                return NULL;
            }
            sock_t *k = sock_of(s, fd);
            if (!k)
                continue; /* removed since epoll_wait returned */
            if (events[i].events & EPOLLIN)
                read_socket(s, k, &wake);
            /* An error queue that waits beside datagrams is read at once too, not only when
             * a wake-up finds no datagram. */
            if (events[i].events & EPOLLERR)
                read_errors(s, k, &wake);
        }
        pthread_mutex_unlock(&s->mu);
        if (wake) {
            uint64_t one = 1;
            ssize_t ignored = write(s->wake, &one, sizeof(one));
            (void)ignored;
        }
    }
}

EXPORT void *os_new(void) {
    server_t *s = calloc(1, sizeof(server_t));
    if (!s)
        return NULL;
    s->frozen = -1;
    s->buf = malloc(LARGEST);
    s->reply = malloc(LARGEST + 16);
    s->epoll = epoll_create1(EPOLL_CLOEXEC);
    s->wake = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    s->stop = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    pthread_mutex_init(&s->mu, NULL);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = s->stop};
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    if (!s->buf || !s->reply || s->epoll < 0 || s->wake < 0 || s->stop < 0
        || epoll_ctl(s->epoll, EPOLL_CTL_ADD, s->stop, &ev)
        || pthread_create(&s->thread, &attr, run, s)) {
        pthread_attr_destroy(&attr);
        if (s->epoll >= 0)
            close(s->epoll);
        if (s->wake >= 0)
            close(s->wake);
        if (s->stop >= 0)
            close(s->stop);
        free(s->buf);
        free(s->reply);
        free(s);
        return NULL;
    }
    pthread_attr_destroy(&attr);
    return s;
}

EXPORT int os_wake_fd(void *handle) { return ((server_t *)handle)->wake; }

EXPORT int os_add(void *handle, int fd, void *window, int restricted) {
    server_t *s = handle;
    int err = 0;
    pthread_mutex_lock(&s->mu);
    if (fd < 0 || sock_of(s, fd)) {
        err = EINVAL;
        goto done;
    }
    if ((size_t)fd >= s->nfd) {
        size_t nfd = s->nfd ? s->nfd : 64;
        while (nfd <= (size_t)fd)
            nfd *= 2;
        sock_t **by_fd = realloc(s->by_fd, nfd * sizeof(sock_t *));
        if (!by_fd) {
            err = ENOMEM;
            goto done;
        }
        memset(by_fd + s->nfd, 0, (nfd - s->nfd) * sizeof(sock_t *));
        s->by_fd = by_fd;
        s->nfd = nfd;
    }
    sock_t *k = calloc(1, sizeof(sock_t));
    if (!k) {
        err = ENOMEM;
        goto done;
    }
    k->fd = fd;
    k->window = window;
    k->restricted = restricted;
    uint16_t mid;
    memcpy(&mid, &k, sizeof(mid)); /* any start will do (RFC 7252 section 4.4) */
    k->mid = (uint16_t)(mid ^ (uint16_t)monotonic() ^ (uint16_t)(monotonic() * 65536.0));
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
    if (epoll_ctl(s->epoll, EPOLL_CTL_ADD, fd, &ev)) {
        err = errno;
        free(k);
        goto done;
    }
    s->by_fd[fd] = k;
    s->socks++;
done:
    pthread_mutex_unlock(&s->mu);
    return err;
}

static void free_sock(sock_t *k) {
    table_clear(&k->kept, free_kept);
    table_clear(&k->recent, free_recent);
    free(k->order);
    free(k);
}

/* Stop serving fd: once this returns, the thread touches it no more (closing it is safe). */
EXPORT void os_remove(void *handle, int fd) {
    server_t *s = handle;
    pthread_mutex_lock(&s->mu);
    sock_t *k = sock_of(s, fd);
    if (k) {
        epoll_ctl(s->epoll, EPOLL_CTL_DEL, fd, NULL);
        s->by_fd[fd] = NULL;
        s->socks--;
        free_sock(k);
        /* Its queued items go too: a socket opened later may get the same number. */
        for (size_t i = 0; i < s->qcount; i++) {
            item_t *item = &s->queue[(s->qhead + i) % QUEUE];
            if (item->fd == fd) {
                free(item->data);
                item->data = NULL;
                item->fd = -1;
                item->dlen = item->alen = 0;
            }
        }
    }
    pthread_mutex_unlock(&s->mu);
}

EXPORT int os_keep(void *handle, int fd, const uint8_t *options, uint32_t olen,
                   const uint8_t *tail, uint32_t tlen, int32_t tag, double until) {
    server_t *s = handle;
    int err = 0;
    pthread_mutex_lock(&s->mu);
    sock_t *k = sock_of(s, fd);
    if (!k) {
        err = EBADF;
        goto done;
    }
    if (k->kept.live >= KEPT)
        table_clear(&k->kept, free_kept);
    kept_t *kept = malloc(sizeof(kept_t));
    uint8_t *copy = malloc(tlen ? tlen : 1);
    slot_t *slot = kept && copy ? table_put(&k->kept, options, olen,
                                            hash_bytes(options, olen)) : NULL;
    if (!slot) {
        free(kept);
        free(copy);
        err = ENOMEM;
        goto done;
    }
    memcpy(copy, tail, tlen);
    kept->tail = copy;
    kept->len = tlen;
    kept->tag = tag;
    kept->until = until;
    free_kept(slot->value);
    slot->value = kept;
done:
    pthread_mutex_unlock(&s->mu);
    return err;
}

/* A request the Python lean path answered on fd (reply: a CON's answer; NULL: a NON's):
 * its repeats are duplicates here too. */
EXPORT void os_remember(void *handle, int fd, const uint8_t *addr, uint32_t scope,
                        uint32_t port, uint32_t mid, const uint8_t *reply, uint32_t len) {
    server_t *s = handle;
    pthread_mutex_lock(&s->mu);
    sock_t *k = sock_of(s, fd);
    if (k) {
        uint8_t key[24];
        double now = s->frozen >= 0 ? s->frozen : monotonic();
        record_key(key, addr, scope, (uint16_t)port, (uint16_t)mid);
        if (k->ocount && k->order[k->ohead].expires <= now)
            sweep(k, now);
        remember(k, key, now + EXCHANGE_LIFETIME, reply, len);
    }
    pthread_mutex_unlock(&s->mu);
}

/* With ocf.interfaces: requests arriving on interface index are taken here too (the Python
 * side took one, by the interface's name). At most 16 are remembered, then it starts over. */
EXPORT void os_allow(void *handle, int fd, uint32_t index) {
    server_t *s = handle;
    pthread_mutex_lock(&s->mu);
    sock_t *k = sock_of(s, fd);
    if (k && !is_allowed(k, index)) {
        if (k->nallowed == 16)
            k->nallowed = 0;
        k->allowed[k->nallowed++] = index;
    }
    pthread_mutex_unlock(&s->mu);
}

/* Drop fd's kept answers of the resource tag (-1: all). */
EXPORT void os_forget(void *handle, int fd, int32_t tag) {
    server_t *s = handle;
    pthread_mutex_lock(&s->mu);
    sock_t *k = sock_of(s, fd);
    if (k) {
        if (tag < 0) {
            table_clear(&k->kept, free_kept);
        } else {
            for (size_t i = 0; i < k->kept.cap; i++) {
                slot_t *slot = &k->kept.slots[i];
                if (slot->key && slot->key != TOMB && ((kept_t *)slot->value)->tag == tag) {
                    free_kept(slot->value);
                    table_remove(&k->kept, slot);
                }
            }
        }
    }
    pthread_mutex_unlock(&s->mu);
}

EXPORT uint64_t os_answered(void *handle, int fd) {
    server_t *s = handle;
    pthread_mutex_lock(&s->mu);
    sock_t *k = sock_of(s, fd);
    uint64_t answered = k ? k->answered : 0;
    pthread_mutex_unlock(&s->mu);
    return answered;
}

/* Datagrams lost because the event loop had QUEUE items still to take. */
EXPORT uint64_t os_lost(void *handle) {
    server_t *s = handle;
    pthread_mutex_lock(&s->mu);
    uint64_t lost = s->lost;
    pthread_mutex_unlock(&s->mu);
    return lost;
}

/* The clock of the duplicate records and of the kept answers' freshness: now (< 0: the
 * monotonic clock again; the request window keeps the monotonic clock). For tests. */
EXPORT void os_set_now(void *handle, double now) {
    server_t *s = handle;
    pthread_mutex_lock(&s->mu);
    s->frozen = now;
    pthread_mutex_unlock(&s->mu);
}

/* The oldest queued item into head and buf (room bytes); 1: one was taken, 0: none is
 * queued, -1: buf is too small (the item is dropped). */
EXPORT int os_next(void *handle, item_head_t *head, uint8_t *buf, uint32_t room) {
    server_t *s = handle;
    pthread_mutex_lock(&s->mu);
    if (!s->qcount) {
        pthread_mutex_unlock(&s->mu);
        return 0;
    }
    item_t item = s->queue[s->qhead];
    s->qhead = (s->qhead + 1) % QUEUE;
    s->qcount--;
    pthread_mutex_unlock(&s->mu);
    int taken = 1;
    head->kind = item.kind;
    head->fd = item.fd;
    head->err = item.err;
    head->flags = item.flags;
    head->dlen = item.dlen;
    head->alen = item.alen;
    memcpy(head->addr, item.addr, 16);
    head->port = item.port;
    head->flowinfo = item.flowinfo;
    head->scope = item.scope;
    if (item.dlen + item.alen > room)
        taken = -1;
    else if (item.data)
        memcpy(buf, item.data, item.dlen + item.alen);
    free(item.data);
    return taken;
}

EXPORT void os_free(void *handle) {
    server_t *s = handle;
    if (!s)
        return;
    uint64_t one = 1;
    ssize_t ignored = write(s->stop, &one, sizeof(one));
    (void)ignored;
    pthread_join(s->thread, NULL);
    for (size_t fd = 0; fd < s->nfd; fd++)
        if (s->by_fd[fd])
            free_sock(s->by_fd[fd]);
    while (s->qcount) {
        free(s->queue[s->qhead].data);
        s->qhead = (s->qhead + 1) % QUEUE;
        s->qcount--;
    }
    free(s->by_fd);
    close(s->epoll);
    close(s->wake);
    close(s->stop);
    pthread_mutex_destroy(&s->mu);
    free(s->buf);
    free(s->reply);
    free(s);
}
