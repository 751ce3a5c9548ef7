/* A fake libWeWorkFinanceSdk_C.so with the real C ABI (WeWorkFinanceSdk_C.h), for tests only.
 *
 * FAKE_FINANCE_SDK_DATA   path of a tab-separated file, one record a line:
 *                         seq, msgid, publickey_ver, encrypt_random_key, encrypt_chat_msg
 * FAKE_FINANCE_SDK_SECRET if set, GetChatData answers errcode 40001 unless Init got this secret
 *
 * encrypt_chat_msg = base64(plaintext XOR random_key, key repeated). The plaintext starts with a
 * 4-byte magic that decides what DecryptData does: "FAKE" returns the rest, "SEGV" crashes,
 * "E001" returns 10001, "HANG" sleeps; anything else (e.g. a wrong key) returns 10006.
 * GetChatData triggers by seq: 900000001 crashes, 900000002 returns 10001, 900000003 sleeps.
 * The RSA step is done by the tests in Python, so this file needs no crypto library.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct WeWorkFinanceSdk_t {
    char *secret;
} WeWorkFinanceSdk_t;

typedef struct Slice_t {
    char *buf;
    int len;
} Slice_t;

typedef struct MediaData {
    char *outindexbuf;
    int out_len;
    char *data;
    int data_len;
    int is_finish;
} MediaData_t;

#define SEQ_CRASH 900000001ULL
#define SEQ_NETWORK_ERROR 900000002ULL
#define SEQ_HANG 900000003ULL

WeWorkFinanceSdk_t *NewSdk(void) { return calloc(1, sizeof(WeWorkFinanceSdk_t)); }

int Init(WeWorkFinanceSdk_t *sdk, const char *corpid, const char *secret) {
    /* The real SDK is chatty too: this line must not end up inside the worker's protocol. */
    printf("fake finance sdk: Init\n");
    fflush(stdout);
    if (!sdk || !corpid || !*corpid || !secret) return 10000;
    free(sdk->secret);
    sdk->secret = strdup(secret);
    return 0;
}

void DestroySdk(WeWorkFinanceSdk_t *sdk) {
    if (!sdk) return;
    free(sdk->secret);
    free(sdk);
}

Slice_t *NewSlice(void) { return calloc(1, sizeof(Slice_t)); }

void FreeSlice(Slice_t *slice) {
    if (!slice) return;
    free(slice->buf);
    free(slice);
}

char *GetContentFromSlice(Slice_t *slice) { return slice ? slice->buf : NULL; }
int GetSliceLen(Slice_t *slice) { return slice ? slice->len : 0; }

static void slice_set(Slice_t *slice, char *buf, int len) {
    free(slice->buf);
    slice->buf = buf;
    slice->len = len;
}

/* A growable string buffer, enough for building the JSON answer. */
typedef struct { char *buf; size_t len, cap; } Buf;

static void buf_add(Buf *b, const char *s) {
    size_t n = strlen(s);
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->buf = realloc(b->buf, b->cap);
    }
    memcpy(b->buf + b->len, s, n + 1);
    b->len += n;
}

int GetChatData(WeWorkFinanceSdk_t *sdk, unsigned long long seq, unsigned int limit,
                const char *proxy, const char *passwd, int timeout, Slice_t *chatDatas) {
    (void)proxy; (void)passwd; (void)timeout;
    if (seq == SEQ_CRASH) raise(SIGSEGV);
    if (seq == SEQ_NETWORK_ERROR) return 10001;
    if (seq == SEQ_HANG) sleep(60);
    if (!sdk || !chatDatas || limit > 1000) return 10000;
    const char *expected = getenv("FAKE_FINANCE_SDK_SECRET");
    if (expected && (!sdk->secret || strcmp(expected, sdk->secret) != 0)) {
        const char *denied = "{\"errcode\":40001,\"errmsg\":\"invalid secret\",\"chatdata\":[]}";
        slice_set(chatDatas, strdup(denied), (int)strlen(denied));
        return 0;
    }
    const char *path = getenv("FAKE_FINANCE_SDK_DATA");
    FILE *file = path ? fopen(path, "r") : NULL;
    if (!file) return 10003;
    Buf out = {0};
    buf_add(&out, "{\"errcode\":0,\"errmsg\":\"ok\",\"chatdata\":[");
    char *line = NULL;
    size_t cap = 0;
    unsigned int count = 0;
    while (count < limit && getline(&line, &cap, file) > 0) {
        char *fields[5];
        char *rest = line;
        int n = 0;
        for (; n < 5 && rest; n++) fields[n] = strsep(&rest, "\t\n");
        if (n < 5 || strtoull(fields[0], NULL, 10) <= seq) continue;
        char head[128];
        snprintf(head, sizeof head, "%s{\"seq\":%s,\"msgid\":\"", count ? "," : "", fields[0]);
        buf_add(&out, head);
        buf_add(&out, fields[1]);
        buf_add(&out, "\",\"publickey_ver\":");
        buf_add(&out, fields[2]);
        buf_add(&out, ",\"encrypt_random_key\":\"");
        buf_add(&out, fields[3]);
        buf_add(&out, "\",\"encrypt_chat_msg\":\"");
        buf_add(&out, fields[4]);
        buf_add(&out, "\"}");
        count++;
    }
    free(line);
    fclose(file);
    buf_add(&out, "]}");
    slice_set(chatDatas, out.buf, (int)out.len);
    return 0;
}

static int b64_value(char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

/* Decode standard base64 into a new buffer; returns the length or -1. */
static int b64_decode(const char *in, unsigned char **out) {
    size_t n = strlen(in);
    unsigned char *buf = malloc(n / 4 * 3 + 3);
    int len = 0, bits = 0;
    unsigned int acc = 0;
    for (size_t i = 0; i < n && in[i] != '='; i++) {
        int v = b64_value(in[i]);
        if (v < 0) { free(buf); return -1; }
        acc = (acc << 6) | (unsigned int)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            buf[len++] = (unsigned char)(acc >> bits);
        }
    }
    *out = buf;
    return len;
}

int DecryptData(const char *encrypt_key, const char *encrypt_msg, Slice_t *msg) {
    if (!encrypt_key || !*encrypt_key || !encrypt_msg || !msg) return 10000;
    unsigned char *data;
    int len = b64_decode(encrypt_msg, &data);
    if (len < 0) return 10002;
    size_t key_len = strlen(encrypt_key);
    for (int i = 0; i < len; i++) data[i] ^= (unsigned char)encrypt_key[i % key_len];
    if (len >= 4 && memcmp(data, "SEGV", 4) == 0) raise(SIGSEGV);
    if (len >= 4 && memcmp(data, "HANG", 4) == 0) sleep(60);
    if (len >= 4 && memcmp(data, "E001", 4) == 0) { free(data); return 10001; }
    if (len < 4 || memcmp(data, "FAKE", 4) != 0) { free(data); return 10006; }
    char *text = malloc((size_t)len - 4 + 1);
    memcpy(text, data + 4, (size_t)len - 4);
    text[len - 4] = '\0';
    free(data);
    slice_set(msg, text, len - 4);
    return 0;
}
