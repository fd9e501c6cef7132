/* wasp_native.h: the wasp native plugin ABI, version 1.3 (docs/abi.md §12). */
#ifndef WASP_NATIVE_H
#define WASP_NATIVE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The ABI version this header describes. */
#define WASP_ABI_MAJOR 1u
#define WASP_ABI_MINOR 3u

/* The first 8 bytes of every PluginVTable: "WASPNAT" and a NUL. */
#define WASP_MAGIC { 'W', 'A', 'S', 'P', 'N', 'A', 'T', '\0' }

/* NativeMessage.kind (§3). */
#define WASP_KIND_REQUEST 0
#define WASP_KIND_EVENT 1
#define WASP_KIND_REPLY 2
#define WASP_KIND_ERROR 3
#define WASP_KIND_UNLOAD 4  /* 1.2: the instance is about to go; reply with its state */
#define WASP_KIND_RESTORE 5 /* 1.2: the state the previous instance handed over */

/* What PluginVTable.load and .handle return. */
#define WASP_STATUS_DONE 0
#define WASP_STATUS_DEFERRED 1
#define WASP_STATUS_PANICKED (-1)

/* Log levels (§4). */
#define WASP_LOG_TRACE 0
#define WASP_LOG_DEBUG 1
#define WASP_LOG_INFO 2
#define WASP_LOG_WARN 3
#define WASP_LOG_ERROR 4

/* Error codes (§7). */
#define WASP_ERR_INTERNAL 1
#define WASP_ERR_NOT_FOUND 2
#define WASP_ERR_PERMISSION_DENIED 3
#define WASP_ERR_BUSY 4
#define WASP_ERR_TIMEOUT 5
#define WASP_ERR_DEADLINE_EXCEEDED 6
#define WASP_ERR_PLUGIN_CRASHED 7
#define WASP_ERR_INVALID_MESSAGE 8
#define WASP_ERR_VERSION_MISMATCH 9
#define WASP_ERR_WOULD_DEADLOCK 10
#define WASP_ERR_NO_REPLY 11
#define WASP_ERR_UNAVAILABLE 12
#define WASP_ERR_INVALID_ARGUMENT 13
#define WASP_ERR_TOO_LARGE 14
#define WASP_ERR_CANCELLED 15 /* 1.3 */
#define WASP_ERR_PLUGIN 1000

/* One message, borrowed for the duration of PluginVTable.handle. */
typedef struct NativeMessage {
    int32_t kind;           /* WASP_KIND_* */
    uint32_t reserved;      /* zero */
    uint64_t id;            /* request id, message id, or a request_async id */
    const uint8_t *from;    /* sender's address, UTF-8, not NUL-terminated */
    size_t from_len;
    const uint8_t *topic;   /* UTF-8, not NUL-terminated */
    size_t topic_len;
    const uint8_t *payload; /* MessagePack */
    size_t payload_len;
} NativeMessage;

/* The host's functions, borrowed for the duration of one load or handle call.
 * Pass `ctx` back as the first argument of each. */
typedef struct HostVTable {
    uint32_t size;     /* sizeof(HostVTable) as the host was compiled */
    uint32_t reserved; /* zero */
    void *ctx;
    int32_t (*send)(void *ctx, const uint8_t *to, size_t to_len, const uint8_t *topic, size_t topic_len,
                    const uint8_t *payload, size_t payload_len);
    int32_t (*publish)(void *ctx, const uint8_t *topic, size_t topic_len, const uint8_t *payload,
                       size_t payload_len);
    int32_t (*subscribe)(void *ctx, const uint8_t *pattern, size_t pattern_len);
    int32_t (*unsubscribe)(void *ctx, const uint8_t *pattern, size_t pattern_len);
    int32_t (*request)(void *ctx, const uint8_t *to, size_t to_len, const uint8_t *topic, size_t topic_len,
                       const uint8_t *payload, size_t payload_len, uint32_t timeout_ms);
    int64_t (*request_async)(void *ctx, const uint8_t *to, size_t to_len, const uint8_t *topic, size_t topic_len,
                             const uint8_t *payload, size_t payload_len, uint32_t timeout_ms);
    int32_t (*reply)(void *ctx, uint64_t id, int32_t status, const uint8_t *bytes, size_t len);
    size_t (*result_len)(void *ctx);
    size_t (*result_read)(void *ctx, uint8_t *out, size_t len);
    void (*log)(void *ctx, int32_t level, const uint8_t *text, size_t len);
    void (*panic)(void *ctx, const uint8_t *text, size_t len, const uint8_t *backtrace, size_t backtrace_len);
    int32_t (*call)(void *ctx, const uint8_t *service, size_t service_len, const uint8_t *payload,
                    size_t payload_len);
} HostVTable;

/* The table the entry function returns; static, never changed. */
typedef struct PluginVTable {
    uint8_t magic[8];   /* WASP_MAGIC */
    uint32_t abi_major; /* WASP_ABI_MAJOR */
    uint32_t abi_minor; /* WASP_ABI_MINOR */
    uint32_t size;      /* sizeof(PluginVTable) */
    uint32_t reserved;  /* zero */
    void *(*create)(void);
    int32_t (*load)(void *plugin, const HostVTable *host);
    int32_t (*handle)(void *plugin, const HostVTable *host, const NativeMessage *msg);
    void (*destroy)(void *plugin);
} PluginVTable;

/* Marks the entry function as exported from the library. */
#if defined(_WIN32)
#define WASP_EXPORT __declspec(dllexport)
#else
#define WASP_EXPORT __attribute__((visibility("default")))
#endif

/* The entry function: the library defines exactly one exported function whose
 * name starts with `wasp_native_plugin`; this is the usual one. */
WASP_EXPORT const PluginVTable *wasp_native_plugin(void);

#ifdef __cplusplus
}
#endif

#endif /* WASP_NATIVE_H */
