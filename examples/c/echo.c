/* echo.c: a wasp native plugin in C (docs/abi.md §12).
 *
 * Answers every request with its own payload, except these topics:
 *   "events"   the number of events this instance received (a MessagePack uint64);
 *   "fail"     the error `plugin` (1000), "asked to fail";
 *   "publish"  publishes the payload on `echo.seen`; answers nil, or the host's error;
 *   "panic"    reports a panic: the request is answered `plugin_crashed` and the
 *              instance is replaced by a fresh one.
 * Events are counted and logged.
 *
 * Build (Linux): cc -std=c11 -shared -fPIC -O2 -o libecho_c.so echo.c
 */
#include <stdlib.h>
#include <string.h>

#include "wasp_native.h"

/* One instance's state: made by `create`, freed by `destroy`. */
typedef struct Echo {
    uint64_t events;
} Echo;

/* A C string as the two arguments (pointer, length) of a host function. */
#define STR(s) (const uint8_t *)(s), strlen(s)

static int topic_is(const NativeMessage *msg, const char *topic) {
    size_t len = strlen(topic);
    return msg->topic_len == len && memcmp(msg->topic, topic, len) == 0;
}

static void *echo_create(void) {
    return calloc(1, sizeof(Echo)); /* NULL fails the load */
}

static void echo_destroy(void *plugin) {
    free(plugin);
}

static int32_t echo_load(void *plugin, const HostVTable *host) {
    (void)plugin;
    host->log(host->ctx, WASP_LOG_INFO, STR("echo in C is ready"));
    return WASP_STATUS_DONE;
}

/* Answers request `id` with the error of a host call that returned `code`:
 * its message waits in the result slot. */
static void reply_host_error(const HostVTable *host, uint64_t id, int32_t code) {
    size_t len = host->result_len(host->ctx);
    uint8_t *text = malloc(len > 0 ? len : 1);
    if (text == NULL) {
        host->reply(host->ctx, id, code, NULL, 0);
        return;
    }
    len = host->result_read(host->ctx, text, len);
    host->reply(host->ctx, id, code, text, len);
    free(text);
}

static int32_t echo_handle(void *plugin, const HostVTable *host, const NativeMessage *msg) {
    Echo *echo = plugin;
    if (msg->kind == WASP_KIND_EVENT) {
        echo->events++;
        host->log(host->ctx, WASP_LOG_DEBUG, STR("event received"));
        return WASP_STATUS_DONE;
    }
    if (msg->kind == WASP_KIND_UNLOAD) { /* a reload: hand the count to the new code */
        host->reply(host->ctx, msg->id, 0, (const uint8_t *)&echo->events, sizeof echo->events);
        return WASP_STATUS_DONE;
    }
    if (msg->kind == WASP_KIND_RESTORE && msg->payload_len == sizeof echo->events) {
        memcpy(&echo->events, msg->payload, sizeof echo->events);
        return WASP_STATUS_DONE;
    }
    if (msg->kind != WASP_KIND_REQUEST) {
        return WASP_STATUS_DONE; /* completions of request_async: this plugin makes none */
    }
    if (topic_is(msg, "events")) {
        uint8_t answer[9] = {0xcf}; /* MessagePack uint64: 0xcf, then 8 bytes big-endian */
        for (int i = 0; i < 8; i++) {
            answer[1 + i] = (uint8_t)(echo->events >> (56 - 8 * i));
        }
        host->reply(host->ctx, msg->id, 0, answer, sizeof answer);
    } else if (topic_is(msg, "fail")) {
        host->reply(host->ctx, msg->id, WASP_ERR_PLUGIN, STR("asked to fail"));
    } else if (topic_is(msg, "publish")) {
        int32_t status = host->publish(host->ctx, STR("echo.seen"), msg->payload, msg->payload_len);
        if (status == 0) {
            static const uint8_t nil = 0xc0;
            host->reply(host->ctx, msg->id, 0, &nil, 1);
        } else {
            reply_host_error(host, msg->id, status);
        }
    } else if (topic_is(msg, "panic")) {
        host->panic(host->ctx, STR("asked to panic"), NULL, 0);
        return WASP_STATUS_PANICKED;
    } else {
        host->reply(host->ctx, msg->id, 0, msg->payload, msg->payload_len);
    }
    return WASP_STATUS_DONE;
}

WASP_EXPORT const PluginVTable *wasp_native_plugin(void) {
    static const PluginVTable table = {
        .magic = WASP_MAGIC,
        .abi_major = WASP_ABI_MAJOR,
        .abi_minor = WASP_ABI_MINOR,
        .size = sizeof(PluginVTable),
        .reserved = 0,
        .create = echo_create,
        .load = echo_load,
        .handle = echo_handle,
        .destroy = echo_destroy,
    };
    return &table;
}
