/*
 * SO_BINDTODEVICE for a Node dgram socket: the one thing the DHCP server needs
 * that Node lacks. Without it, a socket on 0.0.0.0:67 receives broadcasts from
 * every interface, and a multi-homed server cannot tell which LAN asked.
 *
 * Node-API is a stable C ABI, so the few functions used are declared here
 * instead of depending on a header package: it builds with any C compiler.
 */
#include <errno.h>
#include <net/if.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

typedef struct napi_env__ *napi_env;
typedef struct napi_value__ *napi_value;
typedef struct napi_callback_info__ *napi_callback_info;
typedef int napi_status;
typedef napi_value (*napi_callback)(napi_env, napi_callback_info);

extern napi_status napi_get_cb_info(napi_env, napi_callback_info, size_t *, napi_value *, napi_value *, void **);
extern napi_status napi_get_value_int32(napi_env, napi_value, int32_t *);
extern napi_status napi_get_value_string_utf8(napi_env, napi_value, char *, size_t, size_t *);
extern napi_status napi_create_int32(napi_env, int32_t, napi_value *);
extern napi_status napi_create_function(napi_env, const char *, size_t, napi_callback, void *, napi_value *);
extern napi_status napi_set_named_property(napi_env, napi_value, const char *, napi_value);

/* bindToDevice(fd, ifname) -> 0 or an errno */
static napi_value bind_to_device(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  int32_t fd = -1;
  char name[IFNAMSIZ];
  size_t len = 0;
  int32_t result = EINVAL;
  napi_value out;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) == 0 && argc == 2 &&
      napi_get_value_int32(env, argv[0], &fd) == 0 &&
      napi_get_value_string_utf8(env, argv[1], name, sizeof name, &len) == 0 && len > 0) {
    result = setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, name, (socklen_t)len) == 0 ? 0 : errno;
  }
  napi_create_int32(env, result, &out);
  return out;
}

napi_value napi_register_module_v1(napi_env env, napi_value exports) {
  napi_value fn;
  napi_create_function(env, "bindToDevice", (size_t)-1, bind_to_device, NULL, &fn);
  napi_set_named_property(env, exports, "bindToDevice", fn);
  return exports;
}
